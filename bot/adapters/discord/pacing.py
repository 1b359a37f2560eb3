"""Edit pacing per channel, learned from Discord's rate-limit headers.

Discord does not document how often a message may be edited; it says so in every answer
instead (`X-RateLimit-Limit`, `-Remaining`, `-Reset-After`). An aiohttp trace sees every
answer discord.py receives, and each channel's streams share one token bucket whose rate
follows what Discord last said about that channel's message routes.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from types import SimpleNamespace

import aiohttp

from bot.ratelimit import TokenBucket

log = logging.getLogger(__name__)

# Before Discord has said anything: one edit a second, which no channel bucket refuses.
START_RATE = 1.0
# Never slower than this, whatever the headers say (a bucket can always refill).
MIN_RATE = 0.05

_CHANNEL_MESSAGE = re.compile(r"/channels/(\d+)/messages(?:/\d+)?$")
_WEBHOOK_MESSAGE = re.compile(r"/webhooks/\d+/([^/]+)(?:/messages/[^/]+)?$")


class EditPacers:
    """One bucket per channel, shared by every stream there, paced by Discord's headers."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        on_rate_limited: Callable[[str], None] | None = None,
    ) -> None:
        self._clock = clock
        # Told "global" or "route" for every 429 (the adapter counts them in metrics).
        self._on_rate_limited = on_rate_limited or (lambda scope: None)
        self._buckets: dict[str, TokenBucket] = {}
        self._windows: dict[str, float] = {}
        # Interaction tokens (webhook routes) belong to the channel they were used in.
        self._token_channels: dict[str, str] = {}

    def bucket(self, channel_id: str) -> TokenBucket:
        """The bucket every edit and post in this channel takes a token from."""
        if channel_id not in self._buckets:
            self._buckets[channel_id] = TokenBucket(START_RATE, burst=1, clock=self._clock)
        return self._buckets[channel_id]

    def bind_token(self, token: str, channel_id: str) -> None:
        """Count requests on an interaction's webhook routes against its channel."""
        self._token_channels[token] = channel_id
        if len(self._token_channels) > 5000:  # tokens live 15 minutes: drop the oldest
            for old in list(self._token_channels)[:1000]:
                del self._token_channels[old]

    def forget_token(self, token: str) -> None:
        """The interaction is over."""
        self._token_channels.pop(token, None)

    def channel_of(self, path: str) -> str | None:
        """The channel a message route's path belongs to, if it is one we pace."""
        if match := _CHANNEL_MESSAGE.search(path):
            return match.group(1)
        if match := _WEBHOOK_MESSAGE.search(path):
            return self._token_channels.get(match.group(1))
        return None

    def observe(self, path: str, status: int, headers: Mapping[str, str]) -> None:
        """Adjust the channel's pace from one answer's rate-limit headers."""
        if status == 429:
            self._on_rate_limited(
                "global" if headers.get("X-RateLimit-Global", "").lower() == "true" else "route"
            )
        if headers.get("X-RateLimit-Global", "").lower() == "true" and status == 429:
            wait = _number(headers.get("Retry-After")) or 1.0
            for bucket in self._buckets.values():
                bucket.pause(wait)
            return
        channel = self.channel_of(path)
        if channel is None:
            return
        limit = _number(headers.get("X-RateLimit-Limit"))
        remaining = _number(headers.get("X-RateLimit-Remaining"))
        reset_after = _number(headers.get("X-RateLimit-Reset-After"))
        bucket = self.bucket(channel)
        if status == 429:
            wait = _number(headers.get("Retry-After")) or reset_after or 1.0
            bucket.pause(wait)
            log.info("discord: channel %s rate limited; pausing edits %.2f s", channel, wait)
        if limit is None or reset_after is None or limit < 1:
            return
        # reset_after never exceeds the bucket's window: the largest seen is the window.
        window = max(self._windows.get(channel, 0.0), reset_after)
        self._windows[channel] = window
        if window > 0:
            # One fewer than the limit per window, with no burst: any window-long stretch
            # then holds at most `limit` requests, however the windows line up.
            bucket.rate = max(MIN_RATE, max(limit - 1, 1) / window)
        if remaining is not None and remaining < 1 and status != 429:
            bucket.pause(reset_after)

    def trace(self) -> aiohttp.TraceConfig:
        """An aiohttp trace that feeds every answer's headers to `observe`."""
        config = aiohttp.TraceConfig()

        async def on_request_end(
            session: aiohttp.ClientSession,
            context: SimpleNamespace,
            params: aiohttp.TraceRequestEndParams,
        ) -> None:
            self.observe(params.url.path, params.response.status, params.response.headers)

        config.on_request_end.append(on_request_end)
        return config


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
