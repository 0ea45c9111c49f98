"""Was the machine quiet while we measured? The load average and CPU affinity, read cheaply, and
the report that marks a run untrustworthy with its reasons."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class NoiseReport:
    reasons: tuple[str, ...]

    @property
    def untrustworthy(self) -> bool:
        return bool(self.reasons)


def usable_cpus() -> int:
    """CPUs this process may run on (affinity-aware: a container or taskset may restrict it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def read_load() -> float:
    """1-minute load average; call it at the start and at the end of a run."""
    return os.getloadavg()[0]


def noise_report(
    estimate: Sequence[float] | None = None,
    *,
    load_start: float | None = None,
    load_end: float | None = None,
    ncpu: int | None = None,
    own_load: float = 0.0,
    max_load_per_cpu: float = 0.5,
    max_relative_ci_width: float = 0.10,
) -> NoiseReport:
    """Reasons not to trust a run's numbers; none means the run may be gated on.

    The load check catches a busy machine (another build, a noisy neighbour): anything else
    competing for cores makes both the times and their ratio unreliable. ``load_start`` and
    ``load_end`` default to the current load, and ``ncpu`` to this process's usable CPUs.

    The 1-minute load average at the *end* includes the suite's own threads (it decays over about
    a minute), so on a small machine it would always look busy; pass the number of threads the
    suite itself ran as ``own_load`` to subtract them from the end reading.

    The width check catches a run whose interval is too wide to gate on: relative width is
    (high - low) / point of the speedup estimate.
    """
    ncpu = usable_cpus() if ncpu is None else ncpu
    limit = ncpu * max_load_per_cpu
    over = f"exceeds {limit:.2f} ({max_load_per_cpu:g} x {ncpu} CPUs)"
    reasons: list[str] = []
    start = read_load() if load_start is None else load_start
    end = (read_load() if load_end is None else load_end) - own_load
    if start > limit:
        reasons.append(f"load average {start:.2f} at start {over}")
    if end > limit:
        own = f" after subtracting the suite's own {own_load:g}" if own_load else ""
        reasons.append(f"load average {end:.2f} at end{own} {over}")
    if estimate is not None:
        point, low, high = (float(x) for x in estimate)
        width = (high - low) / point if point > 0 else math.inf
        if not width <= max_relative_ci_width:  # also catches NaN
            reasons.append(
                f"confidence interval is {width:.1%} of the estimate, "
                f"over the {max_relative_ci_width:.0%} limit"
            )
    return NoiseReport(tuple(reasons))
