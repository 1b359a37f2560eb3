"""A local fake of Slack's Web API, for wire tests of a Slack adapter.

`FakeSlack` is a real aiohttp server on 127.0.0.1 that speaks the wire format slack_sdk's
`AsyncWebClient` expects: calls arrive as `POST`/`GET /api/<method>` with the token in an
`Authorization: Bearer` header (or, for form and query calls, a `token` parameter), and the
parameters in the query string, a form-encoded body or a JSON body. Every answer is JSON with
HTTP 200 and `"ok": true|false`, except what Slack itself answers otherwise: 429 with
`Retry-After` for rate limits and scripted 5xx answers.

It keeps per-channel message state (so `chat.update` is visible in `conversations.history`),
logs every call, and lets a test script failures. It also serves `response_url` endpoints
and, for the other direction (Slack -> app), module-level helpers sign requests and build
slash-command bodies.

    async with FakeSlack() as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.url)
        await client.chat_postMessage(channel="C1", text="hi")
        assert slack.messages("C1")[0]["text"] == "hi"
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import hashlib
import hmac
import json
import math
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import WSMsgType, web

__all__ = [
    "MAX_BLOCKS",
    "MAX_MESSAGE_CHARS",
    "MAX_SECTION_TEXT_CHARS",
    "RESPONSE_URL_MAX_USES",
    "RESPONSE_URL_TTL_S",
    "ApiError",
    "Call",
    "FakeSlack",
    "sign",
    "slash_command_form",
]

MAX_MESSAGE_CHARS = 40_000
"""Slack rejects a message whose `text` is longer than this with `msg_too_long`."""
MAX_SECTION_TEXT_CHARS = 3_000
"""A section block's text may hold this many characters (`invalid_blocks` beyond)."""
MAX_BLOCKS = 50
"""A message may hold this many blocks (`invalid_blocks` beyond)."""
RESPONSE_URL_MAX_USES = 5
"""A `response_url` may be used this many times ..."""
RESPONSE_URL_TTL_S = 30 * 60
"""... within this many seconds of being issued."""

_FIRST_TS_SECONDS = 1_700_000_000
_DEFAULT_LIMIT = 100
_MAX_LIMIT = 999
_JSON_FIELDS = ("blocks", "attachments", "metadata")

# The scope a method needs, for the `needed` field of a scripted `missing_scope`.
_NEEDED_SCOPES: dict[str, str] = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "chat.postEphemeral": "chat:write",
    "conversations.history": "channels:history,groups:history,mpim:history,im:history",
    "conversations.replies": "channels:history,groups:history,mpim:history,im:history",
    "conversations.info": "channels:read,groups:read,mpim:read,im:read",
    "users.info": "users:read",
}

Handler = Callable[[dict[str, Any]], dict[str, Any]]
"""A custom method: takes the parsed parameters, returns the answer (without `ok`)."""


# --------------------------------------------------------------------------------------
# Slack -> app helpers


def sign(secret: str, body: bytes | str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack signs a request with: `v0=` + HMAC-SHA256 of `v0:{ts}:{body}`."""
    ts = int(time.time()) if timestamp is None else timestamp
    raw = body.encode() if isinstance(body, str) else body
    base = b"v0:" + str(ts).encode() + b":" + raw
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}


def slash_command_form(
    command: str,
    text: str,
    *,
    team_id: str = "T123",
    team_domain: str = "fake-team",
    channel_id: str = "C1",
    channel_name: str = "general",
    user_id: str = "U1",
    user_name: str = "ada",
    enterprise_id: str | None = None,
    enterprise_name: str = "Fake Grid",
    api_app_id: str = "A123",
    is_enterprise_install: bool = False,
    response_url: str = "https://hooks.slack.com/commands/T123/1111/fakeresponseurl",
    trigger_id: str = "1700000000.1111.fake0trigger0id",
    verification_token: str = "fake-verification-token",
) -> bytes:
    """The urlencoded body Slack POSTs for a slash command, fields in Slack's order."""
    fields: list[tuple[str, str]] = [
        ("token", verification_token),
        ("team_id", team_id),
        ("team_domain", team_domain),
    ]
    if enterprise_id is not None:
        fields += [("enterprise_id", enterprise_id), ("enterprise_name", enterprise_name)]
    fields += [
        ("channel_id", channel_id),
        ("channel_name", channel_name),
        ("user_id", user_id),
        ("user_name", user_name),
        ("command", command),
        ("text", text),
        ("api_app_id", api_app_id),
        ("is_enterprise_install", "true" if is_enterprise_install else "false"),
        ("response_url", response_url),
        ("trigger_id", trigger_id),
    ]
    return urllib.parse.urlencode(fields).encode()


# --------------------------------------------------------------------------------------
# State


@dataclass
class Call:
    """One Web API call as the fake received it, and what it answered."""

    method: str
    """The API method, e.g. `chat.postMessage`."""
    params: dict[str, Any]
    """Query, form and JSON parameters merged (`blocks`/`attachments` decoded from JSON)."""
    headers: dict[str, str]
    at: float
    """`time.monotonic()` when the request arrived."""
    http_method: str = "POST"
    content_type: str = ""
    token: str | None = None
    status: int = 0
    """The HTTP status answered (0 while the call is in progress)."""
    response: dict[str, Any] = field(default_factory=dict)
    """The JSON body answered."""

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        value = self.response.get("error")
        return value if isinstance(value, str) else None


@dataclass
class _Scripted:
    kind: Literal["error", "ratelimit", "server", "slow"]
    error: str = ""
    delay_s: float = 0.0
    retry_after: int = 1
    status: int = 500
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Channel:
    id: str
    name: str
    is_member: bool = True
    is_private: bool = False
    is_archived: bool = False
    created: int = _FIRST_TS_SECONDS
    messages: list[dict[str, Any]] = field(default_factory=list)
    ephemerals: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _ResponseUrl:
    created: float
    uses: int = 0
    bodies: list[Any] = field(default_factory=list)


class ApiError(Exception):
    """Raised by a method (built-in or `FakeSlack.handle`d) to answer `ok: false`."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def _ts_key(ts: str) -> Decimal:
    try:
        return Decimal(ts)
    except InvalidOperation:
        raise ApiError("invalid_ts_latest") from None


def _encode_cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _decode_cursor(cursor: str) -> Decimal:
    try:
        decoded = base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ApiError("invalid_cursor") from None
    prefix, _, ts = decoded.partition(":")
    if prefix != "next_ts" or not ts:
        raise ApiError("invalid_cursor")
    try:
        return Decimal(ts)
    except InvalidOperation:
        raise ApiError("invalid_cursor") from None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true")
    return bool(value)


# --------------------------------------------------------------------------------------
# The server


class FakeSlack:
    """A fake Slack Web API on 127.0.0.1 (a free port); see the module docstring."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-test",
        app_token: str = "xapp-test",
        team_id: str = "T123",
        team: str = "Fake Team",
        team_domain: str = "fake-team",
        enterprise_id: str | None = None,
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        bot_name: str = "skald",
        app_id: str = "A123",
        scopes: Sequence[str] = ("chat:write", "commands", "channels:history", "channels:read"),
        auto_channels: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock` (seconds) times `response_url` expiry and `set_rate_limit` windows.

        With `auto_channels`, any channel ID starting with C, G or D exists (the bot a
        member); otherwise only channels made with `add_channel` exist.
        """
        self.bot_token = bot_token
        self.app_token = app_token
        self.team_id = team_id
        self.team = team
        self.team_domain = team_domain
        self.enterprise_id = enterprise_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.app_id = app_id
        self.scopes = list(scopes)
        self.auto_channels = auto_channels
        self.clock = clock
        self.calls: list[Call] = []
        self._revoked: set[str] = set()
        self._channels: dict[str, _Channel] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._scripted: dict[str, deque[_Scripted]] = {}
        self._rate_limits: dict[str, int] = {}
        self._rate_windows: dict[str, deque[float]] = {}
        self._handlers: dict[str, Handler] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._ts_counter = 0
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        # Socket Mode: the websocket apps.connections.open hands out, and what came back.
        self._sockets: list[web.WebSocketResponse] = []
        self.socket_messages: list[dict[str, Any]] = []

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Start serving on 127.0.0.1 at a free port."""
        if self._runner is not None:
            return
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{name}", self._response_url_post)
        app.router.add_get("/link/", self._socket)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def close(self) -> None:
        """Stop serving."""
        for ws in self._sockets:
            await ws.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def origin(self) -> str:
        """`http://127.0.0.1:<port>` (no trailing slash)."""
        if self._port is None:
            raise RuntimeError("FakeSlack is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def url(self) -> str:
        """The Web API base URL, for `AsyncWebClient(base_url=...)`; ends in `/api/`."""
        return f"{self.origin}/api/"

    # -- auth -----------------------------------------------------------------------

    def revoke(self, token: str | None = None) -> None:
        """Make `token` (the bot token by default) answer `token_revoked` from now on."""
        self._revoked.add(self.bot_token if token is None else token)

    # -- channels, users and messages ----------------------------------------------

    def add_channel(
        self,
        channel: str,
        name: str | None = None,
        *,
        is_member: bool = True,
        is_private: bool = False,
        is_archived: bool = False,
    ) -> None:
        """Create (or reconfigure) a channel. A non-member bot gets `not_in_channel`."""
        existing = self._channels.get(channel)
        if existing is None:
            self._channels[channel] = _Channel(
                id=channel,
                name=name or channel.lower(),
                is_member=is_member,
                is_private=is_private,
                is_archived=is_archived,
            )
            return
        if name is not None:
            existing.name = name
        existing.is_member = is_member
        existing.is_private = is_private
        existing.is_archived = is_archived

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        real_name: str | None = None,
        admin: bool = False,
        locale: str = "en-US",
    ) -> None:
        """A user for `users.info` (a workspace admin with `admin=True`)."""
        self._users[user_id] = {
            "locale": locale,
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "real_name": real_name or name,
            "is_bot": False,
            "deleted": False,
            "is_admin": admin,
            "profile": {"display_name": name, "real_name": real_name or name},
        }

    def add_history(
        self,
        channel: str,
        messages: Iterable[tuple[str, str]],
        thread_ts: str | None = None,
    ) -> list[str]:
        """Seed `(user, text)` messages (oldest first), as replies to `thread_ts` if given.

        Returns their timestamps. They are newer than anything already in the fake.
        """
        chan = self._channel_for_seed(channel)
        stamps: list[str] = []
        for user, text in messages:
            ts = self.next_ts()
            message: dict[str, Any] = {
                "type": "message",
                "user": user,
                "text": text,
                "ts": ts,
                "team": self.team_id,
            }
            if thread_ts is not None:
                message["thread_ts"] = thread_ts
                parent = self._find(chan, thread_ts)
                if parent is not None:
                    message["parent_user_id"] = parent.get("user")
            chan.messages.append(message)
            stamps.append(ts)
        return stamps

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """The channel's messages as they are now, oldest first, thread replies included."""
        chan = self._channels.get(channel)
        if chan is None:
            return []
        return [self._render(chan, m) for m in chan.messages]

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """A thread's parent and replies as they are now, oldest first."""
        return [
            m
            for m in self.messages(channel)
            if m["ts"] == thread_ts or m.get("thread_ts") == thread_ts
        ]

    def ephemerals(self, channel: str) -> list[dict[str, Any]]:
        """Ephemeral messages posted to the channel (they are not in its history)."""
        chan = self._channels.get(channel)
        return copy.deepcopy(chan.ephemerals) if chan is not None else []

    def next_ts(self) -> str:
        """A fresh message timestamp, larger than every earlier one."""
        self._ts_counter += 1
        micros = self._ts_counter * 100
        return f"{_FIRST_TS_SECONDS + micros // 1_000_000}.{micros % 1_000_000:06d}"

    # -- call log -------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        """The calls made to one API method, in arrival order."""
        return [c for c in self.calls if c.method == method]

    def clear_calls(self) -> None:
        self.calls.clear()

    async def wait_for_calls(
        self, method: str, count: int = 1, timeout_s: float = 5.0
    ) -> list[Call]:
        """Wait until `method` has been answered `count` times; returns its calls."""
        async with asyncio.timeout(timeout_s):
            while True:
                done = [c for c in self.calls_to(method) if c.status]
                if len(done) >= count:
                    return done
                await asyncio.sleep(0.005)

    # -- scripting ------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        error: str,
        times: int = 1,
        *,
        needed: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Answer the next `times` calls to `method` with HTTP 200 `{"ok": false, "error"}`.

        `missing_scope` also carries `needed` (the method's usual scope by default) and
        `provided`; `extra` adds more fields to the answer.
        """
        fields = dict(extra or {})
        if error == "missing_scope":
            fields.setdefault("needed", needed or _NEEDED_SCOPES.get(method, "chat:write"))
            fields.setdefault("provided", ",".join(self.scopes))
        for _ in range(times):
            self._queue(method).append(_Scripted("error", error=error, extra=dict(fields)))

    def rate_limit_next(self, method: str, retry_after: int, times: int = 1) -> None:
        """Answer the next `times` calls with HTTP 429, `Retry-After`, `ratelimited`."""
        for _ in range(times):
            self._queue(method).append(_Scripted("ratelimit", retry_after=retry_after))

    def server_error_next(self, method: str, status: int = 500, times: int = 1) -> None:
        """Answer the next `times` calls with HTTP `status` (JSON `internal_error`)."""
        for _ in range(times):
            self._queue(method).append(_Scripted("server", status=status))

    def slow_next(self, method: str, delay_s: float, times: int = 1) -> None:
        """Answer the next `times` calls normally, but only after `delay_s` seconds."""
        for _ in range(times):
            self._queue(method).append(_Scripted("slow", delay_s=delay_s))

    def set_rate_limit(self, method: str, per_minute: int | None) -> None:
        """Rate-limit `method` (as Slack's tiers do) to `per_minute` answered calls in any
        60 s of `clock`; beyond it answers 429 with the seconds left as `Retry-After`.
        `None` lifts the limit."""
        if per_minute is None:
            self._rate_limits.pop(method, None)
            self._rate_windows.pop(method, None)
        else:
            self._rate_limits[method] = per_minute
            self._rate_windows.setdefault(method, deque())

    def handle(self, method: str, handler: Handler) -> None:
        """Serve (or override) a method: `handler(params)` returns the answer's fields;
        raise `ApiError(code, **fields)` from it to answer an error."""
        self._handlers[method] = handler

    # -- Socket Mode ------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "connection_info": {"app_id": self.app_id},
                "debug_info": {"host": "fake", "approximate_connection_time": 3600},
            }
        )
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                self.socket_messages.append(json.loads(message.data))
        return ws

    async def socket_send(self, envelope: dict[str, Any]) -> None:
        """Send an envelope to the connected app, as Slack does over Socket Mode."""
        for _ in range(250):
            live = [ws for ws in self._sockets if not ws.closed]
            if live:
                await live[-1].send_json(envelope)
                return
            await asyncio.sleep(0.02)
        raise AssertionError("no Socket Mode connection")

    async def wait_for_ack(self, envelope_id: str, timeout_s: float = 5.0) -> dict[str, Any]:
        """The app's acknowledgement of an envelope."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for message in self.socket_messages:
                if message.get("envelope_id") == envelope_id:
                    return message
            await asyncio.sleep(0.01)
        raise AssertionError(f"envelope {envelope_id} was not acknowledged")

    # -- response_url ---------------------------------------------------------------

    def response_url(self, name: str | None = None) -> str:
        """An absolute response_url on the fake, issued now (by `clock`)."""
        key = name if name is not None else f"r{len(self._response_urls) + 1}"
        self._response_urls.setdefault(key, _ResponseUrl(created=self.clock()))
        return f"{self.origin}/response/{urllib.parse.quote(key, safe='')}"

    def responses(self, name: str) -> list[Any]:
        """The JSON bodies accepted at that response_url, in order."""
        entry = self._response_urls.get(name)
        return copy.deepcopy(entry.bodies) if entry is not None else []

    def response_url_uses(self, name: str) -> int:
        entry = self._response_urls.get(name)
        return entry.uses if entry is not None else 0

    async def _response_url_post(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        entry = self._response_urls.get(name)
        if entry is None:
            return web.Response(status=404, text="no_service", content_type="text/plain")
        if entry.uses >= RESPONSE_URL_MAX_USES:
            return web.Response(status=404, text="used_url", content_type="text/plain")
        if self.clock() - entry.created > RESPONSE_URL_TTL_S:
            return web.Response(status=404, text="expired_url", content_type="text/plain")
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return web.Response(status=400, text="invalid_payload", content_type="text/plain")
        entry.uses += 1
        entry.bodies.append(body)
        return web.Response(status=200, text="ok", content_type="text/plain")

    # -- the Web API ----------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        call = Call(
            method=method,
            params={},
            headers=dict(request.headers),
            at=time.monotonic(),
            http_method=request.method,
            content_type=request.content_type,
        )
        self.calls.append(call)
        status, body, headers = await self._answer(request, call)
        call.status = status
        call.response = body
        return web.json_response(body, status=status, headers=headers)

    async def _answer(
        self, request: web.Request, call: Call
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        headers = {"X-Slack-Req-Id": f"fake-{len(self.calls)}"}
        try:
            json_body = await self._parse_params(request, call)
        except ApiError as e:
            return 200, {"ok": False, "error": e.error, **e.extra}, headers

        token = self._token(request, call.params, json_body)
        call.token = token
        if call.method == "apps.connections.open":
            # Socket Mode: only the app-level token opens a connection.
            if token != self.app_token:
                return 200, {"ok": False, "error": "invalid_auth"}, headers
            return 200, {"ok": True, "url": f"ws://127.0.0.1:{self._port}/link/"}, headers
        if token is None:
            return 200, {"ok": False, "error": "not_authed"}, headers
        if token in self._revoked:
            return 200, {"ok": False, "error": "token_revoked"}, headers
        if token != self.bot_token:
            return 200, {"ok": False, "error": "invalid_auth"}, headers
        headers["X-OAuth-Scopes"] = ",".join(self.scopes)
        headers["X-Accepted-OAuth-Scopes"] = _NEEDED_SCOPES.get(call.method, "")

        queue = self._scripted.get(call.method)
        if queue:
            scripted = queue.popleft()
            if scripted.kind == "slow":
                await asyncio.sleep(scripted.delay_s)
            elif scripted.kind == "ratelimit":
                headers["Retry-After"] = str(scripted.retry_after)
                return 429, {"ok": False, "error": "ratelimited"}, headers
            elif scripted.kind == "server":
                return scripted.status, {"ok": False, "error": "internal_error"}, headers
            else:
                return 200, {"ok": False, "error": scripted.error, **scripted.extra}, headers

        limit = self._rate_limits.get(call.method)
        if limit is not None:
            window = self._rate_windows[call.method]
            now = self.clock()
            while window and now - window[0] >= 60:
                window.popleft()
            if len(window) >= limit:
                headers["Retry-After"] = str(max(1, math.ceil(60 - (now - window[0]))))
                return 429, {"ok": False, "error": "ratelimited"}, headers
            window.append(now)

        try:
            result = self._dispatch(call.method, call.params)
        except ApiError as e:
            return 200, {"ok": False, "error": e.error, **e.extra}, headers
        return 200, {"ok": True, **result}, headers

    async def _parse_params(self, request: web.Request, call: Call) -> bool:
        """Fill `call.params` from the query and body; True when the body was JSON."""
        params: dict[str, Any] = dict(request.query)
        is_json = False
        if request.can_read_body:
            if request.content_type == "application/json":
                is_json = True
                raw = await request.read()
                try:
                    body = json.loads(raw)
                except ValueError:
                    call.params = params
                    raise ApiError("invalid_json") from None
                if not isinstance(body, dict):
                    call.params = params
                    raise ApiError("invalid_json")
                params.update(body)
            elif request.content_type in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ):
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        for name in _JSON_FIELDS:
            value = params.get(name)
            if isinstance(value, str):
                try:
                    params[name] = json.loads(value)
                except ValueError:
                    call.params = params
                    raise ApiError(f"invalid_{name}") from None
        call.params = params
        return is_json

    @staticmethod
    def _token(request: web.Request, params: dict[str, Any], json_body: bool) -> str | None:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth.removeprefix("Bearer ").strip() or None
        # Slack takes a token parameter in the query or a form, never in a JSON body.
        token = params.pop("token", None)
        if json_body and "token" in request.query:
            token = request.query["token"]
        elif json_body:
            token = None
        return token if isinstance(token, str) and token else None

    def _dispatch(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        custom = self._handlers.get(method)
        if custom is not None:
            return custom(params)
        builtin: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.info": self._conversations_info,
            "users.info": self._users_info,
        }
        handler = builtin.get(method)
        if handler is None:
            raise ApiError("unknown_method", req_method=method)
        return handler(params)

    # -- methods --------------------------------------------------------------------

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }
        if self.enterprise_id is not None:
            answer["enterprise_id"] = self.enterprise_id
        return answer

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chan = self._channel_for_write(params)
        self._check_content(params)
        ts = self.next_ts()
        message = self._bot_message(ts, params)
        thread_ts = params.get("thread_ts")
        if thread_ts:
            message["thread_ts"] = str(thread_ts)
            parent = self._find(chan, str(thread_ts))
            if parent is not None:
                message["parent_user_id"] = parent.get("user")
            if _truthy(params.get("reply_broadcast")):
                message["subtype"] = "thread_broadcast"
        chan.messages.append(message)
        return {"channel": chan.id, "ts": ts, "message": self._render(chan, message)}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        chan = self._channel_for_write(params)
        ts = params.get("ts")
        if not ts:
            raise ApiError("message_not_found")
        message = self._find(chan, str(ts))
        if message is None:
            raise ApiError("message_not_found")
        if message.get("bot_id") != self.bot_id:
            raise ApiError("cant_update_message")
        self._check_content(params)
        if "text" in params:
            message["text"] = str(params["text"] or "")
        for name in ("blocks", "attachments"):
            if name in params:
                if params[name]:
                    message[name] = params[name]
                else:
                    message.pop(name, None)
        message["edited"] = {"user": self.bot_user_id, "ts": self.next_ts()}
        rendered = self._render(chan, message)
        return {
            "channel": chan.id,
            "ts": message["ts"],
            "text": message["text"],
            "message": rendered,
        }

    def _chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        chan = self._channel_for_write(params)
        message = self._find(chan, str(params.get("ts", "")))
        if message is None:
            raise ApiError("message_not_found")
        if message.get("bot_id") != self.bot_id:
            raise ApiError("cant_delete_message")
        chan.messages.remove(message)
        return {"channel": chan.id, "ts": message["ts"]}

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        chan = self._channel_for_write(params)
        user = params.get("user")
        if not user:
            raise ApiError("user_not_in_channel")
        self._check_content(params)
        ts = self.next_ts()
        message = self._bot_message(ts, params)
        message["user_to"] = str(user)
        if params.get("thread_ts"):
            message["thread_ts"] = str(params["thread_ts"])
        chan.ephemerals.append(message)
        return {"message_ts": ts}

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        chan = self._channel_for_read(params)
        limit = self._limit(params)
        latest = _ts_key(str(params["latest"])) if params.get("latest") else None
        oldest = _ts_key(str(params["oldest"])) if params.get("oldest") else Decimal(0)
        inclusive = _truthy(params.get("inclusive", False))
        visible = [
            m
            for m in chan.messages
            if m.get("thread_ts") in (None, m["ts"]) or m.get("subtype") == "thread_broadcast"
        ]
        newest_first = sorted(visible, key=lambda m: _ts_key(m["ts"]), reverse=True)

        def in_range(m: dict[str, Any]) -> bool:
            key = _ts_key(m["ts"])
            below = latest is None or key < latest or (inclusive and key == latest)
            above = key > oldest or (inclusive and key == oldest)
            return below and above

        selected = [m for m in newest_first if in_range(m)]
        if params.get("cursor"):
            start = _decode_cursor(str(params["cursor"]))
            selected = [m for m in selected if _ts_key(m["ts"]) <= start]
        page, rest = selected[:limit], selected[limit:]
        return {
            "messages": [self._render(chan, m) for m in page],
            "has_more": bool(rest),
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
            "response_metadata": {"next_cursor": _encode_cursor(rest[0]["ts"]) if rest else ""},
        }

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        chan = self._channel_for_read(params)
        ts = params.get("ts")
        if not ts:
            raise ApiError("thread_not_found")
        message = self._find(chan, str(ts))
        if message is None:
            raise ApiError("thread_not_found")
        root = str(message.get("thread_ts") or message["ts"])
        thread = [m for m in chan.messages if m["ts"] == root or m.get("thread_ts") == root]
        thread.sort(key=lambda m: _ts_key(m["ts"]))
        limit = self._limit(params)
        if params.get("cursor"):
            start = _decode_cursor(str(params["cursor"]))
            thread = [m for m in thread if _ts_key(m["ts"]) >= start]
        page, rest = thread[:limit], thread[limit:]
        return {
            "messages": [self._render(chan, m) for m in page],
            "has_more": bool(rest),
            "response_metadata": {"next_cursor": _encode_cursor(rest[0]["ts"]) if rest else ""},
        }

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        chan = self._lookup(params)
        is_im = chan.id.startswith("D")
        info: dict[str, Any] = {
            "id": chan.id,
            "created": chan.created,
            "is_archived": chan.is_archived,
            "is_im": is_im,
            "is_private": chan.is_private or is_im,
            "context_team_id": self.team_id,
        }
        if not is_im:
            info.update(
                {
                    "name": chan.name,
                    "name_normalized": chan.name,
                    "is_channel": not chan.is_private,
                    "is_group": chan.is_private,
                    "is_mpim": False,
                    "is_general": chan.name == "general",
                    "is_shared": False,
                    "is_ext_shared": False,
                    "is_org_shared": False,
                    "is_member": chan.is_member,
                    "creator": "U0",
                    "topic": {"value": "", "creator": "", "last_set": 0},
                    "purpose": {"value": "", "creator": "", "last_set": 0},
                }
            )
        return {"channel": info}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self._users.get(str(params.get("user", "")))
        if user is None:
            raise ApiError("user_not_found")
        shown = copy.deepcopy(user)
        if str(params.get("include_locale", "")).lower() not in ("true", "1"):
            shown.pop("locale", None)  # Slack sends it only when asked
        return {"user": shown}

    # -- helpers --------------------------------------------------------------------

    def _queue(self, method: str) -> deque[_Scripted]:
        return self._scripted.setdefault(method, deque())

    def _channel_for_seed(self, channel: str) -> _Channel:
        if channel not in self._channels:
            self.add_channel(channel)
        return self._channels[channel]

    def _lookup(self, params: dict[str, Any]) -> _Channel:
        ref = str(params.get("channel") or "")
        if not ref:
            raise ApiError("channel_not_found")
        if ref.startswith("#"):
            for chan in self._channels.values():
                if chan.name == ref[1:]:
                    return chan
            raise ApiError("channel_not_found")
        chan_or_none = self._channels.get(ref)
        if chan_or_none is not None:
            return chan_or_none
        if self.auto_channels and ref[0] in "CGD" and ref.isalnum():
            self.add_channel(ref, is_private=ref[0] == "G")
            return self._channels[ref]
        raise ApiError("channel_not_found")

    def _channel_for_read(self, params: dict[str, Any]) -> _Channel:
        chan = self._lookup(params)
        if not chan.is_member:
            raise ApiError("channel_not_found" if chan.is_private else "not_in_channel")
        return chan

    def _channel_for_write(self, params: dict[str, Any]) -> _Channel:
        chan = self._channel_for_read(params)
        if chan.is_archived:
            raise ApiError("is_archived")
        return chan

    @staticmethod
    def _limit(params: dict[str, Any]) -> int:
        raw = params.get("limit")
        if raw is None or raw == "":
            return _DEFAULT_LIMIT
        try:
            limit = int(raw)
        except (TypeError, ValueError):
            raise ApiError("invalid_limit") from None
        if limit < 1:
            raise ApiError("invalid_limit")
        return min(limit, _MAX_LIMIT)

    @staticmethod
    def _check_content(params: dict[str, Any]) -> None:
        text = params.get("text")
        blocks = params.get("blocks")
        if not text and not blocks and not params.get("attachments"):
            raise ApiError("no_text")
        if isinstance(text, str) and len(text) > MAX_MESSAGE_CHARS:
            raise ApiError("msg_too_long")
        if blocks is None:
            return
        if not isinstance(blocks, list):
            raise ApiError("invalid_blocks_format")
        errors: list[str] = []
        if len(blocks) > MAX_BLOCKS:
            errors.append(f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
        for i, block in enumerate(blocks):
            if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                errors.append(f"missing required field: type [json-pointer:/blocks/{i}]")
                continue
            if block["type"] == "section":
                section_text = block.get("text")
                body = section_text.get("text") if isinstance(section_text, dict) else None
                if isinstance(body, str) and len(body) > MAX_SECTION_TEXT_CHARS:
                    errors.append(
                        f"must be less than {MAX_SECTION_TEXT_CHARS + 1} characters "
                        f"[json-pointer:/blocks/{i}/text/text]"
                    )
        if errors:
            raise ApiError("invalid_blocks", errors=errors, response_metadata={"messages": errors})

    def _bot_message(self, ts: str, params: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": str(params.get("text") or ""),
            "ts": ts,
            "team": self.team_id,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": self.bot_name,
                "team_id": self.team_id,
                "deleted": False,
            },
        }
        for name in ("blocks", "attachments", "metadata"):
            if params.get(name):
                message[name] = params[name]
        return message

    @staticmethod
    def _find(chan: _Channel, ts: str) -> dict[str, Any] | None:
        for message in chan.messages:
            if message["ts"] == ts:
                return message
        return None

    def _render(self, chan: _Channel, message: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(message)
        ts = message["ts"]
        if message.get("thread_ts") in (None, ts):
            replies = [m for m in chan.messages if m.get("thread_ts") == ts and m["ts"] != ts]
            if replies:
                users = list(dict.fromkeys(str(m.get("user")) for m in replies))
                out.update(
                    {
                        "thread_ts": ts,
                        "reply_count": len(replies),
                        "reply_users_count": len(users),
                        "reply_users": users,
                        "latest_reply": max(replies, key=lambda m: _ts_key(m["ts"]))["ts"],
                        "is_locked": False,
                        "subscribed": False,
                    }
                )
        return out
