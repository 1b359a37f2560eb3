"""A command's response_url: how to reach the user where the bot cannot post."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import aiohttp

from bot.adapters.slack.markup import EscapingWebhookClient

log = logging.getLogger(__name__)

# Slack honours a response_url five times within thirty minutes of the command.
MAX_USES = 5
LIFETIME_S = 30 * 60
TIMEOUT_S = 10


class ResponseUrl:
    """One command's response_url, used within Slack's limits."""

    def __init__(self, url: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._url = url
        self._clock = clock
        self._issued = clock()
        self.uses = 0

    @property
    def usable(self) -> bool:
        """True while Slack still accepts messages at this URL."""
        return (
            bool(self._url) and self.uses < MAX_USES and self._clock() - self._issued < LIFETIME_S
        )

    async def send(self, text: str) -> bool:
        """An ephemeral message to the user; False when the URL is spent or refused."""
        if not self.usable:
            return False
        self.uses += 1
        try:
            response = await EscapingWebhookClient(self._url, timeout=TIMEOUT_S).send(
                text=text, response_type="ephemeral"
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("slack: response_url unreachable: %s", type(exc).__name__)
            return False
        if response.status_code != 200:
            log.warning("slack: response_url answered %s", response.status_code)
            return False
        return True
