"""The Slack adapter over real sockets: signed requests to Bolt, Web API calls to a local fake."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
import pytest
import pytest_asyncio

from bot.adapters.slack.adapter import SlackAdapter, SlackStartError
from bot.adapters.slack.credentials import SlackCredentials
from bot.config import CommandAccess, SlackSettings
from bot.core import Core
from tests.conftest import open_core
from tests.fake_slack import FakeSlack, sign, slash_command_form
from tests.scripted_engine import ScriptedEngine

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


class StalledEngine(ScriptedEngine):
    """An engine still loading until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def start(self) -> None:
        await self.gate.wait()
        self.started = True


@dataclasses.dataclass
class Workspace:
    slack: FakeSlack
    core: Core
    adapter: SlackAdapter
    engine: StalledEngine
    http: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.adapter.port}/slack/events"

    async def command(
        self,
        command: str,
        text: str,
        *,
        secret: str = SECRET,
        timestamp: int | None = None,
        **form: str,
    ) -> tuple[int, float]:
        """Send a slash command the way Slack does; (HTTP status, seconds to answer)."""
        body = slash_command_form(command, text, **form)  # type: ignore[arg-type]
        headers = sign(secret, body, timestamp)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.monotonic()
        async with self.http.post(self.url, data=body, headers=headers) as response:
            await response.read()
            return response.status, time.monotonic() - started


@contextlib.asynccontextmanager
async def open_workspace(tmp_path: Path, **config: Any) -> AsyncIterator[Workspace]:
    """A Slack adapter on a fresh core (`config` changes its settings) and a fake Slack."""
    slack = FakeSlack()
    await slack.start()
    engine = StalledEngine()
    core = await open_core(tmp_path, engine, **config)
    credentials = SlackCredentials(slack.bot_token, SECRET, None, slack.url)
    adapter = SlackAdapter(
        core, credentials, SlackSettings(host="127.0.0.1", port=0, updates_per_minute=1200)
    )
    try:
        await adapter.start()
        async with aiohttp.ClientSession() as http:
            yield Workspace(slack, core, adapter, engine, http)
    finally:
        await adapter.close()
        await core.close()
        await slack.close()


@pytest_asyncio.fixture
async def workspace(tmp_path: Path) -> AsyncIterator[Workspace]:
    async with open_workspace(tmp_path) as opened:
        yield opened


async def final_text(slack: FakeSlack, channel: str = "C1", skip: int = 0, ending: str = "") -> str:
    """The reply's text (after `skip` messages) once it is there and ends with `ending`.

    Without `ending`, the first text that is not a placeholder: enough for one-piece replies.
    """
    for _ in range(250):
        messages = slack.messages(channel)[skip:]
        text = str(messages[0]["text"]) if messages else ""
        placeholder = text.startswith(
            ("_Skald is writing", "The language model is warming up", "Waiting for the")
        )
        if text and not placeholder and text.endswith(ending):
            return text
        await asyncio.sleep(0.02)
    raise AssertionError(f"no reply in {channel}: {slack.messages(channel)[skip:]}")


async def test_a_command_is_acknowledged_at_once_while_the_engine_is_still_loading(
    workspace: Workspace,
) -> None:
    status, seconds = await workspace.command("/story", 'start premise:"a lighthouse keeper"')
    assert status == 200 and seconds < 3
    # The user sees that work has begun, then that the model is warming up.
    [post] = await workspace.slack.wait_for_calls("chat.postMessage")
    assert post.params["text"] == "_Skald is writing…_"
    await workspace.slack.wait_for_calls("chat.update")
    assert workspace.slack.messages("C1")[0]["text"] == (
        "The language model is warming up; your reply starts soon."
    )
    workspace.engine.gate.set()
    assert await final_text(workspace.slack) == (
        "Scripted reply to: Begin a fantasy story about: a lighthouse keeper"
    )


async def test_two_hundred_commands_at_once_are_each_acknowledged_within_three_seconds(
    workspace: Workspace,
) -> None:
    results = await asyncio.gather(
        *(workspace.command("/help", "", channel_id=f"C{i}", user_id=f"U{i}") for i in range(200))
    )
    assert all(status == 200 for status, _ in results)
    assert max(seconds for _, seconds in results) < 3


async def test_forged_and_stale_requests_are_rejected_and_start_nothing(
    workspace: Workspace,
) -> None:
    status, _ = await workspace.command("/story", "start premise:x", secret="not-the-secret")
    assert status == 401
    status, _ = await workspace.command(
        "/story", "start premise:x", timestamp=int(time.time()) - 6 * 60
    )
    assert status == 401
    await asyncio.sleep(0.1)
    assert workspace.slack.calls_to("chat.postMessage") == []


async def test_validation_errors_are_ephemeral_and_name_the_option(workspace: Workspace) -> None:
    workspace.engine.gate.set()
    await workspace.command("/summarize", "messages:500")
    await workspace.slack.wait_for_calls("chat.postEphemeral")
    assert [m["text"] for m in workspace.slack.ephemerals("C1")] == [
        "`messages`: must be a whole number from 1 to 200 (got '500')."
    ]
    await workspace.command("/stroy", "start")
    await workspace.slack.wait_for_calls("chat.postEphemeral", 2)
    assert workspace.slack.ephemerals("C1")[1]["text"].startswith("Unknown command /stroy.")
    assert workspace.slack.calls_to("chat.postMessage") == []


async def test_summarize_reads_the_channel_through_conversations_history(
    workspace: Workspace,
) -> None:
    workspace.engine.gate.set()
    workspace.slack.add_history(
        "C1", [("U7", "The harbour scene comes first."), ("U8", "And the storm after it.")]
    )
    await workspace.command("/summarize", "messages:10 length:short")
    # The reply is the first message after the two seeded ones.
    assert (await final_text(workspace.slack, skip=2)).startswith("Scripted reply to:")
    prompt = workspace.engine.last_prompt()
    assert "The harbour scene comes first." in prompt and "And the storm after it." in prompt
    assert workspace.slack.calls_to("conversations.history")


async def test_not_in_channel_tells_the_user_how_to_fix_it(workspace: Workspace) -> None:
    workspace.engine.gate.set()
    workspace.slack.fail_next("conversations.history", "not_in_channel")
    await workspace.command("/summarize", "")
    await workspace.slack.wait_for_calls("chat.postEphemeral")
    assert "invite me with /invite @Skald" in workspace.slack.ephemerals("C1")[0]["text"]


async def test_a_rate_limited_update_is_retried_and_the_final_text_arrives(
    workspace: Workspace,
) -> None:
    workspace.engine.gate.set()
    workspace.slack.rate_limit_next("chat.update", retry_after=1)
    await workspace.command("/rewrite", "text:hello style:noir")
    assert (await final_text(workspace.slack)).startswith("Scripted reply to: Rewrite")
    assert next(c.status for c in workspace.slack.calls_to("chat.update")) == 429


async def test_twenty_concurrent_streams_stay_within_the_workspace_budget(
    workspace: Workspace,
) -> None:
    workspace.engine.gate.set()
    workspace.engine.delay_s = 0.01
    workspace.engine.script = ScriptedEngine.replying(" ".join(f"word{i}" for i in range(30)))
    await asyncio.gather(
        *(
            workspace.command("/rewrite", "text:hi style:noir", channel_id=f"C{i}", user_id=f"U{i}")
            for i in range(20)
        )
    )
    for i in range(20):
        # A stream is edited in place: wait for its last word.
        assert (await final_text(workspace.slack, f"C{i}", ending="word29")).endswith("word29")
    calls = sorted(
        c.at for c in workspace.slack.calls if c.method in ("chat.postMessage", "chat.update")
    )
    # 1,200 a minute is 20 a second, plus a burst of 3: never more in any one second.
    for i, start in enumerate(calls):
        assert sum(1 for t in calls[i:] if t < start + 1.0) <= 23


async def test_an_invalid_or_revoked_token_stops_start_up_with_a_clear_message(
    tmp_path: Path,
) -> None:
    async with FakeSlack() as slack:
        core = await open_core(tmp_path, ScriptedEngine())
        wrong = SlackCredentials("xoxb-wrong", SECRET, None, slack.url)
        with pytest.raises(SlackStartError) as caught:
            await SlackAdapter(core, wrong, SlackSettings(port=0)).start()
        assert str(caught.value) == (
            "Slack refused SLACK_BOT_TOKEN (invalid_auth): check the "
            "token in the app's OAuth & Permissions page"
        )
        assert "xoxb-wrong" not in str(caught.value)
        slack.revoke()
        revoked = SlackCredentials(slack.bot_token, SECRET, None, slack.url)
        with pytest.raises(SlackStartError, match="token_revoked"):
            await SlackAdapter(core, revoked, SlackSettings(port=0)).start()
        await core.close()


async def test_a_replayed_request_is_refused(workspace: Workspace) -> None:
    workspace.engine.gate.set()
    body = slash_command_form("/help", "")
    headers = {**sign(SECRET, body), "Content-Type": "application/x-www-form-urlencoded"}
    statuses = []
    for _ in range(2):
        async with workspace.http.post(workspace.url, data=body, headers=headers) as response:
            statuses.append(response.status)
    assert statuses == [200, 401]
    await final_text(workspace.slack)
    await asyncio.sleep(0.1)
    assert len(workspace.slack.calls_to("chat.postMessage")) == 1


async def press(
    workspace: Workspace, action: str, key: str, user_id: str = "U1", channel: str = "C1"
) -> int:
    """Click a button on a reply, as Slack sends the block_actions payload."""
    payload = {
        "type": "block_actions",
        "team": {"id": "T123", "domain": "fake-team"},
        "user": {"id": user_id, "username": "ada", "name": "ada", "team_id": "T123"},
        "api_app_id": "A123",
        "token": "fake-verification-token",
        "container": {"type": "message", "channel_id": channel, "is_ephemeral": False},
        "trigger_id": "1.2.3",
        "channel": {"id": channel, "name": "general"},
        "response_url": "https://hooks.slack.com/actions/T123/1/x",
        "actions": [
            {
                "action_id": f"skald_{action}",
                "block_id": "skald_controls",
                "type": "button",
                "value": key,
                "action_ts": str(time.time()),
            }
        ],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = {**sign(SECRET, body), "Content-Type": "application/x-www-form-urlencoded"}
    async with workspace.http.post(workspace.url, data=body, headers=headers) as response:
        return response.status


def buttons(message: dict[str, Any]) -> list[str]:
    """The action ids of a message's buttons."""
    return [
        e["action_id"]
        for b in message.get("blocks") or []
        if b["type"] == "actions"
        for e in b["elements"]
    ]


async def test_stop_aborts_the_generation(workspace: Workspace) -> None:
    workspace.engine.gate.set()
    workspace.engine.delay_s = 0.05
    workspace.engine.script = ScriptedEngine.replying(" ".join(["word"] * 400))
    await workspace.command("/rewrite", "text:hi style:noir")
    await workspace.slack.wait_for_calls("chat.update")
    message = workspace.slack.messages("C1")[0]
    assert buttons(message) == ["skald_stop"]
    key = message["blocks"][1]["elements"][0]["value"]
    assert await press(workspace, "stop", key) == 200
    for _ in range(100):
        if workspace.engine.aborted:
            break
        await asyncio.sleep(0.02)
    assert workspace.engine.aborted == 1
    await asyncio.sleep(0.2)
    final = workspace.slack.messages("C1")[0]
    assert buttons(final) == ["skald_regenerate"]  # final, and rewrite has no Continue
    assert len(final["text"].split()) < 400


async def test_continue_runs_the_follow_up_and_regenerate_runs_it_again(
    workspace: Workspace,
) -> None:
    workspace.engine.gate.set()
    await workspace.command("/story", "start premise:a quiet harbour")
    await final_text(workspace.slack)
    for _ in range(50):  # the final edit swaps Stop for Regenerate and Continue
        first = workspace.slack.messages("C1")[0]
        if buttons(first) == ["skald_regenerate", "skald_continue"]:
            break
        await asyncio.sleep(0.02)
    assert buttons(first) == ["skald_regenerate", "skald_continue"]
    key = first["blocks"][1]["elements"][1]["value"]
    assert await press(workspace, "continue", key, user_id="U2") == 200
    await workspace.slack.wait_for_calls("chat.postMessage", 2)
    # The story's cast is looked for, then the next part is asked for.
    for _ in range(100):
        if len(workspace.engine.requests) == 3:
            break
        await asyncio.sleep(0.02)
    assert workspace.engine.last_prompt().startswith("Continue the story with the next part")
    assert "Begin a fantasy story about: a quiet harbour" in workspace.engine.last_chat()
    assert await press(workspace, "regenerate", key) == 200
    for _ in range(100):
        if len(workspace.engine.requests) == 4:
            break
        await asyncio.sleep(0.02)
    assert "Begin a fantasy story about: a quiet harbour" in workspace.engine.last_prompt()


async def test_a_button_whose_reply_is_forgotten_explains_itself(workspace: Workspace) -> None:
    assert await press(workspace, "regenerate", "unknown-key") == 200
    await workspace.slack.wait_for_calls("chat.postEphemeral")
    assert "run the command again" in workspace.slack.ephemerals("C1")[0]["text"]


async def wait_for(condition: Callable[[], bool]) -> None:
    for _ in range(250):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition never held")


async def reply_buttons(slack: FakeSlack) -> dict[str, str]:
    """The final buttons of the channel's first reply: {action: key}."""
    await wait_for(lambda: buttons(slack.messages("C1")[0]) != ["skald_stop"])
    elements = slack.messages("C1")[0]["blocks"][1]["elements"]
    return {e["action_id"].removeprefix("skald_"): e["value"] for e in elements}


async def test_buttons_work_after_a_restart(tmp_path: Path) -> None:
    async with open_workspace(tmp_path) as first:
        first.engine.gate.set()
        await first.command("/story", "start premise:a quiet harbour")
        await final_text(first.slack)
        keys = await reply_buttons(first.slack)
    # A new process: a new core and adapter on the same database file, nothing in memory.
    async with open_workspace(tmp_path) as again:
        again.engine.gate.set()
        assert await press(again, "regenerate", keys["regenerate"], user_id="U2") == 200
        await wait_for(lambda: len(again.engine.requests) == 1)
        assert "Begin a fantasy story about: a quiet harbour" in again.engine.last_prompt()
        await again.slack.wait_for_calls("chat.postMessage")
        assert again.slack.calls_to("chat.postMessage")[0].params["channel"] == "C1"
        assert await press(again, "continue", keys["continue"]) == 200
        await wait_for(lambda: len(again.engine.requests) >= 2)
        await wait_for(lambda: again.engine.last_prompt().startswith("Continue the story"))
        # Stop has nothing to stop: the reply it was on ended with the old process.
        assert await press(again, "stop", keys["regenerate"]) == 200
        await wait_for(
            lambda: any(
                e["text"] == "There is nothing running to stop."
                for e in again.slack.ephemerals("C1")
            )
        )


async def test_the_access_rules_hold_for_commands_and_buttons(tmp_path: Path) -> None:
    rules = {
        "story start": CommandAccess(deny_users=("slack:U2",)),
        "lyrics": CommandAccess(allow_users=("slack:U1",)),
    }
    async with open_workspace(tmp_path, access=rules) as workspace:
        workspace.engine.gate.set()
        slack = workspace.slack
        await workspace.command("/lyrics", "topic:rain", user_id="U2")
        await slack.wait_for_calls("chat.postEphemeral")
        assert slack.ephemerals("C1")[-1]["text"] == "You can't use /lyrics here."
        await workspace.command("/story", "start premise:a quiet harbour")
        await final_text(slack)
        keys = await reply_buttons(slack)
        asked = len(workspace.engine.requests)
        # U2 may not use /story start: neither its Regenerate nor its Continue.
        assert await press(workspace, "regenerate", keys["regenerate"], user_id="U2") == 200
        await slack.wait_for_calls("chat.postEphemeral", 2)
        assert await press(workspace, "continue", keys["continue"], user_id="U2") == 200
        await slack.wait_for_calls("chat.postEphemeral", 3)
        refusals = [e["text"] for e in slack.ephemerals("C1")[1:]]
        assert refusals == ["You can't use /story start here."] * 2
        assert len(workspace.engine.requests) == asked
        assert len(slack.calls_to("chat.postMessage")) == 1


async def test_a_story_runs_in_its_own_thread_across_restarts(workspace: Workspace) -> None:
    workspace.engine.gate.set()
    await workspace.command("/story", "start premise:a quiet harbour")
    await final_text(workspace.slack)
    for _ in range(100):  # the adapter records the story's thread once the reply is done
        if await workspace.core.db.fetchone("SELECT ts FROM slack_threads"):
            break
        await asyncio.sleep(0.02)
    root = workspace.slack.messages("C1")[0]["ts"]
    # A new adapter on the same database (a restart) still finds the story's thread.
    await workspace.adapter.close()
    credentials = SlackCredentials(workspace.slack.bot_token, SECRET, None, workspace.slack.url)
    workspace.adapter = SlackAdapter(
        workspace.core, credentials, SlackSettings(host="127.0.0.1", port=0)
    )
    await workspace.adapter.start()
    await workspace.command("/story", "continue direction:a storm")
    await workspace.slack.wait_for_calls("chat.postMessage", 2)
    posted = workspace.slack.calls_to("chat.postMessage")[1]
    assert posted.params.get("thread_ts") == root
    # Other commands still answer in the channel.
    await workspace.command("/rewrite", "text:hi style:noir")
    await workspace.slack.wait_for_calls("chat.postMessage", 3)
    assert not workspace.slack.calls_to("chat.postMessage")[2].params.get("thread_ts")


async def test_socket_mode_acknowledges_each_envelope_and_replies(tmp_path: Path) -> None:
    async with FakeSlack() as slack:
        engine = ScriptedEngine()
        core = await open_core(tmp_path, engine)
        credentials = SlackCredentials(slack.bot_token, None, slack.app_token, slack.url)
        adapter = SlackAdapter(core, credentials, SlackSettings())
        await adapter.start()
        try:
            payload = dict(parse_qsl(slash_command_form("/rewrite", "text:hi style:noir").decode()))
            await slack.socket_send(
                {
                    "envelope_id": "env-1",
                    "type": "slash_commands",
                    "accepts_response_payload": True,
                    "payload": payload,
                }
            )
            ack = await slack.wait_for_ack("env-1", timeout_s=3)
            assert ack["envelope_id"] == "env-1"
            assert (await final_text(slack)).startswith("Scripted reply to: Rewrite")
            assert adapter.port is None  # no HTTP server in Socket Mode
        finally:
            await adapter.close()
            await core.close()


async def test_a_wrong_app_token_stops_socket_mode_start_up(tmp_path: Path) -> None:
    async with FakeSlack() as slack:
        core = await open_core(tmp_path, ScriptedEngine())
        credentials = SlackCredentials(slack.bot_token, None, "xapp-wrong", slack.url)
        with pytest.raises(SlackStartError, match="SLACK_APP_TOKEN"):
            await SlackAdapter(core, credentials, SlackSettings()).start()
        await core.close()


async def test_a_retried_request_never_starts_a_second_generation(workspace: Workspace) -> None:
    workspace.engine.gate.set()
    body = slash_command_form("/rewrite", "text:hi style:noir")
    for retry in ("", "1", "2"):
        headers = {**sign(SECRET, body), "Content-Type": "application/x-www-form-urlencoded"}
        if retry:
            headers["X-Slack-Retry-Num"] = retry
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        async with workspace.http.post(workspace.url, data=body, headers=headers) as response:
            assert response.status == 200
        await asyncio.sleep(0.05)
    await final_text(workspace.slack)
    await asyncio.sleep(0.2)
    assert len(workspace.engine.requests) == 1
    assert len(workspace.slack.calls_to("chat.postMessage")) == 1


@pytest.mark.parametrize("error", ["not_in_channel", "channel_not_found"])
async def test_a_channel_the_bot_cannot_post_in_is_explained_through_response_url(
    workspace: Workspace, error: str
) -> None:
    workspace.engine.gate.set()
    url = workspace.slack.response_url("r1")
    workspace.slack.fail_next("chat.postMessage", error)
    await workspace.command("/rewrite", "text:hi style:noir", response_url=url)
    for _ in range(100):
        if workspace.slack.responses("r1"):
            break
        await asyncio.sleep(0.02)
    assert workspace.slack.responses("r1") == [
        {
            "text": "I can't post in this channel: invite me with /invite @Skald, or use the "
            "command in a channel I'm in.",
            "response_type": "ephemeral",
        }
    ]
    await asyncio.sleep(0.1)
    assert workspace.slack.messages("C1") == []


async def test_an_update_slack_finds_too_long_is_sent_again_shorter(workspace: Workspace) -> None:
    workspace.engine.gate.set()
    workspace.engine.script = ScriptedEngine.replying("A sentence of the reply. " * 20)
    workspace.slack.fail_next("chat.update", "msg_too_long")
    await workspace.command("/rewrite", "text:hi style:noir")
    text = await final_text(workspace.slack)
    assert text.startswith("A sentence of the reply.")
    assert next(c.error for c in workspace.slack.calls_to("chat.update")) == "msg_too_long"


async def test_response_url_is_used_within_slacks_limits() -> None:
    from bot.adapters.slack.respond import ResponseUrl

    async with FakeSlack() as slack:
        now = [0.0]
        url = ResponseUrl(slack.response_url("r"), clock=lambda: now[0])
        assert [await url.send(f"note {i}") for i in range(6)] == [True] * 5 + [False]
        assert slack.response_url_uses("r") == 5  # the sixth was never sent
        late = ResponseUrl(slack.response_url("late"), clock=lambda: now[0])
        now[0] += 31 * 60
        assert await late.send("too late") is False
        assert slack.response_url_uses("late") == 0


async def test_enterprise_grid_workspaces_with_the_same_team_id_stay_apart(
    workspace: Workspace,
) -> None:
    workspace.engine.gate.set()
    await workspace.command("/story", "start premise:one", enterprise_id="E1")
    await workspace.command("/story", "start premise:two", enterprise_id="E2")
    for _ in range(100):
        rows = await workspace.core.db.fetchall("SELECT scope, premise FROM story_stories")
        if len(rows) == 2:
            break
        await asyncio.sleep(0.02)
    assert sorted((r["scope"], r["premise"]) for r in rows) == [
        ("slack/E1:T123/C1", "one"),
        ("slack/E2:T123/C1", "two"),
    ]


async def test_skaldbot_run_exits_non_zero_on_a_refused_token(tmp_path: Path) -> None:
    async with FakeSlack() as slack:
        env = dict(
            os.environ,
            SLACK_BOT_TOKEN="xoxb-revoked-or-wrong",
            SLACK_SIGNING_SECRET=SECRET,
            SKALD_SLACK_API_URL=slack.url,
            SKALD_DATA_DIR=str(tmp_path),
            SKALD_SLACK_PORT="0",
        )
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "skaldbot"),
            "run",
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 1
    log = stderr.decode()
    assert "Slack refused SLACK_BOT_TOKEN (invalid_auth)" in log
    assert "xoxb-revoked-or-wrong" not in log and SECRET not in log
    assert "Loading the language model" not in log  # it stopped before loading anything


async def test_history_pages_through_threads_and_explains_missing_scopes() -> None:
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.adapters.slack.history import SlackHistory
    from bot.errors import UserError

    async with FakeSlack() as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.url)
        root = slack.add_history("C9", [("U1", "Thread start")])[0]
        slack.add_history("C9", [(f"U{i % 3}", f"reply {i}") for i in range(450)], thread_ts=root)
        messages = await SlackHistory(client, "C9", thread_ts=root).recent(300)
        assert len(messages) == 300
        assert messages[-1].text == "reply 449"
        assert len(slack.calls_to("conversations.replies")) >= 2  # paged
        slack.fail_next("conversations.history", "missing_scope", needed="groups:history")
        with pytest.raises(UserError) as caught:
            await SlackHistory(client, "C9").recent(10)
        assert str(caught.value.message) == (
            "I can't read this channel's messages: a workspace admin needs to add the "
            "groups:history scope to the Skald app and reinstall it."
        )


async def test_a_long_reply_continues_in_the_thread_split_at_boundaries(
    workspace: Workspace,
) -> None:
    workspace.engine.gate.set()
    paragraph = "The lighthouse stood alone against the grey sea. " * 20
    code = "```\n" + "\n".join(f"line {i}" for i in range(40)) + "\n```"
    workspace.engine.script = ScriptedEngine.replying(
        "\n\n".join([paragraph.strip()] * 5 + [code] + [paragraph.strip()] * 2)
    )
    await workspace.command("/rewrite", "text:hi style:noir")
    for _ in range(300):
        messages = workspace.slack.messages("C1")
        if len(messages) >= 4 and buttons(messages[0]) != ["skald_stop"]:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    messages = workspace.slack.messages("C1")
    root, rest = messages[0], messages[1:]
    assert all(m.get("thread_ts") == root["ts"] for m in rest)
    texts = [m["text"] for m in messages]
    assert all(len(t) <= 3000 for t in texts)
    assert all(t.count("```") % 2 == 0 for t in texts)  # never cut inside the code block
    assert all(t.rstrip().endswith((".", "```")) for t in texts)
    assert buttons(root) == ["skald_regenerate"] and all(not buttons(m) for m in rest)


async def test_an_export_on_slack_says_where_the_file_was_saved(workspace: Workspace) -> None:
    workspace.engine.gate.set()
    workspace.slack.add_user("U1", "ada", admin=True)
    await workspace.command("/skald", "export")
    await workspace.slack.wait_for_calls("chat.postEphemeral")
    (notice,) = workspace.slack.ephemerals("C1")
    assert notice["text"].startswith("Skald saved skald-export-")
    assert "files cannot be sent on Slack yet" in notice["text"]
    exports = list((workspace.core.config.exports_dir).glob("*/skald-export-*.json"))
    assert len(exports) == 1
