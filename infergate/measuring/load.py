"""The load average and CPU affinity, read cheaply."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """CPUs this process may run on (affinity-aware: a container or taskset may restrict it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def read_load() -> float:
    """1-minute load average; call it at the start and at the end of a run."""
    return os.getloadavg()[0]
