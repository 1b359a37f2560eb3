"""A real `skaldbot run` process on Discord, on the real engine, against a local Discord."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from engine.bundled import SMOLLM2
from tests.fake_discord import EPHEMERAL, FakeDiscord

pytestmark = pytest.mark.engine

REPO = Path(__file__).resolve().parent.parent
SKALDBOT = Path(sys.executable).parent / "skaldbot"
MANAGE_CHANNELS = 1 << 4
EDITS_PER_WINDOW, WINDOW_S = 5, 5.0


def messages_of(fake: FakeDiscord, record: Any) -> list[dict[str, Any]]:
    """The messages an interaction's reply consists of now, in order."""
    found = []
    for message_id in [record.original_message_id, *record.followup_ids]:
        try:
            found.append(fake.message(int(message_id or 0)))
        except KeyError:
            continue  # the "thinking…" response, removed before a notice
    return found


# Progress lines shown before a reply's text ("warming up", a place in line).
PROGRESS = ("The language model is warming up", "Waiting for the language model")


def shown(fake: FakeDiscord, record: Any) -> str:
    """The text of an interaction's reply: its response, or its first visible follow-up."""
    for message in messages_of(fake, record):
        content = str(message["content"])
        if not message["flags"] & EPHEMERAL and content and not content.startswith(PROGRESS):
            return content
    return ""


async def settled(fake: FakeDiscord, record: Any, quiet_s: float = 2.5) -> str:
    """An interaction's reply text once it stops changing."""
    last, since = "", time.monotonic()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        text = shown(fake, record)
        if text != last:
            last, since = text, time.monotonic()
        elif text and time.monotonic() - since > quiet_s:
            return text
        await asyncio.sleep(0.1)
    notices = [m["content"] for m in messages_of(fake, record) if m["flags"] & EPHEMERAL]
    raise AssertionError(f"interaction {record.id} never settled; its notices: {notices}")


async def test_skaldbot_run_serves_discord_on_the_real_engine(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\n"
        f"engine:\n  cache_dir: {os.environ.get('SKALD_CACHE_DIR', REPO / '.cache/skaldbot')}\n"
        # The fast model: this test is about Discord, the default model has its own test.
        f"  model: {SMOLLM2.model_id}\n"
        "router:\n  cooldown_s: 0\nfairness:\n  channel_concurrency: 0\n  user_concurrency: 0\n"
    )
    async with FakeDiscord() as fake:
        # Discord's per-channel message edit bucket, announced in the headers.
        for kind in ("webhook", "message_edit", "message_create"):
            fake.set_rate_limit(kind, EDITS_PER_WINDOW, WINDOW_S)
        env = dict(
            os.environ,
            SKALD_CONFIG=str(config),
            DISCORD_TOKEN=fake.token,
            SKALD_DISCORD_API_URL=fake.api_url,
        )
        for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
            env.pop(name, None)
        process = await asyncio.create_subprocess_exec(
            str(SKALDBOT),
            "run",
            env=env,
            cwd=tmp_path,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )

        async def command(name: str, options: dict[str, Any], channel: int, **kw: Any) -> Any:
            words = name.split()
            payload = fake.slash(
                words[0], options, subcommand=" ".join(words[1:]) or None, channel_id=channel, **kw
            )
            return await fake.dispatch(payload, timeout_s=120)

        async def reply(name: str, options: dict[str, Any], channel: int, **kw: Any) -> str:
            return await settled(fake, await command(name, options, channel, **kw))

        try:
            assert process.stderr is not None
            while b"Discord: connected as" not in (
                line := await asyncio.wait_for(process.stderr.readline(), 120)
            ):
                assert line, "skaldbot exited before connecting"
            assert {"story", "prefs", "tutor"} <= {c["name"] for c in fake.commands()}
            story = fake.general_channel_id
            opening = await reply("story start", {"premise": "a lighthouse keeper"}, story)
            assert len(opening) > 20
            # A long story keeps the engine busy while 200 interactions arrive at once.
            busy = await command("tutor explain", {"topic": "the history of ships"}, story)
            rooms = [fake.add_channel(f"room-{i}") for i in range(20)]
            records = await asyncio.gather(
                *(command("help", {}, rooms[i % 20]) for i in range(200))
            )
            callbacks = [await fake.wait_for_callback(r.id, 10) for r in records]
            assert all(c.type == 5 and c.status == 200 for c in callbacks)
            assert max(c.after_s for c in callbacks) < 3
            await settled(fake, busy)

            continued = await reply("story continue", {"direction": "a storm"}, story)
            assert continued  # in the story's thread; the response points there
            assert await reply("lyrics", {"topic": "rain", "structure": "verse-chorus"}, rooms[0])
            assert await reply("rewrite", {"text": "The cat sat.", "style": "noir"}, rooms[1])
            fake.add_message(rooms[2], "Harbour scene first, storm after.", author_id=fake.user_id)
            assert await reply("summarize", {"messages": 10, "length": "short"}, rooms[2])
            quiz = await reply("tutor quiz", {"topic": "haiku", "questions": 2}, rooms[3])
            # Questions that fail their checks are left out (the asker is told): answer
            # the ones shown.
            asked = quiz.count("A) ")
            assert asked >= 1 and "1. " in quiz
            graded = await reply("tutor answer", {"answers": "A" * asked}, rooms[3])
            assert f"of {asked} correct" in graded
            changed = await reply(
                "prefs set",
                {"key": "story.genre", "value": "mystery"},
                rooms[4],
                permissions=MANAGE_CHANNELS,
            )
            assert changed == "story.genre = mystery"
        finally:
            process.terminate()
            _, stderr = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode == 0, stderr.decode()[-2000:]
        log = stderr.decode()
        assert fake.token not in log and "Traceback" not in log
        # Never more edits in a channel than its bucket allows, and never a 429.
        assert sum(fake.rate_limited.values()) == 0
        for channel in {w.channel_id for w in fake.writes()}:
            edits = [w.at for w in fake.writes(channel) if w.action == "edit"]
            for start in edits:
                assert sum(1 for t in edits if start <= t < start + WINDOW_S) <= EDITS_PER_WINDOW
