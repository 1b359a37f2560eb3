"""A real `skaldbot run` process in Slack HTTP mode, on the real engine, against a local Slack."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from engine.bundled import SMOLLM2
from tests.fake_slack import FakeSlack, sign, slash_command_form

pytestmark = pytest.mark.engine

REPO = Path(__file__).resolve().parent.parent
SKALDBOT = Path(sys.executable).parent / "skaldbot"
SECRET = "e2e-signing-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# What a message shows before the reply's text: working, warming up, a place in line.
PROVISIONAL = ("_Skald is writing", "The language model is warming up", "Waiting for the")


async def settled_reply(
    slack: FakeSlack, channel: str, index: int = 0, in_thread: bool = False
) -> str:
    """Message number `index` of the channel (or of its first message's thread), once settled."""
    last, since = "", time.monotonic()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        everything = slack.messages(channel)
        roots = [m for m in everything if m.get("thread_ts") in (None, m.get("ts"))]
        messages = roots
        if in_thread:
            messages = slack.thread(channel, roots[0]["ts"])[1:] if roots else []
        text = str(messages[index]["text"]) if len(messages) > index else ""
        if text != last:
            last, since = text, time.monotonic()
        elif text and not text.startswith(PROVISIONAL) and time.monotonic() - since > 2.5:
            return text
        await asyncio.sleep(0.1)
    raise AssertionError(f"no settled reply in {channel}: {slack.messages(channel)}")


async def test_skaldbot_run_serves_slack_on_the_real_engine(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\n"
        f"engine:\n  cache_dir: {os.environ.get('SKALD_CACHE_DIR', REPO / '.cache/skaldbot')}\n"
        # The fast model: this test is about Slack, the default model has its own test.
        f"  model: {SMOLLM2.model_id}\n"
        "router:\n  cooldown_s: 0\n"
        "permissions:\n  admins: ['slack:U1']\n"
        "slack:\n  host: 127.0.0.1\n  updates_per_minute: 600\n"
    )
    port = free_port()
    async with FakeSlack() as slack, aiohttp.ClientSession() as http:
        env = dict(
            os.environ,
            SKALD_CONFIG=str(config),
            SKALD_SLACK_PORT=str(port),
            SLACK_BOT_TOKEN=slack.bot_token,
            SLACK_SIGNING_SECRET=SECRET,
            SKALD_SLACK_API_URL=slack.url,
        )
        env.pop("DISCORD_TOKEN", None)
        process = await asyncio.create_subprocess_exec(
            str(SKALDBOT),
            "run",
            env=env,
            cwd=tmp_path,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        url = f"http://127.0.0.1:{port}/slack/events"

        async def command(command: str, text: str, channel: str = "C1") -> tuple[int, float]:
            body = slash_command_form(command, text, channel_id=channel)
            headers = {**sign(SECRET, body), "Content-Type": "application/x-www-form-urlencoded"}
            started = time.monotonic()
            async with http.post(url, data=body, headers=headers) as response:
                return response.status, time.monotonic() - started

        try:
            assert process.stderr is not None
            while b"Slack: listening on port" not in (
                line := await asyncio.wait_for(process.stderr.readline(), 120)
            ):
                assert line, "skaldbot exited before listening"

            # 200 commands at once, each acknowledged inside Slack's 3 seconds.
            results = await asyncio.gather(*(command("/help", "", f"CH{i}") for i in range(200)))
            assert all(status == 200 for status, _ in results)
            assert max(seconds for _, seconds in results) < 3

            # A forged and a replayed request are refused.
            body = slash_command_form("/help", "")
            forged = {**sign("wrong", body), "Content-Type": "application/x-www-form-urlencoded"}
            async with http.post(url, data=body, headers=forged) as response:
                assert response.status == 401
            stale = {
                **sign(SECRET, body, int(time.time()) - 400),
                "Content-Type": "application/x-www-form-urlencoded",
            }
            async with http.post(url, data=body, headers=stale) as response:
                assert response.status == 401
            fresh = {**sign(SECRET, body), "Content-Type": "application/x-www-form-urlencoded"}
            statuses = []
            for _ in range(2):  # the same signed request sent again is a replay
                async with http.post(url, data=body, headers=fresh) as response:
                    statuses.append(response.status)
            assert statuses == [200, 401]

            await command("/prefs", "set key:story.genre value:mystery", "CP")
            assert await settled_reply(slack, "CP") == "story.genre = mystery"
            await command("/story", 'start premise:"a lighthouse keeper" length:short', "CS")
            assert len(await settled_reply(slack, "CS", 0)) > 20
            await command("/story", "continue direction:storm", "CS")
            # The story runs in its own thread.
            assert len(await settled_reply(slack, "CS", 0, in_thread=True)) > 20
            await command("/lyrics", "topic:rain structure:verse-chorus", "CL")
            assert "[Verse]" in await settled_reply(slack, "CL")
            await command("/rewrite", 'text:"The cat sat." style:noir', "CR")
            assert await settled_reply(slack, "CR")
            slack.add_history("CM", [("U7", "Harbour scene first."), ("U8", "Storm after.")])
            await command("/summarize", "messages:10 length:short", "CM")
            assert await settled_reply(slack, "CM")
            await command("/tutor", "quiz topic:haiku questions:2", "CT")
            quiz = await settled_reply(slack, "CT", 0)
            # Questions that fail their checks are left out (the asker is told): answer
            # the ones shown.
            asked = quiz.count("A) ")
            assert asked >= 1 and "1. " in quiz
            await command("/tutor", "answer answers:" + "A" * asked, "CT")
            assert f"of {asked} correct" in await settled_reply(slack, "CT", 1)
        finally:
            process.terminate()
            _, stderr = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode == 0, stderr.decode()[-2000:]
        log = stderr.decode()
        assert slack.bot_token not in log and SECRET not in log
        assert "Traceback" not in log
