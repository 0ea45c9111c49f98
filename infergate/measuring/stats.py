"""Statistics for same-run paired sampling, and the gate that turns them into a verdict.

How timings are taken: one *round* calls every variant of one model once, in a shuffled order. So
each round yields one time per variant, and the times within a round share whatever the machine
was doing at that moment (frequency, a noisy neighbour, a page-cache hiccup). That sharing is why
everything here works on *rounds*: the bootstrap resamples whole rounds (the same indices for
eager and variant), which keeps the pairing and lets the shared noise cancel out of the ratio.

Speedups are ratios, so intervals are combined on the log scale, where a ratio is a difference
and "5% slower" is the same distance whatever the absolute speed.

Only numpy and the standard library are used: scipy is not in every lane. Other tools' rules,
emulated for comparison, are in ``other_tools``; whether the machine was quiet, in ``load``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from ..core.defaults import DEFAULT_CONFIDENCE, DEFAULT_FLOOR

Status = Literal["pass", "regression", "improvement", "noisy"]

# How a run's speedup is taken (``speedup_ratio``), as baselines record it: a baseline holding
# another estimator's speedups is compared with today's runs taken that same way.
ESTIMATOR = "median-of-round-ratios"
LEGACY_ESTIMATOR = "ratio-of-medians"  # ``ratio_of_medians``: what baseline formats 1 and 2 hold


class Estimate(NamedTuple):
    """A point estimate with its confidence interval. Plain 3-tuples are accepted wherever this is."""

    point: float
    low: float
    high: float


# --------------------------------------------------------------------------------------------
# Samples and the paired bootstrap
# --------------------------------------------------------------------------------------------


@dataclass
class Samples:
    """Round-by-round timings of the variants of one model (seconds or ms; only ratios matter).

    ``times[variant][i]`` is the time of ``variant`` in round ``i``; every variant has one time
    per round, which is what makes the paired bootstrap valid.
    """

    times: dict[str, list[float]] = field(default_factory=dict)

    def add_round(self, round_times: Mapping[str, float]) -> None:
        # A round with a missing or extra variant would silently break the pairing, so refuse it.
        if self.times and set(round_times) != set(self.times):
            raise ValueError(
                f"round has variants {sorted(round_times)}, earlier rounds had {sorted(self.times)}"
            )
        for variant, t in round_times.items():
            self.times.setdefault(variant, []).append(float(t))

    @property
    def rounds(self) -> int:
        return len(next(iter(self.times.values()), []))

    def array(self, variant: str) -> np.ndarray:
        return np.asarray(self.times[variant], dtype=float)

    def median(self, variant: str) -> float:
        return float(np.median(self.array(variant)))

    def speedup(self, variant: str, reference: str = "eager", estimator: str = ESTIMATOR) -> float:
        return SPEEDUP_ESTIMATORS[estimator](self.array(reference), self.array(variant))

    def speedup_estimate(
        self,
        variant: str,
        reference: str = "eager",
        confidence: float = DEFAULT_CONFIDENCE,
        resamples: int = 2000,
        seed: int = 0,
        estimator: str = ESTIMATOR,
    ) -> Estimate:
        a, b = self.array(reference), self.array(variant)
        low, high = bootstrap_ratio_ci(a, b, confidence=confidence, resamples=resamples, seed=seed,
                                       estimator=estimator)
        return Estimate(SPEEDUP_ESTIMATORS[estimator](a, b), low, high)


def _paired_arrays(a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"paired samples need two 1-D arrays of equal length, got {x.shape} and {y.shape}")
    if x.size == 0:
        raise ValueError("no rounds to compute a ratio from")
    return x, y


def _round_log_ratios(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if not (np.all(x > 0) and np.all(y > 0)):
        raise ValueError("times must be > 0 to take ratios of them")
    return np.log(x) - np.log(y)


def speedup_ratio(eager: npt.ArrayLike, variant: npt.ArrayLike) -> float:
    """The median over rounds of eager/variant: > 1 means the variant is faster.

    Per round, not median(eager)/median(variant): the two calls of one round share the machine's
    state of that moment (clock, a neighbour, the caches), so their ratio is far steadier than
    either time. From the calibration data (docs/calibration.md, AMD EPYC run `t1`): single calls
    scatter by an IQR of ~22 % of their median, per-round ratios by ~6 %, and the 99 % interval
    of an A/A comparison is ~1.4 % wide this way against ~5 % for the ratio of medians. The median (on
    the log scale, so eager/variant and variant/eager agree) keeps one disturbed round harmless.
    """
    x, y = _paired_arrays(eager, variant)
    return float(np.exp(np.median(_round_log_ratios(x, y))))


def ratio_of_medians(eager: npt.ArrayLike, variant: npt.ArrayLike) -> float:
    """median(eager) / median(variant): the estimator before ``speedup_ratio`` (baseline formats
    1 and 2), and what the issue's reference rule used; kept for the calibration's comparison."""
    x, y = _paired_arrays(eager, variant)
    return float(np.median(x) / np.median(y))


# Every estimator a baseline may hold, by the name it records: a baseline is judged with the
# estimator it was recorded with, so older files stay usable.
SPEEDUP_ESTIMATORS = {ESTIMATOR: speedup_ratio, LEGACY_ESTIMATOR: ratio_of_medians}


def percentile_bounds(confidence: float) -> tuple[float, float]:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    tail = (1.0 - confidence) / 2.0
    return 100.0 * tail, 100.0 * (1.0 - tail)


def _bootstrap_log_speedups(x: np.ndarray, y: np.ndarray, resamples: int, rng: np.random.Generator,
                            estimator: str = ESTIMATOR) -> np.ndarray:
    """``resamples`` bootstrap draws of the log-speedup by ``estimator`` (vectorised, hence not
    through ``SPEEDUP_ESTIMATORS``), resampling whole rounds: the same indices for both, so the
    pairing is kept."""
    idx = rng.integers(0, x.size, size=(resamples, x.size))
    if estimator == ESTIMATOR:
        return np.median(_round_log_ratios(x, y)[idx], axis=1)
    if estimator == LEGACY_ESTIMATOR:
        return np.log(np.median(x[idx], axis=1) / np.median(y[idx], axis=1))
    raise ValueError(f"unknown estimator {estimator!r}; valid: {', '.join(SPEEDUP_ESTIMATORS)}")


def bootstrap_ratio_ci(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = 2000,
    seed: int = 0,
    estimator: str = ESTIMATOR,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the speedup a/b by ``estimator`` (``SPEEDUP_ESTIMATORS``),
    resampling whole rounds.

    The same round indices are drawn for ``a`` and ``b`` so that a round that was slow for both
    (the machine was busy) stays slow for both; resampling them independently would throw that
    pairing away and give a needlessly wide interval. Seeded, so a run is reproducible.
    """
    x, y = _paired_arrays(a, b)
    lo_pct, hi_pct = percentile_bounds(confidence)
    draws = _bootstrap_log_speedups(x, y, resamples, np.random.default_rng(seed), estimator)
    low, high = np.exp(np.percentile(draws, [lo_pct, hi_pct]))
    return float(low), float(high)


def runs_speedup_estimate(
    runs: Sequence[Samples], variant: str, reference: str = "eager", confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = 2000, seed: int = 0,
) -> Estimate:
    """Geometric mean of several runs' speedups, with a bootstrap interval stratified by run.

    Each run's rounds are resampled on their own (rounds of different processes are not pairs),
    and the runs' log-ratios averaged per resample. Like a single run's interval it covers the
    sampling noise of the rounds, not the between-run spread; the gate adds that separately.
    """
    if not runs:
        raise ValueError("no runs to estimate a speedup from")
    rng = np.random.default_rng(seed)
    points, draws = [], np.zeros(resamples)
    for run in runs:
        x, y = _paired_arrays(run.array(reference), run.array(variant))
        points.append(math.log(speedup_ratio(x, y)))
        draws += _bootstrap_log_speedups(x, y, resamples, rng)
    draws /= len(runs)
    lo_pct, hi_pct = percentile_bounds(confidence)
    low, high = np.percentile(draws, [lo_pct, hi_pct])
    return Estimate(math.exp(sum(points) / len(points)), math.exp(float(low)), math.exp(float(high)))


# --------------------------------------------------------------------------------------------
# Comparing a measured speedup with a baseline from another day
# --------------------------------------------------------------------------------------------


def _z(confidence: float) -> float:
    """Two-sided normal quantile for a confidence level (0.99 -> 2.576)."""
    percentile_bounds(confidence)  # validates the range
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _log_half_widths(est: Sequence[float]) -> tuple[float, float]:
    """Lower and upper half-widths of an estimate on the log scale.

    Kept separately because a bootstrap interval of a ratio is usually asymmetric. A percentile
    interval can, rarely, not contain its point estimate; the half-width is then clamped at 0
    rather than allowed to go negative and *narrow* a combined interval.
    """
    point, low, high = (float(x) for x in est)
    if not (point > 0 and low > 0 and high > 0):
        raise ValueError(f"ratios and their bounds must be positive, got {tuple(est)}")
    lp = math.log(point)
    return max(lp - math.log(low), 0.0), max(math.log(high) - lp, 0.0)


def rescale_estimate(est: Sequence[float], from_confidence: float, to_confidence: float) -> Estimate:
    """Widen (or narrow) an interval to another confidence level, on the log scale.

    Needed because a baseline is recorded at one confidence (0.99) while the gate may ask for more
    (see ``family_confidence``). Assumes the log-ratio is roughly normal, which is what makes the
    half-width proportional to the normal quantile.
    """
    point = float(est[0])
    lo_hw, hi_hw = _log_half_widths(est)
    scale = _z(to_confidence) / _z(from_confidence)
    lp = math.log(point)
    return Estimate(point, math.exp(lp - lo_hw * scale), math.exp(lp + hi_hw * scale))


def ratio_of_ratios(measured: Sequence[float], baseline: Sequence[float]) -> Estimate:
    """measured/baseline with an interval combining both intervals' log half-widths in quadrature.

    Quadrature (sqrt of the sum of squares) is right because the two estimates come from
    independent runs, on different days: their errors add as variances, not as widths. Adding the
    widths would assume the worst case for both at once and make the gate blind to real changes.
    A paired bootstrap across the two runs is impossible (their rounds do not correspond), which
    is why the baseline's own recorded interval is used. Both inputs must be at the same
    confidence; use ``rescale_estimate`` first if they are not.

    The lower bound of measured/baseline pairs the measured *lower* error with the baseline
    *upper* error (a high baseline makes the ratio small), and vice versa.
    """
    m_lo, m_hi = _log_half_widths(measured)
    b_lo, b_hi = _log_half_widths(baseline)
    centre = math.log(float(measured[0])) - math.log(float(baseline[0]))
    low = centre - math.hypot(m_lo, b_hi)
    high = centre + math.hypot(m_hi, b_lo)
    return Estimate(math.exp(centre), math.exp(low), math.exp(high))


# --------------------------------------------------------------------------------------------
# Between-run spread: what a stored baseline cannot know from one run's bootstrap
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)  # the gate asks for the same few (p, df) over and over
def student_t_quantile(p: float, df: int) -> float:
    """Quantile of Student's t with ``df`` degrees of freedom (scipy is not in every lane).

    The CDF is integrated numerically (Simpson's rule on the density, which is smooth) and inverted
    by bisection; accurate to ~1e-6, far below what a gate decision can feel.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    if p < 0.5:
        return -student_t_quantile(1.0 - p, df)
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def cdf(t: float) -> float:
        x = np.linspace(0.0, t, 2001)
        y = np.exp(log_norm - (df + 1) / 2 * np.log1p(x * x / df))
        h = t / 2000
        return 0.5 + h / 3 * float(y[0] + y[-1] + 4 * y[1:-1:2].sum() + 2 * y[2:-1:2].sum())

    low, high = 0.0, 1.0
    while cdf(high) < p:
        low, high = high, high * 2
        if high > 1e7:  # only reachable for absurd p with df 1
            raise ValueError(f"quantile {p} of t({df}) is out of range")
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if cdf(mid) < p else (low, mid)
    return (low + high) / 2


@dataclass(frozen=True)
class RunSpread:
    """Standard deviation of one run's log-speedup around its case's mean, pooled over cases.

    One run's bootstrap interval only covers the sampling noise of its own rounds. A separate
    process also gets its own build, memory layout and neighbours, and measured here that moves a
    speedup by more than the interval says (docs/calibration.md). The spread of several runs of
    the same case is what a comparison with a stored baseline has to be judged against.
    """

    sd: float
    df: int

    def __post_init__(self) -> None:
        if not (math.isfinite(self.sd) and self.sd >= 0) or self.df < 0:
            raise ValueError(f"need a finite sd >= 0 and df >= 0, got {self.sd}, {self.df}")


def pooled_spread(groups: Sequence[Sequence[float]]) -> RunSpread:
    """Pool the within-case variance of log-speedups over cases: df = sum of (runs - 1).

    Pooling is what makes a handful of runs per case usable: five runs of one case give 4 degrees
    of freedom (t at 99.9 % one-sided: 7.2); five runs of nine cases give 36 (3.3). A case with a
    single run adds nothing. Returns df 0 (and sd 0) when no case has two runs.
    """
    ss, df = 0.0, 0
    for runs in groups:
        logs = np.log(np.asarray(runs, dtype=float))
        if logs.size and not np.all(np.isfinite(logs)):
            raise ValueError(f"speedups must be finite and > 0, got {list(runs)}")
        if logs.size >= 2:
            ss += float(((logs - logs.mean()) ** 2).sum())
            df += logs.size - 1
    return RunSpread(math.sqrt(ss / df) if df else 0.0, df)


def geometric_mean(values: Sequence[float]) -> float:
    logs = np.log(np.asarray(values, dtype=float))
    if logs.size == 0 or not np.all(np.isfinite(logs)):
        raise ValueError(f"need positive finite values, got {list(values)}")
    return float(math.exp(logs.mean()))


def runs_ratio(measured: Sequence[float], baseline: Sequence[float], spread: RunSpread,
               confidence: float) -> Estimate:
    """geomean(measured runs) / geomean(baseline runs) with a two-sided interval at ``confidence``.

    The log difference of the two means has standard error sd * sqrt(1/n_measured + 1/n_baseline)
    when every run, today's and the recorded ones, scatters around its case's true speedup with
    the pooled ``spread`` (same budget, same machine class); t with the pooled df because that
    sd is itself estimated.
    """
    if not measured or not baseline:
        raise ValueError("need at least one measured and one baseline run")
    if spread.df < 1:
        raise ValueError("the between-run spread needs at least 1 degree of freedom")
    centre = math.log(geometric_mean(measured)) - math.log(geometric_mean(baseline))
    se = spread.sd * math.sqrt(1.0 / len(measured) + 1.0 / len(baseline))
    half = student_t_quantile(0.5 + confidence / 2.0, spread.df) * se
    return Estimate(math.exp(centre), math.exp(centre - half), math.exp(centre + half))


# --------------------------------------------------------------------------------------------
# The gate
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    status: Status
    message: str
    ratio: Estimate  # measured speedup / baseline speedup, with the combined interval


def gate_verdict(
    measured: Sequence[float],
    baseline: Sequence[float],
    floor: float = DEFAULT_FLOOR,
) -> Verdict:
    """Decide whether a measured speedup regressed against its baseline.

    ``floor`` is the smallest change worth failing a build for: a statistically certain 1% drift
    is not a regression anyone will act on, so the *whole* interval must lie past the floor.

    - regression:  upper bound of log(measured/baseline) < log(1 - floor)
    - improvement: lower bound of log(measured/baseline) > log(1 + floor)
    - noisy:       the interval reaches past *both* floors, so the run could not have told a
                   floor-sized loss from a floor-sized gain: it proves nothing either way, and
                   calling it "pass" would hide that the measurement is too noisy to gate on
    - pass:        otherwise

    Both estimates must be at the same confidence (see ``rescale_estimate``).
    """
    if not 0.0 <= floor < 1.0:
        raise ValueError(f"floor must be in [0, 1), got {floor}")
    ratio = ratio_of_ratios(measured, baseline)
    lo_log, hi_log = math.log(ratio.low), math.log(ratio.high)
    down, up = math.log(1.0 - floor), math.log(1.0 + floor)
    summary = (
        f"speedup {float(measured[0]):.3f} vs baseline {float(baseline[0]):.3f}: "
        f"ratio {ratio.point:.3f} [{ratio.low:.3f}, {ratio.high:.3f}], floor {floor:.0%}"
    )
    if hi_log < down:
        return Verdict("regression", f"regression: {summary}", ratio)
    if lo_log > up:
        return Verdict("improvement", f"improvement (update the baseline): {summary}", ratio)
    if lo_log < down and hi_log > up:
        return Verdict("noisy", f"too noisy to decide: {summary}", ratio)
    return Verdict("pass", f"pass: {summary}", ratio)


def runs_verdict(
    measured: Sequence[float],
    baseline: Sequence[float],
    spread: RunSpread,
    floor: float = DEFAULT_FLOOR,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Verdict:
    """Today's runs of a case against its recorded runs, judged with the between-run spread.

    ``floor`` is the drop the gate exists to catch. A case is a regression when its speedup is
    significantly below the baseline (the whole interval of measured/baseline below 1, at
    ``confidence``) *and* the estimated drop is at least half the floor. Why not "the whole
    interval below 1 - floor": that rule catches a drop of exactly the floor at most half the
    time, so a 5 % floor would let most 5 % regressions through. The half-floor condition is what
    keeps a significant but tiny drift (1 %) from failing a build.

    - regression:  high < 1 and point <= 1 - floor/2
    - improvement: low > 1 and point >= 1 + floor/2
    - noisy:       otherwise, when the interval still reaches below 1 - floor: a floor-sized
                   loss was not ruled out, so calling it "pass" would claim more than was measured
    - pass:        otherwise: any loss is smaller than the floor
    """
    if not 0.0 <= floor < 1.0:
        raise ValueError(f"floor must be in [0, 1), got {floor}")
    ratio = runs_ratio(measured, baseline, spread, confidence)
    summary = (
        f"speedup {geometric_mean(measured):.3f} ({len(measured)} run(s)) vs baseline "
        f"{geometric_mean(baseline):.3f} ({len(baseline)} run(s)): ratio {ratio.point:.3f} "
        f"[{ratio.low:.3f}, {ratio.high:.3f}] at {confidence:.4g}, between-run sd {spread.sd:.2%} "
        f"(df {spread.df}), floor {floor:.0%}"
    )
    status = ratio_status(ratio, floor)
    prefix = {"regression": "regression", "improvement": "improvement (update the baseline)",
              "noisy": "too noisy to decide", "pass": "pass"}[status]
    return Verdict(status, f"{prefix}: {summary}", ratio)


def ratio_status(ratio: Sequence[float], floor: float) -> Status:
    """The floor rule of ``runs_verdict`` for any ratio where below 1 is worse (a speed ratio)."""
    point, low, high = (float(x) for x in ratio)
    if high < 1.0 and point <= 1.0 - floor / 2:
        return "regression"
    if low > 1.0 and point >= 1.0 + floor / 2:
        return "improvement"
    # "pass" has to mean a floor-sized loss was ruled out; an interval that still reaches below
    # 1 - floor did not rule it out, whatever its point says.
    if low < 1.0 - floor:
        return "noisy"
    return "pass"


def family_confidence(family_alpha: float, n_cases: int) -> float:
    """Per-case confidence so that the chance of *any* false alarm over ``n_cases`` is <= alpha.

    Gating 40 cases at 99% each would give a false alarm on about a third of clean runs
    (1 - 0.99**40); people then learn to ignore the gate. So each case's interval is widened.

    Bonferroni, 1 - alpha/n: valid whatever the dependence between cases (they share the machine,
    so they are not independent); slightly conservative.
    """
    if not 0.0 < family_alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {family_alpha}")
    if n_cases < 1:
        raise ValueError(f"n_cases must be >= 1, got {n_cases}")
    return 1.0 - family_alpha / n_cases
