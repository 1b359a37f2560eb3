"""The fake Slack Web API, exercised through slack_sdk's real AsyncWebClient."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.fake_slack import (
    MAX_MESSAGE_CHARS,
    RESPONSE_URL_MAX_USES,
    RESPONSE_URL_TTL_S,
    ApiError,
    FakeSlack,
    sign,
    slash_command_form,
)


class Clock:
    """A hand-moved clock for the fake."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest_asyncio.fixture
async def slack(clock: Clock) -> AsyncIterator[FakeSlack]:
    async with FakeSlack(clock=clock) as fake:
        yield fake


def client_for(slack: FakeSlack, token: str | None = None, **kwargs: Any) -> AsyncWebClient:
    return AsyncWebClient(token=token or slack.bot_token, base_url=slack.url, **kwargs)


def error_of(exc: pytest.ExceptionInfo[SlackApiError]) -> Any:
    return exc.value.response["error"]


# -- auth ------------------------------------------------------------------------------


async def test_auth_test_answers_the_configured_identity(slack: FakeSlack) -> None:
    assert slack.url.startswith("http://127.0.0.1:") and slack.url.endswith("/api/")
    response = await client_for(slack).auth_test()
    assert response["ok"] is True
    assert response["team_id"] == "T123"
    assert response["user_id"] == "UBOT"
    assert response["bot_id"] == slack.bot_id
    assert response["url"] == "https://fake-team.slack.com/"
    assert "enterprise_id" not in response.data
    assert "chat:write" in response.headers["x-oauth-scopes"]
    [call] = slack.calls_to("auth.test")
    assert call.headers["Authorization"] == "Bearer xoxb-test"
    assert call.token == "xoxb-test" and call.ok


async def test_enterprise_id_is_reported_when_set() -> None:
    async with FakeSlack(enterprise_id="E1", bot_token="xoxb-grid") as slack:
        response = await client_for(slack).auth_test()
        assert response["enterprise_id"] == "E1"


async def test_wrong_and_revoked_tokens(slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as bad:
        await client_for(slack, token="xoxb-nope").auth_test()
    assert error_of(bad) == "invalid_auth"
    assert bad.value.response.status_code == 200

    slack.revoke()
    with pytest.raises(SlackApiError) as revoked:
        await client_for(slack).chat_postMessage(channel="C1", text="hi")
    assert error_of(revoked) == "token_revoked"
    assert slack.messages("C1") == []


async def test_no_token_is_not_authed(slack: FakeSlack) -> None:
    client = AsyncWebClient(base_url=slack.url)
    with pytest.raises(SlackApiError) as exc:
        await client.auth_test()
    assert error_of(exc) == "not_authed"


# -- messages --------------------------------------------------------------------------


async def test_post_then_update_is_visible(slack: FakeSlack) -> None:
    client = client_for(slack)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*thinking*"}}]
    posted = await client.chat_postMessage(channel="C1", text="thinking…", blocks=blocks)
    ts = posted["ts"]
    assert posted["channel"] == "C1"
    assert posted["message"]["text"] == "thinking…"
    assert posted["message"]["bot_id"] == slack.bot_id
    [call] = slack.calls_to("chat.postMessage")
    assert call.content_type == "application/json"
    assert call.params["blocks"] == blocks

    second = await client.chat_postMessage(channel="C1", text="again")
    assert float(second["ts"]) > float(ts)

    updated = await client.chat_update(channel="C1", ts=ts, text="done", blocks=[])
    assert updated["ts"] == ts and updated["text"] == "done"
    first, last = slack.messages("C1")
    assert first["ts"] == ts and first["text"] == "done"
    assert "blocks" not in first and "edited" in first
    assert last["text"] == "again"

    with pytest.raises(SlackApiError) as exc:
        await client.chat_update(channel="C1", ts="1.000000", text="x")
    assert error_of(exc) == "message_not_found"


async def test_thread_replies_carry_thread_ts(slack: FakeSlack) -> None:
    client = client_for(slack)
    [parent] = slack.add_history("C1", [("U1", "/summarize")])
    reply = await client.chat_postMessage(channel="C1", text="summary", thread_ts=parent)
    assert reply["message"]["thread_ts"] == parent
    messages = slack.messages("C1")
    assert [m["text"] for m in messages] == ["/summarize", "summary"]
    assert messages[0]["reply_count"] == 1 and messages[0]["thread_ts"] == parent
    assert messages[1]["thread_ts"] == parent and messages[1]["parent_user_id"] == "U1"
    # Replies are not in the channel's history, only in conversations.replies.
    history = await client.conversations_history(channel="C1")
    assert [m["text"] for m in history["messages"]] == ["/summarize"]


async def test_seeded_messages_cannot_be_updated_by_the_bot(slack: FakeSlack) -> None:
    [ts] = slack.add_history("C1", [("U1", "mine")])
    with pytest.raises(SlackApiError) as exc:
        await client_for(slack).chat_update(channel="C1", ts=ts, text="yours")
    assert error_of(exc) == "cant_update_message"


async def test_post_ephemeral(slack: FakeSlack) -> None:
    response = await client_for(slack).chat_postEphemeral(channel="C1", user="U1", text="psst")
    assert response["message_ts"]
    [ephemeral] = slack.ephemerals("C1")
    assert ephemeral["text"] == "psst" and ephemeral["user_to"] == "U1"
    assert slack.messages("C1") == []


async def test_message_length_limit(slack: FakeSlack) -> None:
    client = client_for(slack)
    await client.chat_postMessage(channel="C1", text="x" * MAX_MESSAGE_CHARS)
    with pytest.raises(SlackApiError) as exc:
        await client.chat_postMessage(channel="C1", text="x" * (MAX_MESSAGE_CHARS + 1))
    assert error_of(exc) == "msg_too_long"
    [ts] = [m["ts"] for m in slack.messages("C1")]
    with pytest.raises(SlackApiError) as upd:
        await client.chat_update(channel="C1", ts=ts, text="y" * (MAX_MESSAGE_CHARS + 1))
    assert error_of(upd) == "msg_too_long"


async def test_section_text_limit_and_no_text(slack: FakeSlack) -> None:
    client = client_for(slack)
    long_section = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    with pytest.raises(SlackApiError) as exc:
        await client.chat_postMessage(channel="C1", text="t", blocks=long_section)
    assert error_of(exc) == "invalid_blocks"
    with pytest.raises(SlackApiError) as empty:
        await client.api_call("chat.postMessage", json={"channel": "C1", "text": ""})
    assert error_of(empty) == "no_text"


async def test_form_encoded_call_with_token_parameter(slack: FakeSlack) -> None:
    client = AsyncWebClient(base_url=slack.url)
    response = await client.api_call(
        "chat.postMessage",
        data={"token": slack.bot_token, "channel": "C1", "text": "form", "blocks": "[]"},
    )
    assert response["ok"]
    [call] = slack.calls_to("chat.postMessage")
    assert call.content_type == "application/x-www-form-urlencoded"
    assert call.params == {"channel": "C1", "text": "form", "blocks": []}


# -- channels and history --------------------------------------------------------------


async def test_history_pages_newest_first_via_the_client(slack: FakeSlack) -> None:
    stamps = slack.add_history("C1", [("U1", f"m{i}") for i in range(5)])
    client = client_for(slack)
    first = await client.conversations_history(channel="C1", limit=2)
    assert [m["text"] for m in first["messages"]] == ["m4", "m3"]
    assert first["has_more"] is True
    cursor = first["response_metadata"]["next_cursor"]
    second = await client.conversations_history(channel="C1", limit=2, cursor=cursor)
    assert [m["text"] for m in second["messages"]] == ["m2", "m1"]
    third = await client.conversations_history(
        channel="C1", limit=2, cursor=second["response_metadata"]["next_cursor"]
    )
    assert [m["ts"] for m in third["messages"]] == [stamps[0]]
    assert third["has_more"] is False and third["response_metadata"]["next_cursor"] == ""
    assert [c.http_method for c in slack.calls_to("conversations.history")] == ["GET"] * 3
    assert slack.calls_to("conversations.history")[1].params["cursor"] == cursor

    # slack_sdk's own cursor iteration walks the same pages.
    texts: list[str] = []
    async for page in await client.conversations_history(channel="C1", limit=2):
        texts += [m["text"] for m in page["messages"]]
    assert texts == ["m4", "m3", "m2", "m1", "m0"]

    with pytest.raises(SlackApiError) as exc:
        await client.conversations_history(channel="C1", cursor="garbage!")
    assert error_of(exc) == "invalid_cursor"


async def test_history_oldest_and_latest(slack: FakeSlack) -> None:
    stamps = slack.add_history("C1", [("U1", f"m{i}") for i in range(4)])
    client = client_for(slack)
    response = await client.conversations_history(channel="C1", oldest=stamps[0], latest=stamps[3])
    assert [m["text"] for m in response["messages"]] == ["m2", "m1"]


async def test_replies_are_paginated_oldest_first(slack: FakeSlack) -> None:
    [parent] = slack.add_history("C1", [("U1", "root")])
    slack.add_history("C1", [("U2", f"r{i}") for i in range(4)], thread_ts=parent)
    client = client_for(slack)
    texts: list[str] = []
    cursor: str | None = None
    while True:
        page = await client.conversations_replies(channel="C1", ts=parent, limit=2, cursor=cursor)
        texts += [m["text"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not page["has_more"]:
            break
    assert texts == ["root", "r0", "r1", "r2", "r3"]
    assert cursor == ""
    with pytest.raises(SlackApiError) as exc:
        await client.conversations_replies(channel="C1", ts="1.000000")
    assert error_of(exc) == "thread_not_found"


async def test_conversations_info_and_membership(slack: FakeSlack) -> None:
    client = client_for(slack)
    slack.add_channel("C9", "random", is_member=False)
    info = await client.conversations_info(channel="C9")
    assert info["channel"]["name"] == "random" and info["channel"]["is_member"] is False
    with pytest.raises(SlackApiError) as exc:
        await client.chat_postMessage(channel="C9", text="hi")
    assert error_of(exc) == "not_in_channel"
    with pytest.raises(SlackApiError) as missing:
        await client.conversations_info(channel="nope")
    assert error_of(missing) == "channel_not_found"


# -- scripted failures -----------------------------------------------------------------


async def test_scripted_error_surfaces_then_clears(slack: FakeSlack) -> None:
    client = client_for(slack)
    slack.fail_next("chat.postMessage", "not_in_channel")
    with pytest.raises(SlackApiError) as exc:
        await client.chat_postMessage(channel="C1", text="hi")
    assert error_of(exc) == "not_in_channel"
    assert exc.value.response.status_code == 200
    await client.chat_postMessage(channel="C1", text="hi")
    assert [c.error for c in slack.calls_to("chat.postMessage")] == ["not_in_channel", None]

    slack.fail_next("chat.update", "missing_scope", times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as scope:
            await client.chat_update(channel="C1", ts="1", text="x")
        assert error_of(scope) == "missing_scope"
        assert scope.value.response["needed"] == "chat:write"
        assert "provided" in scope.value.response.data


async def test_rate_limit_is_retried_with_the_handler(slack: FakeSlack) -> None:
    slack.rate_limit_next("chat.postMessage", retry_after=1)
    client = client_for(slack, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])
    response = await client.chat_postMessage(channel="C1", text="hi")
    assert response["ok"]
    first, second = slack.calls_to("chat.postMessage")
    assert first.status == 429 and first.error == "ratelimited"
    assert second.ok
    assert second.at - first.at >= 1.0
    assert len(slack.messages("C1")) == 1


async def test_rate_limit_raises_without_the_handler(slack: FakeSlack) -> None:
    slack.rate_limit_next("chat.update", retry_after=7)
    with pytest.raises(SlackApiError) as exc:
        await client_for(slack).chat_update(channel="C1", ts="1", text="x")
    assert exc.value.response.status_code == 429
    assert exc.value.response.headers["Retry-After"] == "7"
    assert error_of(exc) == "ratelimited"
    assert len(slack.calls_to("chat.update")) == 1


async def test_rolling_rate_limit_uses_the_clock(slack: FakeSlack, clock: Clock) -> None:
    slack.set_rate_limit("chat.update", per_minute=2)
    client = client_for(slack)
    [ts] = [(await client.chat_postMessage(channel="C1", text="a"))["ts"]]
    await client.chat_update(channel="C1", ts=ts, text="b")
    clock.now += 10
    await client.chat_update(channel="C1", ts=ts, text="c")
    with pytest.raises(SlackApiError) as exc:
        await client.chat_update(channel="C1", ts=ts, text="d")
    assert exc.value.response.headers["Retry-After"] == "50"
    clock.now += 50
    await client.chat_update(channel="C1", ts=ts, text="e")
    assert slack.messages("C1")[0]["text"] == "e"


async def test_server_error(slack: FakeSlack) -> None:
    slack.server_error_next("chat.postMessage", status=503)
    with pytest.raises(SlackApiError) as exc:
        await client_for(slack).chat_postMessage(channel="C1", text="x")
    assert exc.value.response.status_code == 503
    slack.server_error_next("chat.postMessage")
    retrying = client_for(slack, retry_handlers=[AsyncServerErrorRetryHandler(max_retry_count=1)])
    assert (await retrying.chat_postMessage(channel="C1", text="x"))["ok"]


async def test_custom_method_and_unknown_method(slack: FakeSlack) -> None:
    def reactions_add(params: dict[str, Any]) -> dict[str, Any]:
        if params.get("name") == "bad":
            raise ApiError("invalid_name")
        return {}

    slack.handle("reactions.add", reactions_add)
    client = client_for(slack)
    await client.reactions_add(channel="C1", timestamp="1", name="tada")
    with pytest.raises(SlackApiError) as bad:
        await client.reactions_add(channel="C1", timestamp="1", name="bad")
    assert error_of(bad) == "invalid_name"
    with pytest.raises(SlackApiError) as unknown:
        await client.api_call("no.such.method")
    assert error_of(unknown) == "unknown_method"


async def test_wait_for_calls(slack: FakeSlack) -> None:
    await client_for(slack).chat_postMessage(channel="C1", text="x")
    [call] = await slack.wait_for_calls("chat.postMessage", timeout_s=1)
    assert call.ok
    with pytest.raises(TimeoutError):
        await slack.wait_for_calls("chat.update", timeout_s=0.05)


# -- response_url ----------------------------------------------------------------------


async def test_response_url_use_limit(slack: FakeSlack) -> None:
    url = slack.response_url("cmd1")
    assert url.startswith(slack.origin + "/response/")
    webhook = AsyncWebhookClient(url)
    for i in range(RESPONSE_URL_MAX_USES):
        response = await webhook.send(text=f"part {i}", response_type="in_channel")
        assert (response.status_code, response.body) == (200, "ok")
    used = await webhook.send(text="one too many")
    assert (used.status_code, used.body) == (404, "used_url")
    bodies = slack.responses("cmd1")
    assert [b["text"] for b in bodies] == [f"part {i}" for i in range(5)]
    assert bodies[0]["response_type"] == "in_channel"


async def test_response_url_expires(slack: FakeSlack, clock: Clock) -> None:
    webhook = AsyncWebhookClient(slack.response_url("late"))
    clock.now += RESPONSE_URL_TTL_S - 1
    assert (await webhook.send(text="in time")).status_code == 200
    clock.now += 2
    expired = await webhook.send(text="too late")
    assert (expired.status_code, expired.body) == (404, "expired_url")
    assert slack.response_url_uses("late") == 1


# -- Slack -> app helpers ---------------------------------------------------------------


def test_sign_matches_the_sdk_verifier() -> None:
    body = slash_command_form("/ask", "what is a skald?")
    now = int(time.time())
    headers = sign("s3cret", body, now)
    verifier = SignatureVerifier("s3cret")
    ts, signature = headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    assert ts == str(now) and signature.startswith("v0=")
    assert verifier.is_valid(body=body, timestamp=ts, signature=signature)
    assert verifier.is_valid_request(body, sign("s3cret", body))
    assert not SignatureVerifier("other").is_valid(body=body, timestamp=ts, signature=signature)
    stale = sign("s3cret", body, now - 6 * 60)
    assert not verifier.is_valid_request(body, stale)


def test_slash_command_form_fields() -> None:
    body = slash_command_form(
        "/ask", "hello & more", response_url="http://x/response/1", enterprise_id="E1"
    )
    fields = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
    assert list(fields) == [
        "token",
        "team_id",
        "team_domain",
        "enterprise_id",
        "enterprise_name",
        "channel_id",
        "channel_name",
        "user_id",
        "user_name",
        "command",
        "text",
        "api_app_id",
        "is_enterprise_install",
        "response_url",
        "trigger_id",
    ]
    assert fields["command"] == "/ask" and fields["text"] == "hello & more"
    assert fields["team_id"] == "T123" and fields["user_name"] == "ada"
    assert fields["is_enterprise_install"] == "false"
    assert fields["response_url"] == "http://x/response/1"
    plain = dict(urllib.parse.parse_qsl(slash_command_form("/ask", "").decode()))
    assert "enterprise_id" not in plain


async def test_raw_http_still_speaks_slack(slack: FakeSlack) -> None:
    """A hand-made request sees Slack's envelope: HTTP 200, JSON, ok false."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(slack.url + "chat.postMessage", json={"channel": "C1"}) as res,
    ):
        assert res.status == 200
        assert res.content_type == "application/json"
        assert await res.json() == {"ok": False, "error": "not_authed"}
