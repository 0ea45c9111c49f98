"""The perf run's results: each case's verdict from the gate, the terminal table and the JSON.

Plain functions of plain data, so the gate is tested without pytest or torch (tests/test_gate.py).

The gate, per case (speedup = eager / variant, measured in the same run, never absolute times):
1. a baseline is several runs of the case, each a separate process; the spread of those runs,
   pooled over the baseline file's cases of the same variant (``stats.pooled_spread``), is the
   noise a run from another day carries, which one run's bootstrap interval cannot see;
2. screen: today's run(s) against the baseline runs (``stats.runs_verdict``) at the lenient
   ``SCREEN_CONFIDENCE``; most cases stop here;
3. a flagged case is re-measured in ``confirm_runs`` fresh processes and fails only if *all* its
   runs together are a regression at the *family* confidence (``stats.family_confidence`` over
   all gated cases), so the chance of any false alarm in a whole run, not per case, is bounded by
   ``alpha`` whatever the screen did: the screen only decides where to spend re-measuring time;
4. a run the machine made unreliable (``stats.noise_report``: load, over-wide intervals) is
   reported "untrustworthy" instead of failing or passing on numbers nobody should believe.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from .baselines import BaselineFile, CaseBaseline, RunRecord
from .stats import (
    ESTIMATOR, Estimate, NoiseReport, RunSpread, Samples, pooled_spread, runs_speedup_estimate, runs_verdict,
)

# The confidence recorded in baselines: one fixed level, so files from different runs (with
# different numbers of cases, hence different family confidences) are always comparable.
RECORD_CONFIDENCE = 0.99
DEFAULT_FLOOR = 0.05
DEFAULT_FAMILY_ALPHA = 0.01
# Screening only decides which cases get re-measured (the verdict is taken at the family
# confidence on all runs), so it is lenient: one-sided 1 % per case, i.e. on a clean run of nine
# cases about one run in eleven spends time re-measuring one case.
SCREEN_CONFIDENCE = 0.98
DEFAULT_CONFIRM_RUNS = 3
# Measured with `python -m infergate.calibrate` on the 2-core machine (docs/calibration.md): the
# speedup's sd between processes was ~3 % with 2 torch threads and ~1.7 % with 1, while eager got
# only ~10 % slower (the free core absorbs the pytest process and the OS). With that spread one
# run per model cannot see a 5 % drop reliably; two can (docs/calibration.md).
DEFAULT_THREADS = 1
DEFAULT_REPEAT = 2
# Fewer runs leave the between-run spread and the baseline's own mean too uncertain to gate on.
MIN_SPREAD_DF = 2

Verdict = Literal[
    "reference", "no-baseline", "pass", "improvement", "regression", "unconfirmed", "untrustworthy"
]
FAILING: frozenset[str] = frozenset({"regression"})


@dataclass
class CaseResult:
    case_id: str
    model_id: str
    variant: str
    dtype: str
    lane: str
    threads: int
    rounds: int
    median_ms: float
    eager_median_ms: float
    speedup: float
    ci: tuple[float, float]  # at ``confidence``
    confidence: float
    verdict: Verdict
    message: str
    baseline: float | None = None
    baseline_ci: tuple[float, float] | None = None  # lowest and highest baseline run
    runs: int = 1
    baseline_runs: int = 0
    floor: float | None = None
    noise: tuple[str, ...] = ()
    measure_s: float = 0.0
    times_s: list[float] = field(default_factory=list, repr=False)  # the variant's raw samples

    @property
    def failed(self) -> bool:
        return self.verdict in FAILING


def run_speedups(runs: Sequence[Samples], variant: str, estimator: str = ESTIMATOR) -> list[float]:
    return [r.speedup(variant, estimator=estimator) for r in runs]


SpreadKey = tuple[str, str]  # (variant, estimator)


def spreads(baseline: BaselineFile | None) -> dict[SpreadKey, RunSpread]:
    """Between-run spread per variant and estimator, pooled over the file's cases of that variant
    (the non-eager key of a run's median_ms) recorded with that estimator: compile and TorchScript
    need not scatter alike, and a ratio of medians scatters more than a median of round ratios."""
    groups: dict[SpreadKey, list[tuple[float, ...]]] = {}
    for case in (baseline.cases.values() if baseline else ()):
        variant = next((v for v in case.runs[0].median_ms if v != "eager"), "eager")
        groups.setdefault((variant, case.estimator), []).append(case.speedups)
    return {key: pooled_spread(g) for key, g in groups.items()}


def judge(
    runs: Sequence[Samples],
    variant: str,
    baseline: CaseBaseline | None,
    spread: RunSpread | None,
    floor: float,
    confidence: float,
    noise: NoiseReport,
    remeasure: Callable[[], Sequence[Samples]] | None = None,
) -> tuple[Verdict, str, Estimate]:
    """One case's verdict from its runs. Returns (verdict, message, speedup estimate).

    ``remeasure`` gives fresh runs of the case; it is called only when the screen flags it.
    """
    if variant == "eager":
        est = Estimate(1.0, 1.0, 1.0)
        return "reference", "eager is the reference every speedup is taken against", est
    est = runs_speedup_estimate(runs, variant, confidence=confidence)
    if baseline is None:
        return "no-baseline", "no baseline recorded for this case", est
    if spread is None or spread.df < MIN_SPREAD_DF:
        df = 0 if spread is None else spread.df
        return ("untrustworthy",
                f"not gated: the baselines of {variant} hold {df} degree(s) of freedom of between-run "
                f"spread, {MIN_SPREAD_DF} needed; record them with several runs (--ig-repeat 5)", est)
    floor = baseline.floor if baseline.floor is not None else floor
    # Today's runs are taken the way the baseline's were (older files hold ratios of medians).
    how = baseline.estimator
    more = None if remeasure is None else (lambda: run_speedups(remeasure(), variant, how))
    verdict, message = staged_verdict(run_speedups(runs, variant, how), baseline.speedups, spread, floor,
                                      confidence, more, noise)
    if how != ESTIMATOR:
        message += f" (judged as {how}, as the baseline was recorded; re-record it to gate on {ESTIMATOR})"
    return verdict, message, est


def staged_verdict(
    measured: Sequence[float],
    baseline: Sequence[float],
    spread: RunSpread,
    floor: float,
    confidence: float,
    remeasure: Callable[[], Sequence[float]] | None,
    noise: NoiseReport = NoiseReport(()),
) -> tuple[Verdict, str]:
    """Screen, re-measure if flagged, decide on all runs at ``confidence`` (see the module doc).

    Plain speedups in and out, so the calibration harness judges its trials with this very code.
    """
    measured = list(measured)
    screen = runs_verdict(measured, baseline, spread, floor, min(SCREEN_CONFIDENCE, confidence))
    if screen.status == "regression" and noise.untrustworthy:
        return "untrustworthy", f"{screen.message}; not gated: " + "; ".join(noise.reasons)
    if screen.status == "regression" and remeasure is not None:
        more = list(remeasure())
        final = runs_verdict(measured + more, baseline, spread, floor, confidence)
        if final.status == "regression":
            return "regression", f"confirmed by {len(more)} re-measure(s): {final.message}"
        return "unconfirmed", f"flagged, not confirmed by {len(more)} re-measure(s): {final.message}"
    verdict = runs_verdict(measured, baseline, spread, floor, confidence)
    if verdict.status == "noisy":
        reasons = "; not gated: " + "; ".join(noise.reasons) if noise.untrustworthy else ""
        return "untrustworthy", verdict.message + reasons
    # Without re-measuring (--ig-confirm-runs 0) the verdict is the family-confidence one above:
    # still bounded by alpha, only less able to catch a small regression.
    return verdict.status, verdict.message


def to_case_baseline(variant: str, runs: Sequence[Samples], environment: Mapping[str, Any],
                     previous: CaseBaseline | None) -> CaseBaseline:
    """What ``--ig-update-baselines`` records: every run of this session, each at
    RECORD_CONFIDENCE; they replace the case's older runs (a new baseline is a new accepted state,
    and mixing runs from before and after a change would pass for spread). A per-case floor and
    fusion counts someone set in the file are kept: re-recording must not silently drop them."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    records = []
    for samples in runs:
        est = samples.speedup_estimate(variant, confidence=RECORD_CONFIDENCE)
        records.append(RunRecord(
            speedup=est.point, ci=(est.low, est.high), rounds=samples.rounds,
            median_ms={"eager": samples.median("eager"), variant: samples.median(variant)}, recorded=now,
        ))
    return CaseBaseline(
        runs=tuple(records),
        confidence=RECORD_CONFIDENCE,
        environment=dict(environment),
        floor=previous.floor if previous is not None else None,
        fusions=previous.fusions if previous is not None else None,
        estimator=ESTIMATOR,
    )


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def _ci_text(ci: tuple[float, float] | None) -> str:
    return "-" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def format_table(results: Sequence[CaseResult]) -> list[str]:
    # The baseline column: geometric mean of the recorded runs, xN runs, [lowest, highest run].
    header = ("case", "ms", "speedup", "CI", "baseline xruns [low, high]", "verdict")
    rows = [
        (
            r.case_id,
            f"{r.median_ms:.2f}",
            f"{r.speedup:.3f}",
            "-" if r.variant == "eager" else _ci_text(r.ci),
            "-" if r.baseline is None else f"{r.baseline:.3f} x{r.baseline_runs} {_ci_text(r.baseline_ci)}",
            r.verdict,
        )
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return lines


def _stats_dict(times_s: Sequence[float]) -> dict[str, Any]:
    from pytest_benchmark.stats import Stats

    stats = Stats()
    for t in times_s:
        stats.update(t)
    return stats.as_dict()


def results_json(results: Sequence[CaseResult], machine_info: Mapping[str, Any]) -> dict[str, Any]:
    """The pytest-benchmark JSON layout (machine_info, commit_info, benchmarks, datetime, version),
    so its tools read it, with our fields in each benchmark's extra_info."""
    import pytest_benchmark

    benchmarks = []
    for r in results:
        extra = {k: v for k, v in asdict(r).items() if k not in ("times_s",)}
        extra["ci"] = list(r.ci)
        extra["baseline_ci"] = list(r.baseline_ci) if r.baseline_ci else None
        extra["noise"] = list(r.noise)
        benchmarks.append({
            "group": r.model_id,
            "name": f"test_speedup[{r.case_id}]",
            "fullname": f"perf/test_speedups.py::test_speedup[{r.case_id}]",
            "params": {"perf_case": r.case_id},
            "param": r.case_id,
            "extra_info": extra,
            "options": {"timer": "perf_counter_ns", "disable_gc": True, "schedule": "shuffled rounds"},
            "stats": _stats_dict(r.times_s) if r.times_s else None,
        })
    return {
        "machine_info": dict(machine_info),
        "commit_info": {},
        "benchmarks": benchmarks,
        "datetime": datetime.now(timezone.utc).isoformat(),
        "version": pytest_benchmark.__version__,
    }


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")
    os.replace(tmp, path)
