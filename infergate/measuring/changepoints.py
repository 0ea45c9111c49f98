"""Change points in a case's series of nightly session means (log speedup): ``detect`` fits
penalised piecewise-constant segments (every lock change starts one) and ``tail_drop`` tests the
newest 2 and 5 nights. A change's 95 % interval is conditional on where the split is (the nights
that placed it also size it), with df points - segments + ``PRIOR_DF``. Chosen on ``history
calibrate``'s replays (docs/calibration.md)."""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..core.defaults import CHANGE_ALARM_Z, CHANGE_HOLD, CHANGE_PENALTY
from .run_spread import student_t_quantile
from .session_gate import POOLED_PRIOR_SD, PRIOR_DF

# × sd² × ln(points), chosen on the replays of `history calibrate` (docs/calibration.md).
DEFAULT_PENALTY = CHANGE_PENALTY
DEFAULT_HOLD = CHANGE_HOLD
DEFAULT_ALARM_Z = CHANGE_ALARM_Z
INTERVAL = 0.95
# The newest nights tested as a new segment, and their threshold above ``alarm_z`` (the targets: 5 % in
# 2 nights, 3 % in 5); the stricter 2-night window is the noisier one (docs/calibration.md).
TAIL_WINDOWS = ((2, 0.4), (5, 0.0))
LOCATE = 8  # a drop the tail test found is placed at the best split among the last LOCATE nights
PRE_WINDOW = 60  # nights of pre-change mean: two months; longer reacts late to slow drift
MIN_PRE = 10  # fewer nights give no tail test: their sd is too uncertain (the fit alone speaks)


@dataclass(frozen=True)
class Point:
    night: str
    value: float  # session mean of log speedup
    commit: str | None = None
    lock: str | None = None
    packages: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Change:
    index: int  # first point of the new segment
    before: Point  # last point of the old segment
    after: Point  # first point of the new segment
    size: float  # exp(new mean - old mean) - 1
    low: float
    high: float
    nights_held: int
    lock_changes: tuple[str, ...]
    z: float  # the step over its standard error; z² is what the split saved, in sd² units

    @property
    def kind(self) -> str:
        if self.high < 0:
            return "regression"
        if self.low > 0:
            return "improvement"
        return "unclear"

    def alerts(self, hold: int = DEFAULT_HOLD) -> bool:
        return self.kind == "regression" and self.nights_held >= hold


@dataclass(frozen=True)
class Fit:
    bounds: tuple[int, ...]  # segment starts, 0 first
    lock_starts: tuple[int, ...]  # the starts forced by a lock change
    means: tuple[float, ...]
    sd: float
    changes: tuple[Change, ...]
    df: int  # of sd: points - segments, pooled with the prior's


def noise_sd(values: Sequence[float], forced: Sequence[int]) -> float:
    """Robust night-to-night sd from successive differences inside lock segments, pooled with the prior."""
    starts = set(forced)
    diffs = sorted(abs(values[i] - values[i - 1]) for i in range(1, len(values)) if i not in starts)
    m = len(diffs)
    if m == 0:
        return POOLED_PRIOR_SD
    median = diffs[m // 2] if m % 2 else (diffs[m // 2 - 1] + diffs[m // 2]) / 2
    measured = median / (0.6745 * math.sqrt(2))  # |N(0, 2σ²)| has median 0.6745·√2·σ
    return math.sqrt((PRIOR_DF * POOLED_PRIOR_SD**2 + m * measured**2) / (PRIOR_DF + m))


def _partition(values: Sequence[float], penalty: float) -> list[int]:
    """Segment starts minimising squared error + penalty per segment (exact, O(n²))."""
    v = np.asarray(values, dtype=float)
    n = len(v)
    s1 = np.concatenate(([0.0], np.cumsum(v)))
    s2 = np.concatenate(([0.0], np.cumsum(v * v)))
    best = np.zeros(n + 1)
    last = np.zeros(n + 1, dtype=int)
    for j in range(1, n + 1):
        i = np.arange(j)
        total = s1[j] - s1[:j]
        c = best[:j] + (s2[j] - s2[:j]) - total * total / (j - i) + penalty
        k = int(np.argmin(c))
        best[j], last[j] = c[k], k
    starts = []
    j = n
    while j > 0:
        starts.append(int(last[j]))
        j = int(last[j])
    return sorted(starts)


def lock_differences(a: Point, b: Point) -> tuple[str, ...]:
    if a.lock == b.lock:
        return ()
    pa, pb = dict(a.packages or {}), dict(b.packages or {})
    moved = tuple(f"{name} {pa.get(name, '-')} -> {pb.get(name, '-')}" for name in sorted(set(pa) | set(pb))
                  if pa.get(name) != pb.get(name))
    return moved or (f"lock {str(a.lock)[:12]} -> {str(b.lock)[:12]}",)


def _change(points: Sequence[Point], start: int, end: int, nxt: int, sd: float, df: int) -> Change:
    """The change at ``nxt`` between segment [start, nxt) and [nxt, end); ``df`` of the sd. The
    interval is conditional on the split: the same nights chose it, so it excludes 0 by construction
    (the penalty, the hold and the replays' false rate guard against false change points)."""
    old = [p.value for p in points[start:nxt]]
    new = [p.value for p in points[nxt:end]]
    diff = sum(new) / len(new) - sum(old) / len(old)
    se = sd * math.sqrt(1 / len(old) + 1 / len(new))
    t = _t_quantile(1 - (1 - INTERVAL) / 2, df)
    return Change(nxt, points[nxt - 1], points[nxt], math.expm1(diff), math.expm1(diff - t * se),
                  math.expm1(diff + t * se), end - nxt, lock_differences(points[nxt - 1], points[nxt]), diff / se)


@functools.lru_cache(maxsize=4096)
def _t_quantile(p: float, df: int) -> float:
    return student_t_quantile(p, df)


def _drop_z(values: Sequence[float], start: int, cut: int) -> tuple[float, float, int]:
    """How far the nights from ``cut`` on fell below the pre-change window [start|cut-PRE_WINDOW,
    cut): the drop over its standard error, the window's sd and its df."""
    pre = values[max(start, cut - PRE_WINDOW):cut]
    post = values[cut:]
    mean = sum(pre) / len(pre)
    sd = math.sqrt(sum((v - mean) ** 2 for v in pre) / (len(pre) - 1)) or 1e-12
    return (mean - sum(post) / len(post)) / (sd * math.sqrt(1 / len(pre) + 1 / len(post))), sd, len(pre) - 1


def tail_drop(values: Sequence[float], start: int, alarm_z: float = DEFAULT_ALARM_Z) -> tuple[int, float, int] | None:
    """A drop in the newest nights of the segment starting at ``start``: (its first night, the
    pre-change sd, that sd's df), or None. A one-sided t-test of the last 2 or 5 nights at ``alarm_z``."""
    n = len(values)
    if alarm_z == math.inf:  # the fit alone: how the calibration shows what the tail test adds
        return None
    fired = alarm_z == -math.inf  # every night: how often placement alone finds the step (calibration)
    for window, extra in TAIL_WINDOWS:
        cut = n - window
        if cut - start >= MIN_PRE:
            z, _, df = _drop_z(values, start, cut)
            level = 0.5 * (1 + math.erf((alarm_z + extra) / math.sqrt(2)))  # the normal level of that z
            fired = fired or z > _t_quantile(level, df)
    if not fired or n - 1 - start < MIN_PRE:
        return None
    # Placed at the split that explains the drop best (the likelihood ratio's argmax, known sd).
    cuts = [n - w for w in range(1, LOCATE + 1) if n - w - start >= MIN_PRE]
    cut = max(cuts, key=lambda c: _drop_z(values, start, c)[0])
    _, sd, df = _drop_z(values, start, cut)
    return cut, sd, df


def _segments(values: Sequence[float], edges: Sequence[int], penalty: float) -> list[int]:
    bounds: list[int] = []
    for a, b in itertools.pairwise(edges):
        bounds += [a + s for s in _partition(values[a:b], penalty)]
    return bounds


def residual_sd(values: Sequence[float], bounds: Sequence[int]) -> float:
    """The sd around the segment means (df: points - segments), pooled with the prior."""
    ends = [*bounds[1:], len(values)]
    sq = 0.0
    for a, b in zip(bounds, ends, strict=True):
        mean = sum(values[a:b]) / (b - a)
        sq += sum((v - mean) ** 2 for v in values[a:b])
    df = len(values) - len(bounds)
    return math.sqrt((PRIOR_DF * POOLED_PRIOR_SD**2 + sq) / (PRIOR_DF + df))


def detect(points: Sequence[Point], penalty: float = DEFAULT_PENALTY, alarm_z: float = DEFAULT_ALARM_Z) -> Fit:
    """Segments and change points of one case's series (oldest first), then the tail test."""
    values = [p.value for p in points]
    forced = [i for i in range(1, len(points)) if points[i].lock != points[i - 1].lock]
    edges = [0, *forced, len(points)]
    per_sd2 = penalty * math.log(max(2, len(points)))
    sd = noise_sd(values, forced)
    bounds = _segments(values, edges, per_sd2 * sd * sd)
    sd = residual_sd(values, bounds)
    df = PRIOR_DF + len(points) - len(bounds)  # residual_sd's: points - segments, pooled with the prior's
    bounds = _segments(values, edges, per_sd2 * sd * sd)
    # A split the fit placed among the newest nights is judged with the prior-pooled sd and may read
    # "unclear"; the tail test, from the segment before it, decides there, and replaces it if it fires.
    recent = len(bounds) > 1 and len(points) - bounds[-1] <= LOCATE and bounds[-1] not in forced
    tail = tail_drop(values, bounds[-2] if recent else bounds[-1], alarm_z)
    if tail is not None:
        bounds = [*bounds[:-1], tail[0]] if recent else [*bounds, tail[0]]
    ends = [*bounds[1:], len(points)]
    means = tuple(sum(values[a:b]) / (b - a) for a, b in zip(bounds, ends, strict=True))
    every = [_change(points, bounds[k - 1], ends[k], bounds[k], sd, df) for k in range(1, len(bounds))]
    if tail is not None:  # sized with the sd its test used (a measured one, not the prior-pooled)
        every[-1] = _change(points, max(bounds[-2], tail[0] - PRE_WINDOW), len(points), tail[0], tail[1], tail[2])
    # A lock change starts a segment unconditionally; it is a change point when it moved the speedup
    # by as much as a free split must (z² over the penalty), else every lock change would be a test.
    changes = tuple(c for c in every if c.index not in forced or (c.kind != "unclear" and c.z**2 > per_sd2))
    return Fit(tuple(bounds), tuple(forced), means, sd, changes, df)


def open_drop(points: Sequence[Point], fit: Fit) -> Change | None:
    """The newest regression the series has not come back from: the newest segment still sits below
    the segment before the drop, by the same interval a change point is judged by. A drop fixed
    later is history, not an alarm (else one regression would fail every night after it)."""
    newest = list(points[fit.bounds[-1]:])
    for c in reversed(fit.changes):
        if c.kind != "regression":
            continue
        if c.index == fit.bounds[-1]:
            return c
        k = fit.bounds.index(c.index)
        before = list(points[fit.bounds[k - 1]:c.index])
        back = _change([*before, *newest], 0, len(before) + len(newest), len(before), fit.sd, fit.df)
        if back.kind == "regression":
            return c
    return None
