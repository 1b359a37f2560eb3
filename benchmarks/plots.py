"""PNG plots: throughput against concurrency, and time-to-first-token distributions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLORS = {"raw_vllm": "#1f77b4", "bot": "#d62728", "naive": "#7f7f7f"}
LABELS = {"raw_vllm": "raw vLLM", "bot": "whole bot", "naive": "naive transformers (serial)"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def throughput_plot(results: dict[str, Any], path: Path) -> None:
    """Tokens/s against concurrency, one line per system, bars from min to max round."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    rows = results.get("rows", [])
    levels = sorted({r["concurrency"] for r in rows if r["system"] != "naive"}) or [1]
    for system in ("raw_vllm", "bot"):
        mine = sorted((r for r in rows if r["system"] == system), key=lambda r: r["concurrency"])
        if not mine:
            continue
        xs = [r["concurrency"] for r in mine]
        means = [r["tokens_per_s"]["mean"] for r in mine]
        low = [m - r["tokens_per_s"]["min"] for m, r in zip(means, mine, strict=True)]
        high = [r["tokens_per_s"]["max"] - m for m, r in zip(means, mine, strict=True)]
        ax.errorbar(
            xs,
            means,
            yerr=[low, high],
            marker="o",
            capsize=3,
            color=COLORS[system],
            label=LABELS[system],
        )
    for row in rows:
        if row["system"] == "naive":
            rate = row["tokens_per_s"]["aggregate"]
            ax.plot([1], [rate], marker="s", color=COLORS["naive"], label=LABELS["naive"])
            # Measured one request at a time: serving more users only queues them.
            ax.hlines(rate, 1, max(levels), colors=COLORS["naive"], linestyles="dashed")
    ax.set_xscale("log", base=2)
    ax.set_xticks(levels, [str(n) for n in levels])
    ax.set_xlabel("concurrent requests (channels)")
    ax.set_ylabel("generated tokens/s")
    ax.set_title(f"Throughput, {results['settings']['new_tokens']} new tokens per request")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def ttft_plot(results: dict[str, Any], path: Path) -> None:
    """Time-to-first-token box plots per system and concurrency, and the fairness pair."""
    plt = _pyplot()
    fairness = results.get("fairness")
    fig, axes = plt.subplots(
        1,
        2 if fairness else 1,
        figsize=(10 if fairness else 7, 4.5),
        squeeze=False,
        gridspec_kw={"width_ratios": [3, 1]} if fairness else None,
    )
    ax = axes[0][0]
    data, names, colors = [], [], []
    for row in sorted(results.get("rows", []), key=lambda r: (r["concurrency"], r["system"])):
        if row["system"] == "naive":
            continue
        data.append([s * 1000 for s in row["ttft_samples_s"]])
        names.append(f"{'raw' if row['system'] == 'raw_vllm' else 'bot'}\nN={row['concurrency']}")
        colors.append(COLORS[row["system"]])
    if data:
        boxes = ax.boxplot(data, tick_labels=names, patch_artist=True, showfliers=True)
        for patch, color in zip(boxes["boxes"], colors, strict=True):
            patch.set_facecolor(color)
            patch.set_alpha(0.5)
    ax.set_yscale("log")
    ax.set_ylabel("time to first token (ms)")
    ax.set_title("TTFT by system and concurrency")
    ax.grid(True, axis="y", alpha=0.3)
    if fairness:
        side = axes[0][1]
        side.boxplot(
            [
                [s * 1000 for s in fairness["idle_ttft_samples_s"]],
                [s * 1000 for s in fairness["flood_ttft_samples_s"]],
            ],
            tick_labels=["idle", f"flood of {fairness['flood']}"],
        )
        side.set_yscale("log")
        side.set_title("quiet channel TTFT (ms)")
        side.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
