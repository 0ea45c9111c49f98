"""Statistics of same-run paired sampling: rounds, speedup estimators and the paired bootstrap
(whole rounds resampled, intervals combined on the log scale). Numpy and stdlib only."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from ..building.variants import REFERENCE
from ..core.defaults import DEFAULT_CONFIDENCE

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
    """Round-by-round timings of one model's variants: ``times[variant][i]`` is round ``i``'s, one per round."""

    times: dict[str, list[float]] = field(default_factory=dict)

    def add_round(self, round_times: Mapping[str, float]) -> None:
        # A round with a missing or extra variant would silently break the pairing, so refuse it.
        if self.times and set(round_times) != set(self.times):
            raise ValueError(
                f"round has variants {sorted(round_times)}, earlier rounds had {sorted(self.times)}"
            )
        bad = {v: t for v, t in round_times.items() if not (math.isfinite(float(t)) and float(t) > 0.0)}
        if bad:  # a timer never yields these; one would turn every ratio it enters into nan or inf
            raise ValueError(f"round times must be finite and > 0, got {bad}")
        for variant, t in round_times.items():
            self.times.setdefault(variant, []).append(float(t))

    @property
    def rounds(self) -> int:
        return len(next(iter(self.times.values()), []))

    def array(self, variant: str) -> np.ndarray:
        return np.asarray(self.times[variant], dtype=float)

    def median(self, variant: str) -> float:
        return float(np.median(self.array(variant)))

    def speedup(self, variant: str, reference: str = REFERENCE, estimator: str = ESTIMATOR) -> float:
        return SPEEDUP_ESTIMATORS[estimator](self.array(reference), self.array(variant))

    def speedup_estimate(
        self,
        variant: str,
        reference: str = REFERENCE,
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
    """The median over rounds of eager/variant (> 1: the variant is faster), on the log scale."""
    x, y = _paired_arrays(eager, variant)
    return float(np.exp(np.median(_round_log_ratios(x, y))))


def ratio_of_medians(eager: npt.ArrayLike, variant: npt.ArrayLike) -> float:
    """median(eager) / median(variant): baseline formats 1 and 2, kept for the calibration's comparison."""
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
    """``resamples`` bootstrap draws of the log-speedup by ``estimator``, resampling whole rounds."""
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
    """Seeded percentile bootstrap interval of the speedup a/b, drawing the same round indices for both."""
    x, y = _paired_arrays(a, b)
    lo_pct, hi_pct = percentile_bounds(confidence)
    draws = _bootstrap_log_speedups(x, y, resamples, np.random.default_rng(seed), estimator)
    low, high = np.exp(np.percentile(draws, [lo_pct, hi_pct]))
    return float(low), float(high)


def runs_speedup_estimate(
    runs: Sequence[Samples], variant: str, reference: str = REFERENCE, confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = 2000, seed: int = 0,
) -> Estimate:
    """Geometric mean of several runs' speedups, with a bootstrap interval stratified by run (rounds' noise only;
    at confidences whose tails 2000 draws cannot hold, see _tail_bounds)."""
    if not runs:
        raise ValueError("no runs to estimate a speedup from")
    rng = np.random.default_rng(seed)
    points, draws = [], np.zeros(resamples)
    for run in runs:
        x, y = _paired_arrays(run.array(reference), run.array(variant))
        points.append(math.log(speedup_ratio(x, y)))
        draws += _bootstrap_log_speedups(x, y, resamples, rng)
    draws /= len(runs)
    point = sum(points) / len(points)
    low, high = _tail_bounds(draws, confidence, point)
    return Estimate(math.exp(point), math.exp(low), math.exp(high))


# Fewer bootstrap draws than this beyond a bound and the percentile is a handful of extreme draws that
# moves with the seed: at 15 gated cases each tail is 0.033 %, 0.67 of 2000 draws. 0.99 (10 draws) keeps it.
MIN_TAIL_DRAWS = 10


def _tail_bounds(draws: np.ndarray, confidence: float, point: float) -> tuple[float, float]:
    """The interval of log-speedup ``draws`` at ``confidence``: percentiles while each tail holds
    MIN_TAIL_DRAWS draws, else normal on the log scale around ``point`` with the draws' spread (which
    2000 draws pin far better than an extreme percentile; more draws would cost memory per round)."""
    lo_pct, hi_pct = percentile_bounds(confidence)
    if round((1.0 - confidence) / 2.0 * draws.size, 9) >= MIN_TAIL_DRAWS:
        low, high = np.percentile(draws, [lo_pct, hi_pct])
        return float(low), float(high)
    half = NormalDist().inv_cdf(hi_pct / 100.0) * float(np.std(draws, ddof=1))
    return point - half, point + half
