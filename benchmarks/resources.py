"""Peak memory and CPU time of this process and its children (vLLM's engine core is a child)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psutil

METHOD = (
    "memory: sum of RSS of the benchmark process and all its descendants (vLLM's "
    "engine-core process included), sampled every {interval:g} s by a thread while the row "
    "runs; pages shared between processes (libraries) count once per process. CPU: user + "
    "system seconds of the benchmark process, and of its descendants, over the row"
)


def tree_rss_bytes(process: psutil.Process) -> int:
    """RSS of a process plus all its descendants, in bytes (vanished children are skipped)."""
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def _cpu_seconds(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0.0
    return float(times.user + times.system)


def children_cpu(process: psutil.Process) -> dict[int, float]:
    """CPU seconds so far of each live descendant, by process id."""
    return {child.pid: _cpu_seconds(child) for child in process.children(recursive=True)}


class RowResources:
    """A row's peak RSS of the process tree, and the CPU time spent, over its measured spans.

    A row measured in several spans (rounds interleaved with another system's) adds them up:
    the peak is the highest seen in any span, CPU seconds are summed.
    """

    def __init__(self, interval_s: float = 0.1) -> None:
        self.interval_s = interval_s
        self.peak_bytes = 0
        self.cpu_s = 0.0
        self.children_cpu_s = 0.0
        self._process = psutil.Process()

    def _sample(self, stop: threading.Event) -> None:
        while True:
            self.peak_bytes = max(self.peak_bytes, tree_rss_bytes(self._process))
            if stop.wait(self.interval_s):
                return

    @contextmanager
    def measuring(self) -> Iterator[None]:
        """Sample memory in a thread and count CPU time while the block runs."""
        cpu_before = _cpu_seconds(self._process)
        children_before = children_cpu(self._process)
        stop = threading.Event()
        thread = threading.Thread(target=self._sample, args=(stop,), name="bench-rss")
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            # One last sample: a short span may end between two samples.
            self.peak_bytes = max(self.peak_bytes, tree_rss_bytes(self._process))
            self.cpu_s += _cpu_seconds(self._process) - cpu_before
            after = children_cpu(self._process)
            self.children_cpu_s += sum(
                seconds - children_before.get(pid, 0.0) for pid, seconds in after.items()
            )

    @property
    def peak_mib(self) -> float:
        """The peak seen, in MiB."""
        return self.peak_bytes / (1 << 20)

    def to_json(self, tokens: int) -> dict[str, float | None]:
        """The figures a row reports."""
        return {
            "peak_rss_mib": self.peak_mib,
            "cpu_s": self.cpu_s,
            "children_cpu_s": self.children_cpu_s,
            # What serving costs the process that talks to the engine, per token.
            "cpu_ms_per_token": 1000 * self.cpu_s / tokens if tokens else None,
        }
