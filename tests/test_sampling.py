"""Paired sampling and the slowdown injector: real timing, kept short (fake calls or a tiny model)."""

from __future__ import annotations

import dataclasses
import pickle
import time
from types import SimpleNamespace

import pytest

from infergate.building import variants
from infergate.building.variants import Variant
from infergate.matrix.dtypes import DType
from infergate.matrix.spec import ModelSpec
from infergate.matrix.zoo import ARCHS, SIZES, Task
from infergate.measuring.sampling import (
    Copy,
    ModelMeasurement,
    SamplingPlan,
    Slowed,
    busy_wait_ns,
    measure_model,
    measure_model_plans,
)

TINY = ModelSpec(ARCHS["bert"], Task.QA, SIZES["tiny"], "eager")
# One thread: on a shared 2-core machine a 2-thread OpenMP call stalls whenever a neighbour holds a
# core, and these tests must not depend on the neighbours.
QUICK = SamplingPlan(budget_s=0.3, warmup_s=0.1, min_rounds=15, max_rounds=60, threads=1)


def test_busy_wait_waits_at_least_the_duration() -> None:
    t0 = time.perf_counter_ns()
    busy_wait_ns(2_000_000)
    assert time.perf_counter_ns() - t0 >= 2_000_000


def test_slowed_adds_its_fraction_of_the_reference_after_the_call() -> None:
    calls = []
    s = Slowed(lambda inputs: calls.append(inputs) or (), 0.5)
    s.set_reference(4_000_000)
    assert s.delay_ns == 2_000_000
    t0 = time.perf_counter_ns()
    s({"x": 1})
    assert time.perf_counter_ns() - t0 >= 2_000_000
    assert calls == [{"x": 1}]


@pytest.mark.parametrize("fraction", [-0.1, 10.0])
def test_slowed_rejects_absurd_fractions(fraction: float) -> None:
    with pytest.raises(ValueError):
        Slowed(lambda inputs: (), fraction)


@pytest.mark.parametrize("kwargs", [dict(budget_s=0), dict(min_rounds=0), dict(min_rounds=5, max_rounds=4),
                                    dict(schedule="random")])
def test_plan_validates(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SamplingPlan(**kwargs)


class _Never(Variant):
    name = "never"

    def unavailable(self, dtype, caps):
        return "never available: a test variant"

    def _build(self, model, example, dtype):  # pragma: no cover - must not be reached
        raise AssertionError("an unavailable variant was built")


@pytest.fixture(scope="module")
def tiny_measurement() -> list[ModelMeasurement]:
    mp = pytest.MonkeyPatch()
    mp.setitem(variants.VARIANTS, "never", _Never())
    try:
        return measure_model_plans(
            TINY, DType.FP32, ("eager", "never"),
            (QUICK, SamplingPlan(budget_s=0.2, warmup_s=0.05, min_rounds=10, max_rounds=30, threads=1,
                                 schedule="blocks")),
            copies=(Copy("eager+0%", "eager"), Copy("eager+100%", "eager", 1.0)),
        )
    finally:
        mp.undo()


def test_unavailable_variant_is_skipped_with_its_reason(tiny_measurement) -> None:
    m = tiny_measurement[0]
    assert m.skipped == {"never": "never available: a test variant"}
    assert m.variants == ["eager", "eager+0%", "eager+100%"]


def test_every_variant_has_one_time_per_round_and_the_result_pickles(tiny_measurement) -> None:
    for m in tiny_measurement:
        assert 10 <= m.rounds <= 60
        assert {len(ts) for ts in m.times_ns.values()} == {m.rounds}
        assert m.threads >= 1 and m.measure_s > 0
        again = pickle.loads(pickle.dumps(m))
        assert again == m


def test_each_built_variant_has_its_cost_and_the_perf_summary_shows_it(tiny_measurement) -> None:
    from infergate.reports.summary import cost_table

    m = tiny_measurement[0]
    assert set(m.costs) == {"eager"}  # built variants only: copies are not builds, "never" was skipped
    cost = m.costs["eager"]
    assert cost.build_s >= cost.first_call_s > 0 and cost.peak_rise_mib >= 0
    result = SimpleNamespace(model_id=m.model_id, dtype="fp32", variant="eager", cost=dataclasses.asdict(cost))
    lines = cost_table([result, result])  # type: ignore[list-item]
    assert len(lines) == 3 and lines[2].split()[:3] == [m.model_id, "fp32", "eager"]


def test_injected_slowdown_is_measured_and_a_copy_of_itself_is_not(tiny_measurement) -> None:
    s = tiny_measurement[0].samples()
    slow = s.speedup_estimate("eager+100%", reference="eager+0%")  # a 2x slower copy: ratio ~0.5
    # The shared measurement is 0.3 s; on a loaded machine its interval was [0.03, 0.93] around
    # 0.43. Then the test measures again, longer, up to twice: the bound itself does not move.
    for _ in range(2):
        if slow.high < 0.8:
            break
        again = SamplingPlan(budget_s=1.5, warmup_s=0.3, min_rounds=30, max_rounds=600, threads=1)
        s = measure_model(TINY, DType.FP32, ("eager",), again,
                          copies=(Copy("eager+0%", "eager"), Copy("eager+100%", "eager", 1.0))).samples()
        slow = s.speedup_estimate("eager+100%", reference="eager+0%")
    assert slow.high < 0.8, slow
    same = s.speedup_estimate("eager+0%", reference="eager")
    assert same.low < 1.0 < same.high or abs(same.point - 1.0) < 0.1, same


def test_measure_model_rejects_a_copy_of_a_variant_it_did_not_build() -> None:
    with pytest.raises(ValueError, match="not built"):
        measure_model(TINY, DType.FP32, ("eager",), QUICK, copies=(Copy("x", "jit"),))


class _Broken(Variant):
    name = "broken"

    def unavailable(self, dtype, caps):
        return None

    def _build(self, model, example, dtype):
        raise RuntimeError("trace failed here")


def test_a_variant_that_fails_to_build_is_reported_and_the_others_are_measured(monkeypatch) -> None:
    monkeypatch.setitem(variants.VARIANTS, "broken", _Broken())
    m = measure_model(TINY, DType.FP32, ("eager", "broken"), QUICK)
    assert m.failed == {"broken": "BuildError: broken/fp32 build failed: RuntimeError: trace failed here"}
    assert m.variants == ["eager"] and m.times_ns["eager"] and "broken" not in m.costs


def test_a_copy_of_a_variant_that_failed_to_build_says_the_build_error(monkeypatch) -> None:
    from infergate.core.errors import BuildError

    monkeypatch.setitem(variants.VARIANTS, "broken", _Broken())
    with pytest.raises(BuildError, match="copy 'broken\\+5%' of broken: BuildError: broken/fp32 build failed"):
        measure_model(TINY, DType.FP32, ("eager", "broken"), QUICK, copies=(Copy("broken+5%", "broken", 0.05),))


@pytest.mark.parametrize("bad", [{"budget_s": float("inf")}, {"warmup_s": float("nan")},
                                 {"warmup_s": float("inf")}, {"budget_s": float("nan")}])
def test_a_plan_refuses_a_budget_or_warm_up_that_is_not_finite(bad) -> None:
    """An infinite budget or warm-up never ends (NaN warm-up was accepted: it compared as not < 0)."""
    with pytest.raises(ValueError, match="finite"):
        SamplingPlan(**bad)


def test_envprobe_budget_is_checked_like_every_seconds_option(capsys) -> None:
    from infergate.commands import envprobe

    with pytest.raises(SystemExit) as exit_info:
        envprobe.main(["--budget", "inf"])
    assert exit_info.value.code == 2 and "inf must be in (0, 600] seconds" in capsys.readouterr().err


def test_the_seed_fixes_the_order_of_the_timed_rounds_however_long_the_warm_up() -> None:
    """The warm-up, which runs for a wall-clock time, drew its orders from the timed rounds' generator."""
    from infergate.measuring.sampling import ModelMeasurement, sample_rounds

    def timed_order(warmup_s: float) -> list[str]:
        log: list[str] = []
        def call(name: str):
            return lambda inputs: log.append(name)

        calls = {v: call(v) for v in ("eager", "jit", "compile")}
        m = ModelMeasurement("m", "fp32", list(calls), {k: [] for k in calls})
        sample_rounds(calls, {}, SamplingPlan(budget_s=1e-6, warmup_s=warmup_s, min_rounds=8, max_rounds=8), m)
        return log[-24:]

    assert timed_order(0.0) == timed_order(0.003) == timed_order(0.007)
