"""The perf run's results: each case's verdict from the gate, the terminal table and the JSON.

Plain functions of plain data, so the gate is tested without pytest or torch (tests/test_gate.py).

The gate, per case (speedup = eager / variant, measured in the same run, never absolute times):
1. the speedup's interval is bootstrapped at the *family* confidence (``stats.family_confidence``
   over all gated cases of the run), and the baseline's recorded interval is rescaled to it, so
   the chance of any false alarm in a whole run, not per case, is bounded by ``alpha``;
2. ``stats.gate_verdict``: regression when the whole interval of measured/baseline lies below
   1 - floor (the floor is the baseline's per-case ``floor`` or the run's ``--ig-floor``);
3. a flagged case is re-measured once (the caller does that) and fails only if the confirmation
   agrees: a single burst of a neighbour's load then cannot fail a build on its own;
4. a run the machine made unreliable (``stats.noise_report``: load, over-wide intervals) is
   reported "untrustworthy" instead of failing or passing on numbers nobody should believe.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from .baselines import CaseBaseline
from .stats import Estimate, NoiseReport, Samples, gate_verdict, rescale_estimate

# The confidence recorded in baselines: one fixed level, so files from different runs (with
# different numbers of cases, hence different family confidences) are always comparable.
RECORD_CONFIDENCE = 0.99
DEFAULT_FLOOR = 0.05
DEFAULT_FAMILY_ALPHA = 0.01

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
    baseline_ci: tuple[float, float] | None = None
    floor: float | None = None
    noise: tuple[str, ...] = ()
    measure_s: float = 0.0
    times_s: list[float] = field(default_factory=list, repr=False)  # the variant's raw samples

    @property
    def failed(self) -> bool:
        return self.verdict in FAILING


def judge(
    samples: Samples,
    variant: str,
    baseline: CaseBaseline | None,
    floor: float,
    confidence: float,
    noise: NoiseReport,
) -> tuple[Verdict, str, Estimate]:
    """One case's verdict from its paired samples. Returns (verdict, message, speedup estimate)."""
    if variant == "eager":
        est = Estimate(1.0, 1.0, 1.0)
        return "reference", "eager is the reference every speedup is taken against", est
    est = samples.speedup_estimate(variant, confidence=confidence)
    if baseline is None:
        return "no-baseline", "no baseline recorded for this case", est
    floor = baseline.floor if baseline.floor is not None else floor
    base = rescale_estimate(baseline.estimate, baseline.confidence, confidence)
    verdict = gate_verdict(est, base, floor=floor)
    if noise.untrustworthy and verdict.status in ("regression", "noisy"):
        return "untrustworthy", f"{verdict.message}; not gated: " + "; ".join(noise.reasons), est
    if verdict.status == "noisy":
        return "untrustworthy", verdict.message, est
    return verdict.status, verdict.message, est


def confirm(first: Verdict, second: Verdict, second_message: str) -> tuple[Verdict, str]:
    """Combine a flagged case's verdict with its re-measure: it fails only when both say so."""
    if first != "regression":
        return first, second_message
    if second == "regression":
        return "regression", f"confirmed by a re-measure: {second_message}"
    return "unconfirmed", f"flagged, but the re-measure did not confirm it ({second_message})"


def to_case_baseline(result: CaseResult, samples: Samples, environment: Mapping[str, Any],
                     previous: CaseBaseline | None) -> CaseBaseline:
    """What ``--ig-update-baselines`` records: the speedup at RECORD_CONFIDENCE. A per-case floor
    someone set by hand in the file is kept: re-recording must not silently drop it."""
    est = samples.speedup_estimate(result.variant, confidence=RECORD_CONFIDENCE)
    return CaseBaseline(
        speedup=est.point,
        ci=(est.low, est.high),
        confidence=RECORD_CONFIDENCE,
        rounds=samples.rounds,
        median_ms={"eager": samples.median("eager"), result.variant: samples.median(result.variant)},
        recorded=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        environment=dict(environment),
        floor=previous.floor if previous is not None else None,
        fusions=previous.fusions if previous is not None else None,
    )


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def _ci_text(ci: tuple[float, float] | None) -> str:
    return "-" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def format_table(results: Sequence[CaseResult]) -> list[str]:
    header = ("case", "ms", "speedup", "CI", "baseline", "verdict")
    rows = [
        (
            r.case_id,
            f"{r.median_ms:.2f}",
            f"{r.speedup:.3f}",
            "-" if r.variant == "eager" else _ci_text(r.ci),
            "-" if r.baseline is None else f"{r.baseline:.3f} {_ci_text(r.baseline_ci)}",
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
