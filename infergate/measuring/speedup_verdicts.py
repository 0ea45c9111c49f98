"""The speedup gate's verdicts: a measured speedup against its baseline, as pass, regression,
improvement or noisy.

Owns combining intervals on the log scale (``rescale_estimate``, ``ratio_of_ratios``), the floor
rules (``gate_verdict``, ``runs_verdict``, ``ratio_status``) and the per-case confidence of a
family of cases (``family_confidence``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

from ..core.defaults import DEFAULT_CONFIDENCE, DEFAULT_FLOOR
from .run_spread import RunSpread, geometric_mean, runs_ratio
from .stats import Estimate, percentile_bounds

Status = Literal["pass", "regression", "improvement", "noisy"]


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
