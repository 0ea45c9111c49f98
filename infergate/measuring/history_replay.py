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
from .changepoints import DEFAULT_ALARM_Z, LOCATE, Point, detect, open_drop
from .run_spread import student_t_quantile

MAX_DELAY = 6  # nights after a step that a replay watches
FIRST_NIGHT = 2  # the nightly runs detection from its second night on; false points are counted from there


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
           rng: random.Random, lock_at: int | None = None) -> list[Point]:
    """One case's nights, dropping by ``step`` from night ``at``; its lock changes on night
    ``lock_at`` (None: never), which moves nothing: an upgrade that kept the speed."""
    between = math.sqrt(max(0.0, sd * sd - data.within_sd**2 / runs))
    level = rng.choice(data.levels)
    out = []
    for night in range(nights):
        noise = rng.gauss(0.0, between) + sum(rng.choice(data.deviations) for _ in range(runs)) / runs
        shift = math.log1p(-step) if night >= at else 0.0
        lock = "lock-2" if lock_at is not None and night >= lock_at else "lock"
        out.append(Point(f"night-{night:03d}", level + noise + shift, f"c{night}", lock))
    return out


@dataclass(frozen=True)
class Watch:
    """The regressions reported on each night after a step (the split each is placed at), from the
    step's own night to ``MAX_DELAY`` nights on: one detection per night, every figure of a row read
    from it."""
    reported: tuple[tuple[int, ...], ...]  # [night - 1]: the regressions' first nights

    def delay(self, at: int, slack: int) -> int | None:
        """The first night a regression was reported within ``slack`` nights of the step."""
        return next((night for night, found in enumerate(self.reported, 1)
                     if any(abs(i - at) <= slack for i in found)), None)

    def miss(self, at: int, target: int) -> str | None:
        """Why the step was not detected within ``target`` nights placed ±1: ``"elsewhere"``, a
        regression reported on those nights 2 to ``LOCATE`` nights from it (placement: the tail test
        places among the newest ``LOCATE`` nights); ``"none"``, no regression that near (the tests did
        not fire: power; a false one among the quiet nights long before it is not the step's); None
        when it was detected."""
        delay = self.delay(at, 1)
        if delay is not None and delay <= target:
            return None
        near = any(abs(i - at) <= LOCATE for found in self.reported[:target] for i in found)
        return "elsewhere" if near else "none"


def watch_step(points: Sequence[Point], at: int, penalty: float, alarm_z: float) -> Watch:
    """Detection on each night from the step's own (``at``) to ``MAX_DELAY`` nights after it."""
    reported = []
    for delay in range(1, MAX_DELAY + 1):
        fit = detect(points[: at + delay], penalty, alarm_z)
        reported.append(tuple(c.index for c in fit.changes if c.kind == "regression"))
    return Watch(tuple(reported))


def false_points(points: Sequence[Point], penalty: float, alarm_z: float, first: int = FIRST_NIGHT) -> int:
    """Change points in an unchanged series, every one false: each one reported on any night from
    ``first`` on (the nightly runs detection every night and its summary lists what is new), of
    any kind, alerting or not; one that moves by a night between nights counts once."""
    seen: list[int] = []
    for end in range(first, len(points) + 1):
        for c in detect(points[:end], penalty, alarm_z).changes:
            if all(abs(c.index - s) > 1 for s in seen):
                seen.append(c.index)
    return len(seen)


@dataclass(frozen=True)
class Row:
    sd: float
    penalty: float
    alarm_z: float
    step: float
    within: float  # share detected within the target delay, placed at the step's night ±1
    within_2: float  # the same, placed within ±2 nights
    median_delay: float | None
    false_per_100: float
    replays: int
    false_interval: tuple[float, float] = (0.0, 0.0)  # 95 %, over the independent unchanged series
    # Shares of ALL replays (with ``within`` they add up to 1): not detected within target placed ±1,
    # with no regression reported near the step on those nights (power) or one placed 2 to LOCATE
    # nights from it (placement): ``Watch.miss``.
    missed_none: float = 0.0
    missed_elsewhere: float = 0.0


def calibrate(data: Recorded, sd: float, penalty: float, alarm_z: float, step: float, target_delay: int,
              replays: int, warm: int, runs: int, seed: int, lock_before: int | None = None) -> Row:
    """One row: ``replays`` independent series with the step, then ``replays`` more without (each
    its own draw: no series is a window of another); with ``lock_before``, every series (the
    unchanged ones too) changes its lock that many nights before the step's night."""
    rng = random.Random(seed)
    nights = warm + MAX_DELAY
    lock_at = None if lock_before is None else warm - lock_before
    stepped = [series(data, sd, nights, runs, step, warm, rng, lock_at) for _ in range(replays)]
    watched = [watch_step(s, warm, penalty, alarm_z) for s in stepped]
    near = [w.delay(warm, 1) for w in watched]
    near_2 = [w.delay(warm, 2) for w in watched]
    missed = [w.miss(warm, target_delay) for w in watched]
    found = sorted(d for d in near if d is not None)
    false = [false_points(series(data, sd, nights, runs, 0.0, nights, rng, lock_at), penalty, alarm_z)
             for _ in range(replays)]
    return Row(sd, penalty, alarm_z, step, sum(1 for d in found if d <= target_delay) / replays,
               sum(1 for d in near_2 if d is not None and d <= target_delay) / replays,
               _median_delay(found, replays),
               100.0 * sum(false) / (replays * nights), replays, per_100_interval(false, nights),
               missed.count("none") / replays, missed.count("elsewhere") / replays)


def _median_delay(found: Sequence[int], replays: int) -> float | None:
    """The median night of detection over ALL replays, a missed one counted as later than any
    night (so None when half or more were missed); ``found`` sorted, the detected replays' nights.
    Not the median of ``found`` alone: with many misses that is biased low."""
    middle = (replays - 1) // 2  # the lower median's index among all replays
    return float(found[middle]) if middle < len(found) else None


# No event in any replay: the interval's upper end is the rule of three (3 events over the nights
# watched, 95 %), not the zero a t interval of all-zero counts would give.
RULE_OF_THREE = 3.0


def per_100_interval(counts: Sequence[int], nights: int) -> tuple[float, float]:
    """95 % interval of false change points per 100 case-nights from per-series counts: the series
    are the independent trials (one series' nights share its draws and are re-fitted every night),
    so the spread is the counts' across series, not a Poisson one over case-nights."""
    n = len(counts)
    if not any(counts):
        return 0.0, 100.0 * RULE_OF_THREE / (n * nights)
    mean = sum(counts) / n
    sd = math.sqrt(sum((c - mean) ** 2 for c in counts) / (n - 1)) if n > 1 else 0.0
    half = student_t_quantile(0.975, max(1, n - 1)) * sd / math.sqrt(n)
    return 100.0 * max(0.0, mean - half) / nights, 100.0 * (mean + half) / nights


def false_rate_long(data: Recorded, sd: float, penalty: float, nights: int, replays: int, runs: int,
                    seed: int, alarm_z: float = DEFAULT_ALARM_Z) -> tuple[float, tuple[float, float]]:
    """False change points per 100 case-nights of long unchanged series, detection run on every
    night as the nightly does (``false_points``), each series its own draw; with its 95 % interval."""
    rng = random.Random(seed)
    false = [false_points(series(data, sd, nights, runs, 0.0, nights, rng), penalty, alarm_z)
             for _ in range(replays)]
    return 100.0 * sum(false) / (replays * nights), per_100_interval(false, nights)


@dataclass(frozen=True)
class Persistence:
    """One replay's nights after the one its step was first detected on (a regression at the step ±1)."""
    delay: int | None  # nights after the step (1 = its own night) until first detected, None: not within the watch
    nights: int  # nights watched after that one
    gaps: int  # of those, nights no regression was reported at the step ±1: the dashboard lost it
    wrong: int  # nights a regression was reported more than a night from the step
    unalerted: int  # nights the open drop (what alerts) was not the step ±1


def persistence(points: Sequence[Point], at: int, watch: int, penalty: float, alarm_z: float) -> Persistence:
    """Detection on every night from the step's to ``watch`` nights after it, as the nightly runs it:
    detection is stateless, so a step found once is not thereby found the next night."""
    delay = None
    gaps = wrong = unalerted = 0
    for night in range(1, watch + 1):
        seen = points[: at + night]
        fit = detect(seen, penalty, alarm_z)
        near = any(c.kind == "regression" and abs(c.index - at) <= 1 for c in fit.changes)
        if delay is None:
            delay = night if near else None
            continue
        drop = open_drop(seen, fit)
        gaps += not near
        wrong += any(c.kind == "regression" and abs(c.index - at) > 1 for c in fit.changes)
        unalerted += drop is None or abs(drop.index - at) > 1
    return Persistence(delay, 0 if delay is None else watch - delay, gaps, wrong, unalerted)


@dataclass(frozen=True)
class PersistenceRow:
    sd: float
    step: float
    replays: int
    detected: int  # replays whose step was detected within the watch
    with_gap: int  # of those, replays with at least one gap night
    nights: int  # post-detection nights watched, all replays
    gaps: tuple[float, float, float]  # per 100 post-detection nights, with its 95 % interval
    wrong: tuple[float, float, float]
    unalerted: tuple[float, float, float]


def persistence_row(data: Recorded, sd: float, step: float, watch: int, replays: int, warm: int, runs: int,
                    seed: int, penalty: float, alarm_z: float = DEFAULT_ALARM_Z) -> PersistenceRow:
    """``replays`` independent series of ``warm`` quiet nights then the step, each watched ``watch`` nights."""
    rng = random.Random(seed)
    found = [p for p in (persistence(series(data, sd, warm + watch, runs, step, warm, rng), warm, watch, penalty,
                                     alarm_z) for _ in range(replays)) if p.delay is not None]
    nights = [p.nights for p in found]
    return PersistenceRow(sd, step, replays, len(found), sum(1 for p in found if p.gaps), sum(nights),
                          per_100_ratio([p.gaps for p in found], nights),
                          per_100_ratio([p.wrong for p in found], nights),
                          per_100_ratio([p.unalerted for p in found], nights))


def per_100_ratio(counts: Sequence[int], nights: Sequence[int]) -> tuple[float, float, float]:
    """Counts per 100 nights pooled over replays that watched different numbers of nights, with the
    ratio estimator's 95 % t interval: the replays are the independent trials (a replay's nights are
    re-fits of one series), so the spread is that of the replays' counts around the pooled rate."""
    n, total = len(counts), sum(nights)
    if n == 0 or total == 0:
        return 0.0, 0.0, 0.0
    if not any(counts):
        return 0.0, 0.0, 100.0 * RULE_OF_THREE / total
    rate = sum(counts) / total
    residuals = [c - rate * m for c, m in zip(counts, nights, strict=True)]
    sd = math.sqrt(sum(r * r for r in residuals) / (n - 1)) if n > 1 else 0.0
    half = student_t_quantile(0.975, max(1, n - 1)) * sd / math.sqrt(n) / (total / n)
    return 100.0 * rate, 100.0 * max(0.0, rate - half), 100.0 * (rate + half)
