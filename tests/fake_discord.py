"""A local fake of Discord (HTTP API and gateway), for wire tests of a Discord adapter.

`FakeDiscord` is a real aiohttp server on 127.0.0.1 that speaks the wire format discord.py
2.7 expects. The HTTP API lives under `/api/v10` and answers the way Discord does: JSON with
`Content-Type: application/json` exactly (discord.py parses nothing else), errors as
`{"message": ..., "code": ...}` (plus `errors` for 50035), rate-limit headers, and a
`Via: 1.1 google` header on every answer (discord.py takes a 429 without `Via` for a
Cloudflare ban and raises instead of retrying). The gateway is a websocket on the same
server that sends plain JSON text frames (discord.py asks for `zlib-stream` but accepts
text): HELLO, READY and GUILD_CREATE after IDENTIFY, HEARTBEAT_ACK, RESUMED after a RESUME
with the missed events replayed, one session per shard.

It keeps guilds, channels, threads, per-channel message history (ephemeral messages
apart), every edit of every message, registered application commands, and every
interaction it dispatched with its callback. It logs every HTTP call (`calls`), and lets a
test script failures (`fail_next`), tighten rate limits (`set_rate_limit`), drop the
gateway (`disconnect`), refuse every HTTP API connection (`refuse_api`) and move time
(`clock`: interaction tokens last 15 minutes and must be answered within 3 s).

    async with FakeDiscord() as fake:
        discord.http.Route.BASE = fake.api_url
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
        client = discord.Client(intents=discord.Intents.default())
        await client.login(fake.token)
        task = asyncio.create_task(client.connect())
        await client.wait_until_ready()
        record = await fake.dispatch(fake.slash("draw", {"prompt": "a cat"}))
        callback = await fake.wait_for_callback(record.id)
        assert callback.type == 5 and callback.after_s < 3
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import hashlib
import inspect
import json
import math
import re
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import BodyPartReader, WSMsgType, web

__all__ = [
    "ALL_PERMISSIONS",
    "API_VERSION",
    "BOT_PERMISSIONS",
    "DEFAULT_APP_ID",
    "DEFAULT_GENERAL_CHANNEL_ID",
    "DEFAULT_GUILD_ID",
    "DEFAULT_NSFW_CHANNEL_ID",
    "DEFAULT_OWNER_ID",
    "DEFAULT_TOKEN",
    "DEFAULT_USER_ID",
    "EPHEMERAL",
    "INTENT_GUILDS",
    "INTENT_GUILD_MESSAGES",
    "INTENT_MESSAGE_CONTENT",
    "INTERACTION_ACK_S",
    "INTERACTION_TOKEN_TTL_S",
    "LOADING",
    "MAX_MESSAGE_CHARS",
    "MEMBER_PERMISSIONS",
    "ApiError",
    "Call",
    "Callback",
    "FakeDiscord",
    "GatewayConnection",
    "Handler",
    "InteractionRecord",
    "RouteKind",
    "Write",
    "snowflake_time",
]

API_VERSION = 10
DISCORD_EPOCH_MS = 1_420_070_400_000
MAX_MESSAGE_CHARS = 2000
"""Longer `content` is refused with 400, code 50035 (`BASE_TYPE_MAX_LENGTH`)."""
MAX_EMBEDS = 10
MAX_CHOICES = 25
INTERACTION_ACK_S = 3.0
"""An interaction must get its callback within this many seconds (else 404, code 10062)."""
INTERACTION_TOKEN_TTL_S = 15 * 60
"""Its token works on the webhook routes this long (then 401, code 50027)."""
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
_NONCE_WINDOW_S = 5 * 60

# Message flags.
SUPPRESS_EMBEDS = 1 << 2
HAS_THREAD = 1 << 5
EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_NOTIFICATIONS = 1 << 12
IS_COMPONENTS_V2 = 1 << 15
_SETTABLE_FLAGS = SUPPRESS_EMBEDS | EPHEMERAL | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2

# Gateway intents.
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_MESSAGE_CONTENT = 1 << 15

# Application flags (what the developer portal's toggles set).
_APP_FLAG_PRESENCE_LIMITED = 1 << 13
_APP_FLAG_MEMBERS_LIMITED = 1 << 15
_APP_FLAG_MESSAGE_CONTENT_LIMITED = 1 << 19
_APP_FLAG_COMMAND_BADGE = 1 << 23

# Permission bits.
_ADD_REACTIONS = 1 << 6
_VIEW_CHANNEL = 1 << 10
_SEND_MESSAGES = 1 << 11
_MANAGE_MESSAGES = 1 << 13
_EMBED_LINKS = 1 << 14
_ATTACH_FILES = 1 << 15
_READ_MESSAGE_HISTORY = 1 << 16
_USE_EXTERNAL_EMOJIS = 1 << 18
_CHANGE_NICKNAME = 1 << 26
_USE_APPLICATION_COMMANDS = 1 << 31
_CREATE_PUBLIC_THREADS = 1 << 35
_SEND_MESSAGES_IN_THREADS = 1 << 38
MEMBER_PERMISSIONS = (
    _ADD_REACTIONS
    | _VIEW_CHANNEL
    | _SEND_MESSAGES
    | _EMBED_LINKS
    | _ATTACH_FILES
    | _READ_MESSAGE_HISTORY
    | _USE_EXTERNAL_EMOJIS
    | _CHANGE_NICKNAME
    | _USE_APPLICATION_COMMANDS
    | _CREATE_PUBLIC_THREADS
    | _SEND_MESSAGES_IN_THREADS
)
"""What an ordinary member may do (the default `permissions` of an interaction's member)."""
BOT_PERMISSIONS = MEMBER_PERMISSIONS | _MANAGE_MESSAGES
"""The bot's permissions in every channel (`app_permissions` of interactions)."""
ALL_PERMISSIONS = (1 << 51) - 1
"""What Discord sends as `permissions` for an administrator or the guild owner."""

DEFAULT_TOKEN = "fake-discord-bot-token"
DEFAULT_APP_ID = 1_210_000_000_000_000_001
"""The application; its bot user has the same ID, as for every app made since 2020-ish."""
DEFAULT_GUILD_ID = 1_210_000_000_000_000_100
DEFAULT_GENERAL_CHANNEL_ID = 1_210_000_000_000_000_110
DEFAULT_NSFW_CHANNEL_ID = 1_210_000_000_000_000_111
DEFAULT_USER_ID = 1_210_000_000_000_000_200
"""`ada`, an ordinary member: the default author of interactions and seeded messages."""
DEFAULT_OWNER_ID = 1_210_000_000_000_000_300
DEFAULT_HEARTBEAT_MS = 41_250

RouteKind = Literal[
    "message_create", "message_edit", "message_delete", "history", "webhook", "thread"
]
"""Routes that carry rate-limit headers. Channel kinds are bucketed per channel, `webhook`
(interaction responses and followups, all methods) per webhook token, as Discord does."""
_DEFAULT_LIMIT = (1000, 1.0)
"""Until `set_rate_limit`: a bucket nothing in a test reaches, so headers are still sent."""

_VIA = "1.1 google"
_ERROR_MESSAGES: dict[int, str] = {
    10003: "Unknown Channel",
    10008: "Unknown Message",
    10013: "Unknown User",
    10015: "Unknown Webhook",
    10062: "Unknown interaction",
    30046: "Maximum number of edits to messages older than 1 hour reached. Try again later.",
    40060: "Interaction has already been acknowledged.",
    50001: "Missing Access",
    50005: "Cannot edit a message authored by another user",
    50006: "Cannot send an empty message",
    50013: "Missing Permissions",
    50027: "Invalid Webhook Token",
    50035: "Invalid Form Body",
    50109: "The request body contains invalid JSON.",
    160004: "A thread has already been created for this message",
}
_STATUS_MESSAGES: dict[int, str] = {
    400: "400: Bad Request",
    401: "401: Unauthorized",
    403: "403: Forbidden",
    404: "404: Not Found",
    405: "405: Method Not Allowed",
    429: "You are being rate limited.",
    500: "500: Internal Server Error",
    502: "502: Bad Gateway",
    503: "503: Service Unavailable",
    504: "504: Gateway Timeout",
}
_NAME = re.compile(r"^[-_'\w]{1,32}$")
_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")

Json = dict[str, Any]
Handler = Callable[["Call"], Any]
"""A custom route (`FakeDiscord.handle`): takes the call, returns the JSON body (or an
awaitable of it); `None` answers 204. Raise `ApiError` to answer an error."""


def snowflake_time(snowflake: int) -> dt.datetime:
    """When a snowflake was made (UTC)."""
    ms = (snowflake >> 22) + DISCORD_EPOCH_MS
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _now_iso() -> str:
    return _iso(dt.datetime.now(dt.UTC))


def _ceil_ms(seconds: float) -> float:
    # Round up: a client that waits exactly what we said must not arrive early.
    # (round first: 0.4 s is 400.00000000000006 ms in floating point)
    return math.ceil(round(max(seconds, 0.0) * 1000, 6)) / 1000


def _form_error(path: Sequence[str | int], code: str, message: str) -> Json:
    """Discord's nested `errors` object for one problem at `path`."""
    node: Json = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path):
        node = {str(key): node}
    return node


def _merge(into: Json, more: Json) -> Json:
    for key, value in more.items():
        if key in into and isinstance(into[key], dict) and isinstance(value, dict):
            _merge(into[key], value)
        elif key == "_errors" and key in into:
            into[key] = [*into[key], *value]
        else:
            into[key] = value
    return into


# --------------------------------------------------------------------------------------
# Records


class ApiError(Exception):
    """An error answer: HTTP `status` with `{"message", "code"}` (and `errors` if given)."""

    def __init__(
        self,
        status: int,
        code: int = 0,
        message: str | None = None,
        *,
        errors: Json | None = None,
    ) -> None:
        text = message or _ERROR_MESSAGES.get(code) or _STATUS_MESSAGES.get(status, "")
        super().__init__(f"{status} {code} {text}")
        self.status = status
        self.code = code
        self.message = text
        self.errors = errors

    def body(self) -> Json:
        body: Json = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


@dataclass
class Call:
    """One HTTP request as the fake received it, and what it answered."""

    method: str
    path: str
    """The path under `/api/v10`, e.g. `/channels/1/messages`."""
    query: dict[str, str]
    json: Any
    """The JSON body (for multipart requests, the `payload_json` part); None if none."""
    headers: dict[str, str]
    at: float
    """`time.monotonic()` when the request arrived."""
    route: str = ""
    """The matched route, e.g. `POST /channels/{channel_id}/messages`; "" if none matched."""
    params: dict[str, str] = field(default_factory=dict)
    """The route's path parameters, e.g. `{"channel_id": "1"}`."""
    files: list[str] = field(default_factory=list)
    """File names of a multipart upload."""
    status: int = 0
    """The HTTP status answered (0 while the call is in progress)."""
    response: Any = None
    """The JSON body answered (None for 204)."""
    response_headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def code(self) -> int | None:
        """Discord's JSON error code of the answer, if it was an error."""
        if isinstance(self.response, dict) and not self.ok:
            value = self.response.get("code")
            return value if isinstance(value, int) else None
        return None


@dataclass
class Callback:
    """One `POST /interactions/{id}/{token}/callback`, accepted or not."""

    interaction_id: int
    type: int | None
    data: Json | None
    query: dict[str, str]
    at: float
    """`time.monotonic()` when it arrived."""
    after_s: float
    """Seconds (by the fake's `clock`) since the interaction was dispatched."""
    status: int = 0
    code: int | None = None
    """Discord's error code if it was refused."""

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class InteractionRecord:
    """An interaction the fake dispatched, and how the bot answered it."""

    payload: Json
    dispatched_at: float
    """The fake's `clock()` when INTERACTION_CREATE was sent."""
    dispatched_monotonic: float
    callbacks: list[Callback] = field(default_factory=list)
    """Every callback attempt, refused ones included."""
    response_type: int | None = None
    """The accepted callback's type (4, 5, 6, 7, 8, 9), None until then."""
    original_message_id: int | None = None
    """The message `@original` means: created by a type 4/5 callback, or (types 6/7) the
    message the component is on."""
    followup_ids: list[int] = field(default_factory=list)
    choices: list[Json] | None = None
    """Autocomplete results (callback type 8)."""
    loading: bool = False
    """Deferred with type 5 and not answered yet (the user sees "... is thinking")."""

    @property
    def id(self) -> int:
        return int(self.payload["id"])

    @property
    def token(self) -> str:
        return str(self.payload["token"])

    @property
    def type(self) -> int:
        return int(self.payload["type"])

    @property
    def channel_id(self) -> int:
        return int(self.payload["channel_id"])

    @property
    def guild_id(self) -> int | None:
        value = self.payload.get("guild_id")
        return int(value) if value is not None else None

    @property
    def acknowledged(self) -> bool:
        return self.response_type is not None

    @property
    def callback(self) -> Callback | None:
        """The accepted callback, if any."""
        return next((c for c in self.callbacks if c.accepted), None)

    @property
    def message_ids(self) -> list[int]:
        """The messages this interaction's token may touch: `@original`, then followups."""
        first = [] if self.original_message_id is None else [self.original_message_id]
        return first + self.followup_ids


@dataclass
class Write:
    """A message created, edited or deleted, by any route (for per-channel pacing checks)."""

    at: float
    """`time.monotonic()`."""
    channel_id: int
    message_id: int
    action: Literal["create", "edit", "delete"]
    via: Literal["channel", "webhook", "callback"]
    ephemeral: bool = False


@dataclass
class GatewayConnection:
    """One websocket connection to the fake gateway."""

    path: str
    query: dict[str, str]
    opened_at: float
    received: list[Json] = field(default_factory=list)
    """Every payload the client sent, in order."""
    sent: list[Json] = field(default_factory=list)
    session_id: str | None = None
    shard: tuple[int, int] | None = None
    closed_at: float | None = None
    ws: web.WebSocketResponse | None = field(default=None, repr=False)
    request: web.BaseRequest | None = field(default=None, repr=False)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def live(self) -> bool:
        return self.ws is not None and not self.ws.closed and self.closed_at is None


@dataclass
class _Session:
    session_id: str
    shard_id: int
    shard_count: int
    intents: int
    identify: Json
    events: list[Json] = field(default_factory=list)
    seq: int = 0
    conn: GatewayConnection | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def covers(self, guild_id: int | None) -> bool:
        if guild_id is None:
            return self.shard_id == 0
        return (guild_id >> 22) % self.shard_count == self.shard_id


@dataclass
class _Channel:
    id: int
    guild_id: int
    name: str
    type: int = 0
    position: int = 0
    nsfw: bool = False
    topic: str | None = None
    parent_id: int | None = None
    permission_overwrites: list[Json] = field(default_factory=list)
    rate_limit_per_user: int = 0
    owner_id: int | None = None
    thread_metadata: Json | None = None
    message_count: int = 0
    last_message_id: int | None = None
    messages: list[Json] = field(default_factory=list)
    ephemerals: list[Json] = field(default_factory=list)
    nonces: dict[str, tuple[int, float]] = field(default_factory=dict)
    """nonce -> (message ID, clock time), for `enforce_nonce`."""

    @property
    def is_thread(self) -> bool:
        return self.type in (10, 11, 12)


@dataclass
class _Guild:
    id: int
    name: str
    owner_id: int
    everyone_permissions: int
    roles: list[Json] = field(default_factory=list)
    members: dict[int, list[int]] = field(default_factory=dict)
    """user ID -> role IDs."""
    joined_at: str = field(default_factory=_now_iso)


@dataclass
class _Bucket:
    limit: int
    per_s: float
    reset_at: float = -math.inf
    used: int = 0

    def take(self, now: float) -> float | None:
        """Count one request; the seconds to wait instead if the bucket is empty."""
        if now >= self.reset_at:
            self.reset_at = now + self.per_s
            self.used = 0
        if self.used >= self.limit:
            return self.reset_at - now
        self.used += 1
        return None


@dataclass
class _Scripted:
    method: str
    path: re.Pattern[str]
    error: ApiError
    retry_after: float
    global_: bool
    scope: str | None


@dataclass
class _Route:
    method: str
    template: str
    handler: Callable[[_Request], Awaitable[Any]]
    kind: RouteKind | None = None
    bucket_param: str | None = None
    auth: bool = True
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.template))
        self.pattern = re.compile(f"^{regex}$")

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"


@dataclass
class _Request:
    call: Call
    params: dict[str, str]
    body: Any
    files: list[tuple[str, bytes, str]]

    def snowflake(self, name: str) -> int:
        try:
            return int(self.params[name])
        except ValueError:
            raise ApiError(
                400,
                50035,
                errors=_form_error([name], "NUMBER_TYPE_COERCE", "Value is not snowflake."),
            ) from None


@dataclass
class _Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------
# The server


class FakeDiscord:
    """A fake Discord HTTP API and gateway on 127.0.0.1 (a free port); see the module
    docstring."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        app_id: int = DEFAULT_APP_ID,
        bot_user_id: int | None = None,
        bot_name: str = "Skald",
        guild_id: int = DEFAULT_GUILD_ID,
        guild_name: str = "Skald Test Guild",
        shards: int = 1,
        heartbeat_interval_ms: int = DEFAULT_HEARTBEAT_MS,
        message_content_intent: bool = True,
        bot_permissions: int = BOT_PERMISSIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock` (seconds) times interactions: the 3 s to answer, the 15 min a token
        lasts. Rate limits and `Call.at` use the real `time.monotonic()`, since the client
        really sleeps on them.

        `message_content_intent` is the developer portal's toggle: when False, REST and
        gateway messages come with empty `content`, `embeds`, `attachments` and
        `components` unless the bot wrote or mentions it, and an IDENTIFY asking for the
        intent is closed with 4014. `shards` is what `GET /gateway/bot` recommends.
        """
        self.token = token
        self.app_id = app_id
        self.bot_user_id = bot_user_id if bot_user_id is not None else app_id
        self.bot_name = bot_name
        self.guild_id = guild_id
        self.general_channel_id = DEFAULT_GENERAL_CHANNEL_ID
        self.nsfw_channel_id = DEFAULT_NSFW_CHANNEL_ID
        self.user_id = DEFAULT_USER_ID
        self.owner_id = DEFAULT_OWNER_ID
        self.shards = shards
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.message_content_intent = message_content_intent
        self.bot_permissions = bot_permissions
        self.clock = clock

        self.calls: list[Call] = []
        self.connections: list[GatewayConnection] = []
        self.identify_payloads: list[Json] = []
        self.identifies = 0
        self.resumes = 0
        self.heartbeats = 0
        self.presence: Json | None = None
        self.rate_limited: Counter[str] = Counter()
        """429s answered, per route kind (or route, for routes without a kind)."""

        self._users: dict[int, Json] = {}
        self._guilds: dict[int, _Guild] = {}
        self._channels: dict[int, _Channel] = {}
        self._message_channel: dict[int, int] = {}
        self._edits: dict[int, list[str]] = {}
        self._writes: list[Write] = []
        self._global_commands: list[Json] = []
        self._guild_commands: dict[int, list[Json]] = {}
        self._interactions: dict[int, InteractionRecord] = {}
        self._by_token: dict[str, InteractionRecord] = {}
        self._sessions: list[_Session] = []
        self._scripted: list[_Scripted] = []
        self._limits: dict[str, tuple[int, float]] = {}
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._last_id = 0
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        # `api_url` points at a port of its own, so the HTTP API can go away alone.
        self._api_runner: web.AppRunner | None = None
        self._api_port: int | None = None
        self._routes = self._build_routes()

        self.add_user(self.bot_user_id, bot_name, bot=True)
        self.add_user(self.user_id, "ada", global_name="Ada")
        self.add_user(self.owner_id, "owner", global_name="Owner")
        self.add_guild(guild_id, guild_name, general_channel_id=DEFAULT_GENERAL_CHANNEL_ID)
        self.add_channel("nsfw", nsfw=True, channel_id=DEFAULT_NSFW_CHANNEL_ID)

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Start serving on 127.0.0.1 at a free port."""
        if self._runner is not None:
            return
        app = web.Application()
        app.router.add_route("*", "/api/v{version:\\d+}/{tail:.*}", self._http)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/gateway/resume", self._gateway)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        api = web.Application()
        api.router.add_route("*", "/api/v{version:\\d+}/{tail:.*}", self._http)
        api_runner = web.AppRunner(api, access_log=None)
        await api_runner.setup()
        await web.TCPSite(api_runner, "127.0.0.1", 0).start()
        self._api_runner = api_runner
        self._api_port = int(api_runner.addresses[0][1])

    async def close(self) -> None:
        """Stop serving (gateway connections are closed with 1001)."""
        for conn in self.connections:
            if conn.ws is not None and not conn.ws.closed:
                await conn.ws.close(code=1001, message=b"Discord WebSocket requesting shutdown.")
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        await self.refuse_api()

    async def refuse_api(self) -> None:
        """From now on every HTTP API connection is refused, open ones closed (Discord
        unreachable); the gateway stays up, so interactions still arrive."""
        api_runner, self._api_runner = self._api_runner, None
        if api_runner is not None:
            await api_runner.cleanup()

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
            raise RuntimeError("FakeDiscord is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        """For `discord.http.Route.BASE`: `http://127.0.0.1:<api port>/api/v10` (the API is
        on the gateway's port too, but only this one can be refused)."""
        if self._api_port is None:
            raise RuntimeError("FakeDiscord is not started")
        return f"http://127.0.0.1:{self._api_port}/api/v{API_VERSION}"

    @property
    def gateway_url(self) -> str:
        """What `GET /gateway/bot` answers as `url`: `ws://127.0.0.1:<port>/gateway`."""
        return f"ws://127.0.0.1:{self._port_or_fail()}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        """READY's `resume_gateway_url`: the same server, path `/gateway/resume`."""
        return f"ws://127.0.0.1:{self._port_or_fail()}/gateway/resume"

    def _port_or_fail(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeDiscord is not started")
        return self._port

    # -- ids ------------------------------------------------------------------------

    def next_id(self) -> int:
        """A fresh snowflake made now, larger than every earlier one."""
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        candidate = (ms << 22) | (1 << 17)
        self._last_id = max(candidate, self._last_id + 1)
        return self._last_id

    # -- users, guilds and channels ---------------------------------------------------

    def add_user(
        self, user_id: int, username: str, *, global_name: str | None = None, bot: bool = False
    ) -> int:
        """Make a user known (for members, mentions, `GET /users/{id}`); returns its ID."""
        user: Json = {
            "id": str(user_id),
            "username": username,
            "discriminator": "4242" if bot else "0",
            "global_name": None if bot else (global_name or username),
            "avatar": None,
            "avatar_decoration_data": None,
            "banner": None,
            "accent_color": None,
            "collectibles": None,
            "primary_guild": None,
            "clan": None,
            "public_flags": 0,
            "flags": 0,
        }
        if bot:
            user["bot"] = True
        self._users[user_id] = user
        return user_id

    def user(self, user_id: int) -> Json:
        """The user object Discord sends (made up as `user<id>` for unknown IDs)."""
        if user_id not in self._users:
            self.add_user(user_id, f"user{user_id}")
        return copy.deepcopy(self._users[user_id])

    def add_guild(
        self,
        guild_id: int | None = None,
        name: str = "Another Guild",
        *,
        general_channel_id: int | None = None,
        everyone_permissions: int = MEMBER_PERMISSIONS,
    ) -> int:
        """A guild with roles (@everyone, the bot's managed role, Admin), a category, a
        `general` text channel, and the bot, `ada` and the owner as members. Returns its
        ID. A connected bot does not hear of it (as if it joined before connecting)."""
        gid = guild_id if guild_id is not None else self.next_id()
        guild = _Guild(
            id=gid, name=name, owner_id=self.owner_id, everyone_permissions=everyone_permissions
        )
        bot_role, admin_role = self.next_id(), self.next_id()
        guild.roles = [
            self._role(gid, "@everyone", everyone_permissions, 0),
            self._role(
                bot_role,
                self.bot_name,
                self.bot_permissions,
                1,
                tags={"bot_id": str(self.bot_user_id)},
            ),
            self._role(admin_role, "Admin", ALL_PERMISSIONS, 2),
        ]
        guild.members = {
            self.bot_user_id: [bot_role],
            self.user_id: [],
            self.owner_id: [admin_role],
        }
        self._guilds[gid] = guild
        category = self.add_channel("Text Channels", guild_id=gid, type=4)
        self.add_channel("general", guild_id=gid, channel_id=general_channel_id, parent_id=category)
        return gid

    def add_role(self, name: str, *, guild_id: int | None = None, permissions: int = 0) -> int:
        """A role in a guild (the default guild unless given); returns its ID. A connected
        bot does not hear of it: add roles before the bot connects."""
        guild = self._guild(guild_id)
        role_id = self.next_id()
        guild.roles.append(self._role(role_id, name, permissions, len(guild.roles)))
        return role_id

    def add_member(
        self, user_id: int, *, guild_id: int | None = None, roles: Iterable[int] = ()
    ) -> None:
        """Make a known user a member of a guild (the default guild unless given)."""
        self.user(user_id)
        self._guild(guild_id).members[user_id] = list(roles)

    def add_channel(
        self,
        name: str,
        *,
        guild_id: int | None = None,
        channel_id: int | None = None,
        type: int = 0,
        nsfw: bool = False,
        topic: str | None = None,
        parent_id: int | None = None,
        permission_overwrites: Sequence[Json] = (),
        rate_limit_per_user: int = 0,
    ) -> int:
        """A channel in a guild (the default guild unless given); returns its ID. Text
        channels go under the guild's first category unless `parent_id` says otherwise."""
        guild = self._guild(guild_id)
        cid = channel_id if channel_id is not None else self.next_id()
        if parent_id is None and type == 0:
            parent_id = next(
                (c.id for c in self._channels.values() if c.guild_id == guild.id and c.type == 4),
                None,
            )
        position = sum(1 for c in self._channels.values() if c.guild_id == guild.id)
        self._channels[cid] = _Channel(
            id=cid,
            guild_id=guild.id,
            name=name,
            type=type,
            position=position,
            nsfw=nsfw,
            topic=topic,
            parent_id=parent_id,
            permission_overwrites=[dict(o) for o in permission_overwrites],
            rate_limit_per_user=rate_limit_per_user,
        )
        return cid

    def delete_channel(self, channel_id: int) -> None:
        """Delete a channel or thread, as a moderator does: its messages go with it, and
        every later request about it answers 404 Unknown Channel (10003)."""
        del self._channels[channel_id]

    def channel(self, channel_id: int) -> Json:
        """The channel (or thread) object, as `GET /channels/{id}` answers it."""
        return self._channel_object(self._channel(channel_id))

    def threads(self, channel_id: int | None = None) -> list[Json]:
        """Threads (of one parent channel, if given), oldest first."""
        return [
            self._channel_object(c)
            for c in self._channels.values()
            if c.is_thread and (channel_id is None or c.parent_id == channel_id)
        ]

    # -- messages -------------------------------------------------------------------

    def add_message(
        self,
        channel_id: int,
        content: str,
        *,
        author_id: int | None = None,
        embeds: Sequence[Json] = (),
        components: Sequence[Json] = (),
        reply_to: int | None = None,
    ) -> Json:
        """Seed a message (by `ada` unless `author_id` says otherwise) into a channel's
        history, newer than everything before it. Returns the message object. Nothing is
        sent over the gateway: see `deliver_message` for that."""
        chan = self._channel(channel_id)
        body: Json = {"content": content, "embeds": list(embeds), "components": list(components)}
        if reply_to is not None:
            body["message_reference"] = {"message_id": str(reply_to)}
        message = self._create_message(chan, body, author_id=author_id or self.user_id)
        return copy.deepcopy(message)

    async def deliver_message(
        self, channel_id: int, content: str, *, author_id: int | None = None, **kwargs: Any
    ) -> Json:
        """A user writes a message: it goes into the history (as `add_message`) and out as
        MESSAGE_CREATE to a session with the GUILD_MESSAGES intent."""
        message = self.add_message(channel_id, content, author_id=author_id, **kwargs)
        await self._broadcast_message("MESSAGE_CREATE", self._channel(channel_id), message)
        return message

    def messages(self, channel_id: int) -> list[Json]:
        """The channel's messages as they are now, oldest first (no ephemerals, nothing
        hidden by the message-content intent)."""
        return copy.deepcopy(self._channel(channel_id).messages)

    def ephemerals(self, channel_id: int) -> list[Json]:
        """Ephemeral messages sent in the channel (they are not in its history)."""
        return copy.deepcopy(self._channel(channel_id).ephemerals)

    def message(self, message_id: int) -> Json:
        """One message (ephemeral or not) as it is now; KeyError if unknown or deleted."""
        found = self._find_message(message_id)
        if found is None:
            raise KeyError(message_id)
        return copy.deepcopy(found[1])

    def edits(self, message_id: int) -> list[str]:
        """The message's content after each edit, in order (not its first content)."""
        return list(self._edits.get(message_id, []))

    def writes(self, channel_id: int | None = None) -> list[Write]:
        """Message creates, edits and deletes (of one channel, if given), in order."""
        return [w for w in self._writes if channel_id is None or w.channel_id == channel_id]

    # -- application commands -----------------------------------------------------------

    def commands(self, guild_id: int | None = None) -> list[Json]:
        """The registered global commands, or one guild's."""
        if guild_id is None:
            return copy.deepcopy(self._global_commands)
        return copy.deepcopy(self._guild_commands.get(guild_id, []))

    def command(self, name: str, *, guild_id: int | None = None, type: int = 1) -> Json | None:
        """A registered command by name: the guild's first (if given), then global."""
        scopes = ([self._guild_commands.get(guild_id, [])] if guild_id is not None else []) + [
            self._global_commands
        ]
        for commands in scopes:
            for cmd in commands:
                if cmd["name"] == name and cmd.get("type", 1) == type:
                    return copy.deepcopy(cmd)
        return None

    # -- interactions ---------------------------------------------------------------

    def slash(
        self,
        name: str,
        options: Mapping[str, Any] | Sequence[Json] | None = None,
        *,
        subcommand: str | Sequence[str] | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
        guild_id: int | None = None,
        permissions: int | str | None = None,
        roles: Sequence[int] = (),
        locale: str = "en-US",
    ) -> Json:
        """An APPLICATION_COMMAND (type 2) interaction, shaped as Discord sends it.

        `options` maps option names to values (their types come from the registered
        command, else from the Python value), or is a list of raw option objects.
        `subcommand` is the path below the command (`"image draw"` or a sequence): the
        options are nested under SUB_COMMAND_GROUP (2) / SUB_COMMAND (1) options. The
        command's ID (and `guild_id` for a guild command) come from what was registered.
        User, channel and role options get `resolved` data.

        It comes from `channel_id` (in that channel's guild), else from the first text
        channel of `guild_id` (default: the fake's guild, so `general`). The member is
        `user_id` (default `ada`) with `permissions` (default: @everyone's; all of them
        for the guild owner) and `roles`.
        """
        guild, _ = self._where(channel_id, guild_id)
        data = self._command_data(name, options, subcommand, guild.id, focused=None)
        return self._interaction_payload(
            2,
            data,
            channel_id=channel_id,
            user_id=user_id,
            guild_id=guild_id,
            permissions=permissions,
            roles=roles,
            locale=locale,
        )

    def autocomplete(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        focused: str,
        subcommand: str | Sequence[str] | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
        guild_id: int | None = None,
        permissions: int | str | None = None,
        locale: str = "en-US",
    ) -> Json:
        """An APPLICATION_COMMAND_AUTOCOMPLETE (type 4) interaction: as `slash`, with the
        option named `focused` marked `"focused": true` (added with value "" if absent)."""
        values = dict(options or {})
        values.setdefault(focused, "")
        guild, _ = self._where(channel_id, guild_id)
        data = self._command_data(name, values, subcommand, guild.id, focused=focused)
        return self._interaction_payload(
            4,
            data,
            channel_id=channel_id,
            user_id=user_id,
            guild_id=guild_id,
            permissions=permissions,
            roles=(),
            locale=locale,
        )

    def button(
        self,
        custom_id: str,
        *,
        message_id: int | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
        component_type: int = 2,
        values: Sequence[str] | None = None,
        permissions: int | str | None = None,
        locale: str = "en-US",
    ) -> Json:
        """A MESSAGE_COMPONENT (type 3) interaction: a click on a button (or, with
        `component_type` 3 and `values`, a select) on a message the fake holds. Without
        `message_id`, the bot's latest message in the channel."""
        chan = self._channel(channel_id if channel_id is not None else self.general_channel_id)
        if message_id is None:
            bot_messages = [
                m
                for m in chan.messages + chan.ephemerals
                if int(m["author"]["id"]) == self.bot_user_id
            ]
            if not bot_messages:
                raise LookupError(f"no message by the bot in channel {chan.id}")
            message = max(bot_messages, key=lambda m: int(m["id"]))
        else:
            found = self._find_message(message_id)
            if found is None:
                raise LookupError(f"unknown message {message_id}")
            chan, message = found
        data: Json = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = list(values)
        payload = self._interaction_payload(
            3,
            data,
            channel_id=chan.id,
            user_id=user_id,
            guild_id=chan.guild_id,
            permissions=permissions,
            roles=(),
            locale=locale,
        )
        payload["message"] = copy.deepcopy(message)
        return payload

    async def dispatch(
        self, payload: Mapping[str, Any], *, timeout_s: float = 5.0
    ) -> InteractionRecord:
        """Send an interaction as INTERACTION_CREATE to the session of its guild's shard
        (waiting up to `timeout_s` for one to identify). Its 3 s start now. Sending the
        same payload again re-delivers it (same ID and token, state kept)."""
        guild_id = payload.get("guild_id")
        session = await self._wait_session(int(guild_id) if guild_id else None, timeout_s)
        iid = int(payload["id"])
        record = self._interactions.get(iid)
        if record is None:
            record = InteractionRecord(
                payload=copy.deepcopy(dict(payload)),
                dispatched_at=self.clock(),
                dispatched_monotonic=time.monotonic(),
            )
            self._interactions[iid] = record
            self._by_token[record.token] = record
        await self._emit(session, "INTERACTION_CREATE", copy.deepcopy(dict(payload)))
        return record

    def interaction(self, interaction_id: int) -> InteractionRecord:
        """A dispatched interaction's record."""
        return self._interactions[interaction_id]

    async def wait_for_callback(self, interaction_id: int, timeout_s: float = 5.0) -> Callback:
        """Wait for the interaction's first answered callback (accepted or not)."""
        async with asyncio.timeout(timeout_s):
            while True:
                record = self._interactions.get(interaction_id)
                done = [c for c in record.callbacks if c.status] if record else []
                if done:
                    return done[0]
                await asyncio.sleep(0.005)

    # -- call log -------------------------------------------------------------------

    def calls_to(self, route: str) -> list[Call]:
        """Calls to one route, e.g. `"PATCH /channels/{channel_id}/messages/{message_id}"`,
        in arrival order."""
        return [c for c in self.calls if c.route == route]

    def clear_calls(self) -> None:
        self.calls.clear()

    async def wait_for_calls(
        self, predicate: Callable[[Call], bool] | str, count: int = 1, timeout_s: float = 5.0
    ) -> list[Call]:
        """Wait until `count` answered calls match (a predicate, or a route as in
        `calls_to`); returns all that match."""
        matches = _route_is(predicate) if isinstance(predicate, str) else predicate
        async with asyncio.timeout(timeout_s):
            while True:
                done = [c for c in self.calls if c.status and matches(c)]
                if len(done) >= count:
                    return done
                await asyncio.sleep(0.005)

    async def wait_until(self, condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
        """Wait until `condition()` is true (e.g. `lambda: fake.resumes == 1`)."""
        async with asyncio.timeout(timeout_s):
            while True:
                if condition():
                    return
                await asyncio.sleep(0.005)

    # -- scripting ------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        code: int = 0,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        global_: bool = False,
        times: int = 1,
        errors: Json | None = None,
        scope: str | None = None,
    ) -> None:
        """Answer the next `times` requests whose method is `method` ("*" for any) and
        whose path under `/api/v10` fully matches `path_regex` with an error, before the
        route runs (nothing changes).

        429 answers `{"message", "retry_after", "global"}` with `Retry-After` and
        `X-RateLimit-Scope` (`scope`, default "user", or "global" with `global_`, which
        also sends `X-RateLimit-Global: true`). Other statuses answer
        `{"message", "code"}` (and `errors`); `message` defaults to Discord's text for
        `code` (or for the status, like "500: Internal Server Error").
        """
        error = ApiError(status, code, message, errors=errors)
        pattern = re.compile(path_regex)
        for _ in range(times):
            self._scripted.append(
                _Scripted(
                    method=method.upper(),
                    path=pattern,
                    error=error,
                    retry_after=0.1 if retry_after is None else retry_after,
                    global_=global_,
                    scope=scope,
                )
            )

    def set_rate_limit(self, kind: RouteKind, limit: int | None, per_s: float = 1.0) -> None:
        """Allow `limit` requests per `per_s` seconds per bucket of this route kind (per
        channel, or per webhook token); beyond it answer 429. `None` restores the default
        (a limit no test reaches; the headers are sent either way)."""
        if limit is None:
            self._limits.pop(kind, None)
        else:
            self._limits[kind] = (limit, per_s)
        for key in [k for k in self._buckets if k[0] == kind]:
            del self._buckets[key]

    def handle(self, method: str, path: str, handler: Handler) -> None:
        """Serve (or override) a route, e.g. `handle("GET", "/guilds/{guild_id}", fn)`;
        `fn(call)` returns the JSON body (None for 204) and may raise `ApiError`."""

        async def run(request: _Request) -> Any:
            result = handler(request.call)
            return await result if inspect.isawaitable(result) else result

        route = _Route(method.upper(), path, run)
        self._routes.insert(0, route)

    # -- gateway control ----------------------------------------------------------------

    async def disconnect(self, code: int | None = 4000, *, shard_id: int | None = None) -> None:
        """Close the live gateway connections (of one shard, if given): with a close frame
        carrying `code` (4000: the client should resume), or, with `code=None`, by
        dropping the TCP connection without one. Events dispatched meanwhile are replayed
        on RESUME."""
        for conn in self.connections:
            if not conn.live or (shard_id is not None and (conn.shard or (0, 1))[0] != shard_id):
                continue
            conn.closed_at = time.monotonic()
            if code is None:
                transport = conn.request.transport if conn.request is not None else None
                if transport is not None:
                    transport.abort()
            elif conn.ws is not None:
                await conn.ws.close(code=code, message=b"Disconnected by the fake.")

    async def request_reconnect(self, *, shard_id: int | None = None) -> None:
        """Send RECONNECT (op 7) on the live connections (of one shard, if given)."""
        for conn in self.connections:
            if conn.live and (shard_id is None or (conn.shard or (0, 1))[0] == shard_id):
                await self._send(conn, {"op": 7, "d": None, "s": None, "t": None})

    async def dispatch_event(
        self,
        event: str,
        data: Mapping[str, Any],
        *,
        guild_id: int | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        """Send any dispatch event (op 0) to the session of `guild_id`'s shard."""
        session = await self._wait_session(guild_id, timeout_s)
        await self._emit(session, event, copy.deepcopy(dict(data)))

    @property
    def identify_payload(self) -> Json | None:
        """The `d` of the latest IDENTIFY (token, properties, intents, shard...)."""
        return self.identify_payloads[-1] if self.identify_payloads else None

    # ==================================================================================
    # HTTP

    def _build_routes(self) -> list[_Route]:
        wh = "/webhooks/{webhook_id}/{webhook_token}"
        msg = "/channels/{channel_id}/messages/{message_id}"
        return [
            _Route("GET", "/gateway", self._get_gateway, auth=False),
            _Route("GET", "/gateway/bot", self._get_gateway_bot),
            _Route("GET", "/users/@me", self._get_me),
            _Route("GET", "/users/{user_id}", self._get_user),
            _Route("GET", "/oauth2/applications/@me", self._get_application),
            _Route("GET", "/applications/{application_id}/commands", self._get_commands),
            _Route("PUT", "/applications/{application_id}/commands", self._put_commands),
            _Route(
                "GET",
                "/applications/{application_id}/guilds/{guild_id}/commands",
                self._get_commands,
            ),
            _Route(
                "PUT",
                "/applications/{application_id}/guilds/{guild_id}/commands",
                self._put_commands,
            ),
            _Route(
                "POST",
                "/interactions/{interaction_id}/{interaction_token}/callback",
                self._callback,
                auth=False,
            ),
            _Route(
                "GET",
                f"{wh}/messages/@original",
                self._webhook_get,
                "webhook",
                "webhook_token",
                False,
            ),
            _Route(
                "PATCH",
                f"{wh}/messages/@original",
                self._webhook_edit,
                "webhook",
                "webhook_token",
                False,
            ),
            _Route(
                "DELETE",
                f"{wh}/messages/@original",
                self._webhook_delete,
                "webhook",
                "webhook_token",
                False,
            ),
            _Route("POST", wh, self._webhook_execute, "webhook", "webhook_token", False),
            _Route(
                "GET",
                f"{wh}/messages/{{message_id}}",
                self._webhook_get,
                "webhook",
                "webhook_token",
                False,
            ),
            _Route(
                "PATCH",
                f"{wh}/messages/{{message_id}}",
                self._webhook_edit,
                "webhook",
                "webhook_token",
                False,
            ),
            _Route(
                "DELETE",
                f"{wh}/messages/{{message_id}}",
                self._webhook_delete,
                "webhook",
                "webhook_token",
                False,
            ),
            _Route("GET", "/channels/{channel_id}", self._get_channel),
            _Route(
                "GET", "/channels/{channel_id}/messages", self._history, "history", "channel_id"
            ),
            _Route(
                "POST",
                "/channels/{channel_id}/messages",
                self._post_message,
                "message_create",
                "channel_id",
            ),
            _Route("GET", msg, self._get_message, "history", "channel_id"),
            _Route("PATCH", msg, self._edit_message, "message_edit", "channel_id"),
            _Route("DELETE", msg, self._delete_message, "message_delete", "channel_id"),
            _Route("PUT", f"{msg}/reactions/{{emoji}}/@me", self._add_reaction),
            _Route("POST", f"{msg}/threads", self._thread_from_message, "thread", "channel_id"),
            _Route(
                "POST", "/channels/{channel_id}/threads", self._thread_alone, "thread", "channel_id"
            ),
            _Route("POST", "/channels/{channel_id}/typing", self._typing),
        ]

    async def _http(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        call = Call(
            method=request.method,
            path=path,
            query=dict(request.query),
            json=None,
            headers=dict(request.headers),
            at=time.monotonic(),
        )
        self.calls.append(call)
        answer = await self._answer(request, call)
        headers = {"Via": _VIA, **answer.headers}
        call.status = answer.status
        call.response = answer.body
        call.response_headers = headers
        if answer.body is None:
            return web.Response(status=answer.status, headers=headers)
        # Exactly `application/json`: discord.py parses no other content type (no charset).
        headers["Content-Type"] = "application/json"
        return web.Response(
            status=answer.status, body=json.dumps(answer.body).encode(), headers=headers
        )

    async def _answer(self, request: web.Request, call: Call) -> _Answer:
        if request.match_info["version"] != str(API_VERSION):
            return _Answer(404, ApiError(404, 0).body())
        route, params, allowed = self._match(call.method, call.path)
        if route is None:
            status = 405 if allowed else 404
            return _Answer(status, ApiError(status, 0).body())
        call.route = route.name
        call.params = params
        try:
            body, files = await self._read_body(request)
        except ApiError as exc:
            return _Answer(exc.status, exc.body())
        call.json = body
        call.files = [name for name, _, _ in files]
        if route.auth and request.headers.get("Authorization") != f"Bot {self.token}":
            return _Answer(401, ApiError(401, 0).body())
        kind = route.kind or route.name
        scripted = self._take_scripted(call)
        if scripted is not None:
            return self._scripted_answer(scripted, kind)
        bucket_key = params.get(route.bucket_param or "", "")
        limit_headers: dict[str, str] = {}
        if route.kind is not None:
            limited, limit_headers = self._rate_limit(route.kind, bucket_key)
            if limited is not None:
                self.rate_limited[kind] += 1
                return limited
        try:
            result = await route.handler(_Request(call, params, body, files))
        except ApiError as exc:
            return _Answer(exc.status, exc.body(), limit_headers)
        if isinstance(result, _Answer):
            result.headers = {**limit_headers, **result.headers}
            return result
        if result is None:
            return _Answer(204, None, limit_headers)
        return _Answer(200, result, limit_headers)

    def _match(self, method: str, path: str) -> tuple[_Route | None, dict[str, str], bool]:
        allowed = False
        for route in self._routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method:
                return route, found.groupdict(), True
            allowed = True
        return None, {}, allowed

    async def _read_body(self, request: web.Request) -> tuple[Any, list[tuple[str, bytes, str]]]:
        if request.content_type == "multipart/form-data":
            body: Any = None
            files: list[tuple[str, bytes, str]] = []
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(
                    part, BodyPartReader
                ):  # a nested multipart: not used by discord.py
                    continue
                data = await part.read(decode=False)
                if part.name == "payload_json":
                    body = self._parse_json(bytes(data))
                else:
                    files.append(
                        (part.filename or "file", bytes(data), part.headers.get("Content-Type", ""))
                    )
            return body, files
        raw = await request.read()
        return (self._parse_json(raw) if raw else None), []

    @staticmethod
    def _parse_json(raw: bytes) -> Any:
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(400, 50109) from None

    def _take_scripted(self, call: Call) -> _Scripted | None:
        for i, scripted in enumerate(self._scripted):
            if scripted.method in ("*", call.method) and scripted.path.fullmatch(call.path):
                del self._scripted[i]
                return scripted
        return None

    def _scripted_answer(self, scripted: _Scripted, kind: str) -> _Answer:
        error = scripted.error
        if error.status != 429:
            return _Answer(error.status, error.body())
        self.rate_limited[kind] += 1
        retry_after = _ceil_ms(scripted.retry_after)
        body: Json = {
            "message": error.message,
            "retry_after": retry_after,
            "global": scripted.global_,
        }
        if error.code:
            body["code"] = error.code
        headers = {"Retry-After": str(math.ceil(retry_after))}
        if scripted.global_:
            headers["X-RateLimit-Global"] = "true"
            headers["X-RateLimit-Scope"] = scripted.scope or "global"
        else:
            headers.update(self._limit_headers(kind, 1, 0, retry_after))
            headers["X-RateLimit-Scope"] = scripted.scope or "user"
        return _Answer(429, body, headers)

    def _rate_limit(self, kind: RouteKind, key: str) -> tuple[_Answer | None, dict[str, str]]:
        limit, per_s = self._limits.get(kind, _DEFAULT_LIMIT)
        bucket = self._buckets.setdefault((kind, key), _Bucket(limit, per_s))
        now = time.monotonic()
        wait = bucket.take(now)
        reset_after = _ceil_ms(bucket.reset_at - now)
        if wait is None:
            return None, self._limit_headers(
                kind, bucket.limit, bucket.limit - bucket.used, reset_after
            )
        retry_after = _ceil_ms(wait)
        headers = self._limit_headers(kind, bucket.limit, 0, reset_after)
        headers["Retry-After"] = str(math.ceil(retry_after))
        headers["X-RateLimit-Scope"] = "user"
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": False,
        }
        return _Answer(429, body, headers), {}

    @staticmethod
    def _limit_headers(kind: str, limit: int, remaining: int, reset_after: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": hashlib.md5(kind.encode()).hexdigest(),
        }

    # -- gateway, users, application ----------------------------------------------------

    async def _get_gateway(self, request: _Request) -> Json:
        return {"url": self.gateway_url}

    async def _get_gateway_bot(self, request: _Request) -> Json:
        return {
            "url": self.gateway_url,
            "shards": self.shards,
            "session_start_limit": {
                "total": 1000,
                "remaining": max(0, 1000 - self.identifies),
                "reset_after": 14_400_000,
                "max_concurrency": 1,
            },
        }

    def _me(self) -> Json:
        me = self.user(self.bot_user_id)
        me.update(
            {"verified": True, "mfa_enabled": False, "locale": "en-US", "email": None, "bio": ""}
        )
        return me

    async def _get_me(self, request: _Request) -> Json:
        return self._me()

    async def _get_user(self, request: _Request) -> Json:
        uid = request.snowflake("user_id")
        if uid not in self._users:
            raise ApiError(404, 10013)
        return self.user(uid)

    def _app_flags(self) -> int:
        flags = _APP_FLAG_COMMAND_BADGE | _APP_FLAG_PRESENCE_LIMITED | _APP_FLAG_MEMBERS_LIMITED
        if self.message_content_intent:
            flags |= _APP_FLAG_MESSAGE_CONTENT_LIMITED
        return flags

    async def _get_application(self, request: _Request) -> Json:
        return {
            "id": str(self.app_id),
            "name": self.bot_name,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "is_monetized": False,
            "is_verified": False,
            "is_discoverable": False,
            "bot_public": True,
            "bot_require_code_grant": False,
            "bot": self.user(self.bot_user_id),
            "owner": self.user(self.owner_id),
            "team": None,
            "verify_key": "0" * 64,
            "flags": self._app_flags(),
            "hook": True,
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "approximate_guild_count": len(self._guilds),
            "integration_types_config": {"0": {}},
            "tags": [],
        }

    # -- application commands -------------------------------------------------------------

    def _check_app(self, request: _Request) -> None:
        if request.snowflake("application_id") != self.app_id:
            raise ApiError(403, 50001)

    async def _get_commands(self, request: _Request) -> list[Json]:
        self._check_app(request)
        if "guild_id" in request.params:
            return self.commands(request.snowflake("guild_id"))
        return self.commands()

    async def _put_commands(self, request: _Request) -> list[Json]:
        self._check_app(request)
        guild_id = request.snowflake("guild_id") if "guild_id" in request.params else None
        if guild_id is not None and guild_id not in self._guilds:
            raise ApiError(403, 50001)
        payload = request.body
        if not isinstance(payload, list):
            raise ApiError(
                400, 50035, errors=_form_error([], "BASE_TYPE_ARRAY", "Must be an array.")
            )
        errors: Json = {}
        seen: set[tuple[str, int]] = set()
        for i, cmd in enumerate(payload):
            _merge(errors, _command_errors(cmd, [i]))
            if isinstance(cmd, dict):
                key = (str(cmd.get("name")), int(cmd.get("type", 1)))
                if key in seen:
                    _merge(
                        errors,
                        _form_error(
                            [i, "name"],
                            "APPLICATION_COMMANDS_DUPLICATE_NAME",
                            f"Application command names must be unique: {key[0]}",
                        ),
                    )
                seen.add(key)
        if errors:
            raise ApiError(400, 50035, errors=errors)
        old = self._global_commands if guild_id is None else self._guild_commands.get(guild_id, [])
        stored = [self._store_command(cmd, old, guild_id) for cmd in payload]
        if guild_id is None:
            self._global_commands = stored
        else:
            self._guild_commands[guild_id] = stored
        return copy.deepcopy(stored)

    def _store_command(self, cmd: Json, old: list[Json], guild_id: int | None) -> Json:
        type_ = int(cmd.get("type", 1))
        before = next((c for c in old if c["name"] == cmd["name"] and c["type"] == type_), None)
        stored: Json = {
            "id": before["id"] if before else str(self.next_id()),
            "application_id": str(self.app_id),
            "version": str(self.next_id()),
            "default_member_permissions": cmd.get("default_member_permissions"),
            "type": type_,
            "name": cmd["name"],
            "name_localizations": cmd.get("name_localizations"),
            "description": cmd.get("description", ""),
            "description_localizations": cmd.get("description_localizations"),
            "dm_permission": cmd.get("dm_permission", True),
            "contexts": cmd.get("contexts"),
            "integration_types": cmd.get("integration_types", [0]),
            "nsfw": bool(cmd.get("nsfw", False)),
        }
        if cmd.get("options"):
            stored["options"] = copy.deepcopy(cmd["options"])
        if guild_id is not None:
            stored["guild_id"] = str(guild_id)
        if before is not None and all(
            before.get(k) == stored.get(k) for k in stored if k != "version"
        ):
            stored["version"] = before["version"]
        return stored

    # -- interaction callback -------------------------------------------------------------

    async def _callback(self, request: _Request) -> Any:
        iid = request.snowflake("interaction_id")
        record = self._interactions.get(iid)
        if record is None or record.token != request.params["interaction_token"]:
            raise ApiError(404, 10062)
        body = request.body if isinstance(request.body, dict) else {}
        raw_type = body.get("type")
        callback = Callback(
            interaction_id=iid,
            type=raw_type if isinstance(raw_type, int) else None,
            data=body.get("data"),
            query=dict(request.call.query),
            at=request.call.at,
            after_s=self.clock() - record.dispatched_at,
        )
        record.callbacks.append(callback)
        try:
            answer = await self._accept_callback(record, callback, request)
        except ApiError as exc:
            callback.status, callback.code = exc.status, exc.code
            raise
        callback.status = answer.status
        return answer

    async def _accept_callback(
        self, record: InteractionRecord, callback: Callback, request: _Request
    ) -> _Answer:
        if record.acknowledged:
            raise ApiError(400, 40060)
        if callback.after_s > INTERACTION_ACK_S:
            raise ApiError(404, 10062)
        type_ = callback.type
        allowed = {2: (4, 5, 9), 3: (4, 5, 6, 7, 9), 4: (8,), 5: (4, 5, 6, 7)}.get(record.type, ())
        if type_ not in allowed:
            raise ApiError(
                400,
                50035,
                errors=_form_error(
                    ["type"],
                    "INTERACTION_RESPONSE_TYPE_INVALID",
                    "Invalid interaction response type",
                ),
            )
        data = callback.data if isinstance(callback.data, dict) else {}
        chan = self._channel(record.channel_id)
        message: Json | None = None
        if type_ == 4:
            message = self._create_message(
                chan,
                data,
                author_id=self.bot_user_id,
                record=record,
                files=request.files,
                via="callback",
            )
            record.original_message_id = int(message["id"])
        elif type_ == 5:
            flags = LOADING | (int(data.get("flags", 0)) & EPHEMERAL)
            message = self._create_message(
                chan,
                {"content": "", "flags": flags},
                author_id=self.bot_user_id,
                record=record,
                via="callback",
            )
            record.original_message_id = int(message["id"])
            record.loading = True
        elif type_ in (6, 7):
            target = record.payload.get("message", {}).get("id")
            record.original_message_id = int(target) if target is not None else None
            if type_ == 7 and record.original_message_id is not None:
                message = self._edit(
                    record.original_message_id, data, request.files, via="callback"
                )
        elif type_ == 8:
            choices = data.get("choices", [])
            if not isinstance(choices, list) or len(choices) > MAX_CHOICES:
                raise ApiError(
                    400,
                    50035,
                    errors=_form_error(
                        ["data", "choices"],
                        "BASE_TYPE_MAX_LENGTH",
                        f"Must be {MAX_CHOICES} or fewer in length.",
                    ),
                )
            record.choices = copy.deepcopy(choices)
        record.response_type = type_
        if message is not None and not message["flags"] & EPHEMERAL:
            event = "MESSAGE_UPDATE" if type_ == 7 else "MESSAGE_CREATE"
            await self._broadcast_message(event, chan, message)
        if request.call.query.get("with_response", "").lower() not in ("1", "true"):
            return _Answer(204)
        interaction: Json = {"id": str(record.id), "type": record.type}
        if type_ in (4, 5, 7) and message is not None:
            interaction["response_message_id"] = message["id"]
            interaction["response_message_loading"] = type_ == 5
            interaction["response_message_ephemeral"] = bool(message["flags"] & EPHEMERAL)
        resource: Json = {"type": type_}
        if type_ in (4, 7) and message is not None:
            resource["message"] = copy.deepcopy(message)
        return _Answer(200, {"interaction": interaction, "resource": resource})

    # -- interaction webhooks -------------------------------------------------------------

    def _webhook_record(self, request: _Request) -> InteractionRecord:
        record = self._by_token.get(request.params["webhook_token"])
        if record is None or request.snowflake("webhook_id") != self.app_id:
            raise ApiError(404, 10015)
        if self.clock() - record.dispatched_at > INTERACTION_TOKEN_TTL_S:
            raise ApiError(401, 50027)
        if not record.acknowledged:
            raise ApiError(404, 10015)
        return record

    def _webhook_message_id(self, request: _Request, record: InteractionRecord) -> int:
        if "message_id" not in request.params:
            if record.original_message_id is None:
                raise ApiError(404, 10008)
            return record.original_message_id
        mid = request.snowflake("message_id")
        if mid not in record.message_ids:
            raise ApiError(404, 10008)
        return mid

    async def _webhook_get(self, request: _Request) -> Json:
        record = self._webhook_record(request)
        found = self._find_message(self._webhook_message_id(request, record))
        if found is None:
            raise ApiError(404, 10008)
        return copy.deepcopy(found[1])

    async def _webhook_edit(self, request: _Request) -> Json:
        record = self._webhook_record(request)
        mid = self._webhook_message_id(request, record)
        body = request.body if isinstance(request.body, dict) else {}
        message = self._edit(mid, body, request.files, via="webhook")
        if mid == record.original_message_id:
            record.loading = False
        if not message["flags"] & EPHEMERAL:
            await self._broadcast_message(
                "MESSAGE_UPDATE", self._channel(int(message["channel_id"])), message
            )
        return message

    async def _webhook_delete(self, request: _Request) -> None:
        record = self._webhook_record(request)
        mid = self._webhook_message_id(request, record)
        self._delete(mid, via="webhook")
        if mid == record.original_message_id:
            # The loading message is gone: a later followup is a message of its own.
            record.loading = False

    async def _webhook_execute(self, request: _Request) -> Json:
        record = self._webhook_record(request)
        body = request.body if isinstance(request.body, dict) else {}
        if record.loading and record.original_message_id is not None:
            # Discord: the first followup after a type 5 defer edits the loading message
            # (its ephemeral state stays as the defer set it).
            edit = {k: v for k, v in body.items() if k != "flags"}
            message = self._edit(record.original_message_id, edit, request.files, via="webhook")
            record.loading = False
        else:
            chan = self._channel(record.channel_id)
            message = self._create_message(
                chan,
                body,
                author_id=self.bot_user_id,
                record=record,
                files=request.files,
                via="webhook",
            )
            record.followup_ids.append(int(message["id"]))
        if not message["flags"] & EPHEMERAL:
            await self._broadcast_message(
                "MESSAGE_CREATE", self._channel(int(message["channel_id"])), message
            )
        return message

    # -- channels and messages ------------------------------------------------------------

    async def _get_channel(self, request: _Request) -> Json:
        return self._channel_object(self._channel_or_404(request))

    async def _history(self, request: _Request) -> list[Json]:
        chan = self._channel_or_404(request)
        query = request.call.query
        try:
            limit = int(query.get("limit", "50"))
        except ValueError:
            raise ApiError(
                400, 50035, errors=_form_error(["limit"], "NUMBER_TYPE_COERCE", "Value is not int.")
            ) from None
        if not 1 <= limit <= 100:
            raise ApiError(
                400,
                50035,
                errors=_form_error(
                    ["limit"], "NUMBER_TYPE_MAX", "int value should be less than or equal to 100."
                ),
            )
        ordered = sorted(chan.messages, key=lambda m: int(m["id"]))
        if "before" in query:
            pivot = int(query["before"])
            page = [m for m in ordered if int(m["id"]) < pivot][-limit:]
        elif "after" in query:
            pivot = int(query["after"])
            page = [m for m in ordered if int(m["id"]) > pivot][:limit]
        elif "around" in query:
            pivot = int(query["around"])
            older = [m for m in ordered if int(m["id"]) < pivot]
            rest = [m for m in ordered if int(m["id"]) >= pivot]
            half = limit // 2
            page = older[-half:] if half else []
            page += rest[: limit - len(page)]
        else:
            page = ordered[-limit:]
        return [self._visible(m, self.message_content_intent) for m in reversed(page)]

    async def _get_message(self, request: _Request) -> Json:
        chan = self._channel_or_404(request)
        mid = request.snowflake("message_id")
        message = next((m for m in chan.messages if int(m["id"]) == mid), None)
        if message is None:
            raise ApiError(404, 10008)
        return self._visible(message, self.message_content_intent)

    async def _post_message(self, request: _Request) -> Json:
        chan = self._channel_or_404(request)
        body = request.body if isinstance(request.body, dict) else {}
        nonce = str(body["nonce"]) if body.get("nonce") is not None else None
        if nonce is not None and body.get("enforce_nonce"):
            # discord.py sends a nonce with `enforce_nonce`: a retried POST whose first
            # try did create the message gets that message back, not a duplicate.
            earlier = chan.nonces.get(nonce)
            if earlier is not None and self.clock() - earlier[1] < _NONCE_WINDOW_S:
                found = self._find_message(earlier[0])
                if found is not None:
                    return copy.deepcopy(found[1])
        message = self._create_message(
            chan, body, author_id=self.bot_user_id, files=request.files, via="channel"
        )
        if nonce is not None:
            chan.nonces[nonce] = (int(message["id"]), self.clock())
        await self._broadcast_message("MESSAGE_CREATE", chan, message)
        return copy.deepcopy(message)

    async def _edit_message(self, request: _Request) -> Json:
        chan = self._channel_or_404(request)
        mid = request.snowflake("message_id")
        message = next((m for m in chan.messages if int(m["id"]) == mid), None)
        if message is None:
            raise ApiError(404, 10008)
        body = request.body if isinstance(request.body, dict) else {}
        if int(message["author"]["id"]) != self.bot_user_id and set(body) - {"flags"}:
            raise ApiError(403, 50005)
        edited = self._edit(mid, body, request.files, via="channel")
        await self._broadcast_message("MESSAGE_UPDATE", chan, edited)
        return edited

    async def _delete_message(self, request: _Request) -> None:
        chan = self._channel_or_404(request)
        mid = request.snowflake("message_id")
        message = next((m for m in chan.messages if int(m["id"]) == mid), None)
        if message is None:
            raise ApiError(404, 10008)
        self._delete(mid, via="channel")

    async def _add_reaction(self, request: _Request) -> None:
        chan = self._channel_or_404(request)
        mid = request.snowflake("message_id")
        message = next((m for m in chan.messages if int(m["id"]) == mid), None)
        if message is None:
            raise ApiError(404, 10008)
        emoji = request.params["emoji"]
        reactions: list[Json] = message.setdefault("reactions", [])
        existing = next((r for r in reactions if r["emoji"]["name"] == emoji), None)
        if existing is None:
            reactions.append(
                {
                    "count": 1,
                    "count_details": {"burst": 0, "normal": 1},
                    "me": True,
                    "me_burst": False,
                    "emoji": {"id": None, "name": emoji},
                    "burst_colors": [],
                }
            )
        elif not existing["me"]:
            existing["me"] = True
            existing["count"] += 1
            existing["count_details"]["normal"] += 1

    async def _typing(self, request: _Request) -> None:
        self._channel_or_404(request)

    async def _thread_from_message(self, request: _Request) -> _Answer:
        chan = self._channel_or_404(request)
        mid = request.snowflake("message_id")
        message = next((m for m in chan.messages if int(m["id"]) == mid), None)
        if message is None:
            raise ApiError(404, 10008)
        if mid in self._channels:
            raise ApiError(400, 160004)
        body = request.body if isinstance(request.body, dict) else {}
        thread = self._new_thread(chan, body, thread_id=mid, type_=11)
        message["flags"] = int(message.get("flags", 0)) | HAS_THREAD
        message["thread"] = self._channel_object(thread)
        return await self._announce_thread(thread)

    async def _thread_alone(self, request: _Request) -> _Answer:
        chan = self._channel_or_404(request)
        body = request.body if isinstance(request.body, dict) else {}
        type_ = int(body.get("type", 12))
        if type_ not in (10, 11, 12):
            raise ApiError(
                400,
                50035,
                errors=_form_error(
                    ["type"], "BASE_TYPE_CHOICES", "Value must be one of {10, 11, 12}."
                ),
            )
        thread = self._new_thread(chan, body, thread_id=self.next_id(), type_=type_)
        return await self._announce_thread(thread)

    def _new_thread(self, parent: _Channel, body: Json, *, thread_id: int, type_: int) -> _Channel:
        if parent.is_thread or parent.type not in (0, 5):
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        name = body.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            raise ApiError(
                400,
                50035,
                errors=_form_error(
                    ["name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
                ),
            )
        now = _now_iso()
        metadata: Json = {
            "archived": False,
            "auto_archive_duration": int(body.get("auto_archive_duration") or 4320),
            "archive_timestamp": now,
            "locked": False,
            "create_timestamp": now,
        }
        if type_ == 12:
            metadata["invitable"] = bool(body.get("invitable", True))
        thread = _Channel(
            id=thread_id,
            guild_id=parent.guild_id,
            name=name,
            type=type_,
            parent_id=parent.id,
            owner_id=self.bot_user_id,
            thread_metadata=metadata,
            rate_limit_per_user=int(body.get("rate_limit_per_user") or 0),
        )
        self._channels[thread_id] = thread
        return thread

    async def _announce_thread(self, thread: _Channel) -> _Answer:
        data = self._channel_object(thread)
        data["newly_created"] = True
        session = self._live_session(thread.guild_id, INTENT_GUILDS)
        if session is not None:
            await self._emit(session, "THREAD_CREATE", data)
        return _Answer(201, self._channel_object(thread))

    # -- message state --------------------------------------------------------------------

    def _check_content(self, body: Json) -> None:
        errors: Json = {}
        content = body.get("content")
        if content is not None and not isinstance(content, str):
            _merge(errors, _form_error(["content"], "BASE_TYPE_STRING", "Must be a string."))
        elif isinstance(content, str) and len(content) > MAX_MESSAGE_CHARS:
            _merge(
                errors,
                _form_error(
                    ["content"],
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {MAX_MESSAGE_CHARS} or fewer in length.",
                ),
            )
        embeds = body.get("embeds")
        if isinstance(embeds, list) and len(embeds) > MAX_EMBEDS:
            _merge(
                errors,
                _form_error(
                    ["embeds"], "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_EMBEDS} or fewer in length."
                ),
            )
        if errors:
            raise ApiError(400, 50035, errors=errors)

    @staticmethod
    def _is_empty(message: Json) -> bool:
        return not (
            message.get("content")
            or message.get("embeds")
            or message.get("components")
            or message.get("attachments")
            or message.get("sticker_items")
            or message.get("poll")
        )

    def _create_message(
        self,
        chan: _Channel,
        body: Json,
        *,
        author_id: int,
        record: InteractionRecord | None = None,
        files: Sequence[tuple[str, bytes, str]] = (),
        via: Literal["channel", "webhook", "callback"] = "channel",
    ) -> Json:
        self._check_content(body)
        flags = int(body.get("flags") or 0)
        loading = bool(flags & LOADING) and via == "callback"
        flags &= _SETTABLE_FLAGS | (LOADING if loading else 0)
        mid = self.next_id()
        content = str(body.get("content") or "")
        message: Json = {
            "type": 0,
            "content": content,
            "mentions": self._mentions(content),
            "mention_roles": _ROLE_MENTION.findall(content),
            "attachments": self._attachments(body, files),
            "embeds": [
                {"type": "rich", **e} for e in body.get("embeds") or [] if isinstance(e, dict)
            ],
            "timestamp": _iso(snowflake_time(mid)),
            "edited_timestamp": None,
            "flags": flags,
            "components": copy.deepcopy(body.get("components") or []),
            "id": str(mid),
            "channel_id": str(chan.id),
            "author": self.user(author_id),
            "pinned": False,
            "mention_everyone": False,
            "tts": bool(body.get("tts", False)),
        }
        if body.get("nonce") is not None:
            message["nonce"] = body["nonce"]
        if body.get("poll"):
            message["poll"] = copy.deepcopy(body["poll"])
        if not loading and self._is_empty(message):
            raise ApiError(400, 50006)
        reference = body.get("message_reference")
        if isinstance(reference, dict) and reference.get("message_id") is not None:
            found = self._find_message(int(reference["message_id"]))
            if found is None:
                raise ApiError(
                    400,
                    50035,
                    errors=_form_error(
                        ["message_reference"],
                        "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                        "Unknown message",
                    ),
                )
            message["type"] = 19
            message["message_reference"] = {
                "type": 0,
                "channel_id": found[1]["channel_id"],
                "message_id": found[1]["id"],
                "guild_id": str(found[0].guild_id),
            }
            message["referenced_message"] = {
                k: v for k, v in copy.deepcopy(found[1]).items() if k != "referenced_message"
            }
        if record is not None:
            self._mark_interaction_message(message, record)
        if chan.is_thread:
            chan.message_count += 1
            message["position"] = chan.message_count
        if flags & EPHEMERAL:
            chan.ephemerals.append(message)
        else:
            chan.messages.append(message)
            chan.last_message_id = mid
        self._message_channel[mid] = chan.id
        self._writes.append(
            Write(time.monotonic(), chan.id, mid, "create", via, ephemeral=bool(flags & EPHEMERAL))
        )
        return message

    def _mark_interaction_message(self, message: Json, record: InteractionRecord) -> None:
        payload = record.payload
        user = copy.deepcopy(payload.get("member", {}).get("user") or payload.get("user") or {})
        message["webhook_id"] = str(self.app_id)
        message["application_id"] = str(self.app_id)
        metadata: Json = {
            "id": str(record.id),
            "type": record.type,
            "user": user,
            "authorizing_integration_owners": copy.deepcopy(
                payload.get("authorizing_integration_owners", {})
            ),
        }
        if record.original_message_id is not None and record.original_message_id != int(
            message["id"]
        ):
            metadata["original_response_message_id"] = str(record.original_message_id)
        if record.type in (2, 4):
            data = payload.get("data", {})
            name = " ".join([data.get("name", ""), *_subcommand_path(data.get("options", []))])
            metadata["name"] = name
            metadata["command_type"] = data.get("type", 1)
            message["type"] = 20
            message["interaction"] = {
                "id": str(record.id),
                "type": record.type,
                "name": name,
                "user": user,
            }
        elif record.type == 3:
            target = payload.get("message", {})
            metadata["interacted_message_id"] = target.get("id")
            if target.get("id") is not None:
                message["type"] = 19
                message["message_reference"] = {
                    "type": 0,
                    "channel_id": target.get("channel_id"),
                    "message_id": target["id"],
                    "guild_id": payload.get("guild_id"),
                }
                message["referenced_message"] = {
                    k: v for k, v in copy.deepcopy(target).items() if k != "referenced_message"
                }
        message["interaction_metadata"] = metadata

    def _edit(
        self,
        message_id: int,
        body: Json,
        files: Sequence[tuple[str, bytes, str]],
        *,
        via: Literal["channel", "webhook", "callback"],
    ) -> Json:
        found = self._find_message(message_id)
        if found is None:
            raise ApiError(404, 10008)
        chan, message = found
        self._check_content(body)
        updated = copy.deepcopy(message)
        if "content" in body:
            content = str(body["content"] or "")
            updated["content"] = content
            updated["mentions"] = self._mentions(content)
            updated["mention_roles"] = _ROLE_MENTION.findall(content)
        if "embeds" in body:
            updated["embeds"] = [
                {"type": "rich", **e} for e in body["embeds"] or [] if isinstance(e, dict)
            ]
        if "components" in body:
            updated["components"] = copy.deepcopy(body["components"] or [])
        if "attachments" in body or files:
            updated["attachments"] = self._attachments(
                body, files, keep=message.get("attachments", [])
            )
        if "flags" in body and body["flags"] is not None:
            keep = int(message["flags"]) & (EPHEMERAL | HAS_THREAD)
            updated["flags"] = keep | (int(body["flags"]) & SUPPRESS_EMBEDS)
        updated["flags"] = int(updated["flags"]) & ~LOADING
        if self._is_empty(updated):
            raise ApiError(400, 50006)
        updated["edited_timestamp"] = _now_iso()
        message.clear()
        message.update(updated)
        self._edits.setdefault(message_id, []).append(message["content"])
        self._writes.append(
            Write(
                time.monotonic(),
                chan.id,
                message_id,
                "edit",
                via,
                ephemeral=bool(message["flags"] & EPHEMERAL),
            )
        )
        return copy.deepcopy(message)

    def _delete(self, message_id: int, *, via: Literal["channel", "webhook", "callback"]) -> None:
        found = self._find_message(message_id)
        if found is None:
            raise ApiError(404, 10008)
        chan, message = found
        ephemeral = bool(message["flags"] & EPHEMERAL)
        (chan.ephemerals if ephemeral else chan.messages).remove(message)
        del self._message_channel[message_id]
        self._writes.append(
            Write(time.monotonic(), chan.id, message_id, "delete", via, ephemeral=ephemeral)
        )

    def _find_message(self, message_id: int) -> tuple[_Channel, Json] | None:
        cid = self._message_channel.get(message_id)
        chan = self._channels.get(cid) if cid is not None else None
        if chan is None:
            return None
        for message in chan.messages + chan.ephemerals:
            if int(message["id"]) == message_id:
                return chan, message
        return None

    def _mentions(self, content: str) -> list[Json]:
        ids = dict.fromkeys(int(m) for m in _USER_MENTION.findall(content))
        return [self.user(uid) for uid in ids if uid in self._users]

    def _attachments(
        self, body: Json, files: Sequence[tuple[str, bytes, str]], keep: Sequence[Json] = ()
    ) -> list[Json]:
        kept_ids = {
            str(a.get("id"))
            for a in body.get("attachments") or []
            if isinstance(a, dict) and "id" in a
        }
        out = [copy.deepcopy(a) for a in keep if str(a["id"]) in kept_ids]
        for name, data, content_type in files:
            aid = self.next_id()
            url = f"{self.origin}/attachments/{aid}/{name}"
            attachment: Json = {
                "id": str(aid),
                "filename": name,
                "size": len(data),
                "url": url,
                "proxy_url": url,
                "flags": 0,
            }
            if content_type:
                attachment["content_type"] = content_type
            out.append(attachment)
        return out

    def _visible(self, message: Json, content_intent: bool) -> Json:
        """The message as a bot sees it with or without the message-content intent."""
        out = copy.deepcopy(message)
        mentioned = any(int(u["id"]) == self.bot_user_id for u in message.get("mentions", []))
        if content_intent or mentioned or int(message["author"]["id"]) == self.bot_user_id:
            return out
        out.update({"content": "", "embeds": [], "attachments": [], "components": []})
        out.pop("poll", None)
        return out

    # -- object shapes ----------------------------------------------------------------------

    def _guild(self, guild_id: int | None) -> _Guild:
        gid = self.guild_id if guild_id is None else guild_id
        if gid not in self._guilds:
            raise KeyError(f"unknown guild {gid}")
        return self._guilds[gid]

    def _channel(self, channel_id: int) -> _Channel:
        if channel_id not in self._channels:
            raise KeyError(f"unknown channel {channel_id}")
        return self._channels[channel_id]

    def _where(self, channel_id: int | None, guild_id: int | None) -> tuple[_Guild, _Channel]:
        """The guild and channel an interaction comes from: the channel's guild, or the
        given (else default) guild's first text channel."""
        if channel_id is not None:
            chan = self._channel(channel_id)
            return self._guild(chan.guild_id), chan
        guild = self._guild(guild_id)
        first = next(c for c in self._channels.values() if c.guild_id == guild.id and c.type == 0)
        return guild, first

    def _channel_or_404(self, request: _Request) -> _Channel:
        chan = self._channels.get(request.snowflake("channel_id"))
        if chan is None:
            raise ApiError(404, 10003)
        return chan

    @staticmethod
    def _role(
        role_id: int, name: str, permissions: int, position: int, *, tags: Json | None = None
    ) -> Json:
        role: Json = {
            "id": str(role_id),
            "name": name,
            "description": None,
            "permissions": str(permissions),
            "position": position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": tags is not None,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        if tags is not None:
            role["tags"] = tags
        return role

    def _member(self, guild: _Guild, user_id: int, *, permissions: int | None = None) -> Json:
        member: Json = {
            "user": self.user(user_id),
            "nick": None,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in guild.members.get(user_id, [])],
            "joined_at": guild.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
            "unusual_dm_activity_until": None,
        }
        if permissions is not None:
            member["permissions"] = str(permissions)
        return member

    def _channel_object(self, chan: _Channel, *, in_guild_create: bool = False) -> Json:
        obj: Json = {"id": str(chan.id), "type": chan.type, "name": chan.name, "flags": 0}
        if not in_guild_create or chan.is_thread:
            obj["guild_id"] = str(chan.guild_id)
        if chan.is_thread:
            obj.update(
                {
                    "parent_id": str(chan.parent_id),
                    "owner_id": str(chan.owner_id),
                    "last_message_id": str(chan.last_message_id) if chan.last_message_id else None,
                    "rate_limit_per_user": chan.rate_limit_per_user,
                    "message_count": chan.message_count,
                    "member_count": 1,
                    "total_message_sent": chan.message_count,
                    "thread_metadata": copy.deepcopy(chan.thread_metadata),
                }
            )
            return obj
        obj.update(
            {
                "position": chan.position,
                "permission_overwrites": copy.deepcopy(chan.permission_overwrites),
                "parent_id": str(chan.parent_id) if chan.parent_id else None,
            }
        )
        if chan.type in (0, 5):
            obj.update(
                {
                    "topic": chan.topic,
                    "nsfw": chan.nsfw,
                    "last_message_id": str(chan.last_message_id) if chan.last_message_id else None,
                    "rate_limit_per_user": chan.rate_limit_per_user,
                    "last_pin_timestamp": None,
                }
            )
        return obj

    def _guild_create(self, guild: _Guild, intents: int) -> Json:
        channels = [c for c in self._channels.values() if c.guild_id == guild.id]
        # Without GUILD_PRESENCES Discord sends only the bot's own member (and voice users).
        members = [
            self._member(guild, uid)
            for uid in guild.members
            if intents & INTENT_GUILD_PRESENCES or uid == self.bot_user_id
        ]
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "widget_enabled": False,
            "verification_level": 1,
            "default_message_notifications": 1,
            "explicit_content_filter": 2,
            "roles": copy.deepcopy(guild.roles),
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_members": 500_000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "incidents_data": None,
            "lazy": True,
            "joined_at": guild.joined_at,
            "large": False,
            "unavailable": False,
            "member_count": len(guild.members),
            "voice_states": [],
            "members": members,
            "channels": [
                self._channel_object(c, in_guild_create=True) for c in channels if not c.is_thread
            ],
            "threads": [
                self._channel_object(c, in_guild_create=True) for c in channels if c.is_thread
            ],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    # -- interaction payloads ---------------------------------------------------------------

    def _command_data(
        self,
        name: str,
        options: Mapping[str, Any] | Sequence[Json] | None,
        subcommand: str | Sequence[str] | None,
        gid: int,
        *,
        focused: str | None,
    ) -> Json:
        registered = self.command(name, guild_id=gid)
        path = subcommand.split() if isinstance(subcommand, str) else list(subcommand or [])
        definitions: list[Json] = list(registered.get("options", [])) if registered else []
        for step in path:
            found = next((o for o in definitions if o.get("name") == step), None)
            definitions = list(found.get("options", [])) if found else []
        resolved: Json = {}
        if options is None:
            leaves: list[Json] = []
        elif isinstance(options, Mapping):
            leaves = [
                self._option(key, value, definitions, resolved, gid, focused == key)
                for key, value in options.items()
            ]
        else:
            leaves = [copy.deepcopy(dict(o)) for o in options]
        nested = leaves
        for depth, step in reversed(list(enumerate(path))):
            is_group = depth < len(path) - 1
            nested = [{"type": 2 if is_group else 1, "name": step, "options": nested}]
        data: Json = {
            "id": registered["id"] if registered else str(self.next_id()),
            "name": name,
            "type": 1,
        }
        if nested:
            data["options"] = nested
        if registered and registered.get("guild_id"):
            data["guild_id"] = registered["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return data

    def _option(
        self,
        name: str,
        value: Any,
        definitions: Sequence[Json],
        resolved: Json,
        guild_id: int,
        focused: bool,
    ) -> Json:
        definition = next((o for o in definitions if o.get("name") == name), None)
        if definition is not None:
            type_ = int(definition["type"])
        elif isinstance(value, bool):
            type_ = 5
        elif isinstance(value, int):
            type_ = 4
        elif isinstance(value, float):
            type_ = 10
        else:
            type_ = 3
        option: Json = {"name": name, "type": type_}
        if focused:
            option["value"] = value
            option["focused"] = True
            return option
        if type_ in (6, 7, 8, 9):
            value = str(value)
            self._resolve(int(value), type_, resolved, guild_id)
        elif type_ == 4:
            value = int(value)
        elif type_ == 10:
            value = float(value)
        elif type_ == 3:
            value = str(value)
        option["value"] = value
        return option

    def _resolve(self, snowflake: int, type_: int, resolved: Json, guild_id: int) -> None:
        guild = self._guilds.get(guild_id)
        if type_ in (6, 9) and snowflake in self._users:
            resolved.setdefault("users", {})[str(snowflake)] = self.user(snowflake)
            if guild is not None and snowflake in guild.members:
                member = self._member(guild, snowflake, permissions=guild.everyone_permissions)
                del member["user"]
                resolved.setdefault("members", {})[str(snowflake)] = member
        if type_ in (8, 9) and guild is not None:
            role = next((r for r in guild.roles if int(r["id"]) == snowflake), None)
            if role is not None:
                resolved.setdefault("roles", {})[str(snowflake)] = copy.deepcopy(role)
        if type_ == 7 and snowflake in self._channels:
            chan = self._channels[snowflake]
            resolved.setdefault("channels", {})[str(snowflake)] = self._partial_channel(
                chan, MEMBER_PERMISSIONS
            )

    def _partial_channel(self, chan: _Channel, permissions: int) -> Json:
        obj: Json = {
            "id": str(chan.id),
            "type": chan.type,
            "guild_id": str(chan.guild_id),
            "name": chan.name,
            "parent_id": str(chan.parent_id) if chan.parent_id else None,
            "permissions": str(permissions),
            "last_message_id": str(chan.last_message_id) if chan.last_message_id else None,
            "rate_limit_per_user": chan.rate_limit_per_user,
            "flags": 0,
        }
        if chan.is_thread:
            obj["thread_metadata"] = copy.deepcopy(chan.thread_metadata)
        else:
            obj.update({"nsfw": chan.nsfw, "topic": chan.topic, "position": chan.position})
        return obj

    def _interaction_payload(
        self,
        type_: int,
        data: Json,
        *,
        channel_id: int | None,
        user_id: int | None,
        guild_id: int | None,
        permissions: int | str | None,
        roles: Sequence[int],
        locale: str,
    ) -> Json:
        guild, chan = self._where(channel_id, guild_id)
        uid = self.user_id if user_id is None else user_id
        perms = (
            int(permissions)
            if permissions is not None
            else (ALL_PERMISSIONS if uid == guild.owner_id else guild.everyone_permissions)
        )
        member = self._member(guild, uid, permissions=perms)
        if roles:
            member["roles"] = [str(r) for r in roles]
        iid = self.next_id()
        return {
            "app_permissions": str(self.bot_permissions),
            "application_id": str(self.app_id),
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
            "authorizing_integration_owners": {"0": str(guild.id)},
            "channel": self._partial_channel(chan, perms),
            "channel_id": str(chan.id),
            "context": 0,
            "data": data,
            "entitlement_sku_ids": [],
            "entitlements": [],
            "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
            "guild_id": str(guild.id),
            "guild_locale": "en-US",
            "id": str(iid),
            "locale": locale,
            "member": member,
            "token": "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48),
            "type": type_,
            "version": 1,
        }

    # ==================================================================================
    # Gateway

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = GatewayConnection(
            path=request.path,
            query=dict(request.query),
            opened_at=time.monotonic(),
            ws=ws,
            request=request,
        )
        self.connections.append(conn)
        try:
            if conn.query.get("v") not in (None, str(API_VERSION)):
                await ws.close(code=4012, message=b"Invalid API version")
                return ws
            if conn.query.get("encoding", "json") != "json":
                await ws.close(code=4002, message=b"Error while decoding payload.")
                return ws
            await self._send(
                conn,
                {
                    "op": 10,
                    "d": {
                        "heartbeat_interval": self.heartbeat_interval_ms,
                        "_trace": ['["gateway-fake",{"micros":0.0}]'],
                    },
                    "s": None,
                    "t": None,
                },
            )
            async for frame in ws:
                if frame.type is not WSMsgType.TEXT:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                try:
                    payload = json.loads(frame.data)
                except ValueError:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                conn.received.append(payload)
                await self._on_gateway_payload(conn, payload)
        finally:
            if conn.closed_at is None:
                conn.closed_at = time.monotonic()
            for session in self._sessions:
                if session.conn is conn:
                    session.conn = None
        return ws

    async def _on_gateway_payload(self, conn: GatewayConnection, payload: Json) -> None:
        op = payload.get("op")
        data = payload.get("d")
        if op == 1:
            self.heartbeats += 1
            await self._send(conn, {"op": 11, "d": None, "s": None, "t": None})
        elif op == 2 and isinstance(data, dict):
            await self._identify(conn, data)
        elif op == 6 and isinstance(data, dict):
            await self._resume(conn, data)
        elif op == 3:
            self.presence = data if isinstance(data, dict) else None
        elif op == 8 and isinstance(data, dict):
            await self._members_chunk(conn, data)

    async def _identify(self, conn: GatewayConnection, data: Json) -> None:
        self.identify_payloads.append(copy.deepcopy(data))
        if data.get("token") != self.token:
            await self._close(conn, 4004, "Authentication failed.")
            return
        if conn.session_id is not None:
            await self._close(conn, 4005, "Already authenticated.")
            return
        intents = int(data.get("intents", 0))
        if intents & INTENT_MESSAGE_CONTENT and not self.message_content_intent:
            await self._close(conn, 4014, "Disallowed intent(s).")
            return
        shard = data.get("shard")
        shard_id, shard_count = (int(shard[0]), int(shard[1])) if shard else (0, 1)
        if not 0 <= shard_id < shard_count:
            await self._close(conn, 4010, "Invalid shard.")
            return
        self.identifies += 1
        session = _Session(
            session_id=secrets.token_hex(16),
            shard_id=shard_id,
            shard_count=shard_count,
            intents=intents,
            identify=copy.deepcopy(data),
            conn=conn,
        )
        self._sessions.append(session)
        conn.session_id = session.session_id
        conn.shard = (shard_id, shard_count) if shard else None
        guilds = [g for g in self._guilds.values() if session.covers(g.id)]
        ready: Json = {
            "v": API_VERSION,
            "user_settings": {},
            "user": self._me(),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "relationships": [],
            "private_channels": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["fake"],
            "auth": {},
            "application": {"id": str(self.app_id), "flags": self._app_flags()},
            "_trace": ['["gateway-fake",{"micros":0.0}]'],
        }
        if shard:
            ready["shard"] = [shard_id, shard_count]
        await self._emit(session, "READY", ready)
        for guild in guilds:
            await self._emit(session, "GUILD_CREATE", self._guild_create(guild, intents))

    async def _resume(self, conn: GatewayConnection, data: Json) -> None:
        if data.get("token") != self.token:
            await self._close(conn, 4004, "Authentication failed.")
            return
        session = next((s for s in self._sessions if s.session_id == data.get("session_id")), None)
        if session is None:
            await self._send(conn, {"op": 9, "d": False, "s": None, "t": None})
            return
        self.resumes += 1
        seq = int(data.get("seq") or 0)
        async with session.lock:
            old = session.conn
            session.conn = conn
            conn.session_id = session.session_id
            conn.shard = (
                old.shard
                if old is not None
                else (
                    (session.shard_id, session.shard_count)
                    if session.identify.get("shard")
                    else None
                )
            )
            for event in session.events:
                if event["s"] > seq:
                    await self._send(conn, event)
            session.seq += 1
            resumed = {
                "op": 0,
                "t": "RESUMED",
                "s": session.seq,
                "d": {"_trace": ['["gateway-fake"]']},
            }
            session.events.append(resumed)
            await self._send(conn, resumed)
        if old is not None and old is not conn and old.live and old.ws is not None:
            await old.ws.close(code=4000, message=b"Session resumed elsewhere.")

    async def _members_chunk(self, conn: GatewayConnection, data: Json) -> None:
        session = next((s for s in self._sessions if s.conn is conn), None)
        guild = self._guilds.get(int(data.get("guild_id", 0)))
        if session is None or guild is None:
            return
        query = str(data.get("query") or "").lower()
        wanted = {int(u) for u in data.get("user_ids") or []}
        members = [
            self._member(guild, uid)
            for uid in guild.members
            if (not wanted or uid in wanted)
            and str(self._users[uid]["username"]).lower().startswith(query)
        ]
        limit = int(data.get("limit") or 0)
        chunk: Json = {
            "guild_id": str(guild.id),
            "members": members[:limit] if limit else members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [str(u) for u in wanted if u not in guild.members],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        await self._emit(session, "GUILD_MEMBERS_CHUNK", chunk)

    async def _send(self, conn: GatewayConnection, payload: Json) -> None:
        async with conn.lock:
            if conn.ws is None or conn.ws.closed:
                return
            conn.sent.append(payload)
            try:
                await conn.ws.send_str(json.dumps(payload))
            except ConnectionError:
                return

    async def _close(self, conn: GatewayConnection, code: int, reason: str) -> None:
        conn.closed_at = time.monotonic()
        if conn.ws is not None:
            await conn.ws.close(code=code, message=reason.encode())

    async def _emit(self, session: _Session, event: str, data: Json) -> None:
        """A dispatch (op 0) with the session's next sequence, kept for replay."""
        async with session.lock:
            session.seq += 1
            payload = {"op": 0, "t": event, "s": session.seq, "d": data}
            session.events.append(payload)
            if session.conn is not None and session.conn.live:
                await self._send(session.conn, payload)

    async def _wait_session(self, guild_id: int | None, timeout_s: float) -> _Session:
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    session = self._session_for(guild_id)
                    if session is not None:
                        return session
                    await asyncio.sleep(0.005)
        except TimeoutError:
            raise AssertionError(f"no gateway session identified for guild {guild_id}") from None

    def _session_for(self, guild_id: int | None) -> _Session | None:
        return next((s for s in reversed(self._sessions) if s.covers(guild_id)), None)

    def _live_session(self, guild_id: int, intent: int) -> _Session | None:
        session = self._session_for(guild_id)
        if session is None or not session.intents & intent:
            return None
        return session

    async def _broadcast_message(self, event: str, chan: _Channel, message: Json) -> None:
        """MESSAGE_CREATE / MESSAGE_UPDATE to a session with GUILD_MESSAGES, its content
        hidden unless that session asked for MESSAGE_CONTENT."""
        session = self._live_session(chan.guild_id, INTENT_GUILD_MESSAGES)
        if session is None:
            return
        data = self._visible(message, bool(session.intents & INTENT_MESSAGE_CONTENT))
        data["guild_id"] = str(chan.guild_id)
        guild = self._guilds.get(chan.guild_id)
        author = int(message["author"]["id"])
        if guild is not None and author in guild.members and "webhook_id" not in message:
            member = self._member(guild, author)
            del member["user"]
            data["member"] = member
        await self._emit(session, event, data)


# --------------------------------------------------------------------------------------
# Command validation (what Discord checks on a bulk overwrite)


def _route_is(route: str) -> Callable[[Call], bool]:
    return lambda call: call.route == route


def _subcommand_path(options: Sequence[Json]) -> list[str]:
    for option in options:
        if option.get("type") in (1, 2):
            return [str(option["name"]), *_subcommand_path(option.get("options", []))]
    return []


def _length_error(path: list[str | int], low: int, high: int) -> Json:
    return _form_error(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")


def _command_errors(cmd: Any, path: list[str | int]) -> Json:
    errors: Json = {}
    if not isinstance(cmd, dict):
        return _form_error(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    type_ = cmd.get("type", 1)
    name = cmd.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        _merge(errors, _length_error([*path, "name"], 1, 32))
    elif type_ == 1 and (not _NAME.match(name) or name != name.lower()):
        _merge(
            errors,
            _form_error(
                [*path, "name"],
                "APPLICATION_COMMAND_INVALID_NAME",
                f"Command name is invalid: {name}",
            ),
        )
    description = cmd.get("description", "")
    if type_ == 1 and (not isinstance(description, str) or not 1 <= len(description) <= 100):
        _merge(errors, _length_error([*path, "description"], 1, 100))
    if type_ != 1 and description:
        _merge(
            errors,
            _form_error(
                [*path, "description"],
                "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
                "Context menu commands cannot have description",
            ),
        )
    _merge(errors, _options_errors(cmd.get("options") or [], [*path, "options"]))
    if type_ == 1 and _command_chars(cmd) > 8000:
        _merge(
            errors,
            _form_error(
                path, "APPLICATION_COMMAND_TOO_LARGE", "Command exceeds maximum size (8000)"
            ),
        )
    return errors


def _options_errors(options: Any, path: list[str | int]) -> Json:
    errors: Json = {}
    if not isinstance(options, list):
        return _form_error(path, "BASE_TYPE_ARRAY", "Must be an array.")
    if len(options) > 25:
        return _form_error(path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    seen_optional = False
    names: set[str] = set()
    for i, option in enumerate(options):
        where: list[str | int] = [*path, i]
        if not isinstance(option, dict):
            _merge(errors, _form_error(where, "DICT_TYPE_CONVERT", "Only dictionaries may be used"))
            continue
        name = option.get("name")
        if not isinstance(name, str) or not _NAME.match(name) or name != name.lower():
            _merge(
                errors,
                _form_error(
                    [*where, "name"],
                    "APPLICATION_COMMAND_INVALID_NAME",
                    f"Command name is invalid: {name}",
                ),
            )
        elif name in names:
            _merge(
                errors,
                _form_error(
                    [*where, "name"],
                    "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                    "Command option names must be unique",
                ),
            )
        else:
            names.add(name)
        description = option.get("description")
        if not isinstance(description, str) or not 1 <= len(description) <= 100:
            _merge(errors, _length_error([*where, "description"], 1, 100))
        type_ = option.get("type")
        if type_ not in range(1, 12):
            _merge(
                errors,
                _form_error([*where, "type"], "BASE_TYPE_CHOICES", "Value must be one of 1..11."),
            )
        if type_ in (1, 2):
            _merge(errors, _options_errors(option.get("options") or [], [*where, "options"]))
            continue
        if option.get("required"):
            if seen_optional:
                _merge(
                    errors,
                    _form_error(
                        [*where, "required"],
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                    ),
                )
        else:
            seen_optional = True
        choices = option.get("choices") or []
        if len(choices) > MAX_CHOICES:
            _merge(
                errors,
                _form_error(
                    [*where, "choices"],
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {MAX_CHOICES} or fewer in length.",
                ),
            )
        if choices and option.get("autocomplete"):
            _merge(
                errors,
                _form_error(
                    [*where, "autocomplete"],
                    "APPLICATION_COMMAND_OPTION_CHOICES_AUTOCOMPLETE",
                    "Autocomplete cannot be enabled if choices are provided",
                ),
            )
        for j, choice in enumerate(choices):
            choice_name = choice.get("name") if isinstance(choice, dict) else None
            if not isinstance(choice_name, str) or not 1 <= len(choice_name) <= 100:
                _merge(errors, _length_error([*where, "choices", j, "name"], 1, 100))
    return errors


def _command_chars(cmd: Json) -> int:
    total = len(str(cmd.get("name", ""))) + len(str(cmd.get("description", "")))

    def walk(options: Sequence[Json]) -> int:
        count = 0
        for option in options:
            count += len(str(option.get("name", ""))) + len(str(option.get("description", "")))
            for choice in option.get("choices") or []:
                count += len(str(choice.get("name", ""))) + len(str(choice.get("value", "")))
            count += walk(option.get("options") or [])
        return count

    return total + walk(cmd.get("options") or [])
