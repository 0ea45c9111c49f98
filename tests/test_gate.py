"""The speedup gate: a slowed variant fails, a clean re-run passes, bad baseline files are refused
in one message and left as they were, and a missing baseline is one line, not a failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from infergate import baselines as bl
from infergate import perf_plugin
from infergate.cases import Case, get_profile
from infergate.dtypes import DType
from infergate.errors import DataFileError
from infergate.models import ModelSpec
from infergate.perf_plugin import PerfRun, no_baseline_line
from infergate.sampling import Copy, ModelMeasurement, SamplingPlan, measure_model
from infergate.stats import NoiseReport
from infergate.stats import RunSpread
from infergate.summary import format_table, judge, results_json
from infergate.zoo import ARCHS, SIZES, Task

ROOT = Path(__file__).resolve().parent.parent
SPEC = ModelSpec(ARCHS["bert"], Task.QA, SIZES["small"], "eager")
CASE = Case(SPEC, "jit", DType.FP32)
MACHINE, LANE = "test-cpu__avx2__2c2t", "torch-0__noipex__tf-0"
QUIET = NoiseReport(())


def synthetic(
    variant_ms: float, eager_ms: float = 10.0, rounds: int = 150, seed: int = 0
) -> ModelMeasurement:
    """Paired rounds: a per-round machine factor shared by both variants plus per-call noise."""
    rng = np.random.default_rng(seed)
    machine = rng.lognormal(0.0, 0.05, rounds)
    times = {
        name: [int(ms * 1e6 * f * g) for f, g in zip(machine, rng.lognormal(0.0, 0.02, rounds))]
        for name, ms in (("eager", eager_ms), ("jit", variant_ms))
    }
    return ModelMeasurement(SPEC.id, "fp32", ["eager", "jit"], times, threads=2, rounds=rounds,
                            measure_s=1.0, seed=seed, load_start=0.0, load_end=0.0)


def make_run(root: Path, **kwargs) -> PerfRun:
    # worker_timeout set (not None) only so that repeat > 1 is allowed: nothing is measured here,
    # the tests put measurements in and replace ``measure`` for re-measures.
    defaults = dict(profile=get_profile("smoke"), baselines_root=root, update=False, results_path=None,
                    floor=0.05, alpha=0.01, budget_s=1.0, require_baseline=False, machine_class=MACHINE,
                    lane=LANE, worker_timeout=60.0, load_start=0.0)
    defaults.update(kwargs)
    return PerfRun(**defaults)


def runs(variant_ms: float, first_seed: int, n: int = 5) -> list[ModelMeasurement]:
    return [synthetic(variant_ms, seed=first_seed + i) for i in range(n)]


def record(root: Path, measured: list[ModelMeasurement], floor: float | None = None) -> None:
    run = make_run(root, update=True, repeat=len(measured))
    run.prepare([CASE])
    run.measurements[(SPEC.id, "fp32")] = measured
    run.run_case(CASE)
    run.record_baselines()
    if floor is not None:  # a hand-set per-case floor, as a reviewer would add it
        data = bl.load(run.baseline_path)
        case = data.cases[CASE.id]
        hand_edited = bl.CaseBaseline(**{**case.__dict__, "floor": floor})
        bl.update(run.baseline_path, {CASE.id: hand_edited}, MACHINE, LANE)


def gate(root: Path, m: ModelMeasurement, confirmation: list[ModelMeasurement], monkeypatch, **kw):
    run = make_run(root, **kw)
    run.prepare([CASE])
    run.measurements[(SPEC.id, "fp32")] = [m]
    remeasured = []
    queue = list(confirmation)

    def fake_measure(spec, dtype, variants, plan, worker_timeout):
        remeasured.append((variants, plan.seed))
        return queue.pop(0)

    monkeypatch.setattr(perf_plugin, "measure", fake_measure)
    return run, run.run_case(CASE), remeasured


def test_a_slowed_variant_fails_the_gate_after_confirming_re_measures(tmp_path, monkeypatch) -> None:
    record(tmp_path, runs(7.0, 1))
    slowed = synthetic(7.0 * 1.10, seed=20)  # 10% slower: speedup 1.43 -> 1.30
    run, result, remeasured = gate(tmp_path, slowed, runs(7.0 * 1.10, 21, 3), monkeypatch)
    assert result.verdict == "regression" and result.failed, result.message
    # Only the flagged variant, against eager, in three fresh runs with seeds no first run used.
    assert remeasured == [(("eager", "jit"), 1), (("eager", "jit"), 2), (("eager", "jit"), 3)]
    assert "confirmed by 3 re-measure(s)" in result.message and "4 run(s)" in result.message


def test_an_unchanged_variant_passes_without_a_re_measure(tmp_path, monkeypatch) -> None:
    record(tmp_path, runs(7.0, 1))
    run, result, remeasured = gate(tmp_path, synthetic(7.0, seed=30), [], monkeypatch)
    assert (result.verdict, remeasured) == ("pass", []), result.message
    assert result.baseline is not None and result.ci[0] < result.speedup < result.ci[1]
    assert result.baseline_runs == 5 and result.runs == 1


def test_a_flag_the_re_measures_do_not_confirm_does_not_fail(tmp_path, monkeypatch) -> None:
    record(tmp_path, runs(7.0, 1))
    run, result, _ = gate(tmp_path, synthetic(7.7, seed=20), runs(6.9, 40, 3), monkeypatch)
    assert result.verdict == "unconfirmed" and not result.failed, result.message


def test_without_re_measures_the_first_run_decides_at_the_family_confidence(tmp_path, monkeypatch) -> None:
    record(tmp_path, runs(7.0, 1))
    run, result, remeasured = gate(tmp_path, synthetic(7.7, seed=20), [], monkeypatch, confirm_runs=0)
    assert (result.verdict, remeasured) == ("regression", []), result.message


def test_a_per_case_floor_in_the_baseline_overrides_the_default(tmp_path, monkeypatch) -> None:
    record(tmp_path, runs(7.0, 1), floor=0.25)
    run, result, remeasured = gate(tmp_path, synthetic(7.7, seed=20), [], monkeypatch)
    assert (result.verdict, result.floor, remeasured) == ("pass", 0.25, []), result.message


def test_recording_keeps_a_hand_set_floor_and_replaces_the_runs(tmp_path) -> None:
    record(tmp_path, runs(7.0, 1), floor=0.2)
    record(tmp_path, runs(7.0, 6, 3))
    case = bl.load(make_run(tmp_path).baseline_path).cases[CASE.id]
    assert case.floor == 0.2 and len(case.runs) == 3


def test_a_noisy_machine_is_reported_untrustworthy_not_failed(tmp_path) -> None:
    record(tmp_path, runs(7.0, 1))
    run = make_run(tmp_path)
    run.prepare([CASE])
    base, spread = run.baseline.cases[CASE.id], run.spreads[("jit", "median-of-round-ratios")]
    noisy = NoiseReport(("load average 3.10 at start exceeds 1.00",))
    samples = [synthetic(7.7, seed=20).samples(["eager", "jit"])]
    verdict, message, _ = judge(samples, "jit", base, spread, 0.05, 0.99, noisy)
    assert verdict == "untrustworthy" and "load average 3.10" in message
    assert judge(samples, "jit", base, spread, 0.05, 0.99, QUIET)[0] == "regression"


def test_a_baseline_of_single_runs_is_not_gated_and_says_how_to_fix_it(tmp_path, monkeypatch) -> None:
    record(tmp_path, runs(7.0, 1, 1))
    run, result, remeasured = gate(tmp_path, synthetic(7.7, seed=20), [], monkeypatch)
    assert (result.verdict, remeasured) == ("untrustworthy", []), result.message
    assert "--ig-repeat 5" in result.message and not result.failed


def test_the_spread_is_pooled_per_variant(tmp_path) -> None:
    record(tmp_path, runs(7.0, 1))
    run = make_run(tmp_path)
    run.prepare([CASE])
    key = ("jit", "median-of-round-ratios")
    assert set(run.spreads) == {key} and run.spreads[key].df == 4 and run.spreads[key].sd > 0


def test_repeat_needs_worker_processes(tmp_path) -> None:
    with pytest.raises(DataFileError, match="--ig-isolate never"):
        make_run(tmp_path, repeat=3, worker_timeout=None).prepare([CASE])


def test_family_confidence_widens_with_the_number_of_cases(tmp_path) -> None:
    run = make_run(tmp_path)
    run.prepare([CASE])
    one = run.confidence
    run.prepare([Case(SPEC, v, DType.FP32) for v in ("eager", "jit", "jit_ipex", "compile")] * 3)
    assert one == pytest.approx(0.99) and run.confidence > one


# --------------------------------------------------------------------------------------------
# Baseline files


def test_no_baseline_is_one_line_and_no_failure(tmp_path) -> None:
    run = make_run(tmp_path)
    run.prepare([CASE])
    assert run.notes == [no_baseline_line(run.baseline_path, MACHINE, LANE)]
    assert "\n" not in run.notes[0] and MACHINE in run.notes[0] and "not gated" in run.notes[0]
    run.measurements[(SPEC.id, "fp32")] = [synthetic(7.0)]
    result = run.run_case(CASE)
    assert result.verdict == "no-baseline" and not result.failed


def test_require_baseline_turns_a_missing_baseline_into_an_error(tmp_path) -> None:
    with pytest.raises(DataFileError, match="--ig-require-baseline"):
        make_run(tmp_path, require_baseline=True).prepare([CASE])


@pytest.mark.parametrize("content", [b'{"schema": "infergate-baselines", "version": 1, "cases": {', (
    b'{"schema": "infergate-baselines", "version": 99, "history": [], "machine_class": "m", '
    b'"lane": "l", "cases": {}}\n')], ids=["truncated", "future-version"])
def test_a_bad_baseline_file_is_one_message_and_left_untouched(tmp_path, content: bytes) -> None:
    run = make_run(tmp_path, update=True)
    run.baseline_path.parent.mkdir(parents=True)
    run.baseline_path.write_bytes(content)
    with pytest.raises(DataFileError) as exc:
        run.prepare([CASE])
    assert str(run.baseline_path) in str(exc.value) and "\n" not in str(exc.value)
    run.measurements[(SPEC.id, "fp32")] = [synthetic(7.0)]
    run.baseline = None
    run.run_case(CASE)
    with pytest.raises(DataFileError):  # and an update refuses to overwrite it
        run.record_baselines()
    assert run.baseline_path.read_bytes() == content


def test_the_suite_stops_on_a_bad_baseline_file_with_one_error_line(tmp_path) -> None:
    from infergate.machine import lane_id, lane_versions, machine_class

    path = bl.baseline_path(tmp_path, machine_class(), lane_id(lane_versions()))
    path.parent.mkdir(parents=True)
    content = b'{"schema": "infergate-baselines", "version": 4, "history": []}\n'
    path.write_bytes(content)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "perf/test_speedups.py", "--collect-only", "-q",
         "--ig-profile", "smoke", "--ig-baselines", str(tmp_path), "--ig-update-baselines"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if str(path) in line]
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    assert len(errors) == 1 and "version 4" in errors[0]
    assert path.read_bytes() == content


# --------------------------------------------------------------------------------------------
# Output, and the injector end to end on a tiny model


def test_table_and_json_carry_the_verdicts(tmp_path) -> None:
    run = make_run(tmp_path)
    run.prepare([Case(SPEC, "eager", DType.FP32), CASE])
    run.measurements[(SPEC.id, "fp32")] = [synthetic(7.0)]
    results = [run.run_case(Case(SPEC, "eager", DType.FP32)), run.run_case(CASE)]
    lines = format_table(results)
    assert lines[0].split()[:3] == ["case", "ms", "speedup"] and "no-baseline" in lines[2]
    data = results_json(results, run.machine_info())
    assert {"machine_class", "lane"} <= data["machine_info"].keys()
    extra = data["benchmarks"][1]["extra_info"]
    assert {"variant", "dtype", "lane", "threads", "speedup", "ci", "baseline", "verdict"} <= extra.keys()
    assert data["benchmarks"][1]["stats"]["rounds"] == 150


def test_the_slowdown_injector_on_a_tiny_model_fails_the_gate() -> None:
    tiny = ModelSpec(ARCHS["bert"], Task.QA, SIZES["tiny"], "eager")
    plan = SamplingPlan(budget_s=0.6, warmup_s=0.1, min_rounds=30, max_rounds=150, threads=1)
    m = measure_model(tiny, DType.FP32, ("eager",), plan, copies=(Copy("slow", "eager", 1.0),))
    # The stored baseline says "as fast as eager", within 2 % between runs; the injected 2x
    # slowdown must fail against it.
    run = bl.RunRecord(speedup=1.0, ci=(0.98, 1.02), rounds=m.rounds, median_ms={"eager": 1.0},
                       recorded="2025-01-01T00:00:00")
    baseline = bl.CaseBaseline(runs=(run,) * 3, confidence=0.99)
    spread = RunSpread(0.02, 4)
    verdict, message, est = judge([m.samples()], "slow", baseline, spread, 0.05, 0.99, QUIET)
    assert verdict == "regression", message
    assert est.point < 0.8, est  # not exactly 0.5: a spin on a loaded machine is preempted too


def test_the_run_command_records_several_runs_unless_told_otherwise() -> None:
    from infergate.cli import RECORD_RUNS, pytest_args

    recording = pytest_args("default", True, None, [])
    assert recording[recording.index("--ig-repeat") + 1] == str(RECORD_RUNS) == "5"
    assert "--ig-repeat" not in pytest_args("default", False, None, [])  # the option's default applies
    explicit = pytest_args("default", True, 3, ["-k", "bert"])
    assert explicit[explicit.index("--ig-repeat") + 1] == "3" and explicit[-2:] == ["-k", "bert"]


def test_a_baseline_of_another_thread_count_is_not_compared(tmp_path, monkeypatch) -> None:
    record(tmp_path, runs(7.0, 1))  # synthetic runs say threads=2
    one_thread = synthetic(7.7, seed=20)
    one_thread.threads = 1
    run, result, remeasured = gate(tmp_path, one_thread, [], monkeypatch)
    assert result.verdict == "untrustworthy" and not result.failed and remeasured == []
    assert "measured with 2 torch thread(s), this run with 1" in result.message


def test_a_baseline_of_the_earlier_estimator_is_judged_that_way_and_says_so(tmp_path, monkeypatch) -> None:
    record(tmp_path, runs(7.0, 1))
    path = make_run(tmp_path).baseline_path
    case = bl.load(path).cases[CASE.id]
    bl.update(path, {CASE.id: bl.CaseBaseline(**{**case.__dict__, "estimator": "ratio-of-medians"})},
              MACHINE, LANE)
    slower = [synthetic(8.4, seed=30 + i) for i in range(3)]  # 20 % slower
    run, result, remeasured = gate(tmp_path, synthetic(8.4, seed=20), slower, monkeypatch)
    assert set(run.spreads) == {("jit", "ratio-of-medians")}  # pooled only with its own kind
    assert result.verdict == "regression" and result.failed, result.message
    assert "judged as ratio-of-medians, as the baseline was recorded" in result.message
