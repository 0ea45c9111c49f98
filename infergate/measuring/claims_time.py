"""Where a claims run's time went: each variant's builds, warm-up, timed rounds and the rest of the
workers' time, summed over rows and workers. It shows what a faster matrix would have to cut (issue
27's time target): the timed rounds are the measurement, the builds are paid once per worker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .claims_measure import ClaimMeasurement, Trial


@dataclass
class TimeSpent:
    builds: dict[str, float] = field(default_factory=dict)  # variant -> seconds, recorded builds only
    warmup: float = 0.0
    timed: float = 0.0
    in_workers: float = 0.0  # the rows' wall_s: each worker's time from building to its last round
    workers: int = 0
    workers_with_builds: int = 0  # workers whose builds are recorded (older files: each row's first)

    @property
    def other(self) -> float:
        """Model construction, reference outputs, answers and proofs; and unrecorded builds."""
        return self.in_workers - sum(self.builds.values()) - self.warmup - self.timed


def _add_builds(into: TimeSpent, costs) -> None:
    for variant, cost in costs.items():
        if cost.build_s == cost.build_s:  # NaN (a JSON null) adds nothing
            into.builds[variant] = into.builds.get(variant, 0.0) + cost.build_s


def time_spent(rows: Sequence[ClaimMeasurement]) -> TimeSpent:
    """Summed over ``rows``. A lockstep pair's two workers take their warm-up and timed rounds at the
    same moments (``claims_pair``): those count once, at the longer of the two; builds (one worker
    at a time) count for both."""
    out = TimeSpent()
    for m in rows:
        out.in_workers += m.wall_s
        if not m.trials:
            if m.timing is not None:  # a version 1 row: one worker
                out.workers += 1
                out.workers_with_builds += 1
                _add_builds(out, m.costs)
                out.warmup += m.timing.warmup_s
                out.timed += m.timing.measure_s
            continue
        by_process: dict[int, list[Trial]] = {}
        for t in m.trials:
            by_process.setdefault(t.process, []).append(t)
        own = [t for t in m.trials if t.timing.costs]
        for t in own:
            _add_builds(out, t.timing.costs)
        if not own:  # written before trials kept their builds: the row's are from each group's first worker
            _add_builds(out, m.costs)
        out.workers += len(m.trials)
        out.workers_with_builds += len(own) or len({t.group for t in m.trials})
        for trials in by_process.values():
            pick = max if any(t.lockstep for t in trials) else sum
            out.warmup += pick(t.timing.warmup_s for t in trials)
            out.timed += pick(t.timing.measure_s for t in trials)
    return out


def time_lines(rows: Sequence[ClaimMeasurement], variants: Sequence[str]) -> tuple[list[str], str]:
    """The report's table, in minutes and shares of the workers' time, and a note when some workers'
    builds are not recorded ("" when all are); no table when nothing was timed."""
    spent = time_spent(rows)
    if spent.in_workers <= 0:
        return [], ""
    total = spent.in_workers

    def line(what: str, seconds: float) -> str:
        return f"| {what} | {seconds / 60:.1f} | {seconds / total:.0%} |"

    lines = ["| part | min | share |", "|---|---|---|"]
    lines += [line(f"build `{v}`", spent.builds[v]) for v in variants if v in spent.builds]
    lines += [line("warm-up rounds", spent.warmup), line("timed rounds", spent.timed),
              line("other: model construction, reference outputs, answers, proofs"
                   + ("; the builds not recorded" if spent.workers_with_builds < spent.workers else ""),
                   spent.other),
              line(f"in the {spent.workers} workers", total)]
    note = ""
    if spent.workers_with_builds < spent.workers:
        note = (f"Builds recorded for {spent.workers_with_builds} of the {spent.workers} workers: rows written "
                "before each trial kept its own builds hold each variant's first worker's only.")
    return lines, note


def time_summary(rows: Sequence[ClaimMeasurement]) -> str:
    """One console line: the builds (the costliest variant named), warm-up, timed rounds, other."""
    spent = time_spent(rows)
    if spent.in_workers <= 0:
        return "time in workers: none (nothing was built or timed)"
    costliest = max(spent.builds, key=spent.builds.__getitem__) if spent.builds else None
    builds = sum(spent.builds.values())
    named = f" ({costliest} {spent.builds[costliest] / 60:.1f})" if costliest else ""
    return (f"time in workers {spent.in_workers / 60:.1f} min: builds {builds / 60:.1f}{named}, warm-up "
            f"{spent.warmup / 60:.1f}, timed rounds {spent.timed / 60:.1f}, other {spent.other / 60:.1f}")
