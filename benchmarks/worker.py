"""One part of a run (core, engine or naive) in a process of its own, results as JSON.

Each part gets a fresh process, so one engine never overlaps another and the baseline's
memory is its own. Raw vLLM and the bot share the engine part: raw rounds drive the bot
engine's AsyncLLM directly, alternating with the bot's rounds.
Usage: python -m benchmarks.worker PART SETTINGS.json OUT.json
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import signal
import sys
import tempfile
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from benchmarks.bot_driver import BotDriver, EngineTokenLog, Served
from benchmarks.core_overhead import measure_core
from benchmarks.fairness import FLOOD, QUIET, measure_fairness
from benchmarks.raw_vllm import RawVllm
from benchmarks.resources import METHOD, RowResources
from benchmarks.settings import BenchSettings
from benchmarks.stats import RoundResult, distribution, summarize_rounds
from benchmarks.workload import (
    COMMANDS,
    FixedLengthEngine,
    Prompt,
    bench_config,
    capture_prompts,
    channel,
    store_prefs,
)
from bot.core import Core
from engine import Engine
from engine.model_prep import resolve_model_path

log = logging.getLogger("benchmarks")
SAMPLE_S = 0.1


def _say(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def _row(system: str, rounds: Sequence[RoundResult], spent: RowResources) -> dict[str, Any]:
    row = {"system": system, "concurrency": rounds[0].concurrency, **summarize_rounds(rounds)}
    row.update(spent.to_json(row["tokens"]))
    return row


async def run_core(settings: BenchSettings) -> dict[str, Any]:
    """Row 5."""
    _say("core overhead: scripted engine, one core")
    spent = RowResources(SAMPLE_S)
    with spent.measuring():
        result = await measure_core(
            settings.core_seconds, settings.core_repeats, settings.core_in_flight
        )
    result["peak_rss_mib"] = spent.peak_mib
    return {"core_overhead": result}


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


def _raw_system(settings: BenchSettings, engine: Engine) -> RawVllm | None:
    """Raw vLLM on the bot engine's own AsyncLLM, where the engine is vLLM in this process."""
    llm = getattr(engine, "async_llm", None)
    if llm is None:
        _say(f"raw vLLM: skipped, the {settings.backend!r} engine has no in-process AsyncLLM")
        return None
    path = resolve_model_path(settings.engine_settings())
    return RawVllm(llm, str(path), settings.new_tokens)


def _bot_row(served: Sequence[Served]) -> dict[str, Any]:
    return {
        "shown_s": distribution([s.shown_s for s in served]),
        "sink_calls_per_request": sum(s.edits for s in served) / len(served),
    }


async def _level(
    concurrency: int,
    settings: BenchSettings,
    prompts: Sequence[Prompt],
    raw: RawVllm | None,
    driver: BotDriver | None,
    token_log: EngineTokenLog,
) -> list[dict[str, Any]]:
    """The raw and bot rows at one concurrency, their rounds alternating."""
    for _ in range(settings.warmup_rounds):
        if raw is not None:
            await raw.round(prompts, concurrency)
        if driver is not None:
            await driver.round(concurrency)
    token_log.counts.clear()
    raw_spent, bot_spent = RowResources(SAMPLE_S), RowResources(SAMPLE_S)
    raw_rounds: list[RoundResult] = []
    bot_rounds: list[RoundResult] = []
    served: list[Served] = []
    for number in range(settings.rounds):
        # Alternate who goes first, so neither always follows the other.
        for system in ("raw", "bot") if number % 2 == 0 else ("bot", "raw"):
            if system == "raw" and raw is not None:
                with raw_spent.measuring():
                    raw_rounds.append(await raw.round(prompts, concurrency))
            elif system == "bot" and driver is not None:
                with bot_spent.measuring():
                    outcome, round_served = await driver.round(concurrency)
                bot_rounds.append(outcome)
                served += round_served
    rows = []
    if raw_rounds:
        rows.append(_row("raw_vllm", raw_rounds, raw_spent))
    if bot_rounds:
        row = _row("bot", bot_rounds, bot_spent)
        row.update(_bot_row(served))
        # What the engine itself counted, where it logs it (the vLLM backend); raw
        # rounds are not logged, only the bot's.
        row["engine_reported_tokens"] = sum(token_log.counts) or None
        rows.append(row)
    return rows


async def run_engine(settings: BenchSettings) -> dict[str, Any]:
    """Rows 1, 2 and 4 on one engine: raw and bot rounds alternate, then fairness.

    A level that fails is reported and ends the part, keeping the rows measured before it.
    """
    prompts = await capture_prompts()
    inner = _build_engine(settings)
    engine = FixedLengthEngine(inner, settings.new_tokens)
    want_raw, want_bot = "raw" in settings.parts, "bot" in settings.parts
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    result: dict[str, Any] = {"rows": rows, "errors": errors}
    with tempfile.TemporaryDirectory(prefix="skald-bench-bot-") as tmp:
        config = bench_config(Path(tmp), settings.engine_settings())
        core = await Core.open(config, engine)
        try:
            most = max([*settings.concurrency, 1])
            await store_prefs(core, [*(channel(i) for i in range(most)), QUIET, FLOOD])
            _say("starting the engine")
            began = time.perf_counter()
            await engine.start()
            result["startup_s"] = {"engine": time.perf_counter() - began}
            raw = _raw_system(settings, inner) if want_raw else None
            driver = BotDriver(core, settings.new_tokens) if want_bot else None
            with EngineTokenLog() as token_log:
                for concurrency in settings.concurrency:
                    _say(f"N={concurrency}: {'raw vLLM, ' if raw else ''}{'bot' if driver else ''}")
                    try:
                        rows += await _level(concurrency, settings, prompts, raw, driver, token_log)
                    except Exception as exc:
                        errors.append(f"N={concurrency}: {type(exc).__name__}: {exc}")
                        _say(f"N={concurrency} failed: {exc}")
                        break
            if driver is not None and not errors:
                _say(f"fairness: a flood of {settings.flood}")
                fair_spent = RowResources(SAMPLE_S)
                try:
                    with fair_spent.measuring():
                        fairness = await measure_fairness(
                            driver, settings.flood, settings.quiet_requests
                        )
                    fairness["peak_rss_mib"] = fair_spent.peak_mib
                    result["fairness"] = fairness
                except Exception as exc:
                    errors.append(f"fairness: {type(exc).__name__}: {exc}")
        finally:
            await core.close()
            await engine.close()
    wanted = {p.digest() for p in prompts}
    if want_bot:
        # Every prompt the bot sent was one of those raw vLLM and the baseline got.
        result["prompts_match"] = set(engine.digests) <= wanted and bool(engine.digests)
    result["commands"] = [{"command": c.name, "options": c.options} for c in COMMANDS]
    return result


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
    spent = RowResources(SAMPLE_S)
    with spent.measuring():
        rounds = naive.serial(prompts, settings.naive_requests)
    row = _row("naive", rounds, spent)
    # Serial by construction: its throughput is the same at any number of users.
    row["tokens_per_s"]["aggregate"] = row["tokens"] / sum(r.wall_s for r in rounds)
    row["device"] = naive.device
    return {"rows": [row], "startup_s": {"naive": startup}}


# raw and bot share one process and one engine (run_engine runs whichever is asked).
WORKERS = {"core": run_core, "engine": run_engine, "naive": run_naive}


async def _stoppable(work: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """Run the part; SIGTERM cancels it, so its engine is closed on the way out."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await work


def main(argv: Sequence[str]) -> int:
    """Run one part and write its JSON."""
    part, settings_path, out_path = argv
    settings = BenchSettings.from_json(Path(settings_path).read_text())
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    result = asyncio.run(_stoppable(WORKERS[part](settings)))
    result["memory_method"] = METHOD.format(interval=SAMPLE_S)
    Path(out_path).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
