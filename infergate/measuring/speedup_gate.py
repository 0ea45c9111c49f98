"""The speedup gate: one perf case's verdict from its runs and its baseline (stale or not comparable:
inconclusive; none: measured only, or a regression when required; else ``staging.staged_verdict``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ..building.cases import Case
from ..building.variants import REFERENCE
from ..core.defaults import DEFAULT_CONFIRM_RUNS
from .baseline_records import BaselineFile, CaseBaseline
from .baseline_rules import not_comparable_reason, stale_reason
from .case_result import CaseVerdict, Failed, build_failure
from .sampling import ModelMeasurement
from .session_gate import Components, components, prior_for
from .staging import Decision, RunNoise, run_noise, staged_verdict
from .stats import ESTIMATOR, Estimate, Samples, runs_speedup_estimate
from .verdicts import INCONCLUSIVE, NO_BASELINE, REFERENCE_ONLY, REGRESSION, Verdict

SpreadKey = tuple[str, str]  # (variant, estimator)
# Fresh runs of a flagged case's model (empty once the run's re-measuring budget is spent).
Remeasurer = Callable[[], Sequence[ModelMeasurement]]


def current_cases(baseline: BaselineFile | None) -> dict[str, CaseBaseline]:
    """The cases the gate may judge against: not stale (of the variant's current recipe revision)."""
    return {cid: c for cid, c in (baseline.cases.items() if baseline else ())
            if stale_reason(cid, c.variant, c) is None}


def spreads(baseline: BaselineFile | None) -> dict[SpreadKey, Components]:
    """The two variance components per variant and estimator, pooled over that variant's current
    cases: a stale case measured another build, whose spread says nothing of this one's."""
    groups: dict[SpreadKey, list[CaseBaseline]] = {}
    for case in current_cases(baseline).values():
        groups.setdefault((case.variant, case.estimator), []).append(case)
    out = {}
    for (variant, estimator), cases in groups.items():
        sessions = {r.session for c in cases for r in c.runs}
        out[(variant, estimator)] = components([list(c.by_session().values()) for c in cases], len(sessions),
                                               prior_for(variant))
    return out


def judge_runs(
    runs: Sequence[Samples],
    variant: str,
    baseline: CaseBaseline | None,
    comp: Components | None,
    floor: float,
    confidence: float,
    in_run_noise: Sequence[Sequence[str]] = (),
    remeasure: Callable[[], Sequence[tuple[Samples, Sequence[str]]]] | None = None,
    confirm_runs: int = DEFAULT_CONFIRM_RUNS,
) -> tuple[Verdict, str, Estimate, Decision | None]:
    """One case's verdict from its runs: (verdict, message, speedup estimate, decision); ``remeasure``
    (called only when the screen flags the case) gives fresh runs with their in-run noise."""
    if variant == REFERENCE:
        return REFERENCE_ONLY, "eager is the reference every speedup is taken against", Estimate(1.0, 1.0, 1.0), None
    est = runs_speedup_estimate(runs, variant, confidence=confidence)
    if baseline is None:
        return NO_BASELINE, "no baseline recorded for this case: measured, not gated", est, None
    if comp is None or comp.within_df < 1:
        return (INCONCLUSIVE, f"not gated: the baselines of {variant} hold no case with two runs in one "
                              "session, so the between-run spread is unknown; record them with several runs "
                              "(--ig-repeat 5)", est, None)
    floor = baseline.floor if baseline.floor is not None else floor
    how = baseline.estimator  # today's runs are taken the way the baseline's were (older files: ratios of medians)
    noise = list(in_run_noise) or [()] * len(runs)

    def taken(samples: Samples, reasons: Sequence[str]) -> tuple[float, RunNoise]:
        return samples.speedup(variant, estimator=how), run_noise(samples, variant, reasons)

    fresh: list[Samples] = []

    def more() -> list[tuple[float, RunNoise]]:
        got = list(remeasure()) if remeasure else []
        fresh.extend(s for s, _ in got)
        return [taken(s, n) for s, n in got]

    first = [taken(s, n) for s, n in zip(runs, noise, strict=True)]
    decision = staged_verdict(first, list(baseline.by_session().values()), comp, floor, confidence,
                              more if remeasure else None, confirm_runs)
    if decision.used and decision.used != tuple(range(len(runs))):  # shown: the runs the verdict was taken on
        every = [*runs, *fresh]
        est = runs_speedup_estimate([every[i] for i in decision.used], variant, confidence=confidence)
    message = decision.message
    if how != ESTIMATOR:
        message += f" (judged as {how}, as the baseline was recorded; re-record it to gate on {ESTIMATOR})"
    return decision.verdict, message, est, decision


@dataclass(frozen=True)
class GateRules:
    """How a run judges its cases."""

    floor: float
    confidence: float
    confirm_runs: int
    threads_flag: str  # the option that sets torch threads, named when a baseline used others
    required_by: str | None = None  # the option that requires a baseline of every case, when given


class _RemeasureFailed(Exception):
    pass


def judge_case(case: Case, runs: Sequence[ModelMeasurement], recorded: CaseBaseline | None,
               spread: Mapping[SpreadKey, Components], rules: GateRules, measuring_settings: Sequence[str],
               host_session: str, remeasure: Remeasurer | None) -> CaseVerdict | Failed:
    """The case's verdict from its first ``runs`` and its ``recorded`` baseline; a build failing in a
    re-measure is the case's failure. ``host_session``: the host boot of today's runs."""
    names = [REFERENCE, case.variant] if case.variant != REFERENCE else [REFERENCE]
    samples = [r.samples(names) for r in runs]
    stale = stale_reason(case.id, case.variant, recorded)
    base = None if stale else recorded
    why_not = not_comparable_reason(base, runs[0].threads, measuring_settings, rules.threads_flag) if base else None
    floor = base.floor if base is not None and base.floor is not None else rules.floor
    if stale is not None or why_not is not None:  # measured, never judged against the baseline
        est = runs_speedup_estimate(samples, case.variant, confidence=rules.confidence)
        return CaseVerdict(INCONCLUSIVE, stale or why_not or "", est, None, base, floor, None, tuple(runs))
    comp = spread.get((case.variant, base.estimator)) if base else None

    fresh: list[ModelMeasurement] = []

    def more() -> list[tuple[Samples, Sequence[str]]]:
        fresh.extend(remeasure() if remeasure else [])
        failure = build_failure(case, fresh)
        if failure:  # built in the first runs, not in a re-measure: a flaky build is this case's failure
            raise _RemeasureFailed(f"{failure} (in a re-measure run)")
        return [(m.samples([REFERENCE, case.variant]), m.noise.reasons()) for m in fresh]

    try:
        verdict, message, est, decision = judge_runs(
            samples, case.variant, base, comp, rules.floor, rules.confidence, [r.noise.reasons() for r in runs],
            more if rules.confirm_runs and remeasure else None, rules.confirm_runs)
    except _RemeasureFailed as exc:
        return Failed(str(exc))
    if decision is not None and base is not None and host_session in base.by_session():
        message += (f"; today's runs come from host boot {host_session}, which the baseline already holds: "
                    "judged as a new occasion of it, with the between-session spread (drift between "
                    "occasions of one boot was measured as large as between boots: docs/calibration.md)")
    if verdict == NO_BASELINE and rules.required_by:
        verdict, message = REGRESSION, f"no baseline for this case and {rules.required_by} was given"
    spread_text = comp.describe() if decision is not None and comp is not None else None
    every = [*runs, *fresh]
    used = tuple(every[i] for i in decision.used) if decision is not None and decision.used else tuple(runs)
    return CaseVerdict(verdict, message, est, decision, base, floor, spread_text, used)
