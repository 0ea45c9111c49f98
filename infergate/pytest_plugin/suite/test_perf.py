"""Speedup of every variant over eager, gated against this machine class and lane's baselines, and
fusion coverage against the expectations (patterns: infergate/measuring/fusion_patterns.py)."""

from __future__ import annotations

import pytest

from infergate.pytest_plugin.fusion_plugin import FUSIONS_MARK
from infergate.pytest_plugin.perf_plugin import PERF_MARK, record_benchmark, settle_outcome

# Collected as itself (a user's project): the configured models only (suite/__init__.py).
CONFIGURED_MODELS_ONLY = True


@getattr(pytest.mark, PERF_MARK)
def test_speedup(perf_case, perf_run, benchmark):
    result = settle_outcome(perf_run.run_case(perf_case))
    record_benchmark(benchmark, result)
    assert not result.failed, f"{result.case_id}: {result.message}"


@getattr(pytest.mark, FUSIONS_MARK)
def test_no_fusion_lost(case, fusion_counts, fusion_session):
    try:
        counts = fusion_counts(case)  # in a worker where --ig-isolate says so (IPEX builds, by default)
    except pytest.skip.Exception as exc:  # found unavailable at build time: keep its row in the table
        fusion_session.skipped(case, str(exc.msg))
        raise
    failure = fusion_session.check(case, counts)
    if failure:
        pytest.fail(failure, pytrace=False)
    unchecked = fusion_session.unchecked(case)
    if unchecked:
        pytest.skip(unchecked)
