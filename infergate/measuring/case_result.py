"""A perf case's outcome as plain data: a ``CaseResult``, a ``Skipped`` with its reason, or a ``Failed``."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..building.cases import Case
from ..building.variants import REFERENCE, get_variant
from .baseline_records import CaseBaseline
from .recording import run_record
from .sampling import ModelMeasurement
from .staging import Decision, trusted_runs
from .stats import ESTIMATOR, Estimate
from .verdicts import FAILING, Verdict


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
    run_speedups: list[float] = field(default_factory=list)  # the judged runs' own speedups (re-measures too)
    run_records: list[dict[str, Any]] = field(default_factory=list, repr=False)  # as a baseline stores them
    mdd: float | None = None  # minimum detectable drop at the run's family confidence
    floor_source: str | None = None  # "floor" (--ig-floor) or "mdd" (the data could see no less)
    spread: str | None = None  # the variance components the verdict was judged with
    estimator: str = ESTIMATOR
    # sampling.Cost of the variant in the first run's worker (build_s, first_call_s, peak_rise_mib,
    # held_mib); None when not built there
    cost: dict[str, float] | None = None
    proof: str | None = None  # what the variant's build proved of itself (variants.Built.proof), first run
    recipe: int = 1  # variants.Variant.recipe of what was measured; `baselines add` records it

    @property
    def failed(self) -> bool:
        return self.verdict in FAILING


@dataclass(frozen=True)
class Skipped:
    reason: str


@dataclass(frozen=True)
class Failed:
    message: str


Outcome = CaseResult | Skipped | Failed


@dataclass(frozen=True)
class CaseVerdict:
    """A case's verdict with what it was judged against (``speedup_gate.judge_case``)."""

    verdict: Verdict
    message: str
    estimate: Estimate  # today's speedup at the family confidence
    decision: Decision | None  # None: not judged against baseline sessions
    baseline: CaseBaseline | None  # None: none, or a stale one
    floor: float  # the run's floor, or the case's own from its baseline
    spread: str | None  # the variance components a decision used
    runs: tuple[ModelMeasurement, ...] = ()  # the runs the verdict and ``estimate`` were taken on


def build_failure(case: Case, runs: Sequence[ModelMeasurement]) -> str | None:
    """The case's failure if its variant, or its speedup's reference, failed to build in any run."""
    for run in runs:
        for name in dict.fromkeys((case.variant, REFERENCE)):
            if name in run.failed:
                what = "" if name == case.variant else f"its speedup's reference {name} "
                return f"{case.id}: {what}did not build: {run.failed[name]}"
    return None


def _median_of(runs: Sequence[ModelMeasurement], variant: str) -> float:
    """Median ms over the runs' medians: for information only, never compared across runs."""
    return statistics.median(m.median_ms(variant) for m in runs)


def case_result(case: Case, runs: Sequence[ModelMeasurement], judged: CaseVerdict, lane: str, host_session: str,
                confidence: float) -> CaseResult:
    """The case's result from its first ``runs`` and its verdict; ``host_session``: their host boot. What is
    shown of the speedup (rounds, times, each run's speedup) is of the runs the verdict was taken on."""
    m, base, judgement = runs[0], judged.baseline, judged.decision.judgement if judged.decision else None
    names = [REFERENCE, case.variant] if case.variant != REFERENCE else [REFERENCE]
    samples = [r.samples(names) for r in runs]
    used = judged.runs or tuple(runs)
    measured = case.variant != REFERENCE
    return CaseResult(
        case_id=case.id, model_id=case.model_id, variant=case.variant, dtype=case.dtype.value,
        lane=lane, threads=m.threads, rounds=sum(r.rounds for r in used),
        median_ms=_median_of(used, case.variant), eager_median_ms=_median_of(used, REFERENCE),
        speedup=judged.estimate.point, ci=(judged.estimate.low, judged.estimate.high),
        confidence=confidence, verdict=judged.verdict, message=judged.message,
        baseline=base.level if base else None, baseline_ci=base.span if base else None,
        runs=len(used), baseline_runs=len(base.runs) if base else 0,
        floor=judgement.floor if judgement else judged.floor,
        noise=tuple(sorted({n for r in runs for n in r.noise.reasons()})), measure_s=sum(r.measure_s for r in runs),
        times_s=[t / 1e9 for r in used for t in r.times_ns[case.variant]],
        run_speedups=[r.samples(names).speedup(case.variant) for r in used] if measured else [],
        # Only runs measured on a quiet machine feed baselines and the history: a disturbed run the
        # gate left out must not become tomorrow's reference (nor its spread).
        run_records=[run_record(case.variant, samples[i], host_session).to_json()
                     for i in trusted_runs(samples, case.variant, [r.noise.reasons() for r in runs])]
        if measured else [],
        mdd=judgement.mdd if judgement else None,
        floor_source=("floor" if judgement.verified else "mdd") if judgement else None,
        spread=judged.spread,
        cost=asdict(m.costs[case.variant]) if case.variant in m.costs else None,
        proof=m.proofs.get(case.variant),
        recipe=get_variant(case.variant).recipe,
    )
