"""Fair sharing of the one engine: caps per channel and user, a bounded line, budgets, priority.

Every engine request passes through `Admission.admit()`. A request runs at once when its
channel, its user and the engine all have room; otherwise it waits in one line, and
whenever a place frees the waiting request whose channel has used the engine least
recently goes next. So a channel that sends forty requests at once holds a few engine
slots, and a quiet channel's request starts almost at once. The same measure of recent
use sets each request's vLLM priority (lower runs first), so inside the engine too a quiet
channel is not stuck behind a busy one.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.config import FairnessSettings
from bot.errors import UserError
from bot.i18n import N_, Text, _, _n
from bot.memory.usage import UsageLedger

# Tokens of recent use that lower a channel's priority by one step.
PRIORITY_STEP_TOKENS = 256
PRIORITY_MAX = 1000

HOUR_S = 3600
DAY_S = 24 * HOUR_S


@dataclass(frozen=True, slots=True)
class Budget:
    """Generated-token limits for one key; 0 means no limit."""

    per_hour: int = 0
    per_day: int = 0


@dataclass(frozen=True, slots=True)
class EngineRequest:
    """Who asks the engine for how much: the channel's and the user's keys and budgets."""

    channel: str
    user: str
    max_tokens: int
    channel_budget: Budget = Budget()
    user_budget: Budget = Budget()


@dataclass(slots=True)
class Ticket:
    """A granted place at the engine; report what the request generated with charge()."""

    request: EngineRequest
    priority: int
    waited_s: float = 0.0
    charged: int = 0

    def charge(self, tokens: int) -> None:
        """Record the tokens the request generated (counted against its budgets)."""
        self.charged = max(0, tokens)


@dataclass(slots=True)
class _Waiter:
    request: EngineRequest
    seq: int
    granted: asyncio.Future[int] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    moved: asyncio.Event = field(default_factory=asyncio.Event)


WaitReport = Callable[[int], Awaitable[None]]


def wait_text(minutes: float) -> Text:
    """'1 minute', '12 minutes', '2 hours'."""
    if minutes >= 90:
        return _n("{n} hour", "{n} hours", math.ceil(minutes / 60))
    return _n("{n} minute", "{n} minutes", max(1, math.ceil(minutes)))


# The sentence for a spent budget: whose it is (the channel's, the person's) and its window.
_SPENT = {
    ("channel", "hour"): N_(
        "This channel has used up its {limit:,} tokens for this hour. Please try again in {wait}."
    ),
    ("channel", "day"): N_(
        "This channel has used up its {limit:,} tokens for today. Please try again in {wait}."
    ),
    ("user", "hour"): N_(
        "You have used up your {limit:,} tokens for this hour. Please try again in {wait}."
    ),
    ("user", "day"): N_(
        "You have used up your {limit:,} tokens for today. Please try again in {wait}."
    ),
}


class Admission:
    """The gate in front of the engine, shared by every adapter and plugin of one process."""

    def __init__(
        self,
        settings: FairnessSettings,
        capacity: int,
        ledger: UsageLedger,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        # Engine requests running at once in all: the engine's own batch size by default.
        self.capacity = settings.max_running or max(1, capacity)
        self._ledger = ledger
        self._clock = clock
        self._waiting: list[_Waiter] = []
        self._seq = itertools.count()
        self._running_channel: dict[str, int] = {}
        self._running_user: dict[str, int] = {}
        self._reserved: dict[str, int] = {}
        self.running = 0
        # Exponentially decayed tokens per channel, and when each was last decayed.
        self._recent: dict[str, tuple[float, float]] = {}

    @property
    def waiting(self) -> int:
        """Requests waiting in line now."""
        return len(self._waiting)

    # -- recent use and priority --

    def recent_use(self, channel: str) -> float:
        """The channel's recent engine use: decayed tokens plus its running requests."""
        tokens, at = self._recent.get(channel, (0.0, self._clock()))
        half_life = self._settings.priority_half_life_s
        decayed = tokens * 0.5 ** ((self._clock() - at) / half_life) if half_life > 0 else 0.0
        running = self._running_channel.get(channel, 0)
        return decayed + running * PRIORITY_STEP_TOKENS

    def priority(self, channel: str) -> int:
        """The vLLM priority for the channel's next request: 0 when quiet, more when busy."""
        return min(PRIORITY_MAX, int(self.recent_use(channel) // PRIORITY_STEP_TOKENS))

    def _note_use(self, channel: str, tokens: int) -> None:
        now = self._clock()
        old, at = self._recent.get(channel, (0.0, now))
        half_life = self._settings.priority_half_life_s
        decayed = old * 0.5 ** ((now - at) / half_life) if half_life > 0 else 0.0
        self._recent[channel] = (decayed + tokens, now)
        if len(self._recent) > 10_000:  # forget channels whose use has faded away
            self._recent = {
                k: v for k, v in self._recent.items() if v[0] * 0.5 ** ((now - v[1]) / 600) > 1
            }

    # -- budgets --

    async def _check_budget(
        self, key: str, budget: Budget, whose: Literal["channel", "user"]
    ) -> None:
        if budget.per_hour <= 0 and budget.per_day <= 0:
            return  # no budget: nothing to read
        # Read from the database each time: other processes spend the same budgets.
        history = await self._ledger.history(key)
        for limit, window, label in (
            (budget.per_hour, HOUR_S, "hour"),
            (budget.per_day, DAY_S, "day"),
        ):
            if limit <= 0:
                continue
            used = history.used(window) + self._reserved.get(key, 0)
            if used >= limit:
                retry = history.seconds_until_below(window, limit)
                raise UserError(_(_SPENT[whose, label], limit=limit, wait=wait_text(retry / 60)))

    # -- the line --

    def _fits(self, request: EngineRequest) -> bool:
        settings = self._settings
        return (
            self.running < self.capacity
            and (
                not settings.channel_concurrency
                or self._running_channel.get(request.channel, 0) < settings.channel_concurrency
            )
            and (
                not settings.user_concurrency
                or self._running_user.get(request.user, 0) < settings.user_concurrency
            )
        )

    def _order(self) -> list[_Waiter]:
        """The line in the order it is served: least recent use first, then arrival."""
        # One reading per channel: use decays with time, and every request of a channel
        # must compare equal to its siblings (arrival decides among them).
        use = {w.request.channel: self.recent_use(w.request.channel) for w in self._waiting}
        return sorted(self._waiting, key=lambda w: (use[w.request.channel], w.seq))

    def _grant(self, request: EngineRequest) -> int:
        # The priority reflects the channel's use before this request, not with it.
        priority = self.priority(request.channel)
        self.running += 1
        self._running_channel[request.channel] = self._running_channel.get(request.channel, 0) + 1
        self._running_user[request.user] = self._running_user.get(request.user, 0) + 1
        for key in (request.channel, request.user):
            self._reserved[key] = self._reserved.get(key, 0) + request.max_tokens
        return priority

    def _release(self, request: EngineRequest) -> None:
        self.running -= 1
        for table, key in (
            (self._running_channel, request.channel),
            (self._running_user, request.user),
        ):
            left = table[key] - 1
            if left:
                table[key] = left
            else:
                del table[key]
        for key in (request.channel, request.user):
            left = self._reserved[key] - request.max_tokens
            if left:
                self._reserved[key] = left
            else:
                del self._reserved[key]
        self._pump()

    def _pump(self) -> None:
        """Grant waiting requests while there is room, then tell the rest they moved."""
        for waiter in self._order():
            if self.running >= self.capacity:
                break
            if self._fits(waiter.request):
                self._waiting.remove(waiter)
                waiter.granted.set_result(self._grant(waiter.request))
        for waiter in self._waiting:
            waiter.moved.set()

    def position(self, waiter: _Waiter) -> int:
        """A waiting request's place in line, from 1."""
        return self._order().index(waiter) + 1

    @asynccontextmanager
    async def admit(
        self, request: EngineRequest, on_wait: WaitReport | None = None
    ) -> AsyncIterator[Ticket]:
        """Hold a place at the engine for the block; wait in line first when it is busy.

        Raises UserError (nothing is queued) when a budget is spent or the line is full.
        Cancelling the waiting task leaves the line at once.
        """
        settings = self._settings
        # 1) Budgets, before anything else: an exhausted one is told at once.
        await self._check_budget(request.channel, request.channel_budget, "channel")
        await self._check_budget(request.user, request.user_budget, "user")
        started = self._clock()
        # 2) Run at once when there is room and nobody is ahead, else join the line.
        if not self._waiting and self._fits(request):
            priority = self._grant(request)
        else:
            in_channel = sum(1 for w in self._waiting if w.request.channel == request.channel)
            if settings.queue_size and len(self._waiting) >= settings.queue_size:
                raise UserError(
                    _n(
                        "The bot is very busy right now ({n} request is waiting). Please try "
                        "again in a minute.",
                        "The bot is very busy right now ({n} requests are waiting). Please try "
                        "again in a minute.",
                        len(self._waiting),
                    )
                )
            if settings.channel_queue_size and in_channel >= settings.channel_queue_size:
                raise UserError(
                    _n(
                        "This channel already has {n} request waiting. Please try again when "
                        "it has finished.",
                        "This channel already has {n} requests waiting. Please try again when "
                        "some have finished.",
                        in_channel,
                    )
                )
            waiter = _Waiter(request, next(self._seq))
            self._waiting.append(waiter)
            self._pump()
            priority = await self._wait(waiter, on_wait)
        ticket = Ticket(request, priority, waited_s=self._clock() - started)
        # 3) Run; always give the place back and count what was generated.
        try:
            yield ticket
        finally:
            # Note the use first: the place freed below goes to the least busy channel.
            self._note_use(request.channel, ticket.charged)
            self._release(request)
            if ticket.charged:
                # Written before the block ends, so before the reply is reported finished:
                # a charge acknowledged that way survives a crash (see UsageLedger).
                await self._ledger.charge((request.channel, request.user), ticket.charged)

    async def _wait(self, waiter: _Waiter, on_wait: WaitReport | None) -> int:
        reported = 0
        try:
            while not waiter.granted.done():
                place = self.position(waiter)
                if on_wait is not None and place != reported:
                    reported = place
                    await on_wait(place)
                if waiter.granted.done():
                    break
                waiter.moved.clear()
                moved: asyncio.Future[Any] = asyncio.ensure_future(waiter.moved.wait())
                either: list[asyncio.Future[Any]] = [moved, waiter.granted]
                try:
                    await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    moved.cancel()
            return waiter.granted.result()
        except BaseException:
            if waiter in self._waiting:
                self._waiting.remove(waiter)
                self._pump()
            elif waiter.granted.done() and not waiter.granted.cancelled():
                # Granted while being cancelled: give the place straight back.
                self._release(waiter.request)
            raise
