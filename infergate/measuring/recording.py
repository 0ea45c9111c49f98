"""A perf run's runs as a baseline stores them (``--ig-update-baselines``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from ..building.variants import REFERENCE
from .baseline_records import CaseBaseline, RunRecord
from .staging import RECORD_CONFIDENCE
from .stats import ESTIMATOR, Samples


def run_record(variant: str, samples: Samples, session: str, recorded: str | None = None) -> RunRecord:
    """One run as a baseline stores it, at RECORD_CONFIDENCE."""
    now = recorded or datetime.now(timezone.utc).isoformat(timespec="seconds")
    est = samples.speedup_estimate(variant, confidence=RECORD_CONFIDENCE)
    return RunRecord(speedup=est.point, ci=(est.low, est.high), rounds=samples.rounds,
                     median_ms={REFERENCE: samples.median(REFERENCE), variant: samples.median(variant)},
                     recorded=now, session=session)


def to_case_baseline(variant: str, runs: Sequence[Samples] | Sequence[RunRecord], environment: Mapping[str, Any],
                     previous: CaseBaseline | None, session: str) -> CaseBaseline:
    """This host session's runs, to append to the case's earlier ones; hand-set floor and fusions are kept."""
    records = tuple(r if isinstance(r, RunRecord) else run_record(variant, r, session) for r in runs)
    return CaseBaseline(
        runs=records,
        confidence=RECORD_CONFIDENCE,
        environment=dict(environment),
        floor=previous.floor if previous is not None else None,
        fusions=previous.fusions if previous is not None else None,
        estimator=ESTIMATOR,
    )
