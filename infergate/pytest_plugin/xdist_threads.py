"""Torch threads for pytest-xdist workers: the CPUs shared out, not every worker taking them all.

Two workers with two OpenMP threads each on two CPUs spin-wait against each other (tests/README.md,
"Threads under xdist"). Perf refuses xdist (``perf_plugin``); its own measuring workers set
their own threads (``measuring/sampling.py``). ``OMP_NUM_THREADS`` set by the user wins.
"""

from __future__ import annotations

import os

from ..measuring.load import usable_cpus


def worker_threads(environ: os._Environ[str] | dict[str, str], cpus: int) -> int | None:
    """Threads for this process when it is one of several xdist workers, else None (leave torch's own)."""
    workers = environ.get("PYTEST_XDIST_WORKER_COUNT")
    if not environ.get("PYTEST_XDIST_WORKER") or not workers or not workers.isdigit():
        return None
    if "OMP_NUM_THREADS" in environ:  # the user chose
        return None
    return max(1, cpus // int(workers))


applied: int | None = None  # what this process's configure set: later tests may pin threads themselves


def share_cpus_among_workers() -> None:
    global applied
    threads = worker_threads(os.environ, usable_cpus())
    if threads is None:
        return
    import torch

    torch.set_num_threads(threads)
    applied = int(torch.get_num_threads())
