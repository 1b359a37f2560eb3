"""The benchmark's own pieces, on the scripted engine: prompts, timings, targets."""

from __future__ import annotations

import math
from pathlib import Path

from benchmarks.bot_driver import BotDriver
from benchmarks.report import check_targets
from benchmarks.stats import RequestTiming, RoundResult, percentile, summarize_rounds
from benchmarks.workload import (
    COMMANDS,
    FixedLengthEngine,
    bench_config,
    capture_prompts,
    channel,
    fixed_length,
    store_prefs,
)
from bot.core import Core
from engine import GenerationParams
from tests.scripted_engine import ScriptedEngine


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0], 95) == 1.95
    assert math.isnan(percentile([], 50))


def test_a_round_reports_tokens_per_second_of_its_wall_time() -> None:
    rounds = [RoundResult(2, 2.0, [RequestTiming(0.1, 1.0, 8), RequestTiming(0.3, 2.0, 8)])]
    row = summarize_rounds(rounds)
    assert row["tokens"] == 16
    assert row["tokens_per_s"]["mean"] == 8.0
    assert row["ttft_s"]["p50"] == 0.2


def test_fixed_length_keeps_the_sampling_and_drops_what_ends_a_reply_early() -> None:
    params = GenerationParams(max_tokens=90, temperature=0.9, stop=("\n\n",), extra={"top_k": 5})
    fixed = fixed_length(params, 64)
    assert (fixed.max_tokens, fixed.stop, fixed.temperature) == (64, (), 0.9)
    assert fixed.extra == {"top_k": 5, "min_tokens": 64}


async def test_every_command_makes_one_request_with_the_prompt_the_other_systems_get(
    tmp_path: Path,
) -> None:
    prompts = await capture_prompts()
    assert len(prompts) == len(COMMANDS)
    assert len({p.digest() for p in prompts}) == len(COMMANDS)

    script = ScriptedEngine(script=lambda m, p: " ".join(["word"] * p.max_tokens))
    engine = FixedLengthEngine(script, 12)
    core = await Core.open(bench_config(tmp_path), engine)
    try:
        await store_prefs(core, [channel(i) for i in range(len(COMMANDS))])
        round_result, served = await BotDriver(core, 12).round(len(COMMANDS))
    finally:
        await core.close()
    # The bot sent the very prompts the other systems get, each 12 tokens long.
    assert set(engine.digests) == {p.digest() for p in prompts}
    assert all(params.max_tokens == 12 for _, params in script.requests)
    assert round_result.tokens == 12 * len(COMMANDS)
    for timing in round_result.requests:
        assert 0 < timing.ttft_s <= timing.e2e_s
    assert all(s.shown_s >= s.timing.e2e_s for s in served)


def test_targets_are_checked_against_the_top_concurrency() -> None:
    def row(system: str, n: int, tps: float, ttft: float) -> dict[str, object]:
        return {
            "system": system,
            "concurrency": n,
            "tokens_per_s": {"mean": tps, "aggregate": tps},
            "ttft_s": {"p50": ttft, "p95": ttft},
        }

    results = {
        "rows": [
            row("raw_vllm", 32, 300.0, 0.100),
            row("bot", 32, 294.0, 0.103),
            row("naive", 1, 25.0, 2.0),
        ],
        "fairness": {
            "flood": 32,
            "p95_ratio": 2.0,
            "flood_ttft_s": {"p95": 0.2},
            "idle_ttft_s": {"p95": 0.1},
        },
        "core_overhead": {"commands_per_s": {"mean": 6000.0}},
    }
    met = {t["target"]: t["met"] for t in check_targets(results)}
    assert list(met.values()) == [True, True, True, False, True]


def test_the_vllm_engine_exposes_no_async_llm_before_it_starts() -> None:
    from engine.settings import EngineSettings
    from engine.vllm_local import VllmEngine

    # Raw vLLM rounds drive the bot engine's own AsyncLLM once it runs.
    assert VllmEngine(EngineSettings()).async_llm is None


def test_a_full_run_replaces_only_what_is_between_the_readme_markers(tmp_path: Path) -> None:
    from benchmarks.cli import README_BEGIN, README_END, update_readme

    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n{README_BEGIN}\nold table\n{README_END}\n## Next\n")
    assert update_readme("new table", readme)
    assert readme.read_text() == f"# Title\n{README_BEGIN}\nnew table\n{README_END}\n## Next\n"
    readme.write_text("# No markers\n")
    assert not update_readme("new table", readme)
    assert readme.read_text() == "# No markers\n"
