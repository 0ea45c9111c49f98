from __future__ import annotations

import math

import numpy as np
import pytest

from infergate.measuring import other_tools, run_spread, speedup_verdicts, stats
from infergate.measuring.stats import Estimate, Samples

# Pure Python: the same in both lanes (same Python, numpy, pytest, hypothesis): current lane only
# in ./suite test (tests/README.md).
pytestmark = pytest.mark.lane_independent


def paired_rounds(
    rounds: int, eager_ms: float, variant_ms: float, seed: int, noise: float = 0.03
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic rounds: a shared per-round machine factor (what pairing cancels) plus own noise."""
    rng = np.random.default_rng(seed)
    machine = rng.lognormal(0.0, 0.05, rounds)
    eager = eager_ms * machine * rng.lognormal(0.0, noise, rounds)
    variant = variant_ms * machine * rng.lognormal(0.0, noise, rounds)
    return eager, variant


def estimate(eager: np.ndarray, variant: np.ndarray, confidence: float = 0.99) -> Estimate:
    low, high = stats.bootstrap_ratio_ci(eager, variant, confidence=confidence)
    return Estimate(stats.speedup_ratio(eager, variant), low, high)


# -- speedup and bootstrap ---------------------------------------------------------------------


def test_speedup_ratio_is_the_median_of_per_round_ratios() -> None:
    eager = np.array([10.0, 12.0, 11.0, 100.0])  # the disturbed round must not move a median
    variant = np.array([5.0, 6.0, 5.5, 5.5])
    assert stats.speedup_ratio(eager, variant) == pytest.approx(2.0)  # rounds: 2, 2, 2, 18.2
    assert stats.ratio_of_medians(eager, variant) == pytest.approx(11.5 / 5.5)
    # On the log scale, so the two directions agree.
    assert stats.speedup_ratio(variant, eager) == pytest.approx(1 / stats.speedup_ratio(eager, variant))
    with pytest.raises(ValueError, match="> 0"):
        stats.speedup_ratio([1.0, 0.0], [1.0, 1.0])


def test_per_round_ratios_cancel_what_a_round_shares() -> None:
    # A machine factor shared by the round (sd 10 %) and little own noise: per-round ratios see
    # only the own noise, medians of each side see both.
    eager, variant = paired_rounds(300, 10.0, 8.0, seed=11, noise=0.01)
    machine = np.random.default_rng(13).lognormal(0.0, 0.1, 300)
    eager, variant = eager * machine, variant * machine
    per_round = stats.bootstrap_ratio_ci(eager, variant)
    of_medians = stats.bootstrap_ratio_ci(eager, variant, estimator="ratio-of-medians")
    assert per_round[0] < 1.25 < per_round[1] and of_medians[0] < 1.25 < of_medians[1]
    assert per_round[1] - per_round[0] < (of_medians[1] - of_medians[0]) / 3


def test_bootstrap_ci_covers_true_ratio() -> None:
    eager, variant = paired_rounds(200, 10.0, 8.0, seed=1)
    low, high = stats.bootstrap_ratio_ci(eager, variant)
    assert low < 1.25 < high
    assert high / low < 1.05  # pairing removes the shared machine noise: the interval is tight


def test_bootstrap_ci_coverage_over_many_datasets() -> None:
    covered = 0
    for seed in range(40):
        eager, variant = paired_rounds(60, 10.0, 8.0, seed=seed)
        low, high = stats.bootstrap_ratio_ci(eager, variant, confidence=0.95, resamples=1000, seed=seed)
        covered += low <= 1.25 <= high
    assert covered >= 34  # nominal 38; percentile bootstrap of medians runs a little narrow


def test_paired_bootstrap_is_narrower_than_unpaired() -> None:
    eager, variant = paired_rounds(100, 10.0, 8.0, seed=3, noise=0.01)
    paired = stats.bootstrap_ratio_ci(eager, variant)
    unpaired = stats.bootstrap_ratio_ci(eager, np.random.default_rng(0).permutation(variant))
    assert paired[1] - paired[0] < (unpaired[1] - unpaired[0]) / 2


def test_bootstrap_is_reproducible_and_validates_input() -> None:
    eager, variant = paired_rounds(30, 10.0, 8.0, seed=4)
    first = stats.bootstrap_ratio_ci(eager, variant, seed=7)
    assert stats.bootstrap_ratio_ci(eager, variant, seed=7) == first
    with pytest.raises(ValueError):
        stats.bootstrap_ratio_ci(eager, variant[:-1])
    with pytest.raises(ValueError):
        stats.bootstrap_ratio_ci(eager, variant, confidence=1.0)


def test_samples_collects_rounds_and_refuses_a_broken_round() -> None:
    samples = Samples()
    eager, variant = paired_rounds(50, 10.0, 5.0, seed=5)
    for e, v in zip(eager, variant, strict=True):
        samples.add_round({"variant": v, "eager": e})  # order within a round does not matter
    assert samples.rounds == 50
    assert samples.speedup("variant") == pytest.approx(stats.speedup_ratio(eager, variant))
    est = samples.speedup_estimate("variant")
    assert est.low < 2.0 < est.high
    with pytest.raises(ValueError, match="variants"):
        samples.add_round({"eager": 1.0})


# -- ratio of ratios and the gate --------------------------------------------------------------


def test_ratio_of_ratios_with_exact_baseline_keeps_measured_interval() -> None:
    combined = speedup_verdicts.ratio_of_ratios((1.2, 1.1, 1.3), (1.0, 1.0, 1.0))
    assert combined == pytest.approx((1.2, 1.1, 1.3))


def test_ratio_of_ratios_adds_log_half_widths_in_quadrature() -> None:
    m = (1.0, math.exp(-0.03), math.exp(0.03))
    b = (1.0, math.exp(-0.04), math.exp(0.04))
    combined = speedup_verdicts.ratio_of_ratios(m, b)
    assert math.log(combined.high) == pytest.approx(0.05)
    assert math.log(combined.low) == pytest.approx(-0.05)


def test_ratio_of_ratios_pairs_opposite_sides_of_asymmetric_intervals() -> None:
    # A high baseline makes the ratio small: baseline's upper error feeds the lower bound.
    combined = speedup_verdicts.ratio_of_ratios((1.0, 1.0, 1.0), (1.0, math.exp(-0.01), math.exp(0.2)))
    assert math.log(combined.low) == pytest.approx(-0.2)
    assert math.log(combined.high) == pytest.approx(0.01)


def day(eager_ms: float, variant_ms: float, seed: int) -> Estimate:
    return estimate(*paired_rounds(150, eager_ms, variant_ms, seed=seed))


def test_a_a_comparison_passes() -> None:
    baseline = day(10.0, 8.0, seed=10)
    for seed in range(11, 16):
        verdict = speedup_verdicts.gate_verdict(day(10.0, 8.0, seed=seed), baseline)
        assert verdict.status == "pass", verdict.message


def test_ten_percent_slower_variant_is_a_regression() -> None:
    baseline = day(10.0, 8.0, seed=20)
    verdict = speedup_verdicts.gate_verdict(day(10.0, 8.8, seed=21), baseline)
    assert verdict.status == "regression", verdict.message
    assert "regression" in verdict.message and verdict.ratio.point == pytest.approx(1 / 1.1, rel=0.02)


def test_ten_percent_faster_variant_is_an_improvement() -> None:
    baseline = day(10.0, 8.0, seed=30)
    verdict = speedup_verdicts.gate_verdict(day(10.0, 7.2, seed=31), baseline)
    assert verdict.status == "improvement", verdict.message


def test_change_below_the_floor_passes_even_when_certain() -> None:
    verdict = speedup_verdicts.gate_verdict((0.97, 0.969, 0.971), (1.0, 0.999, 1.001), floor=0.05)
    assert verdict.status == "pass"


def test_interval_spanning_both_floors_is_inconclusive() -> None:
    verdict = speedup_verdicts.gate_verdict((1.0, 0.8, 1.25), (1.0, 0.99, 1.01))
    assert verdict.status == "inconclusive"


def test_interval_reaching_below_the_floor_is_no_pass() -> None:
    # Not past the upper floor, but its low end does not rule out a 5 % loss.
    verdict = speedup_verdicts.gate_verdict((0.96, 0.90, 1.02), (1.0, 0.999, 1.001), floor=0.05)
    assert verdict.status == "inconclusive", verdict.message


def test_family_confidence() -> None:
    assert speedup_verdicts.family_confidence(0.01, 1) == pytest.approx(0.99)
    assert speedup_verdicts.family_confidence(0.01, 10) == pytest.approx(0.999)
    with pytest.raises(ValueError):
        speedup_verdicts.family_confidence(0.01, 0)


# -- other tools' rules ------------------------------------------------------------------------


def test_mann_whitney_matches_hand_computation() -> None:
    # a = [1, 2, 3], b = [4, 5, 6]: rank sum of a = 6, U = 6 - 3*4/2 = 0, mu = 4.5,
    # sigma^2 = 3*3/12 * 7 = 5.25, z = (4.5 - 0.5) / sqrt(5.25) = 1.7457, p = 2 * (1 - Phi(z)).
    assert other_tools.mann_whitney_u_p([1, 2, 3], [4, 5, 6]) == pytest.approx(0.080856, abs=1e-5)


def test_mann_whitney_with_ties_matches_hand_computation() -> None:
    # a = [1, 2, 2], b = [2, 3, 4]: ranks 1, 3, 3 | 3, 5, 6 (three 2s share rank 3).
    # U = 7 - 6 = 1; tie term = (27 - 3) / (6*5) = 0.8; sigma^2 = 9/12 * (7 - 0.8) = 4.65;
    # z = (4.5 - 1 - 0.5) / sqrt(4.65) = 1.39122, p = 2 * (1 - Phi(z)) = 0.164160.
    assert other_tools.mann_whitney_u_p([1, 2, 2], [2, 3, 4]) == pytest.approx(0.164160, abs=1e-5)
    assert other_tools.mann_whitney_u_p([3, 3], [3, 3, 3]) == 1.0


def test_mann_whitney_agrees_with_scipy_when_present() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a = np.round(rng.normal(10, 1, 40), 1)  # rounding makes ties
    b = np.round(rng.normal(10.5, 1, 35), 1)
    expected = scipy_stats.mannwhitneyu(a, b, method="asymptotic", use_continuity=True).pvalue
    assert other_tools.mann_whitney_u_p(a, b) == pytest.approx(expected, rel=1e-9)


def test_asv_rule() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(10.0, 0.1, 30)
    assert other_tools.asv_rule(a, a * 1.2)  # significant and > 10%
    assert not other_tools.asv_rule(a, a * 1.05)  # significant but under asv's 10% factor
    assert not other_tools.asv_rule(a[:3], a[:3] * 1.5)  # too few samples to reach p < 0.002


def test_pytest_benchmark_rule() -> None:
    assert other_tools.pytest_benchmark_rule([10, 10], [10.6, 10.6])
    assert not other_tools.pytest_benchmark_rule([10, 10], [10.4, 10.4])
    assert other_tools.pytest_benchmark_rule([10, 10], [10.4, 10.4], pct=3)


# --------------------------------------------------------------------------------------------
# Between-run spread and the staged gate


def test_student_t_quantiles_match_tables() -> None:
    for p, df, table in ((0.975, 4, 2.776), (0.995, 9, 3.250), (0.95, 1, 6.314), (0.999, 36, 3.333),
                         (0.975, 1000, 1.962)):
        assert run_spread.student_t_quantile(p, df) == pytest.approx(table, abs=2e-3)
    assert run_spread.student_t_quantile(0.025, 4) == pytest.approx(-2.776, abs=2e-3)


# scipy 1.17.1's scipy.stats.t.ppf(p, df), computed once (scipy is no dependency of infergate's).
T_PPF_SCIPY = ((0.9995, 1, 636.6192487687897), (0.999967, 1, 9645.754092238709), (0.999967, 2, 123.08539786684193),
               (0.999967, 3, 32.17160785727884), (0.9995, 4, 8.610301581379522), (0.999967, 12, 5.9610810152167755),
               (0.99999, 5, 15.546854534969158), (0.975, 30, 2.0422724563012378), (0.9, 1, 3.0776835371752544),
               (0.99, 2, 6.9645567342832715), (0.9983, 40, 3.1145280863421028))


@pytest.mark.parametrize(("p", "df", "reference"), T_PPF_SCIPY)
def test_student_t_quantiles_hold_at_extreme_p_and_df_1(p, df, reference) -> None:
    """A Bonferroni family's p is extreme: Simpson's rule over [0, t] lost df 1's peak and ended near
    5700 for every p above ~0.9994 (anti-conservative at the nightly's 306-case 0.999967)."""
    assert run_spread.student_t_quantile(p, df) == pytest.approx(reference, rel=1e-9)
    assert run_spread.student_t_quantile(1 - p, df) == pytest.approx(-reference, rel=1e-9)


def test_pooled_spread_pools_log_deviations_and_ignores_single_runs() -> None:
    a, b = [1.0, math.e ** 0.02], [2.0, 2.0 * math.e ** -0.02, 2.0 * math.e ** 0.02]
    spread = run_spread.pooled_spread([a, b, [5.0]])
    ss = 2 * 0.01**2 + 2 * 0.02**2  # squared deviations from each case's own mean log
    assert spread.df == 3 and spread.sd == pytest.approx(math.sqrt(ss / 3))
    assert run_spread.pooled_spread([[1.2], [1.3]]) == run_spread.RunSpread(0.0, 0)


def _simulate_staged(drop: float, within: float, between: float, trials: int, seed: int) -> tuple[float, float]:
    """Shares of trials the staged gate calls a regression and inconclusive when the truth is a
    ``drop`` and every session's host moves the log-speedup by N(0, between), every run by N(0,
    within) (the gate's own model): 9 cases x 6 recorded sessions x 5 runs pool the components,
    today is a new session of 2 runs, a flagged case gets 3 re-measures (same session)."""
    from infergate.measuring.session_gate import components, prior_for
    from infergate.measuring.staging import staged_verdict

    rng = np.random.default_rng(seed)
    fails = undecided = 0
    conf = speedup_verdicts.family_confidence(0.01, 9)
    for _ in range(trials):
        hosts = rng.normal(0.0, between, size=(9, 6, 1))
        recorded = np.exp(hosts + rng.normal(0.0, within, size=(9, 6, 5))) * 1.5
        comp = components(recorded.tolist(), 6, prior_for("jit"))
        host_today = rng.normal(0.0, between)
        today = np.exp(host_today + rng.normal(math.log(1 - drop), within, size=5)) * 1.5
        d = staged_verdict([(x, ()) for x in today[:2]], recorded[0].tolist(), comp, 0.05, conf,
                           lambda today=today: [(x, ()) for x in today[2:]])
        fails += d.verdict == "regression"
        undecided += d.verdict == "inconclusive"
    return fails / trials, undecided / trials


def test_staged_gate_false_alarm_rate_and_power_under_its_model() -> None:
    # Not a timing test: the statistics on synthetic draws, where the truth is known.
    alarms, undecided = _simulate_staged(0.0, 0.01, 0.01, 600, seed=1)
    assert alarms <= 0.01 and undecided <= 0.02
    # A new host moves a speedup by ~1 % here, the prior says 3 %: the gate sees ~10 %, so 15 % it catches.
    assert _simulate_staged(0.15, 0.01, 0.01, 300, seed=2)[0] >= 0.95
    # A drift of a fifth of the floor is not what the gate is for, even when it is real.
    assert _simulate_staged(0.01, 0.01, 0.01, 300, seed=3)[0] <= 0.05
    # Host effects larger than the prior: still no flood of false alarms.
    assert _simulate_staged(0.0, 0.01, 0.04, 300, seed=4)[0] <= 0.02


def test_ratio_status_floor_rule() -> None:
    assert speedup_verdicts.ratio_status((1.0, 0.98, 1.02), 0.05) == "pass"
    assert speedup_verdicts.ratio_status((0.9, 0.88, 0.92), 0.05) == "regression"
    assert speedup_verdicts.ratio_status((1.1, 1.08, 1.12), 0.05) == "improvement"
    # Significant but below half the floor: not a regression.
    assert speedup_verdicts.ratio_status((0.98, 0.975, 0.985), 0.05) == "pass"
    # A floor-sized loss not ruled out: not a pass.
    assert speedup_verdicts.ratio_status((1.0, 0.9, 1.1), 0.05) == "inconclusive"


def test_an_interval_at_a_family_confidence_does_not_move_with_the_bootstrap_seed() -> None:
    """At 15 gated cases each tail is 0.033 %: 0.67 of 2000 draws, so the percentile bound was an extreme
    draw or two and moved with the seed by 0.37 % of the speedup (1.1791..1.1835 against 1.1823 at
    200000 draws)."""
    from infergate.measuring.speedup_verdicts import family_confidence
    from infergate.measuring.stats import runs_speedup_estimate

    rng = np.random.default_rng(1)
    two = []
    for _ in range(2):
        eager = rng.lognormal(np.log(10), 0.05, 150)
        two.append(Samples({"eager": list(eager), "jit": list(eager / 1.2 * rng.lognormal(0, 0.08, 150))}))
    confidence = family_confidence(0.01, 15)
    lows = [runs_speedup_estimate(two, "jit", confidence=confidence, seed=seed).low for seed in range(5)]
    assert (max(lows) - min(lows)) / 1.2 < 0.0015, lows
    assert all(abs(low / 1.1823 - 1) < 0.003 for low in lows), lows
    # At 0.99 (10 draws in each tail) the interval is the bootstrap's percentiles, as before.
    one = runs_speedup_estimate(two[:1], "jit", confidence=0.99)
    assert (one.low, one.high) == pytest.approx(two[0].speedup_estimate("jit", confidence=0.99)[1:], rel=1e-12)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_a_round_time_no_timer_yields_is_refused_naming_it(bad: float) -> None:
    samples = Samples()
    samples.add_round({"eager": 10.0, "jit": 8.0})
    with pytest.raises(ValueError, match="round times must be finite and > 0"):
        samples.add_round({"eager": 10.0, "jit": bad})


@pytest.mark.parametrize("bad", [0.0, -1.2, math.nan, math.inf])
def test_a_speedup_no_timing_yields_gets_an_error_not_a_verdict(bad: float) -> None:
    from infergate.measuring.session_gate import components, judge

    comp = components([[[1.5, 1.51, 1.49]], [[1.2, 1.21]]], 1, 0.03)
    with pytest.raises(ValueError, match="speedups must be finite and > 0"):
        judge([1.5, bad], [[1.5, 1.51, 1.49]], comp, 0.05, 0.99)
