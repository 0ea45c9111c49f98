"""The speedup gate's rates, simulated through its own judging code (``staging.staged_verdict``).

Each simulated session draws a host effect (between-session sd) and runs around it (within-session
sd); the baseline holds S such sessions of 5 runs, today is a new session of 2 runs with up to 3
re-measures, judged in the default profile's family. Seeded: the same draws every time.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from infergate.building.cases import get_profile, perf_cases
from infergate.core.defaults import DEFAULT_FAMILY_ALPHA
from infergate.measuring.session_gate import components, judge, minimum_detectable_drop, prior_for
from infergate.measuring.speedup_verdicts import family_confidence
from infergate.measuring.staging import staged_verdict

# Pure Python: the same in both lanes (same Python, numpy, pytest, hypothesis): current lane only
# in ./suite test (tests/README.md).
pytestmark = pytest.mark.lane_independent

FLOOR = 0.05
WITHIN_SD = 0.013  # the AMD class's within-session sd of `jit` (docs/calibration.md)
TRIALS = 1500
GATED = sum(c.variant != "eager" for c in perf_cases(get_profile("default")))
CONFIDENCE = family_confidence(DEFAULT_FAMILY_ALPHA, GATED)


def simulate(rng: np.random.Generator, drop: float, sessions: int, between_sd: float,
             prior_sd: float, trials: int = TRIALS) -> list:
    """Decisions for ``trials`` new sessions whose true speedup is ``1 - drop`` of the baseline's."""
    out = []
    for _ in range(trials):
        base = [list(np.exp(0.2 + h + rng.normal(0, WITHIN_SD, 5)))
                for h in rng.normal(0, between_sd, sessions)]
        comp = components([base], sessions, prior_sd)
        host = 0.2 + math.log(1 - drop) + rng.normal(0, between_sd)
        today = [(float(x), ()) for x in np.exp(host + rng.normal(0, WITHIN_SD, 2))]
        more = [(float(x), ()) for x in np.exp(host + rng.normal(0, WITHIN_SD, 3))]
        out.append(staged_verdict(today, base, comp, FLOOR, CONFIDENCE, lambda more=more: more))
    return out


def share(decisions: list, *statuses: str) -> float:
    return sum(d.verdict in statuses for d in decisions) / len(decisions)


@pytest.mark.parametrize("sessions", [1, 2, 4, 8])
@pytest.mark.parametrize("spread", [1.0, 1.5], ids=["prior-right", "between-1.5x-prior"])
def test_a_drop_of_one_and_a_half_floors_is_almost_never_passed(sessions: int, spread: float) -> None:
    prior = prior_for("jit")
    decisions = simulate(np.random.default_rng(sessions), 1.5 * FLOOR, sessions, spread * prior, prior)
    assert share(decisions, "pass", "improvement") <= 0.01


@pytest.mark.parametrize("sessions", [1, 2, 4, 8])
@pytest.mark.parametrize("spread", [1.0, 1.5], ids=["prior-right", "between-1.5x-prior"])
def test_an_unchanged_case_is_never_a_regression_and_passes_or_is_unverified(sessions: int, spread: float) -> None:
    prior = prior_for("jit")
    decisions = simulate(np.random.default_rng(100 + sessions), 0.0, sessions, spread * prior, prior)
    # "Never" as a rate: at most the per-case alpha plus three binomial standard errors of it.
    alpha = 1 - CONFIDENCE
    assert share(decisions, "regression") <= alpha + 3 * math.sqrt(alpha / TRIALS)
    assert share(decisions, "pass", "unverified") >= 0.99


def test_an_unchanged_case_passes_wherever_it_can_see_the_floor() -> None:
    # A steady class: between-session sd 0.5 %, measured, so the detectable drop falls below 5 %.
    decisions = simulate(np.random.default_rng(7), 0.0, 8, 0.005, 0.005)
    seeing = [d for d in decisions if d.judgement is not None and d.judgement.mdd <= FLOOR]
    assert len(seeing) >= TRIALS // 5
    assert share(seeing, "pass") >= 0.90


def test_a_drop_is_caught_where_the_floor_is_visible() -> None:
    decisions = simulate(np.random.default_rng(8), 0.10, 8, 0.005, 0.005)
    assert share(decisions, "regression") >= 0.95


def test_the_gate_uses_the_one_sided_t_quantile_with_the_between_session_df() -> None:
    comp = components([[[1.30, 1.31, 1.29, 1.30, 1.30]]], 1, prior_for("jit"))
    assert comp.prior_only and comp.between_df == 4
    decision = staged_verdict([(1.30, ()), (1.30, ())], [[1.30, 1.31, 1.29, 1.30, 1.30]], comp, FLOOR,
                              CONFIDENCE, None)
    j = decision.judgement
    assert j is not None and j.df < 10  # the prior's few df reach the quantile
    # One-sided: the bounds are the centre -/+ t(confidence) se, not t(1 - (1 - confidence) / 2);
    # the quantile is scipy's, not the code's own, at the df rounded down.
    t_one_sided = stats.t.ppf(CONFIDENCE, math.floor(j.df))
    assert math.log(j.ratio.point / j.ratio.low) == pytest.approx(t_one_sided * j.se, rel=1e-4)
    assert math.log(j.ratio.high / j.ratio.point) == pytest.approx(t_one_sided * j.se, rel=1e-4)
    assert t_one_sided < stats.t.ppf(0.5 + CONFIDENCE / 2, math.floor(j.df))


def test_a_drop_of_exactly_the_floor_is_passed_at_most_at_alpha_over_both_looks() -> None:
    # A pass can come from the first look or, after re-measuring an unverified case, from the second,
    # so two looks could make it up to 2 alpha. At the family's alpha (0.07 %) no affordable number
    # of trials tells alpha from 2 alpha, so this runs the same code at alpha 5 %, where 4,000 trials
    # do (3 binomial standard errors: 1.0 %), on a steady, measured class (between-session sd 0.4 %).
    confidence, trials = 0.95, 4000
    rng = np.random.default_rng(11)
    decisions = []
    for _ in range(trials):
        base = [list(np.exp(0.2 + h + rng.normal(0, WITHIN_SD, 5))) for h in rng.normal(0, 0.004, 8)]
        host = 0.2 + math.log(1 - FLOOR) + rng.normal(0, 0.004)
        today = [(float(x), ()) for x in np.exp(host + rng.normal(0, WITHIN_SD, 2))]
        more = [(float(x), ()) for x in np.exp(host + rng.normal(0, WITHIN_SD, 3))]
        decisions.append(staged_verdict(today, base, components([base], 8, 0.004), FLOOR, confidence,
                                        lambda more=more: more))
    assert sum(len(d.speedups) > 2 for d in decisions) > trials / 2  # most took the second look
    alpha = 1 - confidence
    assert share(decisions, "pass", "improvement") <= alpha + 3 * math.sqrt(alpha * confidence / trials)


def test_the_measured_between_session_part_gets_only_the_df_of_the_cases_that_scatter() -> None:
    # One case seen in two sessions, seven in one each: nine sessions in the file, but the measured
    # spread rests on one df (review M5: it was given eight, and pulled the prior down by 8/12).
    scattered = [[1.30, 1.31, 1.29], [1.30, 1.30, 1.31]]
    singles = [[[1.2 + i / 100, 1.21 + i / 100, 1.2 + i / 100]] for i in range(7)]
    comp = components([scattered, *singles], 9, 0.03)
    assert comp.between_df == 4 + 1
    assert comp.between_sd == pytest.approx(math.sqrt((4 * 0.03 ** 2 + comp.measured_between_sd ** 2) / 5))
    assert "with 1 df from 9 sessions" in comp.describe()


def test_a_pass_is_verified_and_the_detectable_drop_needs_half_the_floor() -> None:
    # A pass ruled out the floor, whatever its detectable drop (review S1); and a "regression" needs
    # its point half the floor down, so no detectable drop is below about half the floor (S13).
    comp = components([[[1.30, 1.31, 1.29, 1.30, 1.30]] * 3], 3, 0.012)
    j = judge([1.36, 1.37], [[1.30, 1.31, 1.29, 1.30, 1.30]] * 3, comp, FLOOR, CONFIDENCE)
    assert j.status in ("pass", "improvement") and j.mdd > FLOOR and j.verified
    assert minimum_detectable_drop(1e-4, 50, CONFIDENCE, floor=FLOOR) >= FLOOR / 2
    assert minimum_detectable_drop(1e-4, 50, CONFIDENCE) < 0.01  # without the floor: significance only
