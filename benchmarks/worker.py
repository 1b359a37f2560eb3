"""One part of a run (core, raw, bot or naive) in a process of its own, results as JSON.

Each system gets a fresh process so its peak memory is its own and one engine never
overlaps another. Usage: python -m benchmarks.worker PART SETTINGS.json OUT.json
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.bot_driver import BotDriver, EngineTokenLog, Served
from benchmarks.core_overhead import measure_core
from benchmarks.fairness import FLOOD, QUIET, measure_fairness
from benchmarks.memory import METHOD, PeakMemory
from benchmarks.settings import BenchSettings
from benchmarks.stats import RoundResult, distribution, summarize_rounds
from benchmarks.workload import (
    COMMANDS,
    FixedLengthEngine,
    bench_config,
    capture_prompts,
    channel,
    store_prefs,
)
from bot.core import Core
from engine import Engine

log = logging.getLogger("benchmarks")
SAMPLE_S = 0.1


def _say(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def _row(system: str, rounds: Sequence[RoundResult], memory: PeakMemory) -> dict[str, Any]:
    row = {"system": system, "concurrency": rounds[0].concurrency, **summarize_rounds(rounds)}
    row["peak_rss_mib"] = memory.peak_mib
    return row


async def run_core(settings: BenchSettings) -> dict[str, Any]:
    """Row 5."""
    _say("core overhead: scripted engine, one core")
    with PeakMemory(SAMPLE_S) as memory:
        result = await measure_core(
            settings.core_seconds, settings.core_repeats, settings.core_in_flight
        )
    result["peak_rss_mib"] = memory.peak_mib
    return {"core_overhead": result}


async def run_raw(settings: BenchSettings) -> dict[str, Any]:
    """Row 1."""
    from benchmarks.raw_vllm import RawVllm

    prompts = await capture_prompts()
    raw = RawVllm(settings)
    _say("raw vLLM: starting AsyncLLM")
    began = time.perf_counter()
    await asyncio.to_thread(raw.start)
    startup = time.perf_counter() - began
    rows = []
    try:
        for concurrency in settings.concurrency:
            _say(f"raw vLLM: N={concurrency}")
            for _ in range(settings.warmup_rounds):
                await raw.round(prompts, concurrency)
            with PeakMemory(SAMPLE_S) as memory:
                rounds = [await raw.round(prompts, concurrency) for _ in range(settings.rounds)]
            rows.append(_row("raw_vllm", rounds, memory))
    finally:
        await raw.close()
    return {"rows": rows, "startup_s": {"raw_vllm": startup}}


def _build_engine(settings: BenchSettings) -> Engine:
    if settings.backend == "scripted":
        from tests.scripted_engine import ScriptedEngine

        # Smoke only: a reply of max_tokens words, a word every 2 ms; exercises the code.
        return ScriptedEngine(
            script=lambda messages, params: " ".join(["word"] * params.max_tokens), delay_s=0.002
        )
    from engine.factory import build_engine

    # Any backend engine/settings.py knows; build_engine refuses the others by name.
    backend: Any = settings.backend
    engine_settings = dataclasses.replace(settings.engine_settings(), backend=backend)
    return build_engine(engine_settings)


def _shown(served: Sequence[Served]) -> dict[str, float]:
    return distribution([s.shown_s for s in served])


async def run_bot(settings: BenchSettings) -> dict[str, Any]:
    """Rows 2 and 4: the whole bot at each concurrency, then fairness."""
    prompts = await capture_prompts()
    engine = FixedLengthEngine(_build_engine(settings), settings.new_tokens)
    rows = []
    with tempfile.TemporaryDirectory(prefix="skald-bench-bot-") as tmp:
        config = bench_config(Path(tmp), settings.engine_settings())
        core = await Core.open(config, engine)
        try:
            most = max([*settings.concurrency, 1])
            await store_prefs(core, [*(channel(i) for i in range(most)), QUIET, FLOOD])
            _say("bot: starting the engine")
            began = time.perf_counter()
            await engine.start()
            startup = time.perf_counter() - began
            driver = BotDriver(core, settings.new_tokens)
            with EngineTokenLog() as token_log:
                for concurrency in settings.concurrency:
                    _say(f"bot: N={concurrency}")
                    for _ in range(settings.warmup_rounds):
                        await driver.round(concurrency)
                    token_log.counts.clear()
                    served: list[Served] = []
                    rounds = []
                    with PeakMemory(SAMPLE_S) as memory:
                        for _ in range(settings.rounds):
                            result, round_served = await driver.round(concurrency)
                            rounds.append(result)
                            served += round_served
                    row = _row("bot", rounds, memory)
                    row["shown_s"] = _shown(served)
                    row["sink_calls_per_request"] = sum(s.edits for s in served) / len(served)
                    # What the engine itself counted, where it logs it (the vLLM backend).
                    row["engine_reported_tokens"] = (
                        sum(token_log.counts) if token_log.counts else None
                    )
                    rows.append(row)
            _say(f"bot: fairness, a flood of {settings.flood}")
            with PeakMemory(SAMPLE_S) as memory:
                fairness = await measure_fairness(driver, settings.flood, settings.quiet_requests)
            fairness["peak_rss_mib"] = memory.peak_mib
        finally:
            await core.close()
            await engine.close()
    wanted = {p.digest() for p in prompts}
    return {
        "rows": rows,
        "fairness": fairness,
        "startup_s": {"bot": startup},
        # Every prompt the bot sent was one of those raw vLLM and the baseline got.
        "prompts_match": set(engine.digests) <= wanted and bool(engine.digests),
        "commands": [{"command": c.name, "options": c.options} for c in COMMANDS],
    }


async def run_naive(settings: BenchSettings) -> dict[str, Any]:
    """Row 3."""
    from benchmarks.naive import NaiveBot

    prompts = await capture_prompts()
    naive = NaiveBot(settings)
    _say("naive baseline: loading the model in transformers")
    began = time.perf_counter()
    naive.start()
    startup = time.perf_counter() - began
    naive.one(prompts[0])  # warm-up
    _say(f"naive baseline: {settings.naive_requests} requests, one at a time")
    with PeakMemory(SAMPLE_S) as memory:
        rounds = naive.serial(prompts, settings.naive_requests)
    row = _row("naive", rounds, memory)
    # Serial by construction: its throughput is the same at any number of users.
    row["tokens_per_s"]["aggregate"] = row["tokens"] / sum(r.wall_s for r in rounds)
    row["device"] = naive.device
    return {"rows": [row], "startup_s": {"naive": startup}}


PARTS = {"core": run_core, "raw": run_raw, "bot": run_bot, "naive": run_naive}


def main(argv: Sequence[str]) -> int:
    """Run one part and write its JSON."""
    part, settings_path, out_path = argv
    settings = BenchSettings.from_json(Path(settings_path).read_text())
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    result = asyncio.run(PARTS[part](settings))
    result["memory_method"] = METHOD.format(interval=SAMPLE_S)
    Path(out_path).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
