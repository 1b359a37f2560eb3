"""Row 4, fairness: a quiet channel's time to first token, idle and while another floods."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from benchmarks.bot_driver import BotDriver, Served
from benchmarks.stats import distribution
from benchmarks.workload import COMMANDS, channel
from bot.adapters.discord.pacing import EditPacers

QUIET = channel(0, "quiet")
FLOOD = channel(0, "flood")


async def quiet_requests(driver: BotDriver, pacers: EditPacers, count: int) -> list[Served]:
    """The quiet channel's requests, one at a time, each after the previous one ended."""
    served = []
    for number in range(count):
        command = COMMANDS[number % len(COMMANDS)]
        served.append(await driver.serve(command, QUIET, 1000, pacers))
    return served


async def measure_fairness(driver: BotDriver, flood: int, count: int) -> dict[str, Any]:
    """Quiet-channel TTFT alone, then with `flood` commands kept running in one other channel.

    The flood is a closed loop: each of its `flood` users sends the next command as soon
    as the last one's reply is complete, so the engine always holds `flood` of its requests.
    Whatever the bot and engine do for fairness (priorities, scheduling) shows in the
    quiet channel's numbers; nothing here favours it.
    """
    pacers = EditPacers()
    idle = await quiet_requests(driver, pacers, count)
    stop = asyncio.Event()
    flood_served: list[Served] = []

    async def flooder(user: int) -> None:
        number = user
        while not stop.is_set():
            command = COMMANDS[number % len(COMMANDS)]
            flood_served.append(await driver.serve(command, FLOOD, user, pacers))
            number += 1

    tasks = [asyncio.create_task(flooder(user)) for user in range(flood)]
    try:
        # Let every flood request through prefill and into decoding before measuring.
        warm = max(1.0, 2 * max(s.timing.e2e_s for s in idle))
        await asyncio.sleep(warm)
        during = await quiet_requests(driver, pacers, count)
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    idle_ttft = [s.timing.ttft_s for s in idle]
    flood_ttft = [s.timing.ttft_s for s in during]
    idle_dist, flood_dist = distribution(idle_ttft), distribution(flood_ttft)
    return {
        "flood": flood,
        # How many of the flood's commands the engine runs at once (the channel cap; 0 is
        # no cap); the others wait in the bot's line.
        "flood_running": min(flood, driver.core.config.fairness.channel_concurrency or flood),
        "quiet_requests": count,
        "flood_warmup_s": warm,
        "flood_requests_completed": len(flood_served),
        "idle_ttft_s": idle_dist,
        "flood_ttft_s": flood_dist,
        "idle_ttft_samples_s": idle_ttft,
        "flood_ttft_samples_s": flood_ttft,
        "idle_e2e_s": distribution([s.timing.e2e_s for s in idle]),
        "flood_e2e_s": distribution([s.timing.e2e_s for s in during]),
        "p95_ratio": flood_dist["p95"] / idle_dist["p95"] if idle_dist["p95"] > 0 else None,
    }
