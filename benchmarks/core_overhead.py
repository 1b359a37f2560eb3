"""Row 5, core overhead alone: commands per second on the scripted engine, and where time goes.

The scripted engine answers at once (zero delay), so what is left is the bot itself: the
router, validation and checks, preferences read from SQLite, prompt rendering, the plugin
(story start also writes its story to SQLite), and the reply stream, read to its end as an
adapter would (without any platform's edit pacing, which waits by design).
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import os
import pstats
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.stats import spread
from benchmarks.workload import (
    CHANNEL_PREFS,
    COMMANDS,
    Command,
    bench_config,
    channel,
    invocation,
    store_prefs,
)
from bot.core import Core
from bot.reply import Notice
from tests.scripted_engine import ScriptedEngine

# Where profiled time is attributed, by the file a function is defined in (first match).
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("router, validation, checks", ("bot/router.py", "bot/options.py", "bot/checks.py")),
    ("preferences + SQLite", ("bot/memory/", "bot/preferences.py", "aiosqlite/", "sqlite3/")),
    ("content filter", ("bot/safety/",)),
    ("prompt rendering", ("bot/prompts.py", "jinja2/")),
    ("metrics", ("prometheus_client/", "bot/metrics.py")),
    ("logging", ("logging/", "bot/logcontext.py")),
    ("plugins (story, lyrics)", ("plugins/",)),
    ("engine (scripted)", ("tests/scripted_engine.py",)),
    ("reply stream", ("bot/reply.py",)),
    ("context, core, invocation", ("bot/context.py", "bot/core.py", "bot/invocation.py")),
    # Idle in epoll: nothing to run until aiosqlite's thread hands a result back.
    ("waiting for SQLite thread", ("select.epoll",)),
    ("event loop (tasks, queues, callbacks)", ("asyncio/", "selectors.py")),
    ("threads, queues", ("threading.py", "queue.py", "concurrent/")),
)
OTHER = "other (json, logging, ...)"


def pin_to_one_core() -> int:
    """Run this process (and threads it starts later) on one CPU; returns which."""
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


async def drive(core: Core, commands: Sequence[Command], seconds: float, in_flight: int) -> float:
    """Keep `in_flight` commands running for `seconds`; returns commands completed per second."""
    done = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def user(slot: int) -> None:
        nonlocal done
        number = slot
        where = channel(slot, "core")
        while time.perf_counter() < deadline:
            command = commands[number % len(commands)]
            run = core.dispatch(invocation(command, where, slot))
            async for event in run.reply.events():
                if isinstance(event, Notice) and event.kind == "error":
                    raise RuntimeError(f"/{command.name} failed: {event.text}")
            await run.wait()
            done += 1
            number += in_flight

    await asyncio.gather(*(user(slot) for slot in range(in_flight)))
    return done / (time.perf_counter() - started)


def _category(filename: str, name: str) -> str | None:
    where = filename.replace("\\", "/") + " " + name
    for category, needles in CATEGORIES:
        if any(needle in where for needle in needles):
            return category
    return None


def profile_shares(stats: pstats.Stats) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Share of profiled time per category, and the functions with the most own time.

    Built-ins (no file) count for the category of whoever called them.
    """
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    totals: dict[str, float] = {}
    for (filename, _line, name), (_cc, _nc, own, _cum, callers) in raw.items():
        category = _category(filename, name)
        if category is None and filename == "~" and callers:
            caller_time = sum(c[2] for c in callers.values()) or 1.0
            for (c_file, _c_line, c_name), c_stats in callers.items():
                share = c_stats[2] / caller_time if caller_time else 1 / len(callers)
                key = _category(c_file, c_name) or OTHER
                totals[key] = totals.get(key, 0.0) + own * share
            continue
        key = category or OTHER
        totals[key] = totals.get(key, 0.0) + own
    whole = sum(totals.values()) or 1.0
    shares = {k: v / whole for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}
    top = sorted(raw.items(), key=lambda kv: -kv[1][2])[:15]
    functions = [
        {"function": f"{Path(f).name}:{line}({name})", "own_s": s[2], "calls": s[1]}
        for (f, line, name), s in top
    ]
    return shares, functions


async def measure_core(seconds: float, repeats: int, in_flight: int) -> dict[str, Any]:
    """Commands per second through the core on the scripted engine, and a profile of it."""
    cpu = pin_to_one_core()
    with tempfile.TemporaryDirectory(prefix="skald-bench-core-") as tmp:
        core = await Core.open(bench_config(Path(tmp)), ScriptedEngine(keep_requests=False))
        try:
            # The default rating, general, whose filter list is the longest: the scripted
            # replies never trip it, so nothing needs the engine rows' mature rating.
            default_rating = {k: v for k, v in CHANNEL_PREFS.items() if k != "rating"}
            channels = [channel(slot, "core") for slot in range(in_flight)]
            await store_prefs(core, channels, default_rating)
            await drive(core, COMMANDS, min(seconds, 1.0), in_flight)  # warm-up
            gc.freeze()  # as `skaldbot run` does once start-up is over (bot/app.py)
            rates = [await drive(core, COMMANDS, seconds, in_flight) for _ in range(repeats)]
            by_command = {
                name: await drive(core, [c for c in COMMANDS if c.name == name], seconds, in_flight)
                for name in sorted({c.name for c in COMMANDS})
            }
            profiler = cProfile.Profile()
            profiler.enable()
            profiled_rate = await drive(core, COMMANDS, seconds, in_flight)
            profiler.disable()
        finally:
            await core.close()
    shares, functions = profile_shares(pstats.Stats(profiler))
    return {
        "pinned_cpu": cpu,
        "in_flight": in_flight,
        "seconds_per_repeat": seconds,
        "commands_per_s": spread(rates),
        "commands_per_s_repeats": rates,
        "commands_per_s_by_command": by_command,
        "profiler": "cProfile, main thread only (aiosqlite's own thread shows as waiting)",
        "profiled_commands_per_s": profiled_rate,
        "time_shares": shares,
        "top_functions": functions,
    }
