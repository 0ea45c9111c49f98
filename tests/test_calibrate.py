"""The calibration harness on synthetic trials: its rules, its table and its saved trials."""

from __future__ import annotations

import json

import numpy as np
import pytest

from infergate.commands import calibrate, calibration_report, calibration_rules, calibration_trials
from infergate.core.errors import UsageError
from infergate.measuring.sampling import ModelMeasurement

# Pure Python: the same in both lanes (same Python, numpy, pytest, hypothesis): current lane only
# in ./suite test (tests/README.md).
pytestmark = pytest.mark.lane_independent

SLOWDOWNS = (2, 10)


def trial(seed: int, process_sd: float = 0.003, rounds: int = 200) -> calibration_trials.Trial:
    """Eager 10 ms, jit 7 ms times a per-process factor (the between-run spread), copies slowed by
    0/2/10 %, a per-round machine factor shared by the round, and per-call noise."""
    rng = np.random.default_rng(seed)
    jit_ms = 7.0 * float(np.exp(rng.normal(0.0, process_sd)))
    means = {"eager": 10.0, "jit": jit_ms, **{calibration_trials.copy_name("jit", p): jit_ms * (1 + p / 100)
                                              for p in (0, *SLOWDOWNS)}}
    machine = rng.lognormal(0.0, 0.03, rounds)
    times = {v: [int(ms * 1e6 * f * g) for f, g in zip(machine, rng.lognormal(0.0, 0.01, rounds), strict=True)]
             for v, ms in means.items()}
    shuffled = ModelMeasurement("m", "fp32", list(means), times, threads=1, rounds=rounds, measure_s=4.0)
    blocks = ModelMeasurement("m", "fp32", list(means), {v: t[:50] for v, t in times.items()}, threads=1,
                              rounds=50, measure_s=1.0, schedule="blocks")
    return calibration_trials.Trial(shuffled, blocks, 10.0)


def test_rules_catch_a_large_slowdown_and_stay_quiet_on_a_a() -> None:
    trials = [trial(s) for s in range(calibration_rules.min_trials() + 3)]
    rules = calibration_rules.judge_trials(trials, "jit", SLOWDOWNS, (0.05,))
    n = len(trials)
    assert rules["within"].hits[0] == 0 and rules["within"].hits[10] == n
    assert rules["within-floor"].hits[0] == 0 and rules["within-floor"].hits[10] == n
    assert rules["same@0.05"].hits[0] == 0 and rules["same@0.05"].hits[10] == n
    assert rules["same@0.05"].hits[2] == 0  # below half the floor: never a regression
    assert rules["staged@0.05"].hits[0] == 0  # a one-session baseline: the prior decides what it sees
    assert all(t.trials == n for t in rules.values())


def test_a_large_between_run_spread_makes_the_staged_gate_cautious_not_wrong() -> None:
    trials = [trial(s, process_sd=0.05) for s in range(calibration_rules.min_trials() + 3)]
    rules = calibration_rules.judge_trials(trials, "jit", SLOWDOWNS, (0.05,))
    assert rules["staged@0.05"].hits[0] == 0
    assert rules["staged@0.05"].hits[10] < len(trials)  # it cannot see 10 % through 5 % process noise


def test_report_is_a_markdown_table_with_the_spread(tmp_path) -> None:
    trials = [trial(s) for s in range(calibration_rules.min_trials())]
    spec = calibration_trials.find_spec("bert-qa-small-eager_attn")
    lines = calibration_report.report(trials, spec, "jit", SLOWDOWNS, (0.05,), (0.1, 0.2), ["--trials", "9"])
    table = [line for line in lines if line.startswith("|")]
    assert table[0].startswith("| rule | A/A false alarms | 2% caught | 10% caught |") and len(table) == 10
    assert any("ratio of medians (the issue's reference rule)" in line for line in table)
    spread = [line for line in lines if "between-run sd of the log-speedup" in line]
    assert [line.split(":")[0] for line in spread] == ["- median of per-round ratios", "- ratio of medians"]
    assert any(line.startswith("- Scatter within a trial: single calls of jit") for line in lines)


def test_saved_trials_load_back_and_a_foreign_file_is_refused(tmp_path) -> None:
    trials = [trial(s) for s in range(3)]
    path = tmp_path / "trials.json"
    calibration_trials.save_trials(str(path), trials, {"model": "m", "variant": "jit"})
    loaded, meta = calibration_trials.load_trials(str(path))
    assert meta["variant"] == "jit" and [t.shuffled.times_ns for t in loaded] == [t.shuffled.times_ns for t in trials]
    path.write_text(json.dumps({"schema": "something-else", "version": 1}))
    with pytest.raises(UsageError, match="not an infergate-calibration-trials file of version 1"):
        calibration_trials.load_trials(str(path))


def test_too_few_trials_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        calibrate.main(["--trials", "3"])
    assert exc.value.code == 2 and f">= {calibration_rules.min_trials()}" in capsys.readouterr().err


def test_the_emulated_family_confidence_is_the_default_profiles() -> None:
    from infergate.building.cases import get_profile, perf_cases
    from infergate.building.variants import default_variants
    from infergate.matrix.dtypes import DType

    gated = [c for c in perf_cases(get_profile("default")) if c.variant != "eager" and c.dtype is DType.FP32]
    assert calibrate.DEFAULT_GATED_CASES == len(gated)
    assert {c.variant for c in gated} == set(default_variants()) - {"eager"}
    assert calibration_rules.GateShape(gated_cases=12).confidence == pytest.approx(1 - 0.01 / 12)


@pytest.mark.parametrize("name", ["a27", "b40", "t1", "t1s", "x1", "xi"])
def test_every_committed_calibration_file_loads(name: str) -> None:
    # docs/calibration.md's tables are re-judged from these files; older ones carry keys a later
    # ModelMeasurement dropped (build_s), which once made every `calibrate --load` a traceback.
    trials, meta = calibration_trials.load_trials(f"docs/calibration-data/{name}.json.gz")
    assert len(trials) >= 2 and all(t.shuffled.times_ns and t.blocks.times_ns for t in trials)
    # What the tables are re-judged by: the model and variant timed, and the slowdowns injected.
    assert {"model", "variant", "slowdowns", "argv"} <= meta.keys() and "trials" not in meta
