"""Fusion coverage of the profile's perf models: which fusions the executed TorchScript graph got.

Deterministic (node kinds, no timing): a fusion lost against this machine class and lane's
expectations fails naming the pattern and the counts; a new one is reported. The table is printed
in the terminal summary (and written with --ig-fusions-md). Patterns: infergate/measuring/fusion_patterns.py.
"""

from __future__ import annotations

import pytest

from infergate.pytest_plugin.fusion_plugin import FUSIONS_MARK


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
