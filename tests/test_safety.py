"""Ratings, filters and admin controls, typed into the console and sent through the router."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
from pathlib import Path

import pytest

from bot.config import ConfigError, RouterSettings, SafetySettings
from bot.core import MATURE_REFUSED, Core
from bot.invocation import ChannelRef, Invocation, User
from bot.options import UserId
from bot.reply import Notice, TextDelta
from engine.vllm_local import VllmEngine
from tests.conftest import Console, make_config, open_core
from tests.scripted_engine import ScriptedEngine

CHANNEL = ChannelRef("test", "guild-1", "general")
ADULT = ChannelRef("test", "guild-1", "after-dark", adult=True)
MEMBER = User("42", "member")
ADMIN = User("1", "owner", is_admin=True)


async def serve(
    core: Core,
    command: str,
    who: User = ADMIN,
    where: ChannelRef = CHANNEL,
    /,
    **options: object,
) -> tuple[str, list[Notice]]:
    """Run one command; (the text shown, the notices)."""
    run = core.dispatch(Invocation(command, options, where, who))
    text, notices = [], []
    async for event in run.reply.events():
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, Notice):
            notices.append(event)
    await run.wait()
    return "".join(text), notices


# --- The console walk-through of the issue ----------------------------------------------------


async def test_a_blocked_prompt_is_refused_in_one_line_before_any_generation(
    console: Console, engine: ScriptedEngine
) -> None:
    out = await console.type("/prefs set key:rating value:teen")
    assert out.splitlines()[-1] == "rating = teen"
    out = await console.type('/story start premise:"a knight who says f.u.c.k to the king"')
    assert out.splitlines()[1:] == ["⚠ This channel's rating (teen) does not allow that request."]
    assert engine.requests == []
    # What teen allows passes, at once: a refused request is not a use for the cooldown.
    await console.type('/story start premise:"a damn stubborn knight"')
    assert len(engine.requests) == 1


async def test_a_refused_request_does_not_start_the_cooldown(tmp_path: Path) -> None:
    engine = ScriptedEngine()
    core = await open_core(tmp_path, engine, router=RouterSettings(cooldown_s=60))
    console = Console(core)
    out = await console.type("/tutor explain topic:shit", "/tutor explain topic:rhyme")
    assert "does not allow that request" in out and "Slow down" not in out
    assert len(engine.requests) == 1
    await core.close()


async def test_a_story_that_writes_a_blocked_phrase_stops_with_a_notice(
    console: Console, engine: ScriptedEngine
) -> None:
    engine.script = ScriptedEngine.replying(
        "The dragon landed on the tower and roared: fuck off, knight! Then it slept."
    )
    await console.type("/prefs set key:rating value:teen")
    out = await console.type("/story start premise:dragons")
    lines = out.splitlines()
    assert lines[1].startswith("The dragon landed on the tower and roared:")
    assert "fuck" not in out.lower() and "knight!" not in out
    assert lines[-1] == (
        "⚠ The rest of this reply was withheld: it went beyond this channel's rating (teen)."
    )
    assert engine.aborted == 1  # the generation was stopped in the engine
    # The withheld part is not kept as the channel's story.
    out = await console.type("/story continue")
    assert "There is no story running" in out


async def test_the_same_story_is_fine_in_a_mature_channel(tmp_path: Path) -> None:
    engine = ScriptedEngine(script=ScriptedEngine.replying("The dragon said: fuck off."))
    core = await open_core(
        tmp_path, engine, safety=SafetySettings(mature_workspaces=("console:local",))
    )
    console = Console(core)
    await console.type("/prefs set key:rating value:mature")
    out = await console.type("/story start premise:dragons")
    assert "The dragon said: fuck off." in out
    assert engine.aborted == 0
    await core.close()


async def test_a_quiz_with_a_blocked_word_is_never_shown(
    console: Console, engine: ScriptedEngine
) -> None:
    quiz = {
        "questions": [{"question": "Who said shit first?", "choices": list("abcd"), "answer": "A"}]
    }
    engine.script = ScriptedEngine.replying(json.dumps(quiz))
    out = await console.type("/tutor quiz topic:swearing questions:1")
    assert "shit" not in out
    assert out.splitlines()[-1].startswith("⚠ The rest of this reply was withheld")


# --- Ratings: who may choose which, and what it changes ---------------------------------------


def test_config_names_the_filter_levels() -> None:
    with pytest.raises(ConfigError, match=r"safety\.blocked\.adult: use teen, mature or always"):
        SafetySettings(blocked={"adult": ("x",)})


async def test_mature_needs_an_adult_channel_or_the_workspace_in_config(tmp_path: Path) -> None:
    core = await open_core(tmp_path, ScriptedEngine())
    _, notices = await serve(core, "prefs set", key="rating", value="mature")
    assert [n.text for n in notices] == [MATURE_REFUSED]
    text, notices = await serve(core, "prefs set", ADMIN, ADULT, key="rating", value="mature")
    assert text == "rating = mature" and not notices
    await core.close()

    listed = SafetySettings(mature_workspaces=("test:guild-1",))
    core = await open_core(tmp_path, ScriptedEngine(), safety=listed)
    text, _ = await serve(core, "prefs set", key="rating", value="mature")
    assert text == "rating = mature"
    await core.close()


async def test_a_channel_that_loses_its_adult_flag_falls_back_to_teen(tmp_path: Path) -> None:
    engine = ScriptedEngine(script=ScriptedEngine.replying("well, shit."))
    core = await open_core(tmp_path, engine)
    await serve(core, "prefs set", ADMIN, ADULT, key="rating", value="mature")
    text, _ = await serve(core, "rewrite", ADMIN, ADULT, text="oh no", style="noir")
    assert text == "well, shit."
    flag_removed = dataclasses.replace(ADULT, adult=False)
    text, notices = await serve(core, "rewrite", ADMIN, flag_removed, text="oh no", style="noir")
    assert "shit" not in text
    assert "(teen)" in notices[-1].text
    await core.close()


@pytest.mark.parametrize(
    ("language", "rating", "words"),
    [
        ("en", "general", "all ages, children included"),
        ("en", "teen", "teen: readers 13 and older"),
        ("zh", "general", "全年龄"),
        ("zh", "teen", "青少年"),
    ],
)
async def test_the_rating_guides_every_system_prompt(
    core: Core, engine: ScriptedEngine, language: str, rating: str, words: str
) -> None:
    await serve(core, "prefs set", key="language", value=language)
    await serve(core, "prefs set", key="rating", value=rating)
    await serve(core, "tutor explain", MEMBER, topic="metaphor")
    system = engine.requests[-1][0][0].content
    assert system.endswith(core.rating_guidance.render(language, rating))
    assert words in system


# --- Admin controls ---------------------------------------------------------------------------

ADMIN_COMMANDS = [
    ("skald disable", {"plugin": "story"}),
    ("skald enable", {"plugin": "story"}),
    ("skald block", {"user": UserId("7")}),
    ("skald unblock", {"user": UserId("7")}),
    ("skald cooldown", {"seconds": "10"}),
    ("skald filter", {"action": "add", "phrase": "spoilers"}),
    ("skald settings", {}),
    ("skald export", {}),
    ("prefs history", {}),
]


@pytest.mark.parametrize(("command", "options"), ADMIN_COMMANDS)
async def test_admin_commands_are_refused_to_members(
    core: Core, command: str, options: dict[str, object]
) -> None:
    text, notices = await serve(core, command, MEMBER, **options)
    assert text == ""
    assert [n.text for n in notices] == [f"Only server admins can use /{command}."]


async def test_a_plugin_switched_off_in_one_channel_only(core: Core) -> None:
    text, _ = await serve(core, "skald disable", plugin="story")
    assert text == "story is now turned off in this channel."
    _, notices = await serve(core, "story start", MEMBER, premise="x")
    assert notices[0].text == "/story is turned off in this channel by its admins."
    other = ChannelRef("test", "guild-1", "random")
    text, notices = await serve(core, "story start", MEMBER, other, premise="x")
    assert text and not notices
    _, notices = await serve(core, "skald disable", plugin="prefs")
    assert notices[0].text == "The prefs plugin cannot be turned off: admins need it."
    await serve(core, "skald enable", plugin="story")
    text, notices = await serve(core, "story start", MEMBER, premise="x")
    assert text and not notices


async def test_a_user_blocked_in_the_workspace_is_refused_in_every_channel(core: Core) -> None:
    text, _ = await serve(core, "skald block", user=UserId("42"))
    assert text == "User 42 is now blocked from Skald in this workspace."
    blocked = "The admins of this workspace have blocked you from using Skald."
    for channel in (CHANNEL, ChannelRef("test", "guild-1", "random")):
        _, notices = await serve(core, "help", MEMBER, channel)
        assert [n.text for n in notices] == [blocked]
    # Another workspace is not theirs to rule.
    text, notices = await serve(core, "help", MEMBER, ChannelRef("test", "guild-2", "general"))
    assert text and not notices
    await serve(core, "skald unblock", user=UserId("42"))
    text, notices = await serve(core, "help", MEMBER)
    assert text and not notices


async def test_a_channel_cooldown_replaces_the_configured_one(core: Core) -> None:
    await serve(core, "skald cooldown", seconds="60", command="rewrite")
    await serve(core, "rewrite", MEMBER, text="one", style="noir")
    _, notices = await serve(core, "rewrite", MEMBER, text="two", style="noir")
    assert notices[0].text.startswith("Slow down a little: you can use /rewrite again in")
    # Other commands and other channels keep config.yaml's (none in tests).
    for _ in range(2):
        text, notices = await serve(core, "tutor explain", MEMBER, topic="rhyme")
        assert text and not notices
    text, notices = await serve(
        core, "rewrite", MEMBER, ChannelRef("test", "guild-1", "random"), text="x", style="noir"
    )
    assert text and not notices


async def test_channel_phrases_are_blocked_at_any_rating(
    core: Core, engine: ScriptedEngine
) -> None:
    text, _ = await serve(core, "skald filter", action="add", phrase="the butler did it")
    assert text == '"the butler did it" is blocked in this channel.'
    _, notices = await serve(core, "tutor explain", MEMBER, topic="why THE BUTLER DID IT")
    assert notices[0].text == "This channel's rating (general) does not allow that request."
    assert engine.requests == []
    await serve(core, "skald filter", action="remove", phrase="the butler did it")
    text, notices = await serve(core, "tutor explain", MEMBER, topic="why the butler did it")
    assert text and not notices


async def test_settings_list_every_control(core: Core) -> None:
    await serve(core, "prefs set", key="rating", value="teen")
    await serve(core, "skald disable", plugin="lyrics")
    await serve(core, "skald cooldown", seconds="30", command="story start")
    await serve(core, "skald filter", action="add", phrase="spoilers")
    await serve(core, "skald block", user=UserId("7"))
    text, _ = await serve(core, "skald settings")
    assert text.splitlines() == [
        "rating = teen; mature allowed here: no",
        "language = en",
        "plugins turned off here: lyrics",
        "cooldowns here: /story start 30 s",
        'phrases blocked here: "spoilers"',
        "users blocked in this workspace: 7",
        "stories and quiz records are kept 90 days",
    ]


# --- Privacy -----------------------------------------------------------------------------------


async def test_message_and_generated_text_never_reach_the_logs(
    console: Console, engine: ScriptedEngine, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "zebra-moonlight"

    def script(messages: object, params: object) -> str:
        if "style of noir" in engine.last_prompt():
            raise RuntimeError("the model fell over")  # an incident: logged with its id
        return f"A {secret} tale, and then hell broke loose."

    engine.script = script
    with caplog.at_level(logging.INFO):
        await console.type(
            f"a chat line about {secret}",
            f"/story start premise:{secret}",
            "/summarize",
            f"/tutor feedback text:{secret}",
            f"/rewrite text:{secret} style:noir",
            f"/tutor explain topic:{secret} hell",
        )
    assert "failed" in caplog.text  # the incident was logged: ids and names, not text
    assert secret not in caplog.text
    assert "hell" not in caplog.text


# --- Audit, export, forget, retention ---------------------------------------------------------


async def test_every_change_is_in_the_audit_trail_with_ids_only(core: Core) -> None:
    await serve(core, "prefs set", key="rating", value="teen")
    await serve(core, "prefs set", key="rating", value="teen")  # no change, no entry
    await serve(core, "prefs reset", key="rating")
    await serve(core, "skald disable", plugin="story")
    await serve(core, "skald block", user=UserId("7"))
    text, _ = await serve(core, "prefs history")
    lines = text.splitlines()
    assert [line.split("  ", 1)[1] for line in lines] == [
        "user 1  blocked:7: false → true",
        "user 1  disabled:story: (unset) → true",
        "user 1  rating: teen → (unset)",
        "user 1  rating: (unset) → teen",
    ]
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC  ", line) for line in lines)
    rows = await core.db.fetchall("SELECT actor FROM audit_log")
    assert {r["actor"] for r in rows} == {"1"}  # the id, never the name "owner"


async def test_export_holds_everything_stored_for_the_channel(
    console: Console, engine: ScriptedEngine
) -> None:
    await console.type(
        "/prefs set key:story.genre value:mystery",
        "/story start premise:lighthouse",
        "a chat line",
        "/tutor quiz topic:haiku questions:1",
    )
    out = await console.type("/skald export")
    path = Path(out.splitlines()[-1].rsplit(": ", 1)[1])
    assert out.splitlines()[-1].startswith("· Saved skald-export-")
    data = json.loads(await asyncio.to_thread(path.read_text, encoding="utf-8"))
    assert data["channel"] == {"platform": "console", "workspace": "local", "channel": "terminal"}
    tables = data["tables"]
    assert {r["key"] for r in tables["prefs"]} == {"story.genre"}
    assert tables["story_stories"][0]["premise"] == "lighthouse"
    assert tables["tutor_quizzes"][0]["topic"] == "haiku"
    assert tables["audit_log"][0]["setting"] == "story.genre"
    assert "a chat line" in {r["text"] for r in tables["channel_messages"]}
    # Forgetting the channel removes the audit trail and the export files too.
    await console.type("/prefs forget confirm:true")
    assert not await asyncio.to_thread(path.exists)
    assert await console.core.audit.recent("console/local/terminal") == []


async def test_old_stories_and_quizzes_are_pruned_and_recent_ones_kept(
    tmp_path: Path, engine: ScriptedEngine
) -> None:
    core = await open_core(tmp_path, engine, safety=SafetySettings(retention_days=90))
    console = Console(core)
    await console.type("/story start premise:old", "/tutor quiz topic:old questions:1")
    now = 1_000_000_000.0 + 100 * 86400
    async with core.db.write() as conn:
        for table, column in (
            ("story_stories", "started_at"),
            ("story_parts", "created_at"),
            ("tutor_quizzes", "created_at"),
        ):
            await conn.execute(f"UPDATE {table} SET {column} = ?", (now - 91 * 86400,))
    # A story begun long ago whose latest part is recent is kept whole.
    await serve(core, "story start", MEMBER, CHANNEL, premise="new")
    await serve(core, "story continue", MEMBER, CHANNEL)
    async with core.db.write() as conn:
        await conn.execute(
            "UPDATE story_parts SET created_at = ? WHERE scope = ? AND direction IS NULL"
            " AND id = (SELECT MIN(id) FROM story_parts WHERE scope = ?)",
            (now - 89 * 86400, CHANNEL.scope, CHANNEL.scope),
        )
        await conn.execute(
            "UPDATE story_parts SET created_at = ? WHERE scope = ? AND created_at > ?",
            (now - 1 * 86400, CHANNEL.scope, now),
        )
        await conn.execute(
            "UPDATE story_stories SET started_at = ? WHERE scope = ?",
            (now - 200 * 86400, CHANNEL.scope),
        )
    counts = await core.prune(now=now)
    assert counts == {"story_stories": 1, "story_parts": 1, "tutor_quizzes": 1}
    rows = await core.db.fetchall("SELECT premise FROM story_stories")
    assert [r["premise"] for r in rows] == ["new"]
    parts = await core.db.fetchall("SELECT scope FROM story_parts")
    assert [r["scope"] for r in parts] == [CHANNEL.scope, CHANNEL.scope]
    await core.close()


@pytest.mark.engine
async def test_the_real_engine_stops_generating_when_the_reply_hits_the_filter(
    tmp_path: Path, real_engine: VllmEngine
) -> None:
    core = await Core.open(make_config(tmp_path), real_engine)
    console = Console(core)
    # A word every English story has, blocked in this channel: the model will write it.
    await console.type("/skald filter action:add phrase:the")
    out = await console.type("/story start premise:a lighthouse keeper finds a map length:long")
    await core.close()
    assert out.splitlines()[-1] == (
        "⚠ The rest of this reply was withheld: it went beyond this channel's rating (general)."
    )
    story = " ".join(out.splitlines()[1:-1]).lower()
    assert " the " not in f" {story} "
    for _ in range(100):  # the abort reaches the engine core within moments
        if real_engine.num_unfinished_requests() == 0:
            break
        await asyncio.sleep(0.02)
    assert real_engine.num_unfinished_requests() == 0
