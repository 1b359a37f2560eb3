"""Timings of single requests and the summaries every row reports."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class RequestTiming:
    """One request: seconds from its start to its first token and to its end."""

    ttft_s: float
    e2e_s: float
    tokens: int


@dataclass(slots=True)
class RoundResult:
    """N requests started together; the round lasts until the last one ends."""

    concurrency: int
    wall_s: float
    requests: list[RequestTiming] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        """Tokens generated in the round."""
        return sum(r.tokens for r in self.requests)

    @property
    def tokens_per_s(self) -> float:
        """Tokens generated per second of the round's wall time."""
        return self.tokens / self.wall_s if self.wall_s > 0 else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread(values: Sequence[float]) -> dict[str, float]:
    """Mean, standard deviation, min and max of repeated measurements."""
    if not values:
        return {"mean": math.nan, "stdev": math.nan, "min": math.nan, "max": math.nan}
    return {
        "mean": statistics.fmean(values),
        "stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


def distribution(values: Sequence[float]) -> dict[str, float]:
    """p50 and p95 of latencies, in seconds."""
    return {"p50": percentile(values, 50), "p95": percentile(values, 95)}


def summarize_rounds(rounds: Sequence[RoundResult]) -> dict[str, Any]:
    """One row of the report from the measured rounds of one system at one concurrency."""
    requests = [r for rnd in rounds for r in rnd.requests]
    ttft = [r.ttft_s for r in requests]
    e2e = [r.e2e_s for r in requests]
    return {
        "rounds": len(rounds),
        "requests": len(requests),
        "tokens": sum(rnd.tokens for rnd in rounds),
        # Each round is one measurement of throughput; the spread is across rounds.
        "tokens_per_s": spread([rnd.tokens_per_s for rnd in rounds]),
        "tokens_per_s_rounds": [rnd.tokens_per_s for rnd in rounds],
        "ttft_s": distribution(ttft),
        "e2e_s": distribution(e2e),
        "ttft_samples_s": ttft,
    }
