"""`python -m benchmarks`: every part in its own process, then the JSON, plots and table."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.machine import host_name, machine_facts
from benchmarks.plots import throughput_plot, ttft_plot
from benchmarks.report import check_targets, markdown, readme_section
from benchmarks.settings import PARTS, REDUCED, SMOKE, BenchSettings

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
README_BEGIN = "<!-- benchmark:begin -->"
README_END = "<!-- benchmark:end -->"


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in text.split(",") if n.strip())


def parse_args(argv: list[str]) -> tuple[BenchSettings, argparse.Namespace]:
    """Settings from the preset named (full by default) and the flags given."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Skald against raw vLLM and a naive transformers bot, in one run.",
    )
    preset = parser.add_mutually_exclusive_group()
    preset.add_argument("--smoke", action="store_true", help="seconds, no model (CI)")
    preset.add_argument("--reduced", action="store_true", help="a few minutes: fewer rounds")
    parser.add_argument("--parts", help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--concurrency", type=_numbers, help="e.g. 1,4,16,32,64")
    parser.add_argument("--rounds", type=int, help="measured rounds per concurrency")
    parser.add_argument("--warmup-rounds", type=int)
    parser.add_argument("--new-tokens", type=int, help="tokens generated per request")
    parser.add_argument("--naive-requests", type=int)
    parser.add_argument("--flood", type=int, help="commands the flooding channel keeps running")
    parser.add_argument("--quiet-requests", type=int)
    parser.add_argument("--core-seconds", type=float)
    parser.add_argument(
        "--model", help="bundled:smollm2-135m-instruct (default), another bundled model or a folder"
    )
    parser.add_argument("--backend", help="the bot's engine backend (engine/settings.py)")
    parser.add_argument("--dtype")
    parser.add_argument("--max-model-len", type=int)
    parser.add_argument("--kv-cache-gib", type=float)
    parser.add_argument("--max-num-seqs", type=int)
    parser.add_argument("--cuda-graphs", action="store_true", help="enforce_eager off (GPU)")
    parser.add_argument("--naive-device", help="auto, cpu or cuda")
    parser.add_argument("--out", type=Path, help=f"results folder (default {RESULTS})")
    parser.add_argument("--no-readme", action="store_true", help="leave README.md alone")
    args = parser.parse_args(argv)
    settings = SMOKE if args.smoke else REDUCED if args.reduced else BenchSettings()
    changes: dict[str, Any] = {}
    for name in (
        "concurrency", "rounds", "warmup_rounds", "new_tokens", "naive_requests", "flood",
        "quiet_requests", "core_seconds", "model", "backend", "dtype", "max_model_len",
        "kv_cache_gib", "max_num_seqs", "naive_device",
    ):  # fmt: skip
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.parts:
        changes["parts"] = tuple(p for p in PARTS if p in args.parts.split(","))
    if args.cuda_graphs:
        changes["enforce_eager"] = False
    if os.environ.get("SKALD_CACHE_DIR"):
        changes["cache_dir"] = os.environ["SKALD_CACHE_DIR"]
    settings = dataclasses.replace(settings, **changes)
    if settings.dtype == "auto":
        # Every system loads the model in the dtype the bot would pick on this machine.
        from engine.vllm_local import model_dtype

        settings = dataclasses.replace(settings, dtype=model_dtype(settings.engine_settings()))
    return settings, args


def run_part(part: str, settings: BenchSettings, work: Path) -> dict[str, Any]:
    """One part in a child process; its JSON, or an "error" entry when it failed."""
    settings_path = work / "settings.json"
    settings_path.write_text(settings.to_json())
    out = work / f"{part}.json"
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    began = time.perf_counter()
    worker = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.worker", part, str(settings_path), str(out)],
        cwd=REPO,
        env=env,
    )
    try:
        status = worker.wait()
    except BaseException:
        # Interrupted: let the worker close its engine (a killed one orphans vLLM's processes).
        worker.terminate()
        worker.wait(timeout=120)
        raise
    print(f"[bench] {part}: {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
    if status != 0 or not out.exists():
        return {"error": f"{part} exited with status {status}"}
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def merge(parts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One results document from the parts' JSON."""
    merged: dict[str, Any] = {"rows": [], "startup_s": {}, "errors": [], "memory_method": None}
    for name, part in parts.items():
        if "error" in part:
            merged["errors"].append(part["error"])
            continue
        merged["errors"] += [f"{name}: {error}" for error in part.get("errors", [])]
        merged["rows"] += part.get("rows", [])
        merged["startup_s"].update(part.get("startup_s", {}))
        merged["memory_method"] = part.get("memory_method") or merged["memory_method"]
        for key in ("fairness", "core_overhead", "prompts_match", "commands"):
            if key in part:
                merged[key] = part[key]
        merged.setdefault("parts_run", []).append(name)
    order = {"raw_vllm": 0, "bot": 1, "naive": 2}
    merged["rows"].sort(key=lambda r: (order.get(r["system"], 9), r["concurrency"]))
    return merged


def update_readme(section: str, readme: Path = REPO / "README.md") -> bool:
    """Put the section between README's benchmark markers; False when there are none."""
    text = readme.read_text(encoding="utf-8")
    if README_BEGIN not in text or README_END not in text:
        return False
    head, rest = text.split(README_BEGIN, 1)
    _old, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_BEGIN}\n{section}\n{README_END}{tail}", encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when every part ran (targets are reported, not enforced)."""
    settings, args = parse_args(sys.argv[1:] if argv is None else argv)
    # SIGTERM unwinds like Ctrl-C, so the running worker is stopped cleanly too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    out: Path = args.out or RESULTS
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.UTC)
    began = time.perf_counter()
    load_before = os.getloadavg()
    print(f"[bench] {settings.label} run: parts {', '.join(settings.parts)}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="skald-bench-") as tmp:
        # raw and bot run in one process, on one engine (see worker.py).
        workers = [
            w
            for w, wanted in (
                ("core", "core" in settings.parts),
                ("engine", "raw" in settings.parts or "bot" in settings.parts),
                ("naive", "naive" in settings.parts),
            )
            if wanted
        ]
        parts: dict[str, dict[str, Any]] = {
            worker: run_part(worker, settings, Path(tmp)) for worker in workers
        }
    results: dict[str, Any] = {
        "schema": 1,
        "label": settings.label,
        "started_at": started.isoformat(timespec="seconds"),
        "duration_s": time.perf_counter() - began,
        "machine": machine_facts(),
        # Other work on the machine slows every row: a quiet run starts and ends near 0.
        "load_average_1m": {"start": load_before[0], "end": os.getloadavg()[0]},
        "settings": dataclasses.asdict(settings),
        **merge(parts),
    }
    results["targets"] = check_targets(results)
    suffix = "" if settings.label == "full" else f"-{settings.label}"
    stem = f"{started:%Y-%m-%d}-{host_name()}{suffix}"
    results["json_name"] = f"{stem}.json"
    plots = {"throughput": f"{stem}-throughput.png", "ttft": f"{stem}-ttft.png"}
    throughput_plot(results, out / plots["throughput"])
    ttft_plot(results, out / plots["ttft"])
    (out / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / f"{stem}.md").write_text(markdown(results, plots))
    if settings.label == "full" and not args.no_readme and args.out is None:
        relative = out.relative_to(REPO)
        section = readme_section(
            results, f"{relative}/{stem}.md", f"{relative}/{plots['throughput']}"
        )
        update_readme(section)
    print(markdown(results, plots))
    print(f"[bench] wrote {out / stem}.{{json,md}} and two plots", file=sys.stderr)
    return 1 if results["errors"] else 0
