"""Speedup of every variant over eager, per model x variant x dtype of the profile's perf matrix.

All variants of one model are measured together (same-run shuffled rounds) when its first case
runs; each case then gates its own speedup against the baseline of this machine class and lane.
Latency goes into pytest-benchmark's stats from those same samples (no second timing).
"""

from __future__ import annotations

import pytest

from infergate.pytest_plugin.perf_plugin import PERF_MARK, record_benchmark, settle_outcome


@getattr(pytest.mark, PERF_MARK)
def test_speedup(perf_case, perf_run, benchmark):
    result = settle_outcome(perf_run.run_case(perf_case))
    record_benchmark(benchmark, result)
    assert not result.failed, f"{result.case_id}: {result.message}"
