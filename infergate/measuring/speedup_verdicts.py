"""Floor rules on a speedup ratio, two intervals combined on the log scale, and a family's per-case confidence."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..core.defaults import DEFAULT_FLOOR
from .stats import Estimate
from .verdicts import INCONCLUSIVE, JudgedVerdict

# --------------------------------------------------------------------------------------------
# Comparing a measured speedup with a baseline from another day
# --------------------------------------------------------------------------------------------


def _log_half_widths(est: Sequence[float]) -> tuple[float, float]:
    """Lower and upper half-widths on the log scale, each clamped at 0."""
    point, low, high = (float(x) for x in est)
    if not (point > 0 and low > 0 and high > 0):
        raise ValueError(f"ratios and their bounds must be positive, got {tuple(est)}")
    lp = math.log(point)
    return max(lp - math.log(low), 0.0), max(math.log(high) - lp, 0.0)


def ratio_of_ratios(measured: Sequence[float], baseline: Sequence[float]) -> Estimate:
    """measured/baseline with its interval (log half-widths in quadrature); both at the same confidence."""
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
class RatioVerdict:
    status: JudgedVerdict
    message: str
    ratio: Estimate  # measured speedup / baseline speedup, with the combined interval


def gate_verdict(
    measured: Sequence[float],
    baseline: Sequence[float],
    floor: float = DEFAULT_FLOOR,
) -> RatioVerdict:
    """One measured speedup against one recorded: the whole ratio interval past ``floor``; "pass" only
    when the interval's low end rules out a floor-sized loss; else inconclusive. Both estimates at the
    same confidence."""
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
        return RatioVerdict("regression", f"regression: {summary}", ratio)
    if lo_log > up:
        return RatioVerdict("improvement", f"improvement (update the baseline): {summary}", ratio)
    if lo_log < down:  # "pass" must mean a floor-sized loss was ruled out, as in ratio_status
        return RatioVerdict(INCONCLUSIVE, f"too noisy to rule out the floor: {summary}", ratio)
    return RatioVerdict("pass", f"pass: {summary}", ratio)


def ratio_status(ratio: Sequence[float], floor: float) -> JudgedVerdict:
    """The floor rule for a ratio where below 1 is worse; "pass" means a floor-sized loss was ruled out."""
    point, low, high = (float(x) for x in ratio)
    if high < 1.0 and point <= 1.0 - floor / 2:
        return "regression"
    if low > 1.0 and point >= 1.0 + floor / 2:
        return "improvement"
    # "pass" has to mean a floor-sized loss was ruled out; an interval that still reaches below
    # 1 - floor did not rule it out, whatever its point says.
    if low < 1.0 - floor:
        return INCONCLUSIVE
    return "pass"


def family_confidence(family_alpha: float, n_cases: int) -> float:
    """Per-case confidence so that any false alarm over ``n_cases`` has chance <= alpha (Bonferroni)."""
    if not 0.0 < family_alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {family_alpha}")
    if n_cases < 1:
        raise ValueError(f"n_cases must be >= 1, got {n_cases}")
    return 1.0 - family_alpha / n_cases
