"""Change points in a case's series of nightly session means (log speedup): ``detect`` fits
penalised piecewise-constant segments (every lock change starts one) and ``tail_drop`` tests the
newest 2 and 5 nights. A change's 95 % interval is conditional on where the split is (the nights
that placed it also size it), with df points - segments + ``PRIOR_DF``. Chosen on ``history
calibrate``'s replays (docs/calibration.md)."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..core.defaults import CHANGE_ALARM_Z, CHANGE_HOLD, CHANGE_PENALTY, CHANGE_PERSIST
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
DEFAULT_PERSIST = CHANGE_PERSIST
# A kept drop is re-placed within a night of where the earlier nights' tests placed it: their
# placements scatter by a night or so around a step; a wider reach would be a scan of its own.
PERSIST_SLACK = 1
# The kept drop's threshold above ``alarm_z``: the whole segment's z does not fade when the alarm
# came from a high pre-change mean (it tends to that mean's own error), so a kept drop must clear
# more than the test that found it. 0.5 on the tuning seed's 200-replay gap rows (an earlier form of
# the rule, which also re-placed fresh drops), between 0 (the 1.0 % / 5 % step's regressions placed
# elsewhere doubled) and 1.0 (little of the gap closed).
PERSIST_EXTRA = 0.5
# A kept drop needs this many nights before its split in the segment: the gap it closes is a step
# older than the windows in a long segment (the fit has no split there yet); in a young segment
# (the fit just split a step off) the drops kept were noise in the new level, placed away from the
# step (tuning seed, 200 replays: at 1.0 % sd / 5 % step 0.76 -> 0.62 regressions elsewhere per 100
# nights, the old detector's, with the 1.7 % / 3 % gap figures unchanged).
KEEP_PRE = PRE_WINDOW // 2
NEWEST = max(w for w, _ in TAIL_WINDOWS)  # a kept drop's newest nights: the longest tail window
# The tail test's sd is its window's own: on copies any dip was a huge z. 0.1 %: below every measured spread.
SD_FLOOR = 1e-3


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
    nights_held: int  # distinct nights from its split on (``nights``)
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


def nights(points: Sequence[Point]) -> int:
    """How many nights ``points`` span: two sessions of one night (a run dispatched by hand beside the
    scheduled one) are one night of holding, not two."""
    return len({p.night for p in points})


def lock_width(locks: Iterable[str]) -> int:
    """How many of their first characters lock digests are shown by: 12, or as many as tell them apart;
    cut at 12, two locks that share those ("simulated-lock-a", "-b") both read "simulated-lo"."""
    whole = set(locks)
    width = 12
    while len({lock[:width] for lock in whole}) < len(whole):
        width += 1
    return width


def lock_differences(a: Point, b: Point) -> tuple[str, ...]:
    """What changed in the set-up between two points: the packages that moved (else the lock digest),
    and each other part that differs ("recipe 1 -> 2", "threads 1 -> 2"). ``Point.lock`` is the
    set-up key, '|'-separated, the lock digest first, then 'name value' parts (history.set_up_key):
    compared whole, a recipe or threads change read as "lock <digest> -> <the same digest>"."""
    if a.lock == b.lock:
        return ()
    la, lb = str(a.lock).split("|"), str(b.lock).split("|")
    out: list[str] = []
    if la[0] != lb[0]:
        width = lock_width((la[0], lb[0]))
        pa, pb = dict(a.packages or {}), dict(b.packages or {})
        out += [f"{name} {pa.get(name, '-')} -> {pb.get(name, '-')}" for name in sorted(set(pa) | set(pb))
                if pa.get(name) != pb.get(name)] or [f"lock {la[0][:width]} -> {lb[0][:width]}"]
    if len(la) != len(lb):  # keys of another form: said whole rather than paired part by part
        return (*out, f"set-up {'|'.join(la[1:]) or '-'} -> {'|'.join(lb[1:]) or '-'}")
    for x, y in zip(la[1:], lb[1:], strict=True):
        if x != y:
            name, _, old = x.partition(" ")
            out.append(f"{name} {old} -> {y.partition(' ')[2]}" if y.startswith(f"{name} ") else f"{x} -> {y}")
    return tuple(out)


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
                  math.expm1(diff + t * se), nights(points[nxt:end]), lock_differences(points[nxt - 1], points[nxt]),
                  diff / se)


@functools.lru_cache(maxsize=4096)
def _t_quantile(p: float, df: int) -> float:
    return student_t_quantile(p, df)


def _drop_z(values: Sequence[float], start: int, cut: int) -> tuple[float, float, int]:
    """How far the nights from ``cut`` on fell below the pre-change window [start|cut-PRE_WINDOW,
    cut): the drop over its standard error, the window's sd and its df."""
    pre = values[max(start, cut - PRE_WINDOW):cut]
    post = values[cut:]
    mean = sum(pre) / len(pre)
    sd = max(math.sqrt(sum((v - mean) ** 2 for v in pre) / (len(pre) - 1)), SD_FLOOR)
    return (mean - sum(post) / len(post)) / (sd * math.sqrt(1 / len(pre) + 1 / len(post))), sd, len(pre) - 1


def _fires(values: Sequence[float], start: int, alarm_z: float) -> bool:
    """The one-sided t-test of the newest 2 and 5 nights (``TAIL_WINDOWS``) at ``alarm_z``."""
    fired = False
    for window, extra in TAIL_WINDOWS:
        cut = len(values) - window
        if cut - start >= MIN_PRE:
            z, _, df = _drop_z(values, start, cut)
            fired = fired or z > _t_quantile(_level(alarm_z + extra), df)
    return fired


def _level(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))  # the normal level of that z


def _newest_cuts(n: int, start: int) -> list[int]:
    return [n - w for w in range(1, LOCATE + 1) if n - w - start >= MIN_PRE]


def _best_cut(values: Sequence[float], start: int, cuts: Sequence[int]) -> int:
    """The split that explains the drop best: the two-sample likelihood ratio's argmax with ONE sd
    for every candidate (least squares), over one range of nights (from ``PRE_WINDOW`` before the
    oldest candidate to the newest night), so every candidate is scored on the same nights. On a tie
    the first of ``cuts`` (newest first, as the tail test always took them).

    Not the argmax of ``_drop_z``: its sd is each candidate's own pre-change window's, so a split
    placed early, moving a night or two that sat low into the post-change side, shrank that sd and
    won although the step it described was diluted (docs/calibration.md, "The placement's blind
    spot"). One-sided: the score is the drop (pre mean above post mean), not its square."""
    lo = max(start, min(cuts) - PRE_WINDOW)
    window = np.asarray(values[lo:], dtype=float)
    sums = np.concatenate(([0.0], np.cumsum(window)))
    n = len(window)

    def score(cut: int) -> float:
        k = cut - lo  # nights before the split in the range
        pre, post = sums[k] / k, (sums[n] - sums[k]) / (n - k)
        return float((pre - post) * math.sqrt(k * (n - k) / n))  # the drop over its se, in sd units

    return max(cuts, key=score)


def tail_drop(values: Sequence[float], start: int, alarm_z: float = DEFAULT_ALARM_Z,
              persist: int = DEFAULT_PERSIST, fit_cut: int | None = None) -> tuple[int, float, int] | None:
    """A drop in the newest nights of the segment starting at ``start``: (its first night, the
    pre-change sd, that sd's df), or None. A one-sided t-test of the last 2 or 5 nights at ``alarm_z``,
    placed at the best split among the last LOCATE nights.

    Kept while it holds (``persist`` nights back, 0: not kept): detection is a function of the
    series, so a drop the test found on one of the last ``persist`` nights (the same test on the
    series as it stood then, each placing its own split) is re-placed on the whole series, at the
    best split within a night of one of those placements, and kept while it holds (``_holds``): the
    WHOLE segment after that split below the ``PRE_WINDOW`` nights before it. Without it a step
    found on its 2nd-5th night is lost once it is older than the windows: the 5-night window's
    pre-change nights then hold post-step nights (a diluted mean, an inflated sd) and placement
    reaches back only LOCATE nights, while the penalised fit has not yet paid for the new segment
    (docs/calibration.md, "the hand-off gap"). The split's own pre-change window ends at the split,
    so its test is not diluted.
    Only a drop the test does not find tonight is kept, and only where the fit has no split of its own
    among the newest nights (``fit_cut``, the split it placed there): then the fit, which has paid
    for that segment, speaks. So keeping only adds a change point, on nights the test does not fire
    and the fit has no recent split; the nights the test fires are placed as before."""
    n = len(values)
    if alarm_z == math.inf or n - 1 - start < MIN_PRE:  # inf: the fit alone (how the calibration shows the tail)
        return None
    if alarm_z == -math.inf:  # every night, placement alone, not kept: how often placement finds the step
        return (cut := _best_cut(values, start, _newest_cuts(n, start))), *_drop_z(values, start, cut)[1:]
    if _fires(values, start, alarm_z):  # a fresh drop: placed among the newest nights, as without persistence
        cut = _best_cut(values, start, _newest_cuts(n, start))
        return cut, *_drop_z(values, start, cut)[1:]
    if fit_cut is not None:  # the fit has a split among the newest nights: it speaks (the hand-off)
        return None
    placed = [_best_cut(values[:m], start, _newest_cuts(m, start)) for m in range(n - 1, n - 1 - persist, -1)
              if m - 1 - start >= MIN_PRE and _fires(values[:m], start, alarm_z)]
    cuts = {c for p in placed for c in range(p - PERSIST_SLACK, p + PERSIST_SLACK + 1)
            if c - start >= MIN_PRE and c < n}
    if not cuts:
        return None
    cut = _best_cut(values, start, sorted(cuts, reverse=True))
    z, sd, df = _drop_z(values, start, cut)
    return (cut, sd, df) if _holds(values, start, cut, z, df, alarm_z) else None


def _holds(values: Sequence[float], start: int, cut: int, z: float, df: int, alarm_z: float) -> bool:
    """A kept drop holds while its split has ``KEEP_PRE`` nights before it in the segment, the whole
    segment from ``cut`` is below the nights before it at ``PERSIST_EXTRA`` above the 5-night
    window's threshold (noise that fired once fades as normal nights join it) and the newest nights
    still sit nearer the new level than the old one (a drop that was fixed is let go once most of
    the newest nights are back, not only when the fixed nights outweigh the dropped ones in the
    segment's mean)."""
    if cut - start < KEEP_PRE or z <= _t_quantile(_level(alarm_z + PERSIST_EXTRA), df):
        return False
    pre = values[max(start, cut - PRE_WINDOW):cut]
    newest = values[max(cut, len(values) - NEWEST):]
    post = values[cut:]
    middle = (sum(pre) / len(pre) + sum(post) / len(post)) / 2
    return sum(newest) / len(newest) < middle


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


def detect(points: Sequence[Point], penalty: float = DEFAULT_PENALTY, alarm_z: float = DEFAULT_ALARM_Z,
           persist: int = DEFAULT_PERSIST) -> Fit:
    """Segments and change points of one case's series (oldest first), then the tail test (its drop
    kept ``persist`` nights back while it holds: ``tail_drop``)."""
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
    start = _tail_start(points, bounds, set(forced), bounds[-2] if recent else bounds[-1], sd, df, per_sd2)
    tail = tail_drop(values, start, alarm_z, persist, bounds[-1] if recent else None)
    if tail is not None:  # replaces the fit's recent split; on a lock change the test reached across, it is that one
        bounds = sorted({*(bounds[:-1] if recent else bounds), tail[0]})
    ends = [*bounds[1:], len(points)]
    means = tuple(sum(values[a:b]) / (b - a) for a, b in zip(bounds, ends, strict=True))
    every = [_change(points, bounds[k - 1], ends[k], bounds[k], sd, df) for k in range(1, len(bounds))]
    if tail is not None:  # sized as its test saw it: against its pre-change window, with that window's sd
        k = bounds.index(tail[0])
        every[k - 1] = _change(points, max(start, tail[0] - PRE_WINDOW), len(points), tail[0], tail[1], tail[2])
    # A lock change starts a segment unconditionally; it is a change point when it moved the speedup
    # by as much as a free split must (z² over the penalty), else every lock change would be a test,
    # or when the tail test placed its drop there.
    changes = tuple(c for c in every if c.index not in forced or (c.kind != "unclear" and c.z**2 > per_sd2)
                    or (tail is not None and c.index == tail[0]))
    return Fit(tuple(bounds), tuple(forced), means, sd, changes, df)


def _tail_start(points: Sequence[Point], bounds: Sequence[int], forced: set[int], start: int, sd: float,
                df: int, per_sd2: float) -> int:
    """Where the tail test's segment starts: ``start``, or before a recent lock change that did not move
    the speedup (no change point there). A lock change starts a segment, and the test needs MIN_PRE
    nights before its longest window inside it: after every upgrade it was blind for about two weeks,
    the nights an upgrade's own regression shows (a 5 % step 3 nights after a lock change was found
    within 2 nights a quarter as often as without it; docs/calibration.md). A lock change that moved
    the speedup by a change point's z is a level of its own, and the test stays inside it."""
    while start in forced and len(points) - NEWEST - start < MIN_PRE:
        k = bounds.index(start)
        end = bounds[k + 1] if k + 1 < len(bounds) else len(points)
        at = _change(points, bounds[k - 1], end, start, sd, df)
        if at.kind != "unclear" and at.z**2 > per_sd2:
            break
        start = bounds[k - 1]
    return start


def open_drop(points: Sequence[Point], fit: Fit) -> Change | None:
    """The newest regression the series has not come back from: the newest segment still sits below
    the segment before the drop, by the same interval a change point is judged by. A drop fixed
    later is history, not an alarm (else one regression would fail every night after it).

    Returned as what is open tonight: held from its split to the newest night (a later segment, a
    partial fix or a lock change, would keep its own length short of the hold for ever), sized as
    the newest segment against the one before the drop.

    Whether it is still down is judged back across lock changes that are no change point (they moved
    nothing): on the newest segment alone, a drop read "not open" on the night of such a lock change
    (one night: too wide to say) and was announced as new again a night or two later."""
    at = {c.index for c in fit.changes}
    for c in reversed(fit.changes):
        if c.kind != "regression":
            continue
        if c.index == fit.bounds[-1]:
            return c
        k = fit.bounds.index(c.index)
        start = len(fit.bounds) - 1
        while fit.bounds[start] in fit.lock_starts and fit.bounds[start] not in at:  # bounds[k] is in at
            start -= 1
        before = list(points[fit.bounds[k - 1]:c.index])
        pooled = list(points[fit.bounds[start]:])
        held = _change([*before, *pooled], 0, len(before) + len(pooled), len(before), fit.sd, fit.df)
        if held.kind != "regression":
            continue
        # Open: sized as the newest segment alone stands (a lock change that made it worse, or
        # better, is not averaged away), with that segment's own, wider interval.
        newest = list(points[fit.bounds[-1]:])
        back = _change([*before, *newest], 0, len(before) + len(newest), len(before), fit.sd, fit.df)
        return dataclasses.replace(c, size=back.size, low=back.low, high=back.high, z=back.z,
                                   nights_held=nights(points[c.index:]))
    return None
