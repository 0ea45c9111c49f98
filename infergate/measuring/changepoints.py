"""Change points in a case's series of nightly session means (log speedup).

Method: an exact piecewise-constant least-squares fit with a penalty per segment (optimal
partitioning, O(n²) per segment), the family asv's step detection belongs to; its penalty per
segment, ``penalty`` × sd² × ln(points) (BIC's growth with the series), was chosen on the
replays of ``history calibrate`` (docs/calibration.md, "The nightly history").
Every lock-digest change starts a segment; it is a change point when the step across it is
significant. The noise scale is the sd around the fitted segments (found first with the robust
successive-difference sd), pooled with the gate's between-session prior (``POOLED_PRIOR_SD``
worth ``PRIOR_DF`` nights), so a short series is not trusted to be quiet. A drop whose interval
excludes zero is a regression; it alerts once its segment has held ``hold`` nights.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..core.defaults import CHANGE_HOLD, CHANGE_PENALTY
from .run_spread import student_t_quantile
from .session_gate import POOLED_PRIOR_SD, PRIOR_DF

# × sd² × ln(points): chosen on the replays of `history calibrate` (docs/calibration.md). A penalty
# that does not grow with the series (5 sd², tried first) found 520 change points, 6 of them real,
# in a simulated year of 21 900 case-nights (history simulate --nights 365); this one 26.
DEFAULT_PENALTY = CHANGE_PENALTY
DEFAULT_HOLD = CHANGE_HOLD
INTERVAL = 0.95


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


def noise_sd(values: Sequence[float], forced: Sequence[int]) -> float:
    """Robust night-to-night sd from successive differences inside lock segments, pooled with
    the prior: sd² = (PRIOR_DF·prior² + m·measured²) / (PRIOR_DF + m) over m differences."""
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
    n = len(values)
    s1 = [0.0]
    s2 = [0.0]
    for v in values:
        s1.append(s1[-1] + v)
        s2.append(s2[-1] + v * v)

    def cost(i: int, j: int) -> float:  # squared error of values[i:j] around their mean
        total = s1[j] - s1[i]
        return (s2[j] - s2[i]) - total * total / (j - i)

    best = [0.0] + [math.inf] * n
    last = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j):
            c = best[i] + cost(i, j) + penalty
            if c < best[j]:
                best[j], last[j] = c, i
    starts = []
    j = n
    while j > 0:
        starts.append(last[j])
        j = last[j]
    return sorted(starts)


def lock_differences(a: Point, b: Point) -> tuple[str, ...]:
    if a.lock == b.lock:
        return ()
    pa, pb = dict(a.packages or {}), dict(b.packages or {})
    moved = tuple(f"{name} {pa.get(name, '-')} -> {pb.get(name, '-')}" for name in sorted(set(pa) | set(pb))
                  if pa.get(name) != pb.get(name))
    return moved or (f"lock {str(a.lock)[:12]} -> {str(b.lock)[:12]}",)


def _change(points: Sequence[Point], start: int, end: int, nxt: int, sd: float) -> Change:
    """The change at ``nxt`` between segment [start, nxt) and [nxt, end)."""
    old = [p.value for p in points[start:nxt]]
    new = [p.value for p in points[nxt:end]]
    diff = sum(new) / len(new) - sum(old) / len(old)
    se = sd * math.sqrt(1 / len(old) + 1 / len(new))
    t = student_t_quantile(1 - (1 - INTERVAL) / 2, PRIOR_DF + len(points) - 1)
    return Change(nxt, points[nxt - 1], points[nxt], math.expm1(diff), math.expm1(diff - t * se),
                  math.expm1(diff + t * se), end - nxt, lock_differences(points[nxt - 1], points[nxt]), diff / se)


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


def detect(points: Sequence[Point], penalty: float = DEFAULT_PENALTY) -> Fit:
    """Segments and change points of one case's series (oldest first). Two passes: the robust
    successive-difference sd finds the segments, the sd around them (more efficient than a
    median) refits them."""
    values = [p.value for p in points]
    forced = [i for i in range(1, len(points)) if points[i].lock != points[i - 1].lock]
    edges = [0, *forced, len(points)]
    per_sd2 = penalty * math.log(max(2, len(points)))
    sd = noise_sd(values, forced)
    bounds = _segments(values, edges, per_sd2 * sd * sd)
    sd = residual_sd(values, bounds)
    bounds = _segments(values, edges, per_sd2 * sd * sd)
    ends = [*bounds[1:], len(points)]
    means = tuple(sum(values[a:b]) / (b - a) for a, b in zip(bounds, ends, strict=True))
    every = [_change(points, bounds[k - 1], ends[k], bounds[k], sd) for k in range(1, len(bounds))]
    # A lock change starts a segment unconditionally; it is a change point when it moved the speedup
    # by as much as a free split must (z² over the penalty), else every lock change would be a test.
    changes = tuple(c for c in every if c.index not in forced or (c.kind != "unclear" and c.z**2 > per_sd2))
    return Fit(tuple(bounds), tuple(forced), means, sd, changes)
