"""The Slack adapter: Bolt's AsyncApp in HTTP mode, each slash command acknowledged first."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.adapters.slack.commands import EVENTS_PATH, parse_slash
from bot.adapters.slack.credentials import SlackCredentials
from bot.adapters.slack.history import SlackHistory
from bot.adapters.slack.markup import EscapingWebClient, sections
from bot.adapters.slack.respond import ResponseUrl
from bot.adapters.slack.signing import signature_valid
from bot.config import SlackSettings
from bot.core import Core
from bot.errors import UserError
from bot.i18n import N_, SOURCE_LANGUAGE, Languages, Message, _, render, translate
from bot.invocation import ChannelRef, Invocation, User, new_invocation_id
from bot.memory import Database
from bot.memory.buttons import ButtonState, new_button_key
from bot.plugin import CommandSpec
from bot.ratelimit import TokenBucket
from bot.reply import Attachment, Notice
from bot.router import Run
from bot.splitting import split_text
from bot.streaming import MessageStreamer, Unreachable

log = logging.getLogger(__name__)

# Section text holds 3,000 characters; longer replies continue in the thread.
MESSAGE_LIMIT = 3000
WORKING = N_("_Skald is writing…_")
FORGOTTEN = N_("I no longer have what that reply was made from: run the command again.")
NOTHING_TO_STOP = N_("There is nothing running to stop.")
# One Web API call while streaming may take this long (slack_sdk's own limit is 30 s).
CALL_TIMEOUT_S = 10.0
# How long a person's Slack locale is trusted before users.info is asked again.
LOCALE_TTL_S = 3600.0
MAX_LOCALES = 10_000


class RecentSignatures:
    """Request signatures accepted in the last five minutes (Slack's replay window)."""

    WINDOW_S = 5 * 60

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._seen: dict[str, float] = {}

    def seen(self, signature: str) -> bool:
        """True when this exact signature was accepted within the window."""
        now = self._clock()
        if len(self._seen) > 10_000 or next(iter(self._seen.values()), now) < now - self.WINDOW_S:
            self._seen = {s: t for s, t in self._seen.items() if t >= now - self.WINDOW_S}
        return signature in self._seen

    def remember(self, signature: str) -> None:
        """Note an accepted request's signature."""
        self._seen[signature] = self._clock()


class SlackStartError(Exception):
    """Slack refused the credentials at start-up (the message says what to fix)."""


def controls(
    text: str,
    key: str,
    *,
    streaming: bool,
    can_continue: bool,
    language: str = SOURCE_LANGUAGE,
) -> list[dict[str, Any]]:
    """The message as blocks: its text, then Stop while streaming, or Regenerate/Continue.

    The labels are in the channel's language: everyone sees the buttons.
    """

    def button(action: str, label: str, style: str | None = None) -> dict[str, Any]:
        element: dict[str, Any] = {
            "type": "button",
            "action_id": f"skald_{action}",
            "text": {"type": "plain_text", "text": translate(language, label)},
            "value": key,
        }
        if style:
            element["style"] = style
        return element

    if streaming:
        buttons = [button("stop", N_("Stop"), "danger")]
    else:
        buttons = [button("regenerate", N_("Regenerate"))]
        if can_continue:
            buttons.append(button("continue", N_("Continue"), "primary"))
    # Escaping can make the text longer than one section holds: then it takes several.
    return [
        *({"type": "section", "text": {"type": "mrkdwn", "text": part}} for part in sections(text)),
        {"type": "actions", "block_id": "skald_controls", "elements": buttons},
    ]


# Errors that mean the bot cannot post in the channel at all.
NOT_POSTABLE = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
CANNOT_POST = N_(
    "I can't post in this channel: invite me with /invite @Skald, or use the "
    "command in a channel I'm in."
)
# Uploading needs Slack's three-step external upload (and the files:write scope): not yet.
NO_FILES = N_(
    "Skald saved {name} in its data folder on the bot's host; files cannot be sent "
    "on Slack yet, so ask the person who runs the bot for it."
)


def _first_line(error: BaseException) -> str:
    """An error's kind and first line, for a warning that never carries a traceback."""
    text = str(error).splitlines()[0][:200] if str(error) else ""
    return f"{type(error).__name__}: {text}"


def _code(error: SlackApiError) -> str:
    return str(error.response.get("error") or "unknown_error")


# Answers that mean Slack is busy or briefly broken: trying again can help.
_TRANSIENT_CODES = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def permanent(error: Exception) -> bool:
    """True for Slack's refusals that no retry mends (not_in_channel, invalid_auth…)."""
    if not isinstance(error, SlackApiError):
        return False  # a refused connection, a timeout: the next try may get through
    status = getattr(error.response, "status_code", 200)
    return status < 500 and status != 429 and _code(error) not in _TRANSIENT_CODES


def describe(error: BaseException) -> str:
    """A short name for a failed call, for logs and metrics: the Slack error code, or its kind."""
    if isinstance(error, Unreachable):
        error = error.cause
    if isinstance(error, SlackApiError):
        return _code(error)
    return type(error).__name__


class SlackMessages:
    """A MessageTarget in one channel: the first message in the channel, the rest in its thread."""

    max_length = MESSAGE_LIMIT

    def __init__(
        self,
        client: EscapingWebClient,
        channel: str,
        user: str,
        key: str = "",
        can_continue: bool = False,
        thread_ts: str | None = None,
        response_url: ResponseUrl | None = None,
        languages: Languages | None = None,
    ) -> None:
        self._client = client
        # The channel's (buttons) and the person's (their private messages).
        self._languages = languages or Languages()
        self._response_url = response_url
        self._channel = channel
        self._user = user
        self._key = key
        self._can_continue = can_continue
        # Given: the whole reply goes into that thread (a running story's).
        self._thread_ts = thread_ts
        self._given_thread = thread_ts
        self.first_ts: str | None = None
        self._posted = 0
        # True once the user was told through response_url why the reply cannot show.
        self.told = False

    def _blocks(self, ts: str | None, text: str, streaming: bool) -> list[dict[str, Any]] | None:
        # Only the reply's first message carries the buttons.
        if not self._key or (self.first_ts is not None and ts != self.first_ts):
            return None
        return controls(
            text,
            self._key,
            streaming=streaming,
            can_continue=self._can_continue,
            language=self._languages.public,
        )

    async def post(self, text: str, *, streaming: bool) -> str:
        """chat.postMessage; later messages of the same reply go into the first one's thread."""
        try:
            response = await self._fitting(
                lambda t: self._client.chat_postMessage(
                    channel=self._channel,
                    text=t,
                    thread_ts=self._thread_ts,
                    blocks=self._blocks(None, t, streaming),
                ),
                text,
            )
        except SlackApiError as exc:
            if _code(exc) in NOT_POSTABLE:
                self.told = await self._tell_privately(
                    translate(self._languages.private, CANNOT_POST)
                )
            raise
        ts = str(response["ts"])
        self._posted += 1
        if self.first_ts is None:
            self.first_ts = ts
            self._thread_ts = self._thread_ts or ts
        return ts

    async def edit(self, handle: str, text: str, *, streaming: bool) -> None:
        """chat.update of a message the bot posted."""
        await self._fitting(
            lambda t: self._client.chat_update(
                channel=self._channel, ts=handle, text=t, blocks=self._blocks(handle, t, streaming)
            ),
            text,
        )

    async def _fitting(
        self, call: Callable[[str], Awaitable[AsyncSlackResponse]], text: str
    ) -> AsyncSlackResponse:
        """Make the call; if Slack finds the text too long, once more with it shortened."""
        try:
            return await call(text)
        except SlackApiError as exc:
            if _code(exc) != "msg_too_long":
                raise
            shorter = split_text(text, max(len(text) // 2, 100))[0] + " …"
            return await call(shorter)

    async def delete(self, handle: str) -> None:
        """chat.delete of a message the bot posted."""
        await self._client.chat_delete(channel=self._channel, ts=handle)
        if handle == self.first_ts and self._posted == 1:
            # The reply's only message went (replaced after failed edits): the next one
            # takes its place, with the buttons, and roots the thread.
            self.first_ts, self._thread_ts, self._posted = None, self._given_thread, 0

    async def notice(self, notice: Notice) -> None:
        """An ephemeral message only the invoking user sees; one about the reply itself
        (withheld, or cut off) where the reply is, for everyone who sees the reply."""
        if not notice.private and await self._beside_reply(notice.text):
            return
        try:
            await self._client.chat_postEphemeral(
                channel=self._channel, user=self._user, text=notice.text
            )
        except (SlackApiError, aiohttp.ClientError, TimeoutError):
            # Not in the channel, or the Web API failing: response_url is another way in.
            if not await self._tell_privately(notice.text):
                raise

    async def _beside_reply(self, text: str) -> bool:
        """Post in the reply's thread (and in the channel, when the reply roots that thread);
        False when Slack refuses, so the person at least is told privately."""
        broadcast = self.first_ts is not None and self._thread_ts == self.first_ts
        try:
            await self._client.chat_postMessage(
                channel=self._channel,
                text=text,
                thread_ts=self._thread_ts,
                reply_broadcast=broadcast or None,
            )
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("slack: a public notice could not be posted: %s", describe(exc))
            return False
        return True

    async def attach(self, attachment: Attachment) -> None:
        """Files are not uploaded to Slack yet: say where the bot's operator finds it."""
        files = _(NO_FILES, name=attachment.filename)
        await self.notice(Notice(files.render(self._languages.private), "info"))

    async def tell(self, text: str) -> None:
        """Tell the user privately, by any way left (the Web API, else response_url)."""
        try:
            await self.notice(Notice(text, "error"))
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("slack: could not tell the user either: %s", describe(exc))

    async def _tell_privately(self, text: str) -> bool:
        """Reach the user through the command's response_url (works outside the channel)."""
        return self._response_url is not None and await self._response_url.send(text)


class PluginThreads:
    """Which Slack thread a plugin's running work lives in, per channel (a story's)."""

    MIGRATIONS = (
        """
        CREATE TABLE slack_threads (
            scope TEXT NOT NULL,
            plugin TEXT NOT NULL,
            ts TEXT NOT NULL,
            PRIMARY KEY (scope, plugin)
        );
        """,
    )

    def __init__(self, db: Database) -> None:
        self._db = db

    async def prepare(self) -> None:
        """Create the table (once)."""
        await self._db.migrate("slack", self.MIGRATIONS, table_prefix="slack_")

    async def get(self, scope: str, plugin: str) -> str | None:
        """The thread of the plugin's running work in the channel, if any."""
        row = await self._db.fetchone(
            "SELECT ts FROM slack_threads WHERE scope = ? AND plugin = ?", (scope, plugin)
        )
        return str(row["ts"]) if row else None

    async def set(self, scope: str, plugin: str, ts: str) -> None:
        """Make `ts` the thread of the plugin's work in the channel."""
        async with self._db.write() as conn:
            await conn.execute(
                "INSERT INTO slack_threads (scope, plugin, ts) VALUES (?, ?, ?)"
                " ON CONFLICT (scope, plugin) DO UPDATE SET ts = excluded.ts",
                (scope, plugin, ts),
            )


@dataclass(frozen=True, slots=True)
class _Live:
    """A reply still being written: what Stop needs (who asked, and the run to cancel)."""

    invocation: Invocation
    run: Run


class SlackAdapter:
    """Serves every plugin as workspace slash commands over Slack's HTTP delivery."""

    def __init__(self, core: Core, credentials: SlackCredentials, settings: SlackSettings) -> None:
        self.core = core
        self.settings = settings
        self.credentials = credentials
        # Bolt has no setting for the Web API address: the client carries it, and every
        # listener's client copies its base_url and retry handlers.
        # Every message's text is escaped inside this client (see markup.py).
        self.client = EscapingWebClient(
            token=credentials.bot_token,
            base_url=credentials.api_url,
            retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
        )
        self.app = AsyncApp(
            # Socket Mode requests arrive over the app's own websocket: nothing to sign.
            signing_secret=credentials.signing_secret or "",
            request_verification_enabled=credentials.mode == "http",
            client=self.client,
            logger=logging.getLogger("slack_bolt"),
        )
        self.app.command(re.compile(r"^/.+$"))(self._on_command)
        self.app.action(re.compile(r"^skald_(stop|regenerate|continue)$"))(self._on_action)
        self._buckets: dict[str, TokenBucket] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._replays = RecentSignatures()
        # Replies being written, by button key; what the buttons re-run is in the database.
        self._live: dict[str, _Live] = {}
        self._threads = PluginThreads(core.db)
        self._socket_mode: AsyncSocketModeHandler | None = None
        self.port: int | None = None
        # People's locales from users.info: {user id: (locale, when it was read)}.
        self._locales: OrderedDict[str, tuple[str | None, float]] = OrderedDict()

    # -- start and stop --

    async def start(self) -> None:
        """Check the tokens with Slack, then listen for HTTP requests or open Socket Mode."""
        await self._threads.prepare()
        try:
            identity = await self.client.auth_test()
        except SlackApiError as exc:
            raise SlackStartError(
                f"Slack refused SLACK_BOT_TOKEN ({_code(exc)}): check the token "
                "in the app's OAuth & Permissions page"
            ) from None
        log.info(
            "slack: connected to team %s as %s", identity.get("team_id"), identity.get("user_id")
        )
        app_token = self.credentials.app_token
        if app_token is not None:
            # Socket Mode: Slack sends requests over a websocket the app opens with its
            # app-level token; no public URL, no signatures.
            try:
                # The socket client retries a refused token forever: check it once here.
                await self.client.apps_connections_open(app_token=app_token)
            except SlackApiError as exc:
                raise SlackStartError(
                    f"Slack refused SLACK_APP_TOKEN ({_code(exc)}): it needs the connections:write "
                    "scope (Basic Information, App-Level Tokens)"
                ) from None
            self._socket_mode = AsyncSocketModeHandler(self.app, app_token)
            await self._socket_mode.connect_async()  # type: ignore[no-untyped-call]
            log.info("slack: connected over Socket Mode")
            return
        web_app = web.Application()
        web_app.router.add_post(EVENTS_PATH, self._handle_http)
        self._runner = web.AppRunner(web_app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only here or via sockets
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.settings.port
        log.info("slack: listening on %s:%s%s", self.settings.host, self.port, EVENTS_PATH)

    async def close(self) -> None:
        """Stop listening and finish or cancel the replies in flight."""
        if self._socket_mode is not None:
            await self._socket_mode.close_async()  # type: ignore[no-untyped-call]
            self._socket_mode = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle_http(self, request: web.Request) -> web.Response:
        """Check the signature on the raw bytes, refuse replays, then let Bolt parse and serve.

        Nothing is parsed before the signature holds, so garbage from anyone costs a 401 and
        no log line; signed input that is malformed gets a 400 and one warning.
        """
        if request.headers.get("X-Slack-Retry-Num"):
            # Slack resends a request it thinks went unanswered; the first one is already
            # being served, so a retry must never start a second generation.
            return web.Response(status=200, headers={"X-Slack-No-Retry": "1"})
        body = await request.read()
        signature = request.headers.get("X-Slack-Signature", "")
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        secret = self.credentials.signing_secret or ""
        if not signature_valid(secret, body, timestamp, signature):
            return web.Response(status=401, text="invalid request signature")
        # Within Slack's 5 minutes a captured request could be sent again. The signature is
        # recorded before anything is awaited, so copies sent at once cannot all pass.
        if self._replays.seen(signature):
            log.warning("slack: refused a replayed request")
            return web.Response(status=401, text="replayed request")
        self._replays.remember(signature)
        try:
            bolt_request = AsyncBoltRequest(
                body=body.decode("utf-8"),
                query=request.query_string,
                headers=dict(request.headers),
            )
            if not isinstance(bolt_request.body, dict):
                raise ValueError("the body is not an object")
            _check_ids(bolt_request.body)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            # Signed, so from Slack (or whoever holds the secret), yet unreadable: one line.
            log.warning("slack: refused a malformed signed request: %s", _first_line(exc))
            return web.Response(status=400, text="malformed request")
        return await to_aiohttp_response(await self.app.async_dispatch(bolt_request))

    # -- slash commands --

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """Acknowledge at once; everything else runs in a task of our own."""
        await ack()
        incident = new_invocation_id()
        self._spawn(self._serve_command(dict(body), incident), incident, body)

    async def _on_action(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """A button on a reply: Stop, Regenerate or Continue."""
        await ack()
        incident = new_invocation_id()
        self._spawn(self._serve_action(dict(body), dict(action), incident), incident, body)

    def _spawn(self, work: Coroutine[Any, Any, None], incident: str, body: dict[str, Any]) -> None:
        task = asyncio.create_task(self._guarded(work, incident, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(
        self, work: Coroutine[Any, Any, None], incident: str, body: dict[str, Any]
    ) -> None:
        """Serve a request; whatever fails is logged once, and the user hears of it."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.core.metrics.adapter_error("slack", describe(exc))
            if isinstance(exc, SlackApiError | aiohttp.ClientError | TimeoutError):
                log.warning("slack: a request failed: %s (incident %s)", describe(exc), incident)
            else:
                log.exception("slack: a request failed (incident %s)", incident)
            failed = _("Something went wrong on our side. (incident {incident})", incident=incident)
            await ResponseUrl(str(body.get("response_url", ""))).send(
                failed.render(self.core.config.language)
            )

    def _bucket(self, workspace: str) -> TokenBucket:
        if workspace not in self._buckets:
            self._buckets[workspace] = TokenBucket(
                rate=self.settings.updates_per_minute / 60, burst=3
            )
        return self._buckets[workspace]

    async def _serve_command(self, body: dict[str, Any], incident: str) -> None:
        channel_id = str(body.get("channel_id", ""))
        user_id = str(body.get("user_id", ""))
        # Enterprise Grid: the same team id may exist under two organizations.
        team = str(body.get("team_id", ""))
        enterprise = body.get("enterprise_id")
        workspace = f"{enterprise}:{team}" if enterprise else team
        respond = ResponseUrl(str(body.get("response_url", "")))
        channel = ChannelRef("slack", workspace, channel_id)
        try:
            parsed = parse_slash(
                str(body.get("command", "")),
                str(body.get("text", "")),
                self.settings.command_prefix,
                self.core.plugins.commands,
            )
        except UserError as exc:
            person = User(user_id, user_id, locale=await self._locale(user_id))
            languages = await self.core.languages(channel, person)
            say = SlackMessages(
                self.client, channel_id, user_id, response_url=respond, languages=languages
            )
            await say.notice(Notice(render(exc.message, languages.private), kind="error"))
            return
        user = await self._user(user_id, str(body.get("user_name") or user_id), parsed.name)
        inv = Invocation(
            parsed.name,
            parsed.options,
            channel,
            user,
            SlackHistory(self.client, channel_id),
            id=incident,
        )
        await self._run(inv, workspace, respond)

    async def _serve_action(
        self, body: dict[str, Any], action: dict[str, Any], incident: str
    ) -> None:
        kind = str(action.get("action_id", "")).removeprefix("skald_")
        key = str(action.get("value", ""))
        user_id = _id_of(body.get("user"))
        channel_id = _id_of(body.get("channel"))
        respond = ResponseUrl(str(body.get("response_url", "")))
        live = self._live.get(key) if kind == "stop" else None
        # What the reply was made from, saved when it began: it outlives restarts.
        state = None if kind == "stop" else await self.core.buttons.get(key)
        team = _id_of(body.get("team"))
        if live is not None:
            channel = live.invocation.channel
        elif state is not None:
            channel = state.channel
        else:
            channel = ChannelRef("slack", team, channel_id)
        person = User(user_id, user_id, locale=await self._locale(user_id))
        languages = await self.core.languages(channel, person)
        say = SlackMessages(
            self.client, channel_id, user_id, response_url=respond, languages=languages
        )

        async def refuse(message: Message) -> None:
            await say.notice(Notice(render(message, languages.private), kind="error"))

        access = self.core.router.access
        if kind == "stop":
            if live is None or live.run.task.done():
                # Finished, or begun before a restart: either way nothing runs for it now.
                await refuse(_(NOTHING_TO_STOP))
                return
            command = live.invocation.command
            refusal = access.refusal(command, "slack", person)
            asker = user_id == live.invocation.user.id
            if refusal is None and not asker and not await self._is_admin(user_id):
                refusal = _("Only the person who asked, or an admin, can stop this reply.")
            if refusal is not None:
                await refuse(refusal)
                return
            live.run.cancel()
            return
        if state is None:
            await refuse(_(FORGOTTEN))
            return
        name, options = state.command, dict(state.options)
        if kind == "continue":
            if state.follow_up is None:
                return
            name, options = state.follow_up, {}
        user_field = body.get("user")
        user_name = user_field.get("name") if isinstance(user_field, dict) else None
        user = await self._user(user_id, str(user_name or user_id), name)
        # Whoever presses must be allowed the reply's own command (the router then decides
        # on the one that runs: Continue's follow-up).
        refusal = access.refusal(state.command, "slack", user)
        if refusal is not None:
            await refuse(refusal)
            return
        history = SlackHistory(self.client, state.channel.channel)
        await self._run(
            Invocation(name, options, state.channel, user, history, id=incident),
            state.channel.workspace,
            respond,
        )

    async def _user(self, user_id: str, name: str, command: str) -> User:
        """The invoking user; workspace admins are looked up only for admin-only commands."""
        spec = self.core.plugins.commands.get(command)
        needs_admin = spec is not None and self.core.router.permissions.requires_admin(spec)
        is_admin = needs_admin and await self._is_admin(user_id)
        return User(user_id, name, is_admin=is_admin, locale=await self._locale(user_id))

    async def _run(self, inv: Invocation, workspace: str, respond: ResponseUrl) -> None:
        """Dispatch, then stream the reply into the channel with its buttons."""
        spec = self.core.plugins.commands.get(inv.command)
        key = await self._save_buttons(inv, spec)
        thread_ts = None
        if spec is not None and spec.thread == "join":
            thread_ts = await self._threads.get(inv.channel.scope, spec.plugin)
        languages = await self.core.languages(inv.channel, inv.user)
        target = SlackMessages(
            self.client,
            inv.channel.channel,
            inv.user.id,
            key,
            can_continue=bool(spec and spec.follow_up),
            thread_ts=thread_ts,
            response_url=respond,
            languages=languages,
        )
        run = self.core.dispatch(inv)
        self._live[key] = _Live(inv, run)
        streamer: MessageStreamer[str] = MessageStreamer(
            target,
            self._bucket(workspace),
            placeholder=translate(languages.public, WORKING),
            permanent=permanent,
            call_timeout_s=CALL_TIMEOUT_S,
        )
        try:
            await streamer.deliver(run.reply)
        except Unreachable as exc:
            # The reply cannot be shown: stop generating it for nobody, and say so.
            run.cancel()
            log.warning(
                "slack: reply to /%s failed: %s (incident %s)", inv.command, describe(exc), inv.id
            )
            self.core.metrics.adapter_error("slack", describe(exc))
            if not target.told:
                lost = _(
                    "Slack did not take my reply ({error}), so I stopped writing it. Please "
                    "try again. (incident {incident})",
                    error=describe(exc),
                    incident=inv.id,
                )
                await target.tell(lost.render(languages.private))
        finally:
            await run.wait()
            self._live.pop(key, None)
        if spec is not None and spec.thread == "start" and target.first_ts and run.reply.generated:
            # The opening message roots the plugin's thread: later parts go in there.
            await self._threads.set(inv.channel.scope, spec.plugin, target.first_ts)

    async def _save_buttons(self, inv: Invocation, spec: CommandSpec | None) -> str:
        """Save what the reply's buttons re-run (so they work after a restart); their key."""
        key = new_button_key()
        follow_up = spec.follow_up if spec is not None else None
        state = ButtonState(
            key, inv.channel, inv.user.id, inv.command, dict(inv.options), follow_up
        )
        try:
            await self.core.buttons.save(state)
        except sqlite3.Error as exc:
            # The reply still comes; only its Regenerate and Continue will not work.
            log.warning("slack: could not save the reply's buttons: %s", exc)
        return key

    async def _is_admin(self, user_id: str) -> bool:
        """Workspace admins and owners may run admin-only commands (asked every time)."""
        user = await self._users_info(user_id)
        return bool(user.get("is_admin") or user.get("is_owner"))

    async def _locale(self, user_id: str) -> str | None:
        """The person's Slack locale ("zh-CN"), kept for an hour: their private messages use it."""
        known = self._locales.get(user_id)
        if known is not None and time.monotonic() - known[1] < LOCALE_TTL_S:
            return known[0]
        await self._users_info(user_id)
        return self._locales.get(user_id, (None, 0.0))[0]

    async def _users_info(self, user_id: str) -> dict[str, Any]:
        """users.info with the locale (which is remembered); {} when Slack refuses."""
        if not user_id:
            return {}
        try:
            response = await self.client.users_info(user=user_id, include_locale=True)
        except (SlackApiError, aiohttp.ClientError, TimeoutError):
            return {}  # unknown: not an admin, the channel's language
        user: dict[str, Any] = dict(response.get("user") or {})
        locale = user.get("locale")
        self._locales[user_id] = (str(locale) if locale else None, time.monotonic())
        self._locales.move_to_end(user_id)
        while len(self._locales) > MAX_LOCALES:
            self._locales.popitem(last=False)
        return user


def _check_ids(body: dict[str, Any]) -> None:
    """Raise ValueError where a field Bolt matches listeners on is not text: Bolt's regular
    expressions would raise on it, with a traceback, instead of a plain refusal."""
    for name in ("type", "callback_id", "command"):
        if not isinstance(body.get(name, ""), str):
            raise ValueError(f"`{name}` is not text")
    actions = body.get("actions", [])
    if not isinstance(actions, list) or not all(
        isinstance(a, dict)
        and isinstance(a.get("action_id", ""), str)
        and isinstance(a.get("block_id", ""), str)
        for a in actions
    ):
        raise ValueError("an action's ids are not text")


def _id_of(field: object) -> str:
    """The id in a payload's `user`, `channel` or `team`: an object with an id, or the id."""
    if isinstance(field, dict):
        return str(field.get("id") or "")
    return str(field) if isinstance(field, str) else ""
