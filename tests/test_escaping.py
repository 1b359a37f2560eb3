"""Nobody is pinged and no link is disguised, whatever the model or a person writes.

Slack: text goes out with `&`, `<` and `>` escaped (in `text` and in every block), through
the real slack-bolt and slack_sdk to the local fake Web API. Slash-command text comes in
escaped by Slack and is decoded once, so people's own `<` and `&` survive the round trip.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from bot.adapters.slack.adapter import SlackAdapter
from bot.adapters.slack.commands import app_manifest
from bot.adapters.slack.credentials import SlackCredentials
from bot.adapters.slack.markup import Markup, decode, escape, outgoing, sections
from bot.config import SlackSettings
from bot.core import Core
from bot.invocation import ChannelRef
from engine import EngineRestarting
from tests.conftest import Console, open_core
from tests.fake_slack import FakeSlack, sign, slash_command_form
from tests.scripted_engine import ScriptedEngine

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CHANNEL = ChannelRef("slack", "T123", "C1")
# What a model might write when asked to draft an announcement.
HOSTILE = "Hi <!channel> and <!here>, ask <@U123> about <https://evil.example|your invoice> & more"
HOSTILE_ESCAPED = (
    "Hi &lt;!channel&gt; and &lt;!here&gt;, ask &lt;@U123&gt; about "
    "&lt;https://evil.example|your invoice&gt; &amp; more"
)


@dataclasses.dataclass
class Workspace:
    slack: FakeSlack
    core: Core
    adapter: SlackAdapter
    engine: ScriptedEngine
    http: aiohttp.ClientSession

    async def command(self, command: str, text: str, **form: str) -> None:
        """Send a slash command the way Slack does (`text` as Slack escapes it)."""
        body = slash_command_form(command, text, **form)  # type: ignore[arg-type]
        headers = {**sign(SECRET, body), "Content-Type": "application/x-www-form-urlencoded"}
        url = f"http://127.0.0.1:{self.adapter.port}/slack/events"
        async with self.http.post(url, data=body, headers=headers) as response:
            assert response.status == 200

    async def final_message(self, channel: str = "C1") -> dict[str, Any]:
        """The reply's first message once it is final (Regenerate instead of Stop)."""
        for _ in range(250):
            messages = self.slack.messages(channel)
            if messages and _actions(messages[0]) and "skald_stop" not in _actions(messages[0]):
                return messages[0]
            await asyncio.sleep(0.02)
        raise AssertionError(f"no final reply in {channel}: {self.slack.messages(channel)}")


def _actions(message: dict[str, Any]) -> list[str]:
    return [
        e["action_id"]
        for b in message.get("blocks") or []
        if b["type"] == "actions"
        for e in b["elements"]
    ]


def _texts(params: dict[str, Any]) -> list[str]:
    """A call's `text` and every text inside its blocks."""
    found = [str(params.get("text", ""))]

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("text"), str):
                found.append(value["text"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(params.get("blocks") or [])
    return found


@pytest_asyncio.fixture
async def workspace(tmp_path: Path) -> AsyncIterator[Workspace]:
    slack = FakeSlack()
    await slack.start()
    engine = ScriptedEngine()
    core = await open_core(tmp_path, engine)
    credentials = SlackCredentials(slack.bot_token, SECRET, None, slack.url)
    adapter = SlackAdapter(
        core, credentials, SlackSettings(host="127.0.0.1", port=0, updates_per_minute=1200)
    )
    await adapter.start()
    async with aiohttp.ClientSession() as http:
        yield Workspace(slack, core, adapter, engine, http)
    await adapter.close()
    await core.close()
    await slack.close()


async def test_a_reply_full_of_mentions_and_links_reaches_slack_escaped(
    workspace: Workspace,
) -> None:
    workspace.engine.script = ScriptedEngine.replying(HOSTILE)
    await workspace.command("/rewrite", "text:an announcement style:noir")
    final = await workspace.final_message()
    assert final["text"] == HOSTILE_ESCAPED
    assert final["blocks"][0]["text"] == {"type": "mrkdwn", "text": HOSTILE_ESCAPED}
    calls = workspace.slack.calls_to("chat.postMessage") + workspace.slack.calls_to("chat.update")
    assert workspace.slack.calls_to("chat.update"), "the reply was streamed by edits"
    for call in calls:
        for text in _texts(call.params):
            assert "<" not in text and ">" not in text, text


async def test_text_as_slack_sends_it_reaches_the_plugin_as_typed_and_goes_back_escaped(
    workspace: Workspace,
) -> None:
    # The person typed `a < b & c`; Slack escapes it in the command's text. The model
    # repeats the quoted text (the prompt shows `<` as `‹`, a quote mark of its own).
    workspace.engine.script = lambda messages, params: messages[-1].content.splitlines()[2]
    await workspace.command("/rewrite", 'text:"a &lt; b &amp; c &gt; d" style:noir')
    final = await workspace.final_message()
    assert "b & c" in workspace.engine.last_prompt()
    assert "&lt;" not in workspace.engine.last_prompt()
    assert final["text"] == "a ‹ b &amp; c › d"


async def test_a_reply_that_escaping_lengthens_still_fits_slacks_sections(
    workspace: Workspace,
) -> None:
    # 2,000 characters become 10,000 once escaped: more than one section holds.
    workspace.engine.script = ScriptedEngine.replying(" ".join(["&" * 19] * 100))
    await workspace.command("/rewrite", "text:ampersands style:noir")
    final = await workspace.final_message()
    sections_ = [b for b in final["blocks"] if b["type"] == "section"]
    assert len(sections_) > 1
    assert all(len(b["text"]["text"]) <= 3000 for b in sections_)
    assert "".join(b["text"]["text"] for b in sections_) == final["text"]
    assert all(c.ok for c in workspace.slack.calls_to("chat.update"))


async def test_a_refusal_that_quotes_the_person_is_escaped_ephemerally_and_by_response_url(
    workspace: Workspace,
) -> None:
    # Typed out by hand, so Slack sent it escaped; the refusal quotes it back.
    await workspace.command("/summarize", "messages:&lt;!here&gt;")
    [notice] = await workspace.slack.wait_for_calls("chat.postEphemeral")
    assert "&lt;!here&gt;" in notice.params["text"]
    assert "<!here>" not in notice.params["text"]
    # Where the bot cannot post, the same words go through the command's response_url.
    url = workspace.slack.response_url("r1")
    workspace.slack.fail_next("chat.postEphemeral", "channel_not_found")
    await workspace.command("/summarize", "messages:&lt;!here&gt;", response_url=url)
    for _ in range(100):
        if workspace.slack.responses("r1"):
            break
        await asyncio.sleep(0.02)
    [body] = workspace.slack.responses("r1")
    assert "&lt;!here&gt;" in body["text"] and "<!here>" not in body["text"]


# --- the rules themselves ------------------------------------------------------------------


def test_escape_turns_the_three_characters_into_entities_and_leaves_the_rest() -> None:
    assert escape("<@U1> & <!here> *bold* _it_") == "&lt;@U1&gt; &amp; &lt;!here&gt; *bold* _it_"
    # Markup the bot means (a mention it makes on purpose) goes out as it is.
    assert escape(Markup("<@U1>")) == "<@U1>"


def test_outgoing_escapes_text_and_mrkdwn_blocks_but_not_button_labels() -> None:
    payload = {
        "channel": "C1",
        "text": "<!channel>",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "<@U1>"}},
            {
                "type": "actions",
                "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Stop"}}],
            },
        ],
    }
    out = outgoing(payload)
    assert out["text"] == "&lt;!channel&gt;"
    assert out["blocks"][0]["text"]["text"] == "&lt;@U1&gt;"
    assert out["blocks"][1] == payload["blocks"][1]
    assert payload["text"] == "<!channel>"  # the caller's payload is not changed


@pytest.mark.parametrize(
    ("slack_sent", "typed"),
    [
        ("a &lt; b &amp;&amp; c &gt; d", "a < b && c > d"),
        ("&amp;lt; stays", "&lt; stays"),
        ("hi <@U123|ada>", "hi <@U123>"),
        ("in <#C1|general>", "in #general"),
        ("<!here> and <!subteam^S1|@writers>", "@here and @writers"),
        ("see <https://example.com|example.com>", "see https://example.com"),
    ],
)
def test_decode_gives_the_text_as_the_person_typed_it(slack_sent: str, typed: str) -> None:
    assert decode(slack_sent) == typed


def test_sections_cut_long_text_where_each_piece_fits_once_escaped() -> None:
    text = "<>& " * 1000
    pieces = sections(text)
    assert "".join(pieces) == text
    assert all(len(escape(p)) <= 3000 for p in pieces)
    assert sections("short") == ["short"]


# --- people named in options ----------------------------------------------------------------


async def test_slack_block_takes_the_id_of_a_real_mention_and_refuses_anything_else(
    workspace: Workspace,
) -> None:
    workspace.slack.add_user("U1", "ada", admin=True)
    # With should_escape Slack sends a picked person as <@id|name>.
    await workspace.command("/skald", "block user:<@U0MALLORY|mallory>")
    final = await workspace.final_message()
    assert final["text"] == "User U0MALLORY is now blocked from Skald in this workspace."
    assert await workspace.core.controls.blocked_users(CHANNEL) == ["U0MALLORY"]
    # A name Slack did not resolve, or a mention typed out by hand, names nobody.
    for typed in ("@mallory", "U0MALLORY", "&lt;@U0EVE&gt;"):
        await workspace.command("/skald", f"unblock user:{typed}")
    notices = await workspace.slack.wait_for_calls("chat.postEphemeral", 3)
    assert [n.params["text"].split(" (got")[0] for n in notices] == [
        "`user`: must be a person: mention them, e.g. @name"
    ] * 3
    assert await workspace.core.controls.blocked_users(CHANNEL) == ["U0MALLORY"]


def test_the_slack_manifest_asks_for_mentions_as_ids(workspace: Workspace) -> None:
    manifest = app_manifest(workspace.core.plugins.commands)
    assert all(c["should_escape"] for c in manifest["features"]["slash_commands"])


async def test_console_block_takes_an_at_name_and_refuses_plain_text(
    console: Console, core: Core
) -> None:
    shown = await console.type("/skald block user:@bob")
    assert "User bob is now blocked from Skald in this workspace." in shown
    shown = await console.type("/skald unblock user:bob")
    assert "`user`: must be a person: mention them, e.g. @name (got 'bob')." in shown
    shown = await console.type("/skald unblock user:<@bob>")
    assert "User bob can use Skald again in this workspace." in shown


# --- notices about a public reply are public ---------------------------------------------------


async def test_a_withheld_reply_says_so_where_everyone_sees_the_reply(
    workspace: Workspace,
) -> None:
    workspace.engine.script = ScriptedEngine.replying("Well, damn it all, said the knight.")
    await workspace.command("/tutor", "explain topic:swearing")
    withheld = (
        "The rest of this reply was withheld: it went beyond this channel's rating (general)."
    )
    for _ in range(250):
        if any(m["text"] == withheld for m in workspace.slack.messages("C1")):
            break
        await asyncio.sleep(0.02)
    [notice] = [m for m in workspace.slack.messages("C1") if m["text"] == withheld]
    # In the reply's thread and, since the reply roots it, in the channel too.
    reply = workspace.slack.messages("C1")[0]
    assert notice["thread_ts"] == reply["ts"] and notice.get("subtype") == "thread_broadcast"
    assert not any("damn" in m["text"] for m in workspace.slack.messages("C1"))
    assert workspace.slack.ephemerals("C1") == []


async def test_a_reply_cut_off_by_a_dying_engine_says_so_publicly_and_refusals_stay_private(
    workspace: Workspace,
) -> None:
    class DyingEngine(ScriptedEngine):
        async def stream(self, *args: Any, **kwargs: Any) -> AsyncIterator[str]:
            async for word in super().stream(*args, **kwargs):
                yield word
            raise EngineRestarting("the engine core died")

    dying = DyingEngine()
    await dying.start()
    workspace.core.engine = dying
    await workspace.command("/rewrite", "text:hello style:noir")
    for _ in range(250):
        if any("language model stopped" in m["text"] for m in workspace.slack.messages("C1")):
            break
        await asyncio.sleep(0.02)
    assert any("language model stopped" in m["text"] for m in workspace.slack.messages("C1"))
    # A refusal meant for one person stays theirs alone.
    await workspace.command("/summarize", "messages:500")
    await workspace.slack.wait_for_calls("chat.postEphemeral")
    assert [m["text"] for m in workspace.slack.ephemerals("C1")] == [
        "`messages`: must be a whole number from 1 to 200 (got '500')."
    ]
