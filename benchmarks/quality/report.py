"""The evaluation's summary: pass rates by language and category, and the Markdown table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.quality.checks import CATEGORIES, STRUCTURE


def summarize_config(items: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per language: items, and the share of items whose checks of each category all held."""
    summary: dict[str, dict[str, Any]] = {}
    for language in sorted({item["language"] for item in items}):
        mine = [item for item in items if item["language"] == language]
        row: dict[str, Any] = {"items": len(mine)}
        for category in CATEGORIES:
            judged = [
                all(c["passed"] for c in item["checks"] if c["category"] == category)
                for item in mine
                if any(c["category"] == category for c in item["checks"])
            ]
            row[category] = sum(judged) / len(judged) if judged else None
            row[f"{category}_items"] = len(judged)
        row["all_checks"] = sum(all(c["passed"] for c in item["checks"]) for item in mine) / len(
            mine
        )
        summary[language] = row
    return summary


def targets_met(summary: dict[str, dict[str, Any]]) -> bool:
    """The issue's bar: every structural check on every item, the rest on 90% of items."""
    for row in summary.values():
        if row[STRUCTURE] is not None and row[STRUCTURE] < 1.0:
            return False
        for category in CATEGORIES[1:]:
            if row[category] is not None and row[category] < 0.9:
                return False
    return True


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def markdown(results: dict[str, Any]) -> str:
    """The table README shows, then each configuration's failed checks."""
    lines = [
        f"Measured by `make eval` on {results['date']} ({results['machine']}); "
        f"{results['item_count']} items, English and Chinese, every generating plugin. "
        "A cell is the share of items whose checks of that kind all held.",
        "",
        "| configuration | language | items | structure | language | topic | facts "
        "| all checks | tokens/s | minutes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for config in results["configs"]:
        for language, row in config["summary"].items():
            lines.append(
                f"| {config['label']} | {language} | {row['items']} | {_pct(row['structure'])} "
                f"| {_pct(row['language'])} | {_pct(row['topic'])} | {_pct(row['facts'])} "
                f"| {_pct(row['all_checks'])} | {config['tokens_per_s']:.1f} "
                f"| {config['seconds'] / 60:.1f} |"
            )
    lines.append("")
    for config in results["configs"]:
        failed = [
            f"- `{item['id']}` {check['name']}"
            + (f": {check['detail']}" if check["detail"] else "")
            for item in config["items"]
            for check in item["checks"]
            if not check["passed"]
        ]
        lines.append(
            f"**{config['label']}** ({config['description']}): start-up "
            f"{config['startup_s']:.0f} s, {config['tokens']:,} tokens in "
            f"{config['seconds']:.0f} s; targets {'met' if config['targets_met'] else 'not met'}."
        )
        lines.append("")
        lines.extend(failed[:40] or ["- every check held"])
        if len(failed) > 40:
            lines.append(f"- … and {len(failed) - 40} more (in the JSON)")
        lines.append("")
    return "\n".join(lines)
