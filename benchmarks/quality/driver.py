"""Run evaluation items through the real bot path: command lines, router, plugins, engine."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.quality.items import Item
from bot.commandline import parse_command
from bot.core import Core
from bot.errors import UserError
from bot.i18n import render
from bot.invocation import ChannelRef, HistoryMessage, Invocation, User
from bot.reply import Attachment, MessageBreak, Notice, Progress, Reply, TextDelta

USER = User(id="eval", name="eval", is_admin=True)


@dataclass(slots=True)
class StepResult:
    """What the bot answered to one command line of an item."""

    line: str
    text: str
    notices: list[str]
    seconds: float


@dataclass(slots=True)
class ItemRun:
    """Every step of one item, plus what the plugin stored (quizzes are read from there)."""

    item: Item
    steps: list[StepResult] = field(default_factory=list)
    stored_quiz: list[dict[str, Any]] | None = None
    error: str | None = None


class StaticHistory:
    """A channel's history given by the item: what /summarize reads."""

    def __init__(self, messages: Sequence[tuple[str, str]]) -> None:
        self._messages = [HistoryMessage(author, text) for author, text in messages]

    async def recent(self, limit: int) -> list[HistoryMessage]:
        """The last `limit` messages, oldest first."""
        return self._messages[-limit:]


def tokens_generated(core: Core) -> int:
    """Tokens the engine wrote for this core's commands, read from the core's own metrics
    (`skald_tokens_generated_total`, counted by every plugin's requests)."""
    total = 0.0
    for metric in core.metrics.registry.collect():
        if metric.name == "skald_tokens_generated":
            total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
    return int(total)


async def _collect(reply: Reply) -> tuple[str, list[str]]:
    """The reply's text as a person would read it, and its notices apart."""
    text: list[str] = []
    notices: list[str] = []
    async for event in reply.events():
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, MessageBreak):
            text.append("\n")
        elif isinstance(event, Notice):
            notices.append(event.text)
        elif isinstance(event, Attachment | Progress):
            continue
    return "".join(text).strip(), notices


async def run_line(
    core: Core, channel: ChannelRef, history: StaticHistory, line: str, language: str = "en"
) -> StepResult:
    """Type one command line in a channel; wait for the whole reply."""
    started = time.monotonic()
    try:
        parsed = parse_command(line, core.plugins.commands)
    except UserError as exc:
        return StepResult(line, "", [render(exc.message, language)], time.monotonic() - started)
    run = core.dispatch(Invocation(parsed.name, parsed.options, channel, USER, history))
    text, notices = await _collect(run.reply)
    await run.wait()
    return StepResult(line, text, notices, time.monotonic() - started)


async def run_item(core: Core, item: Item) -> ItemRun:
    """Every step of an item, in order, in a channel of its own set to the item's language."""
    channel = ChannelRef("eval", "quality", item.id)
    history = StaticHistory(item.history)
    result = ItemRun(item)
    setup = f"/prefs set key:language value:{item.language}"
    answer = await run_line(core, channel, history, setup)
    if (await core.preferences(channel.scope)).get("language") != item.language:
        result.error = "could not set the language: " + " ".join(answer.notices)
        return result
    for line in item.steps:
        result.steps.append(await run_line(core, channel, history, line, item.language))
    if item.kind == "quiz":
        row = await core.db.fetchone(
            "SELECT quiz FROM tutor_quizzes WHERE scope = ?", (channel.scope,)
        )
        result.stored_quiz = json.loads(row["quiz"]) if row is not None else None
    return result


async def run_items(core: Core, items: Sequence[Item], concurrency: int) -> list[ItemRun]:
    """All items, `concurrency` at a time (each in its own channel, so they batch)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(item: Item) -> ItemRun:
        async with gate:
            return await run_item(core, item)

    return list(await asyncio.gather(*(one(item) for item in items)))
