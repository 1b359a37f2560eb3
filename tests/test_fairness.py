"""Sharing the engine: caps, the line and its order, budgets, cancel, priorities, metrics."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from bot.config import FairnessSettings
from bot.core import Core
from bot.invocation import ChannelRef, Invocation, User
from bot.metrics import MetricsServer
from bot.reply import Notice, Progress, Reply, TextDelta
from tests.conftest import open_core
from tests.scripted_engine import ScriptedEngine

BUSY = ChannelRef("test", "guild-1", "busy")
QUIET = ChannelRef("test", "guild-1", "quiet")
ADMIN = User("1", "owner", is_admin=True, is_owner=True)

CoreFactory = Callable[..., Awaitable[Core]]


def rewrite(channel: ChannelRef, user: str = "42", text: str = "the night was quiet") -> Invocation:
    return Invocation("rewrite", {"text": text, "style": "noir"}, channel, User(user, f"u{user}"))


async def events(reply: Reply) -> list[object]:
    return [event async for event in reply.events()]


def text_of(got: list[object]) -> str:
    return "".join(e.text for e in got if isinstance(e, TextDelta))


def notices_of(got: list[object]) -> list[str]:
    return [e.text for e in got if isinstance(e, Notice)]


def places_of(got: list[object]) -> list[str]:
    return [e.text for e in got if isinstance(e, Progress)]


@pytest_asyncio.fixture
async def fair_core(tmp_path: Path) -> AsyncIterator[CoreFactory]:
    """Opens cores with given fairness settings; closes them after the test, however it ends."""
    opened: list[Core] = []

    async def open_with(engine: ScriptedEngine, **fairness: Any) -> Core:
        core = await open_core(tmp_path, engine, fairness=FairnessSettings(**fairness))
        opened.append(core)
        return core

    yield open_with
    for core in opened:
        if not core.db.closed:
            await core.close()


async def test_a_flooding_channel_waits_in_line_while_a_quiet_one_goes_first(
    fair_core: CoreFactory,
) -> None:
    # Two requests at a time in all, one per channel: the busy channel's ten wait in line.
    engine = ScriptedEngine(delay_s=0.02)
    core = await fair_core(engine, channel_concurrency=1, user_concurrency=0, max_running=2)
    flood = [core.dispatch(rewrite(BUSY, user=str(i))) for i in range(10)]
    await asyncio.sleep(0.05)
    assert core.admission.running == 1 and core.admission.waiting == 9
    quiet = core.dispatch(rewrite(QUIET))
    quiet_events = await events(quiet.reply)
    # The quiet channel never waited: the engine had room and its channel was under its cap.
    assert text_of(quiet_events) and not places_of(quiet_events)
    flood_events = [await events(run.reply) for run in flood]
    assert all(text_of(got) for got in flood_events)
    # Waiting requests were told their place, and it went down as the line moved.
    last = places_of(flood_events[-1])
    assert last[0] == "Waiting for the language model: you are 9th in line."
    assert last[-1] == "Waiting for the language model: you are 1st in line."
    assert core.admission.running == 0 and core.admission.waiting == 0
    await core.close()


async def test_the_next_place_goes_to_the_channel_that_used_the_engine_least(
    fair_core: CoreFactory,
) -> None:
    engine = ScriptedEngine(delay_s=0.02)
    core = await fair_core(engine, channel_concurrency=0, user_concurrency=0, max_running=1)
    first = core.dispatch(rewrite(BUSY, user="1"))
    await asyncio.sleep(0.01)
    busy_more = [core.dispatch(rewrite(BUSY, user=str(i))) for i in range(2, 5)]
    await asyncio.sleep(0.01)
    quiet = core.dispatch(rewrite(QUIET, text="quiet words"))
    await asyncio.sleep(0.01)
    # The quiet channel arrived last, yet it is first in line.
    quiet_events = await events(quiet.reply)
    assert places_of(quiet_events) == ["Waiting for the language model: you are 1st in line."]
    for run in [first, *busy_more]:
        assert places_of(await events(run.reply)) != ["1st"]
    # The quiet request was the second the engine served.
    assert "quiet words" in engine.requests[1][0][-1].content
    await core.close()


async def test_a_busy_channels_requests_get_a_worse_vllm_priority(fair_core: CoreFactory) -> None:
    engine = ScriptedEngine(delay_s=0.02)
    core = await fair_core(engine, channel_concurrency=0, user_concurrency=0)
    flood = [core.dispatch(rewrite(BUSY, user=str(i))) for i in range(4)]
    await asyncio.sleep(0.01)
    quiet = core.dispatch(rewrite(QUIET, text="quiet words"))
    for run in [*flood, quiet]:
        await events(run.reply)
    priorities = {params.priority for _, params in engine.requests[:4]}
    # Lower runs first in vLLM: each running request of a channel pushes its next one back.
    assert priorities == {0, 1, 2, 3}
    assert engine.requests[4][1].priority == 0
    await core.close()


async def test_a_full_line_is_refused_with_a_clear_message(fair_core: CoreFactory) -> None:
    engine = ScriptedEngine(delay_s=0.05)
    core = await fair_core(engine, channel_concurrency=1, user_concurrency=0, channel_queue_size=2)
    runs = [core.dispatch(rewrite(BUSY, user=str(i))) for i in range(4)]
    got = [await events(run.reply) for run in runs]
    refused = [notices_of(g) for g in got if not text_of(g)]
    assert refused == [
        ["This channel already has 2 requests waiting. Please try again when some have finished."]
    ]
    await core.close()


async def test_cancelling_a_waiting_request_leaves_the_line_and_a_running_one_aborts(
    fair_core: CoreFactory,
) -> None:
    engine = ScriptedEngine(delay_s=0.05)
    core = await fair_core(engine, channel_concurrency=1)
    running = core.dispatch(rewrite(BUSY, user="1", text="a " * 20))
    waiting = core.dispatch(rewrite(BUSY, user="2"))
    await asyncio.sleep(0.12)
    assert core.admission.waiting == 1
    waiting.cancel()
    await waiting.wait()
    assert core.admission.waiting == 0
    assert len(engine.requests) == 1  # the cancelled one never reached the engine
    running.cancel()
    await running.wait()
    assert engine.aborted == 1 and core.admission.running == 0
    await core.close()


async def test_a_spent_budget_is_refused_until_the_hour_passes_and_admins_can_raise_it(
    fair_core: CoreFactory,
) -> None:
    engine = ScriptedEngine(script=ScriptedEngine.replying("one two three four five six"))
    core = await fair_core(engine, channel_tokens_per_hour=5)
    assert text_of(await events(core.dispatch(rewrite(BUSY)).reply))
    got = await events(core.dispatch(rewrite(BUSY)).reply)
    [refused] = notices_of(got)
    assert refused.startswith("This channel has used up its 5 tokens for this hour. ")
    # Use is counted in five-minute buckets: the hour ends 55 to 60 minutes from now.
    assert re.fullmatch(r".* Please try again in (5[5-9]|60) minutes\.", refused)
    # Other channels have their own budget.
    assert text_of(await events(core.dispatch(rewrite(QUIET)).reply))
    # Use is kept across a restart.
    await core.close()
    core = await fair_core(engine, channel_tokens_per_hour=5)
    assert notices_of(await events(core.dispatch(rewrite(BUSY)).reply))
    # An admin raises this channel's budget.
    await events(
        core.dispatch(
            Invocation("prefs set", {"key": "budget.tokens_per_hour", "value": "100"}, BUSY, ADMIN)
        ).reply
    )
    assert text_of(await events(core.dispatch(rewrite(BUSY)).reply))
    await core.close()


async def test_a_users_budget_follows_them_across_channels(fair_core: CoreFactory) -> None:
    engine = ScriptedEngine(script=ScriptedEngine.replying("one two three four five six"))
    core = await fair_core(engine, user_tokens_per_day=5)
    assert text_of(await events(core.dispatch(rewrite(BUSY)).reply))
    got = await events(core.dispatch(rewrite(QUIET)).reply)
    assert notices_of(got) == [
        "You have used up your 5 tokens for today. Please try again in 24 hours."
    ]
    await core.close()


async def test_metrics_are_served_on_their_own_port(fair_core: CoreFactory) -> None:
    engine = ScriptedEngine()
    core = await fair_core(engine)
    for _ in range(2):
        await events(core.dispatch(rewrite(BUSY)).reply)
    await events(core.dispatch(Invocation("nonsense", {}, BUSY, ADMIN)).reply)
    server = MetricsServer(core.metrics, refresh=core.engine_status)
    await server.start("127.0.0.1", 0)
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{server.port}/metrics") as response,
        ):
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            body = await response.text()
    finally:
        await server.close()
    assert 'skald_commands_total{outcome="ok",plugin="rewrite"} 2.0' in body
    assert 'skald_commands_total{outcome="refused",plugin="unknown"} 1.0' in body
    assert 'skald_tokens_generated_total{plugin="rewrite"}' in body
    assert 'skald_time_to_first_token_seconds_count{plugin="rewrite"} 2.0' in body
    assert 'skald_command_latency_seconds_count{plugin="rewrite"} 2.0' in body
    assert "skald_queue_depth 0.0" in body
    assert "skald_engine_restarts 0.0" in body
    await core.close()


async def test_skald_status_shows_backend_model_queue_and_uptime(core: Core) -> None:
    got = await events(core.dispatch(Invocation("skald status", {}, BUSY, ADMIN)).reply)
    lines = text_of(got).splitlines()
    assert lines[0] == "Engine: scripted, model script"
    assert lines[2] == f"Requests: 0 running of {core.admission.capacity}, 0 waiting in line"
    assert lines[4].startswith("Uptime: ")
    got = await events(core.dispatch(Invocation("skald status", {}, BUSY, User("2", "x"))).reply)
    assert notices_of(got) == [
        "Only the bot's owner can use /skald status: it acts on every server."
    ]


async def test_log_lines_about_a_command_name_it_without_its_text(
    core: Core, engine: ScriptedEngine, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(messages: object, params: object) -> str:
        raise RuntimeError("the script broke")

    engine.script = broken
    with caplog.at_level(logging.INFO):
        run = core.dispatch(rewrite(BUSY, text="a secret draft"))
        await events(run.reply)
    record = next(r for r in caplog.records if "failed" in r.getMessage())
    assert record.skald_incident == run.invocation.id  # type: ignore[attr-defined]
    assert record.skald_platform == "test"  # type: ignore[attr-defined]
    assert record.skald_channel == BUSY.scope  # type: ignore[attr-defined]
    assert record.skald_plugin == "rewrite"  # type: ignore[attr-defined]
    assert all("a secret draft" not in r.getMessage() for r in caplog.records)
