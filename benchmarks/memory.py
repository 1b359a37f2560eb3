"""Peak resident memory of this process and its children (vLLM's engine core is a child)."""

from __future__ import annotations

import threading
from types import TracebackType

import psutil

METHOD = (
    "sum of RSS of the benchmark process and all its descendants (vLLM's engine-core "
    "process included), sampled every {interval:g} s by a thread while the row runs; "
    "pages shared between processes (libraries) count once per process"
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


class PeakMemory:
    """Samples the process tree's RSS in a thread while the `with` block runs."""

    def __init__(self, interval_s: float = 0.1) -> None:
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-rss", daemon=True)

    def _sample(self) -> None:
        while True:
            self.peak_bytes = max(self.peak_bytes, tree_rss_bytes(self._process))
            if self._stop.wait(self.interval_s):
                return

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        # One last sample: a short row may end between two samples.
        self.peak_bytes = max(self.peak_bytes, tree_rss_bytes(self._process))

    @property
    def peak_mib(self) -> float:
        """The peak seen, in MiB."""
        return self.peak_bytes / (1 << 20)
