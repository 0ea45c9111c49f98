"""Replays of a month of nights for calibrating change-point detection.

A replayed night is built from recorded data: a case's recorded speedup level, a between-night
draw at the sd under test, and ``runs`` within-session deviations resampled from the recorded
sessions (each run's log speedup minus its session's mean, widened by sqrt(n/(n-1)) for the mean
it was taken from). The between-night draw is set so that the night-to-night sd of session
means is the sd under test (when the recorded within-session spread alone exceeds it, the table
says so). A step of ``step`` (a drop) starts at night ``warm``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .baseline_records import CaseBaseline
from .changepoints import DEFAULT_HOLD, Point, detect

MAX_DELAY = 6  # nights after a step that a replay watches


@dataclass(frozen=True)
class Recorded:
    levels: tuple[float, ...]  # log speedup per case
    deviations: tuple[float, ...]  # within-session run deviations (log)
    sessions: int

    @property
    def within_sd(self) -> float:
        d = self.deviations
        return math.sqrt(sum(x * x for x in d) / len(d))


def recorded(cases: Iterable[CaseBaseline]) -> Recorded:
    levels, deviations, sessions = [], [], 0
    for case in cases:
        levels.append(math.log(case.speedup))
        for runs in case.by_session().values():
            sessions += 1
            if len(runs) < 2:
                continue
            logs = [math.log(s) for s in runs]
            mean = sum(logs) / len(logs)
            widen = math.sqrt(len(logs) / (len(logs) - 1))
            deviations += [(x - mean) * widen for x in logs]
    if not deviations:
        raise ValueError("no recorded session has two runs: nothing to resample")
    return Recorded(tuple(levels), tuple(deviations), sessions)


def series(data: Recorded, sd: float, nights: int, runs: int, step: float, at: int,
           rng: random.Random) -> list[Point]:
    between = math.sqrt(max(0.0, sd * sd - data.within_sd**2 / runs))
    level = rng.choice(data.levels)
    out = []
    for night in range(nights):
        noise = rng.gauss(0.0, between) + sum(rng.choice(data.deviations) for _ in range(runs)) / runs
        shift = math.log1p(-step) if night >= at else 0.0
        out.append(Point(f"night-{night:03d}", level + noise + shift, f"c{night}", "lock"))
    return out


def detection_delay(points: Sequence[Point], at: int, penalty: float) -> int | None:
    """Nights after the step (1 = the step's own night) until a regression is found at it (±1)."""
    for delay in range(1, MAX_DELAY + 1):
        fit = detect(points[: at + delay], penalty)
        if any(c.kind == "regression" and abs(c.index - at) <= 1 for c in fit.changes):
            return delay
    return None


def false_points(points: Sequence[Point], penalty: float, first: int, hold: int = DEFAULT_HOLD) -> int:
    """Change points in an unchanged series, every one false: those that raised an alert on any
    night from ``first`` on (the nightly runs detection every night), or are in the last fit."""
    alerted: set[int] = set()
    for end in range(first, len(points) + 1):
        fit = detect(points[:end], penalty)
        alerted |= {c.index for c in fit.changes if c.alerts(hold)}
        if end == len(points):
            alerted |= {c.index for c in fit.changes}
    return len(alerted)


@dataclass(frozen=True)
class Row:
    sd: float
    penalty: float
    step: float
    within: float  # share detected within the target delay
    median_delay: float | None
    false_per_100: float
    replays: int


def calibrate(data: Recorded, sd: float, penalty: float, step: float, target_delay: int, replays: int,
              warm: int, runs: int, seed: int) -> Row:
    rng = random.Random(seed)
    delays = [detection_delay(series(data, sd, warm + MAX_DELAY, runs, step, warm, rng), warm, penalty)
              for _ in range(replays)]
    found = sorted(d for d in delays if d is not None)
    nights = warm + MAX_DELAY
    false = sum(false_points(series(data, sd, nights, runs, 0.0, nights, rng), penalty, warm // 2)
                for _ in range(replays))
    return Row(sd, penalty, step, sum(1 for d in found if d <= target_delay) / replays,
               float(found[len(found) // 2]) if len(found) * 2 > replays else None,
               100.0 * false / (replays * nights), replays)


def false_rate_long(data: Recorded, sd: float, penalty: float, nights: int, replays: int, runs: int,
                    seed: int) -> float:
    """False change points per 100 case-nights in the final fit of long unchanged series (the
    nightly alert check on every prefix is left out here: O(n³) per series)."""
    rng = random.Random(seed)
    false = sum(len(detect(series(data, sd, nights, runs, 0.0, nights, rng), penalty).changes)
                for _ in range(replays))
    return 100.0 * false / (replays * nights)
