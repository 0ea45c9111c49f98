"""Where a claims run's time went (measuring/claims_time.py): every worker's builds, rounds counted
once per moment, and the rows whose files kept only the first worker's builds said so."""

from __future__ import annotations

import pytest

from infergate.measuring.claims_measure import ClaimMeasurement, Trial
from infergate.measuring.claims_time import time_lines, time_spent, time_summary
from infergate.measuring.sampling import Cost, ModelMeasurement


def _timing(warmup: float, timed: float, builds: dict[str, float] | None = None) -> ModelMeasurement:
    return ModelMeasurement("m-b1s128", "fp32", ["eager"], {"eager": [1]}, warmup_s=warmup, measure_s=timed,
                            costs={v: Cost(s, 0.1, 1.0, 1.0) for v, s in (builds or {}).items()})


def _row(trials: list[Trial], wall: float, costs: dict[str, float] | None = None) -> ClaimMeasurement:
    return ClaimMeasurement("m", "bert", "seqcls", "b1s128", "fp32", wall_s=wall, trials=trials,
                            costs={v: Cost(s, 0.1, 1.0, 1.0) for v, s in (costs or {}).items()})


def test_every_workers_builds_and_rounds_are_summed_and_the_rest_is_other() -> None:
    trials = [Trial(p, "torch", _timing(2.0, 15.0, {"jit": 1.0, "compile": 30.0 + p})) for p in range(3)]
    spent = time_spent([_row(trials, wall=180.0)])
    assert spent.builds == {"jit": 3.0, "compile": 93.0}
    assert (spent.warmup, spent.timed, spent.workers, spent.workers_with_builds) == (6.0, 45.0, 3, 3)
    assert spent.other == pytest.approx(180.0 - 96.0 - 51.0)
    lines, note = time_lines([_row(trials, wall=180.0)], ["jit", "compile"])
    assert "| build `compile` | 1.6 | 52% |" in lines and "| in the 3 workers | 3.0 | 100% |" in lines
    assert not any("not recorded" in line for line in lines) and note == ""
    assert time_summary([_row(trials, wall=180.0)]).startswith("time in workers 3.0 min: builds 1.6 (compile 1.6)")


def test_a_lockstep_pairs_shared_rounds_count_once_and_both_builds_count() -> None:
    pair = [Trial(0, "torch", _timing(3.0, 20.0, {"jit": 2.0}), lockstep=True),
            Trial(0, "ipex", _timing(4.0, 21.0, {"jit_ipex": 10.0}), lockstep=True)]
    spent = time_spent([_row(pair, wall=60.0)])
    assert (spent.warmup, spent.timed) == (4.0, 21.0)  # the longer of the pair, not 7 and 41
    assert spent.builds == {"jit": 2.0, "jit_ipex": 10.0} and spent.workers == 2


def test_rows_that_kept_only_the_first_workers_builds_say_so() -> None:
    old = [Trial(p, "torch", _timing(2.0, 15.0)) for p in range(3)]  # written before trials kept builds
    spent = time_spent([_row(old, wall=150.0, costs={"compile": 30.0})])
    assert spent.builds == {"compile": 30.0} and (spent.workers, spent.workers_with_builds) == (3, 1)
    lines, note = time_lines([_row(old, wall=150.0, costs={"compile": 30.0})], ["compile"])
    assert any("the builds not recorded" in line for line in lines)
    assert note.startswith("Builds recorded for 1 of the 3 workers")


def test_nothing_built_is_said_and_gives_no_table() -> None:
    skipped = ClaimMeasurement("m", "bert", "seqcls", "b1s128", "bf16", skipped={"jit": "no BF16"})
    assert time_lines([skipped], ["jit"]) == ([], "")
    assert time_summary([skipped]) == "time in workers: none (nothing was built or timed)"


def test_a_merged_row_keeps_each_workers_own_builds_with_its_timing() -> None:
    from infergate.commands.claims_cli import _merge, plan_rows
    from infergate.matrix.dtypes import DType
    from infergate.matrix.zoo import Task

    row = plan_rows(["bert"], [Task.SEQ_CLS], "tiny", "eager", [DType.FP32])[0]
    parts = [(p, "torch", ClaimMeasurement("m", "bert", "seqcls", "b1s16", "fp32", timing=_timing(1.0, 5.0),
                                           costs={"compile": Cost(20.0 + p, 0.1, 1.0, 1.0)}, wall_s=40.0))
             for p in range(3)]
    merged = _merge(row, parts)
    assert [t.timing.costs["compile"].build_s for t in merged.trials] == [20.0, 21.0, 22.0]
    assert merged.costs["compile"].build_s == 20.0  # the row's own: the first worker's, as before
    assert time_spent([merged]).builds == {"compile": 63.0}
