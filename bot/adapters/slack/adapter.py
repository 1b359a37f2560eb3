"""The Slack adapter: Bolt's AsyncApp in HTTP mode, each slash command acknowledged first."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.commands import EVENTS_PATH, parse_slash, slash_groups, slash_name
from bot.adapters.slack.credentials import SlackCredentials
from bot.adapters.slack.history import SlackHistory
from bot.config import SlackSettings
from bot.core import Core
from bot.errors import UserError
from bot.invocation import ChannelRef, Invocation, User
from bot.ratelimit import TokenBucket
from bot.reply import Notice
from bot.streaming import MessageStreamer

log = logging.getLogger(__name__)

# Section text holds 3,000 characters; longer replies continue in the thread.
MESSAGE_LIMIT = 3000
WORKING = "_Skald is writing…_"


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


class SlackMessages:
    """A MessageTarget in one channel: the first message in the channel, the rest in its thread."""

    max_length = MESSAGE_LIMIT

    def __init__(self, client: AsyncWebClient, channel: str, user: str) -> None:
        self._client = client
        self._channel = channel
        self._user = user
        self._thread_ts: str | None = None

    async def post(self, text: str) -> str:
        """chat.postMessage; later messages of the same reply go into the first one's thread."""
        response = await self._client.chat_postMessage(
            channel=self._channel, text=text, thread_ts=self._thread_ts
        )
        ts = str(response["ts"])
        self._thread_ts = self._thread_ts or ts
        return ts

    async def edit(self, handle: str, text: str) -> None:
        """chat.update of a message the bot posted."""
        await self._client.chat_update(channel=self._channel, ts=handle, text=text)

    async def delete(self, handle: str) -> None:
        """chat.delete of a message the bot posted."""
        await self._client.chat_delete(channel=self._channel, ts=handle)

    async def notice(self, notice: Notice) -> None:
        """An ephemeral message only the invoking user sees."""
        await self._client.chat_postEphemeral(
            channel=self._channel, user=self._user, text=notice.text
        )


class SlackAdapter:
    """Serves every plugin as workspace slash commands over Slack's HTTP delivery."""

    def __init__(self, core: Core, credentials: SlackCredentials, settings: SlackSettings) -> None:
        self.core = core
        self.settings = settings
        self.credentials = credentials
        # Bolt has no setting for the Web API address: the client carries it, and every
        # listener's client copies its base_url and retry handlers.
        self.client = AsyncWebClient(
            token=credentials.bot_token,
            base_url=credentials.api_url,
            retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
        )
        self.app = AsyncApp(
            token=credentials.bot_token,
            signing_secret=credentials.signing_secret,
            client=self.client,
            logger=logging.getLogger("slack_bolt"),
        )
        self.app.command(re.compile(r"^/.+$"))(self._on_command)
        self._buckets: dict[str, TokenBucket] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._replays = RecentSignatures()
        self.port: int | None = None

    # -- start and stop --

    async def start(self) -> None:
        """Check the token with Slack, then listen for HTTP requests."""
        try:
            identity = await self.client.auth_test()
        except SlackApiError as exc:
            code = exc.response.get("error", "unknown_error")
            raise SlackStartError(
                f"Slack refused SLACK_BOT_TOKEN ({code}): check the token "
                "in the app's OAuth & Permissions page"
            ) from None
        log.info(
            "slack: connected to team %s as %s", identity.get("team_id"), identity.get("user_id")
        )
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
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle_http(self, request: web.Request) -> web.Response:
        # Bolt verifies the signature and the timestamp (5 minutes) and answers 401 itself;
        # within those 5 minutes a captured request could be sent again: refuse replays.
        signature = request.headers.get("X-Slack-Signature", "")
        if signature and self._replays.seen(signature):
            log.warning("slack: refused a replayed request")
            return web.Response(status=401, text="replayed request")
        bolt_request = await to_bolt_request(request)
        response = await to_aiohttp_response(await self.app.async_dispatch(bolt_request))
        if response.status == 200 and signature:
            self._replays.remember(signature)
        return response

    # -- slash commands --

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """Acknowledge at once; everything else runs in a task of our own."""
        await ack()
        task = asyncio.create_task(self._serve(dict(body)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _bucket(self, workspace: str) -> TokenBucket:
        if workspace not in self._buckets:
            self._buckets[workspace] = TokenBucket(
                rate=self.settings.updates_per_minute / 60, burst=3
            )
        return self._buckets[workspace]

    async def _serve(self, body: dict[str, Any]) -> None:
        channel_id = str(body.get("channel_id", ""))
        user_id = str(body.get("user_id", ""))
        # Enterprise Grid: the same team id may exist under two organizations.
        team = str(body.get("team_id", ""))
        enterprise = body.get("enterprise_id")
        workspace = f"{enterprise}:{team}" if enterprise else team
        target = SlackMessages(self.client, channel_id, user_id)
        try:
            prefix = self.settings.command_prefix
            commands = self.core.plugins.commands
            parsed = parse_slash(
                str(body.get("command", "")), str(body.get("text", "")), prefix, commands
            )
            spec = commands.get(parsed.name)
            is_admin = bool(
                spec
                and self.core.router.permissions.requires_admin(spec)
                and await self._is_admin(user_id)
            )
            user = User(user_id, str(body.get("user_name") or user_id), is_admin=is_admin)
            inv = Invocation(
                parsed.name,
                parsed.options,
                ChannelRef("slack", workspace, channel_id),
                user,
                SlackHistory(self.client, channel_id),
            )
        except UserError as exc:
            await target.notice(Notice(exc.message, kind="error"))
            return
        run = self.core.dispatch(inv)
        streamer = MessageStreamer(target, self._bucket(workspace), placeholder=WORKING)
        try:
            await streamer.deliver(run.reply)
        except SlackApiError as exc:
            # The reply cannot be shown: stop generating it for nobody.
            run.cancel()
            log.warning("slack: reply to /%s failed: %s", inv.command, exc.response.get("error"))
        finally:
            await run.wait()

    async def _is_admin(self, user_id: str) -> bool:
        """Workspace admins and owners may run admin-only commands."""
        try:
            response = await self.client.users_info(user=user_id)
        except SlackApiError:
            return False
        user = response.get("user") or {}
        return bool(user.get("is_admin") or user.get("is_owner"))


def command_names(core: Core, prefix: str) -> list[str]:
    """Every Slack slash command the loaded plugins make."""
    return [slash_name(word, prefix) for word in slash_groups(core.plugins.commands)]
