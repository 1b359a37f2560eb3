"""Automatic checks of what the plugins wrote: form, language, topic and facts."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.quality.driver import ItemRun
from benchmarks.quality.items import Item
from bot.lines import too_long
from bot.script import script_share
from plugins.lyrics import SECTION_LINES, parse_structure, section_labels

# What each check measures; the targets are per category.
STRUCTURE = "structure"
LANGUAGE = "language"
TOPIC = "topic"
FACTS = "facts"
CATEGORIES = (STRUCTURE, LANGUAGE, TOPIC, FACTS)
# The share of a reply's letters that must be in the channel's script.
SCRIPT_SHARE = {"zh": 0.8, "en": 0.9}
_LABEL_LINE = re.compile(r"^\[(.+)\]$")


@dataclass(frozen=True, slots=True)
class Check:
    """One check of one item: its category, name, whether it held, and why not."""

    category: str
    name: str
    passed: bool
    detail: str = ""


def _contains(text: str, word: str) -> bool:
    """Whole-word match for Latin words, substring for Chinese (which has no spaces)."""
    if re.search(r"[A-Za-z]", word):
        return re.search(rf"(?<![A-Za-z]){re.escape(word)}", text, re.IGNORECASE) is not None
    return word in text


def _any(text: str, words: Sequence[str]) -> bool:
    return any(_contains(text, word) for word in words)


def language_check(texts: Sequence[str], language: str) -> Check:
    """Every text is mostly in the channel's script."""
    shares = [script_share(text, language) for text in texts if text.strip()]
    low = [s for s in shares if s is not None and s < SCRIPT_SHARE[language]]
    worst = min((s for s in shares if s is not None), default=1.0)
    return Check(LANGUAGE, "script", not low and bool(shares), f"lowest share {worst:.2f}")


def _replied(run: ItemRun) -> Check:
    missing = [s.line for s in run.steps if not s.text.strip()]
    errors = [n for s in run.steps for n in s.notices if n.startswith(("⚠",))]
    passed = run.error is None and not missing and len(run.steps) == len(run.item.steps)
    detail = run.error or ("no reply to " + "; ".join(missing) if missing else "")
    return Check(STRUCTURE, "replied", passed and not errors, detail)


def lyrics_sections(text: str) -> list[tuple[str, list[str]]]:
    """The (label, lines) of each section of a /lyrics reply."""
    sections: list[tuple[str, list[str]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        label = _LABEL_LINE.match(line)
        if label:
            sections.append((label.group(1), []))
        elif sections:
            sections[-1][1].append(line)
    return sections


def _option(line: str, name: str) -> str | None:
    match = re.search(rf"\b{name}:(\"[^\"]*\"|\S+)", line)
    return match.group(1).strip('"') if match else None


def check_lyrics(item: Item, run: ItemRun) -> list[Check]:
    """Every asked section, each the asked number of singable lines, on the topic."""
    text = run.steps[0].text if run.steps else ""
    structure = _option(item.steps[0], "structure") or "verse-chorus-verse-chorus-bridge-chorus"
    asked = parse_structure(structure)
    labels = section_labels(asked, item.language)
    found = lyrics_sections(text)
    checks = [
        Check(
            STRUCTURE,
            "sections",
            [label for label, _ in found] == labels,
            f"found {[label for label, _ in found]}",
        )
    ]
    counts = [len(lines) for _, lines in found]
    wanted = [SECTION_LINES[s] for s in asked]
    checks.append(Check(STRUCTURE, "line counts", counts == wanted, f"{counts} for {wanted}"))
    long_lines = [line for _, lines in found for line in lines if too_long(line)]
    checks.append(Check(STRUCTURE, "singable lines", not long_lines, "; ".join(long_lines[:2])))
    sung = "\n".join(line for _, lines in found for line in lines)
    checks.append(language_check([sung], item.language))
    checks.append(Check(TOPIC, "on topic", _any(sung, item.topic_words)))
    return checks


def check_quiz(item: Item, run: ItemRun) -> list[Check]:
    """The asked number of questions, four distinct choices, one answer, each on topic."""
    asked = int(_option(item.steps[0], "questions") or 5)
    quiz: list[dict[str, Any]] = run.stored_quiz or []
    checks = [Check(STRUCTURE, "question count", len(quiz) == asked, f"{len(quiz)} of {asked}")]
    bad_choices = [
        q["question"]
        for q in quiz
        if len(q["choices"]) != 4
        or any(not str(c).strip() for c in q["choices"])
        or len({str(c).strip().casefold() for c in q["choices"]}) != 4
    ]
    checks.append(
        Check(STRUCTURE, "four distinct choices", not bad_choices, "; ".join(bad_choices))
    )
    checks.append(
        Check(STRUCTURE, "one answer", all(q["answer"] in ("A", "B", "C", "D") for q in quiz))
    )
    off = [q["question"] for q in quiz if not _any(q["question"], item.topic_words)]
    checks.append(Check(TOPIC, "questions on topic", bool(quiz) and not off, "; ".join(off)))
    texts = [" ".join([q["question"], *map(str, q["choices"])]) for q in quiz]
    checks.append(language_check([" ".join(texts)], item.language))
    return checks


def check_summary(item: Item, run: ItemRun) -> list[Check]:
    """Shorter than the input, in the channel's language, its people and facts kept."""
    text = run.steps[0].text if run.steps else ""
    source = "\n".join(f"{author}: {message}" for author, message in item.history)
    people = [p for p in item.people if _contains(text, p)]
    facts = [f for f in item.facts if _any(text, f)]
    missing = [f[0] for f in item.facts if f not in facts]
    return [
        Check(STRUCTURE, "shorter than the input", 0 < len(text) < len(source)),
        language_check([text], item.language),
        Check(
            FACTS,
            "people named",
            len(people) * 3 >= len(item.people) * 2,
            f"{len(people)} of {len(item.people)}",
        ),
        Check(
            FACTS,
            "facts kept",
            len(facts) * 2 >= len(item.facts),
            f"{len(facts)} of {len(item.facts)}; missing {missing}",
        ),
    ]


def check_story(item: Item, run: ItemRun) -> list[Check]:
    """Each part in the channel's language, the premise's people kept, a recap that opens
    with the premise."""
    texts = [s.text for s in run.steps]
    kept = [all(_contains(text, name) for name in item.names) for text in texts]
    recap = texts[-1] if texts else ""
    premise = _option(item.steps[0], "premise") or ""
    return [
        language_check(texts, item.language),
        Check(FACTS, "names kept in every part", all(kept) and bool(kept), f"{kept}"),
        Check(STRUCTURE, "recap opens with the premise", premise in recap.split("\n", 1)[0]),
    ]


def check_rewrite(item: Item, run: ItemRun) -> list[Check]:
    """Differs from the input, keeps its meaning words, in the channel's language."""
    text = run.steps[0].text if run.steps else ""
    kept = [k for k in item.keep if _any(text, k)]
    return [
        Check(STRUCTURE, "differs from the input", text.strip() != item.source.strip()),
        language_check([text], item.language),
        Check(
            FACTS,
            "meaning words kept",
            len(kept) * 5 >= len(item.keep) * 3,
            f"{len(kept)} of {len(item.keep)}",
        ),
    ]


def check_prose(item: Item, run: ItemRun) -> list[Check]:
    """An explanation or feedback: in the channel's language and on its topic."""
    text = run.steps[0].text if run.steps else ""
    return [
        language_check([text], item.language),
        Check(TOPIC, "on topic", _any(text, item.topic_words)),
    ]


_BY_KIND = {
    "lyrics": check_lyrics,
    "quiz": check_quiz,
    "summary": check_summary,
    "story": check_story,
    "rewrite": check_rewrite,
    "explain": check_prose,
    "feedback": check_prose,
}


def check_item(run: ItemRun) -> list[Check]:
    """Every check of one item's run."""
    return [_replied(run), *_BY_KIND[run.item.kind](run.item, run)]
