"""The machine a benchmark runs on, and pinning the run to one core."""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = ["machine_info", "pin_to_one_core"]

_GIB = 1024**3


@contextlib.contextmanager
def all_cores() -> Iterator[None]:
    """Lift a one-core pin for the duration of the block (for what should use the whole machine)."""
    if not hasattr(os, "sched_getaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, range(os.cpu_count() or 1))
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def pin_to_one_core() -> int | None:
    """Pin this process (and the processes it starts) to the first CPU it may run on.

    Returns:
        The CPU index, or None where the platform cannot pin (then the run uses every core).
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def _cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, or the platform's processor string."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _ram_gib() -> float | None:
    """Total RAM in GiB from /proc/meminfo, or None."""
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        return None
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024 / _GIB
    return None


def machine_info(pinned_cpu: int | None) -> dict[str, object]:
    """CPU model, core count, RAM, Python, numpy and platform, as a JSON-ready dict."""
    ram = _ram_gib()
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": round(ram, 1) if ram is not None else None,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "pinned_cpu": pinned_cpu,
    }
