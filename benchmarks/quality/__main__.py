"""`python -m benchmarks.quality` (`make eval`): every item on every configuration, one run."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import json
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.machine import cpu_model, host_name
from benchmarks.quality.checks import check_item
from benchmarks.quality.driver import ItemRun, run_items, tokens_generated
from benchmarks.quality.items import Item, load_items
from benchmarks.quality.report import markdown, summarize_config, targets_met
from bot.config import Config, ConsoleSettings, FairnessSettings, PluginSettings, RouterSettings
from bot.core import Core
from bot.quiet import send_library_output_to
from bot.sampling import SAMPLING_FILE, SamplingTable
from engine.bundled import QWEN_CODER_05B, SMOLLM2
from engine.settings import EngineSettings

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RESULTS = REPO / "benchmarks" / "results"
README_BEGIN = "<!-- quality:begin -->"
README_END = "<!-- quality:end -->"


@dataclass(frozen=True, slots=True)
class EvalConfig:
    """One column of the comparison: a model and a sampling table."""

    label: str
    model: str
    sampling: Path
    description: str


CONFIGS = {
    "qwen": EvalConfig(
        "qwen2.5-coder-0.5b",
        QWEN_CODER_05B.model_id,
        SAMPLING_FILE,
        "the embedded default, plugins/prompts/sampling.yaml",
    ),
    "qwen-legacy": EvalConfig(
        "qwen2.5-coder-0.5b, old sampling",
        QWEN_CODER_05B.model_id,
        HERE / "legacy-sampling.yaml",
        "the plugins' sampling before this evaluation (temperature 0.8-0.9, repetition "
        "penalty 1.15)",
    ),
    "smollm2": EvalConfig(
        "smollm2-135m",
        SMOLLM2.model_id,
        SAMPLING_FILE,
        "the earlier default, plugins/prompts/sampling.yaml (its own section)",
    ),
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.quality",
        description="Score what the plugins write, in English and Chinese, model by model.",
    )
    parser.add_argument(
        "--configs",
        default="qwen,qwen-legacy,smollm2",
        help=f"comma-separated, from {', '.join(CONFIGS)}",
    )
    parser.add_argument("--only", help="comma-separated parts of item ids to run")
    parser.add_argument("--concurrency", type=int, default=16, help="items run at once")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--no-readme", action="store_true", help="leave README.md alone")
    parser.add_argument("--dump", action="store_true", help="print every reply")
    parser.add_argument("--debug", action="append", help="a logger to show at DEBUG, e.g. plugins")
    return parser.parse_args(argv)


def eval_config(data_dir: Path, engine: EngineSettings) -> Config:
    """The bot as shipped, minus what would get in the way of 46 channels at once: no
    cooldowns, no per-user or per-channel caps, no custom plugins."""
    return Config(
        data_dir=data_dir,
        engine=engine,
        router=RouterSettings(cooldown_s=0, handler_timeout_s=1800),
        fairness=FairnessSettings(user_concurrency=0, channel_concurrency=0),
        plugins=PluginSettings(entry_points=False, folders=()),
        console=ConsoleSettings(user="eval", admin=True),
    )


def _item_result(run: ItemRun) -> dict[str, Any]:
    return {
        "id": run.item.id,
        "language": run.item.language,
        "kind": run.item.kind,
        "checks": [dataclasses.asdict(c) for c in check_item(run)],
        "steps": [dataclasses.asdict(s) for s in run.steps],
        "quiz": run.stored_quiz,
        "error": run.error,
    }


async def run_model(
    model: str, configs: list[EvalConfig], items: list[Item], concurrency: int
) -> list[dict[str, Any]]:
    """Start the model once, then run every item under each of its configurations."""
    from engine.vllm_local import VllmEngine

    settings = EngineSettings(
        model=model,
        cache_dir=Path(os.environ.get("SKALD_CACHE_DIR") or REPO / ".cache" / "skaldbot"),
        kv_cache_gib=2,
        max_num_seqs=concurrency,
    )
    engine = VllmEngine(settings)
    started = time.monotonic()
    await engine.start()
    startup_s = time.monotonic() - started
    print(f"{model}: ready after {startup_s:.0f} s", file=sys.stderr, flush=True)
    results = []
    try:
        for config in configs:
            with tempfile.TemporaryDirectory(prefix="skald-eval-") as tmp:
                core = await Core.open(eval_config(Path(tmp), settings), engine)
                core.sampling = SamplingTable.load(config.sampling)
                began = time.monotonic()
                try:
                    runs = await run_items(core, items, concurrency)
                    seconds = time.monotonic() - began
                    tokens = tokens_generated(core)
                finally:
                    await core.close()
            item_results = [_item_result(run) for run in runs]
            summary = summarize_config(item_results)
            results.append(
                {
                    "label": config.label,
                    "model": model,
                    "description": config.description,
                    "sampling": config.sampling.relative_to(REPO).as_posix(),
                    "startup_s": startup_s,
                    "seconds": seconds,
                    "tokens": tokens,
                    "tokens_per_s": tokens / seconds if seconds else 0.0,
                    "summary": summary,
                    "targets_met": targets_met(summary),
                    "items": item_results,
                }
            )
            print(
                f"{config.label}: {len(items)} items in {seconds:.0f} s, "
                f"{tokens / seconds:.1f} tokens/s",
                file=sys.stderr,
                flush=True,
            )
    finally:
        await engine.close()
    return results


def write_readme(table: str) -> None:
    """Put the table between the README's quality markers."""
    readme = REPO / "README.md"
    text = readme.read_text(encoding="utf-8")
    if README_BEGIN not in text or README_END not in text:
        return
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_BEGIN}\n{table}\n{README_END}{tail}", encoding="utf-8")


async def main_async(args: argparse.Namespace) -> int:
    """Run, score, write JSON and Markdown; exit 1 when the default misses its targets."""
    items = load_items()
    if args.only:
        items = [i for i in items if any(part in i.id for part in args.only.split(","))]
    chosen = [CONFIGS[name.strip()] for name in args.configs.split(",") if name.strip()]
    by_model: dict[str, list[EvalConfig]] = {}
    for choice in chosen:
        by_model.setdefault(choice.model, []).append(choice)
    configs: list[dict[str, Any]] = []
    for model, group in by_model.items():
        configs.extend(await run_model(model, group, items, args.concurrency))
    date = datetime.date.today().isoformat()
    results = {
        "date": date,
        "machine": f"{cpu_model()}, {os.cpu_count()} cores",
        "item_count": len(items),
        "configs": configs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{date}-{host_name()}-quality"
    stem.with_suffix(".json").write_text(
        json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    table = markdown(results)
    stem.with_suffix(".md").write_text(table + "\n", encoding="utf-8")
    if args.dump:
        for result in configs:
            for item in result["items"]:
                print(f"===== {result['label']} {item['id']}")
                for step in item["steps"]:
                    print(f">> {step['line']}\n{step['text']}\n{step['notices']}")
    print(table)
    print(f"\nwritten: {stem}.json and .md", file=sys.stderr)
    if not args.no_readme and not args.only:
        where = stem.with_suffix(".md").relative_to(REPO).as_posix()
        write_readme(table.split("\n\n**", 1)[0] + f"\n\nEvery failed check: [{where}]({where}).")
    return 0 if all(c["targets_met"] for c in configs[:1]) else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not args.debug:
        # vLLM's, torch's and Triton's lines go to a file, as in `skaldbot run`.
        engine_log = Path(tempfile.gettempdir()) / "skald-eval-engine.log"
        send_library_output_to(engine_log)
        print(f"engine output: {engine_log}", file=sys.stderr)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for name in args.debug or ():
        logging.getLogger(name).setLevel(logging.DEBUG)
    for noisy in ("vllm", "transformers", "torch"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
