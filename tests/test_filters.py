"""The word filter: evasions are caught, clean words that hide a blocked one are not."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.safety import Blocked, FilterLists, Matcher
from bot.safety.ratings import RATINGS

LISTS = FilterLists.load()
GENERAL = LISTS.matcher("general")

# Blocked at `general`, in both languages, with and without spaces inside.
BLOCKED = ["hell", "shit", "kill yourself", "blow job", "bastard", "他妈的", "傻逼", "操你妈"]
# Characters that look like Latin letters: Cyrillic, Greek, full-width, mathematical, digits.
LOOKALIKES = {
    "a": "аαａ𝐚𝒂4@",
    "b": "ｂ𝐛8",
    "c": "сｃ𝐜ϲ",
    "e": "еｅ𝐞3",
    "h": "һｈ𝐡",
    "i": "іｉ𝐢1",
    "j": "јｊ",
    "k": "ｋ𝐤κ",
    "l": "ｌ𝐥1Ι",
    "o": "оοｏ𝐨0",
    "r": "ｒ𝐫",
    "s": "ѕｓ𝐬5$",
    "t": "ｔ𝐭7",
    "u": "ｕ𝐮",
    "w": "ｗ𝐰",
    "y": "уｙ𝐲",
}
# Inserted between the letters of a phrase: spaces, punctuation, invisible characters.
SEPARATORS = [
    " ",
    "  ",
    ".",
    "-",
    "_",
    "*",
    ",",
    "'",
    "~",
    "/",
    "\u200b",
    "\u00a0",
    "，",
    "。",
    "、",
]
CLEAN_WORDS = ["the", "knight", "rode", "home", "and", "then", "我们", "今天", "story", "42"]


@st.composite
def disguised(draw: st.DrawFn, phrase: str) -> str:
    """The phrase with random case, look-alikes and separators inside it."""
    out = []
    for i, ch in enumerate(phrase):
        if ch == " ":
            out.append(draw(st.sampled_from(SEPARATORS)))
            continue
        choice = draw(st.sampled_from(["same", "case", "lookalike"]))
        if choice == "case":
            ch = ch.upper()
        elif choice == "lookalike" and ch in LOOKALIKES:
            ch = draw(st.sampled_from(LOOKALIKES[ch]))
        out.append(ch)
        if i < len(phrase) - 1 and draw(st.booleans()):
            out.append(draw(st.sampled_from(SEPARATORS)))
    return "".join(out)


@st.composite
def sentence_with(draw: st.DrawFn) -> tuple[str, str, str]:
    """(text, blocked phrase, its disguise) with clean words on either side."""
    phrase = draw(st.sampled_from(BLOCKED))
    variant = draw(disguised(phrase))
    before = draw(st.lists(st.sampled_from(CLEAN_WORDS), max_size=4))
    after = draw(st.lists(st.sampled_from(CLEAN_WORDS), max_size=4))
    edge = st.sampled_from([" ", ", ", ". ", "\n", "!"])
    text = " ".join(before) + (draw(edge) if before else "") + variant
    text += (draw(edge) if after else "") + " ".join(after)
    return text, phrase, variant


@settings(max_examples=300, deadline=None)
@given(sentence_with())
def test_disguised_blocked_phrases_are_caught(case: tuple[str, str, str]) -> None:
    text, phrase, _ = case
    found = GENERAL.find(text)
    assert found is not None, text
    assert found.letters in LISTS.folding.fold(phrase)


# Clean sentences whose words hide blocked ones (the Scunthorpe problem).
CLEAN_SENTENCES = [
    "Scunthorpe United won at home.",
    "Hello from the shell of the hermit crab.",
    "The class took a classic bus to see the assassin in the play.",
    "A grasshopper sat on the bass guitar by the passage.",
    "She ordered a cocktail while the peacock watched Hancock.",
    "The therapist read Dickens on a cumulative scale.",
    "Shiitake mushrooms grew near the scrap yard in Sussex.",
    "Damnation is a theme; the crapshoot of fate; Pissarro painted it.",
    "He was the hellenic expert who shelled peas.",
    "Mr. Bastardo? No: the saxophonist, Mr. Cockburn, and Ms. Titsworth.",
    "The document's circumstances were skillful, and I will sell shells.",
    "Assume a passing grade; the glass was as clear as the class.",
    "The man who read the letter, and the one who reads it now.",
]


@pytest.mark.parametrize("sentence", CLEAN_SENTENCES)
def test_clean_words_that_contain_blocked_ones_pass(sentence: str) -> None:
    assert GENERAL.find(sentence) is None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(" ".join(CLEAN_SENTENCES).split()),
            st.booleans(),
            st.sampled_from([" ", "  ", "\n", " - "]),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_clean_words_in_any_case_and_order_pass(words: list[tuple[str, bool, str]]) -> None:
    text = "".join((w.upper() if up else w) + sep for w, up, sep in words)
    assert GENERAL.find(text) is None


def stream(matcher: Matcher, pieces: list[str]) -> tuple[str, bool]:
    """Feed pieces as deltas; (what was let through, whether it was blocked)."""
    filt = matcher.stream()
    shown = ""
    try:
        for piece in pieces:
            shown += filt.feed(piece)
        shown += filt.finish()
    except Blocked:
        return shown, True
    return shown, False


STORY = "The knight looked at the dragon and said what the hell, then rode home."


def test_a_phrase_split_at_every_boundary_never_shows() -> None:
    before = STORY[: STORY.index("hell")]
    for i in range(len(STORY) + 1):
        for j in range(i, len(STORY) + 1):
            shown, blocked = stream(GENERAL, [STORY[:i], STORY[i:j], STORY[j:]])
            assert blocked
            assert before.startswith(shown), (i, j, shown)


def test_one_character_at_a_time_shows_everything_before_the_phrase_only() -> None:
    shown, blocked = stream(GENERAL, list(STORY))
    assert blocked
    # Just enough is held back: all the text up to the phrase, bar the word before it.
    assert shown.startswith("The knight looked at the dragon and said what the")


@settings(max_examples=200, deadline=None)
@given(sentence_with(), st.lists(st.integers(min_value=0, max_value=200), max_size=6))
def test_disguised_phrases_split_anywhere_never_show(
    case: tuple[str, str, str], cuts: list[int]
) -> None:
    text, _, variant = case
    points = sorted({min(c, len(text)) for c in cuts})
    pieces = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    shown, blocked = stream(GENERAL, pieces)
    assert blocked
    assert text[: text.index(variant)].startswith(shown)


def test_clean_text_streams_through_whole() -> None:
    text = "Hello from the shell; the class met an assassin. 你好，特别的一天。"
    pieces = [text[i : i + 3] for i in range(0, len(text), 3)]
    assert stream(GENERAL, pieces) == (text, False)


@pytest.mark.parametrize(
    ("text", "blocked_at"),
    [
        ("damn it", {"general"}),
        ("他妈的", {"general"}),
        ("fuck off", {"general", "teen"}),
        ("傻逼", {"general", "teen"}),
        ("kys", {"general", "teen", "mature"}),
        ("a pleasant afternoon", set()),
    ],
)
def test_each_rating_blocks_its_levels(text: str, blocked_at: set[str]) -> None:
    assert {r for r in RATINGS if LISTS.matcher(r).find(text)} == blocked_at


def test_channel_phrases_and_config_changes_extend_the_lists() -> None:
    lists = FilterLists.load(extra={"teen": ("moist",)}, allowed=("crap",))
    assert lists.matcher("general").find("a moist cake") is not None
    assert lists.matcher("teen").find("a moist cake") is None
    assert lists.matcher("general").find("what crap") is None
    assert lists.matcher("mature", ["spoilers"]).find("no S.P.O.I.L.E.R.S please") is not None


def test_chinese_matches_on_characters_inside_longer_text() -> None:
    assert GENERAL.find("他说：你这个傻 逼，然后走了") is not None
    assert GENERAL.find("今天天气很好，我们去公园散步。") is None


@pytest.mark.parametrize(
    ("clean", "blocked"),
    [
        ("这是一种特色情况。", "这是色情网站。"),
        ("她的角色情感很丰富。", "不要发色 情图片。"),
        ("The rooster sang cock-a-doodle-doo at dawn.", "What a cock."),
    ],
)
def test_exceptions_excuse_clean_words_that_contain_a_blocked_one(clean: str, blocked: str) -> None:
    assert GENERAL.find(clean) is None
    assert GENERAL.find(blocked) is not None


def test_an_exception_split_at_every_boundary_streams_whole_and_a_near_miss_never_shows() -> None:
    clean = "这是一种特色情况，我们再谈。"
    near_miss = "这是一种特色情色，我们再谈。"  # starts like the exception, then is not one
    for i in range(len(clean) + 1):
        for j in range(i, len(clean) + 1):
            assert stream(GENERAL, [clean[:i], clean[i:j], clean[j:]]) == (clean, False)
            shown, blocked = stream(GENERAL, [near_miss[:i], near_miss[i:j], near_miss[j:]])
            assert blocked and "这是一种特".startswith(shown), (i, j, shown)


@pytest.mark.parametrize("disguise", ["нell", "hеll", "bаstаrd", "bаsтаrd"])
def test_small_cyrillic_look_alikes_fold_like_their_capitals(disguise: str) -> None:
    # "т" and "н" have no entry of their own in Unicode's confusables data; "Т" and "Н" do.
    assert GENERAL.find(f"what the {disguise} is this") is not None
