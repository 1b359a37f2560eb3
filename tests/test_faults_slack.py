"""Faults on the Slack side: failed updates, 5xx and 429 storms, slow answers, Slack gone.

Each test injects one fault into the local fake Slack and checks what the user sees: the
final text always lands (or the user is told plainly), no reply is left with a Stop button,
and when nothing can reach the user the generation stops at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from urllib.parse import quote_from_bytes

import pytest

from bot.adapters.slack import adapter as slack_adapter
from tests.fake_slack import sign, slash_command_form
from tests.scripted_engine import ScriptedEngine
from tests.test_slack_adapter import SECRET, Workspace, buttons, workspace

__all__ = ["workspace"]

LONG = " ".join(f"word{i}" for i in range(400))


async def settled(
    workspace: Workspace, start: str, channel: str = "C1", timeout_s: float = 8.0
) -> dict[str, object]:
    """The last message in the channel once it starts with `start` and shows no Stop button."""
    for _ in range(int(timeout_s / 0.02)):
        messages = workspace.slack.messages(channel)
        if messages:
            last = messages[-1]
            if str(last["text"]).startswith(start) and buttons(last) != ["skald_stop"]:
                return last
        await asyncio.sleep(0.02)
    raise AssertionError(f"no settled reply: {workspace.slack.messages(channel)}")


async def aborted(workspace: Workspace, timeout_s: float = 8.0) -> int:
    """The engine's aborted requests, once there is one (or the timeout passed)."""
    for _ in range(int(timeout_s / 0.02)):
        if workspace.engine.aborted:
            break
        await asyncio.sleep(0.02)
    return workspace.engine.aborted


async def test_one_update_answered_503_does_not_freeze_the_reply(workspace: Workspace) -> None:
    workspace.engine.gate.set()
    workspace.engine.delay_s = 0.005
    workspace.engine.script = ScriptedEngine.replying("The harbour at dawn, quiet and grey.")
    workspace.slack.server_error_next("chat.update", status=503)
    await workspace.command("/rewrite", "text:hi style:noir")
    final = await settled(workspace, "The harbour at dawn, quiet and grey.")
    assert final["text"] == "The harbour at dawn, quiet and grey."
    assert buttons(final) == ["skald_regenerate"]
    assert 503 in [c.status for c in workspace.slack.calls_to("chat.update")]
    assert workspace.engine.aborted == 0


async def test_updates_that_keep_failing_move_the_reply_to_a_new_message(
    workspace: Workspace,
) -> None:
    workspace.engine.gate.set()
    workspace.slack.server_error_next("chat.update", status=503, times=6)
    await workspace.command("/rewrite", "text:hi style:noir")
    final = await settled(workspace, "Scripted reply to: Rewrite")
    # One message in the channel: the frozen one was removed, the new one has everything.
    [message] = workspace.slack.messages("C1")
    assert message == final and str(final["text"]).startswith("Scripted reply to: Rewrite")
    assert buttons(final) == ["skald_regenerate"]
    assert workspace.slack.calls_to("chat.delete")


async def test_a_429_storm_on_updates_still_ends_with_the_whole_text(
    workspace: Workspace,
) -> None:
    workspace.engine.gate.set()
    workspace.slack.rate_limit_next("chat.update", retry_after=1, times=4)
    await workspace.command("/rewrite", "text:hi style:noir")
    final = await settled(workspace, "Scripted reply to: Rewrite")
    assert buttons(final) == ["skald_regenerate"]
    assert [c.status for c in workspace.slack.calls_to("chat.update")].count(429) == 4


async def test_slow_answers_only_slow_the_reply_and_one_that_never_comes_is_given_up(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The adapter bounds each call (10 s; 2 s here); slack_sdk alone would wait 30 s.
    monkeypatch.setattr(slack_adapter, "CALL_TIMEOUT_S", 2.0, raising=False)
    workspace.engine.gate.set()
    workspace.slack.slow_next("chat.postMessage", 1.0)
    workspace.slack.slow_next("chat.update", 8.0)  # later than the whole reply may take
    workspace.slack.slow_next("chat.update", 1.0)  # the try after it
    await workspace.command("/rewrite", "text:hi style:noir")
    final = await settled(workspace, "Scripted reply to: Rewrite", timeout_s=7)
    assert buttons(final) == ["skald_regenerate"]
    assert workspace.engine.aborted == 0


async def test_when_slack_takes_no_message_the_generation_stops_and_the_user_is_told(
    workspace: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    workspace.engine.gate.set()
    workspace.engine.delay_s = 0.05
    workspace.engine.script = ScriptedEngine.replying(LONG)
    workspace.slack.server_error_next("chat.postMessage", status=503, times=100)
    workspace.slack.server_error_next("chat.update", status=503, times=100)
    await workspace.command("/rewrite", "text:hi style:noir")
    # Aborted long before the 400 words (20 s) were written.
    assert await aborted(workspace) == 1
    # Ephemeral messages still get through, so the user hears it there.
    [told] = await workspace.slack.wait_for_calls("chat.postEphemeral")
    text = told.params["text"]
    assert text.startswith("Slack did not take my reply (internal_error), so I stopped")
    assert "(incident " in text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_slack_unreachable_is_logged_once_and_the_generation_stops(
    workspace: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    workspace.engine.gate.set()
    workspace.engine.delay_s = 0.05
    workspace.engine.script = ScriptedEngine.replying(LONG)
    # One command first: Bolt checks the token with auth.test on its first request only.
    await workspace.command("/help", "")
    await workspace.slack.wait_for_calls("chat.postMessage")
    # Then Slack's Web API goes away: every call's connection is refused.
    await workspace.slack.close()
    caplog.set_level(logging.WARNING)
    status, _ = await workspace.command("/rewrite", "text:hi style:noir")
    assert status == 200
    assert await aborted(workspace) == 1
    await asyncio.sleep(0.3)
    failures = [r for r in caplog.records if "reply to /rewrite failed" in r.getMessage()]
    assert len(failures) == 1 and "ClientConnectorError" in failures[0].getMessage()
    assert "(incident " in failures[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]


async def test_an_engine_that_hangs_mid_reply_ends_it_without_a_stop_button(
    workspace: Workspace,
) -> None:
    config = workspace.core.config
    router = dataclasses.replace(config.router, stall_timeout_s=0.3)
    workspace.core.config = dataclasses.replace(config, router=router)
    workspace.engine.gate.set()
    workspace.engine.script = ScriptedEngine.replying(LONG)
    workspace.engine.hang_after = 40  # then nothing, ever
    await workspace.command("/rewrite", "text:hi style:noir")
    # The reply is the channel's first message (the notice follows it).
    for _ in range(400):
        final = workspace.slack.messages("C1")[0] if workspace.slack.messages("C1") else {}
        if final and buttons(final) == ["skald_regenerate"]:
            break
        await asyncio.sleep(0.02)
    # The words that came stay, final: Regenerate instead of Stop.
    assert final["text"] == " ".join(LONG.split()[:40])
    assert buttons(final) == ["skald_regenerate"]
    # Everyone who sees the reply stop is told why, in its thread and in the channel.
    [_, told] = await workspace.slack.wait_for_calls("chat.postMessage", 2)
    assert str(told.params["text"]).startswith(
        "The language model stopped writing (nothing for 0.3 s), so this reply ends here."
    )
    assert told.params["thread_ts"] == final["ts"] and told.params["reply_broadcast"]
    assert workspace.slack.calls_to("chat.postEphemeral") == []
    assert workspace.engine.aborted == 1


async def test_five_copies_of_one_signed_request_sent_at_once_start_one_generation(
    workspace: Workspace,
) -> None:
    workspace.engine.gate.set()
    body = slash_command_form("/rewrite", "text:hi style:noir")
    headers = {**sign(SECRET, body), "Content-Type": "application/x-www-form-urlencoded"}

    async def send() -> int:
        async with workspace.http.post(workspace.url, data=body, headers=headers) as response:
            return response.status

    statuses = await asyncio.gather(*(send() for _ in range(5)))
    assert sorted(statuses) == [200, 401, 401, 401, 401]
    await settled(workspace, "Scripted reply to: Rewrite")
    await asyncio.sleep(0.2)
    assert len(workspace.engine.requests) == 1


async def post_raw(workspace: Workspace, body: bytes, *, signed: bool) -> int:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signed:
        headers.update(sign(SECRET, body))
    async with workspace.http.post(workspace.url, data=body, headers=headers) as response:
        return response.status


def quote(raw: bytes) -> bytes:
    """Form-encode a value."""
    return quote_from_bytes(raw).encode()


@pytest.mark.parametrize(
    "body",
    [
        b"command=/help&text=caf\xe9",  # not UTF-8
        b"payload=" + quote(b"[1, 2, 3]"),  # a payload that is not a JSON object
        b"payload=" + quote(b"{not json"),
    ],
)
async def test_garbage_is_refused_without_a_traceback(
    workspace: Workspace, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    caplog.set_level(logging.WARNING)
    # Unsigned: refused before anything is parsed, and nothing is logged.
    assert [await post_raw(workspace, body, signed=False) for _ in range(20)] == [401] * 20
    assert not caplog.records
    # Signed (only Slack can): 400, one warning each, no traceback.
    assert await post_raw(workspace, body, signed=True) == 400
    [warning] = caplog.records
    assert warning.levelno == logging.WARNING and warning.exc_info is None
    assert "malformed signed request" in warning.getMessage()


async def test_an_action_whose_user_is_a_string_is_served(
    workspace: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    payload = {
        "type": "block_actions",
        "team": "T123",
        "user": "U1",
        "channel": {"id": "C1"},
        "actions": [{"action_id": "skald_regenerate", "value": "unknown-key"}],
    }
    body = b"payload=" + quote(json.dumps(payload).encode())
    assert await post_raw(workspace, body, signed=True) == 200
    [told] = await workspace.slack.wait_for_calls("chat.postEphemeral")
    assert told.params["user"] == "U1" and "run the command again" in told.params["text"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
