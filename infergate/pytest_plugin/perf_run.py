"""One pytest session's perf run: which models to measure, measuring them in worker processes,
re-measuring flagged cases within a budget, judging each case against its baseline, and recording
baselines. Plain code the perf hooks (perf_plugin.py) drive; tests drive it with synthetic
measurements.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ..building.cases import Case, Profile
from ..building.variants import REFERENCE, get_variant, process_group
from ..core.defaults import DEFAULT_CONFIRM_BUDGET_S, DEFAULT_CONFIRM_RUNS
from ..core.errors import CaseCrashed, CaseTimeout, DataFileError
from ..matrix.dtypes import DType
from ..matrix.inputs import TRACE_SHAPE, Shape
from ..matrix.spec import ModelSpec
from ..measuring import baselines as bl
from ..measuring.baseline_rules import not_comparable_reason, stale_reason
from ..measuring.measuring_env import MeasuringEnv, check_applied, suite_env
from ..measuring.sampling import ModelMeasurement, SamplingPlan, measure_model
from ..measuring.session_gate import Components
from ..measuring.speedup_verdicts import family_confidence
from ..measuring.stats import Estimate, Samples, runs_speedup_estimate
from ..reports.outcome import RunOutcome
from ..reports.summary import (
    INCONCLUSIVE,
    CaseResult,
    Decision,
    SpreadKey,
    judge,
    run_record,
    spreads,
    to_case_baseline,
)
from .settings import INJECT, REPEAT, REQUIRE_BASELINE, THREADS

# A perf measurement builds every variant (compile and IPEX included) and runs for the budget;
# fifteen minutes only trips on a hung worker, never on a slow but healthy build on 2 busy cores.
MEASURE_TIMEOUT_S = 900.0


def no_baseline_line(path: Path, machine_class: str, lane: str) -> str:
    return (
        f"infergate: no baselines for machine class {machine_class} lane {lane} ({path} does not exist); "
        "speedups are reported, not gated (record them with --ig-update-baselines)"
    )


# (model id, dtype, the variant's process group): the runs one set of worker processes measured.
MeasurementKey = tuple[str, str, str]


def measurement_key(case: Case) -> MeasurementKey:
    """Which worker measures a case: one per model, shape, dtype and variants.process_group."""
    return _key(case.model_id, case.dtype.value, case.variant)


def _key(model_id: str, dtype: str, variant: str) -> MeasurementKey:
    return model_id, dtype, process_group(variant, DType(dtype))


def measure(spec: ModelSpec, dtype: DType, variants: tuple[str, ...], plan: SamplingPlan,
            worker_timeout: float | None, menv: MeasuringEnv | None = None,
            shape: Shape = TRACE_SHAPE) -> ModelMeasurement:
    """One model's measurement; in a fresh worker process unless ``worker_timeout`` is None
    (``--ig-isolate never``): the worker shares no compiled graphs, IPEX passes or allocator state
    with whatever ran before in the session, and a crash or hang fails only this model's cases.
    The worker starts with the measuring environment ``menv`` and must prove it applied."""
    if worker_timeout is None:
        return measure_model(spec, dtype, variants, plan, shape=shape)
    from ..measuring.isolation import run_in_worker

    menv = menv or suite_env()
    m = run_in_worker(measure_model, spec, dtype, variants, plan, shape=shape, timeout=worker_timeout,
                      env=dict(menv.env), argv_prefix=menv.argv_prefix)
    problem = check_applied(menv, m.observed_env)
    if problem:
        raise CaseCrashed(f"the measuring environment did not apply in the worker: {problem}")
    return m


def build_failure(case: Case, runs: Sequence[ModelMeasurement]) -> str | None:
    """The case's failure if its variant, or its speedup's reference, did not build in any of the
    runs (each run is a fresh process: a flaky build shows in one of them only)."""
    for run in runs:
        for name in dict.fromkeys((case.variant, REFERENCE)):
            if name in run.failed:
                what = "" if name == case.variant else f"its speedup's reference {name} "
                return f"{case.id}: {what}did not build: {run.failed[name]}"
    return None


def _median_of(runs: list[ModelMeasurement], variant: str) -> float:
    """Median ms over the runs' medians: for information only, never compared across runs."""
    import statistics

    return statistics.median(m.median_ms(variant) for m in runs)


@dataclass
class PerfRun:
    """Everything one pytest session knows about its perf cases."""

    profile: Profile
    baselines_root: Path
    update: bool
    results_path: Path | None
    floor: float
    alpha: float
    budget_s: float
    require_baseline: bool
    machine_class: str
    lane: str
    worker_timeout: float | None = MEASURE_TIMEOUT_S
    repeat: int = 1
    confirm_runs: int = DEFAULT_CONFIRM_RUNS
    threads: int | None = None  # None: every usable CPU
    inconclusive_fails: bool = True
    unverified_fails: bool = True
    confirm_budget_s: float = DEFAULT_CONFIRM_BUDGET_S
    replace: bool = False
    inject: tuple[str, float] | None = None
    menv: MeasuringEnv = field(default_factory=suite_env)
    # The pytest session's reader, which reads the file once for every plugin; alone, the file.
    load_baseline: Callable[[], bl.BaselineFile | None] | None = None
    baseline: bl.BaselineFile | None = None
    variants_by_model: dict[tuple[str, str, str], tuple[str, ...]] = field(default_factory=dict)
    gated_cases: int = 1
    spreads: dict[SpreadKey, Components] = field(default_factory=dict)
    measurements: dict[MeasurementKey, list[ModelMeasurement]] = field(default_factory=dict)
    crashed: dict[MeasurementKey, str] = field(default_factory=dict)
    results: list[CaseResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    remeasured: dict[MeasurementKey, list[ModelMeasurement]] = field(default_factory=dict)
    confirm_spent_s: float = 0.0
    confirm_skipped: list[str] = field(default_factory=list)

    @property
    def baseline_path(self) -> Path:
        return bl.baseline_path(self.baselines_root, self.machine_class, self.lane)

    @functools.cached_property
    def session_id(self) -> str:
        """This host boot's session id, read once per run (results and recordings name it)."""
        return bl.host_identity()

    def prepare(self, cases: list[Case], family: list[Case] | None = None) -> None:
        """Called once the selected cases are known: loads the baseline (a bad file is one
        DataFileError, never rewritten) and fixes the family size for the correction."""
        if self.repeat > 1 and self.worker_timeout is None:
            raise DataFileError(f"{REPEAT} {self.repeat} needs a separate process per run; "
                                "it cannot be combined with --ig-isolate never")
        self.baseline = self.load_baseline() if self.load_baseline else bl.load_or_none(self.baseline_path)
        if self.baseline is not None and (self.baseline.machine_class, self.baseline.lane) != (
                self.machine_class, self.lane):
            raise DataFileError(
                f"baselines file {self.baseline_path} says machine class {self.baseline.machine_class!r} lane "
                f"{self.baseline.lane!r}, but it sits where {self.machine_class!r} {self.lane!r} belongs: "
                "moved or renamed by hand? refusing to gate against it")
        self.spreads = spreads(self.baseline)
        if self.baseline is None:
            if self.require_baseline and not self.update:
                raise DataFileError(
                    f"no baselines for machine class {self.machine_class} lane {self.lane} "
                    f"({self.baseline_path} does not exist) and {REQUIRE_BASELINE} was given"
                )
            self.notes.append(no_baseline_line(self.baseline_path, self.machine_class, self.lane))
        models: dict[MeasurementKey, list[str]] = {}
        for case in cases:
            names = models.setdefault(measurement_key(case), [REFERENCE])
            if case.variant not in names:
                names.append(case.variant)
        self.variants_by_model = {k: tuple(v) for k, v in models.items()}
        # The family is the cases that can fail: a case without a baseline (or with a stale one) is
        # never judged, so counting it would only widen every other case's interval. A shard of
        # the nightly judges its cases in the family of the whole run (``family``), so splitting
        # a run into more jobs never loosens the family-wise false-alarm rate.
        self.gated_cases = max(1, sum(1 for c in (family or cases) if c.variant != REFERENCE
                                      and (self.baseline is None or c.id in self.baseline.cases)
                                      and self._stale(c) is None))

    @property
    def confidence(self) -> float:
        return family_confidence(self.alpha, self.gated_cases)

    def plan(self, seed: int = 0) -> SamplingPlan:
        return SamplingPlan(budget_s=self.budget_s, seed=seed, threads=self.threads,
                            inject=(self.inject,) if self.inject else ())

    def _measure_seeds(self, case: Case, variants: tuple[str, ...], seeds: range) -> list[ModelMeasurement]:
        return [measure(case.spec, case.dtype, variants, self.plan(seed), self.worker_timeout, self.menv,
                        shape=case.shape) for seed in seeds]

    def _measure_runs(self, case: Case, variants: tuple[str, ...], seeds: range) -> list[ModelMeasurement]:
        key = measurement_key(case)
        try:
            return self._measure_seeds(case, variants, seeds)
        except (CaseCrashed, CaseTimeout) as exc:
            what = f"measuring {case.model_id}/{case.dtype.value}"
            self.crashed[key] = f"{what}: {type(exc).__name__}: {exc}"
            pytest.fail(self.crashed[key], pytrace=False)

    def measurement(self, case: Case) -> list[ModelMeasurement]:
        """The model's runs (``repeat`` separate processes), measured when its first case runs."""
        key = measurement_key(case)
        if key in self.crashed:  # one crash per model is enough: its other cases report it
            pytest.fail(self.crashed[key], pytrace=False)
        if key not in self.measurements:
            variants = self.variants_by_model.get(key, (REFERENCE, case.variant))
            self.measurements[key] = self._measure_runs(case, variants, range(self.repeat))
        return self.measurements[key]

    def _remeasure(self, case: Case) -> list[tuple[Samples, tuple[str, ...]]]:
        """Fresh runs of the case's model, with seeds no first run used, while the run's
        re-measuring budget lasts (none once it is spent: the case is decided as it is). One model's
        variants are re-measured together, once: a disturbance that flags one of them (a busy
        neighbour, stolen time) usually flags them all, and one set of processes serves every case."""
        key = measurement_key(case)
        if key not in self.remeasured:
            if self.confirm_spent_s >= self.confirm_budget_s:
                self.confirm_skipped.append(case.id)
                return []
            start = time.perf_counter()
            seeds = range(self.repeat, self.repeat + self.confirm_runs)
            variants = self.variants_by_model.get(key, (REFERENCE, case.variant))
            try:  # a crash while confirming loses the confirmation, not the first runs' verdicts
                self.remeasured[key] = self._measure_seeds(case, variants, seeds)
            except (CaseCrashed, CaseTimeout) as exc:
                self.notes.append(f"infergate: re-measuring {case.model_id}/{case.dtype.value} failed "
                                  f"({type(exc).__name__}: {str(exc).splitlines()[0]}); decided on the first runs")
                self.remeasured[key] = []
            self.confirm_spent_s += time.perf_counter() - start
        failure = build_failure(case, self.remeasured[key])
        if failure:  # built in the first runs, not in a re-measure: a flaky build is this case's failure
            pytest.fail(f"{failure} (in a re-measure run)", pytrace=False)
        return [(m.samples([REFERENCE, case.variant]), m.noise.reasons()) for m in self.remeasured[key]]

    def _stale(self, case: Case) -> str | None:
        return stale_reason(case.id, case.variant, self.baseline.cases.get(case.id) if self.baseline else None)

    def _judge(self, case: Case, samples: list[Samples], runs: list[ModelMeasurement],
               case_baseline: bl.CaseBaseline | None) -> tuple[str, str, Estimate, Decision | None]:
        comp = self.spreads.get((case.variant, case_baseline.estimator)) if case_baseline else None
        remeasure = (lambda: self._remeasure(case)) if self.confirm_runs else None
        verdict, message, est, decision = judge(
            samples, case.variant, case_baseline, comp, self.floor, self.confidence,
            [r.noise.reasons() for r in runs], remeasure, self.confirm_runs)
        if decision is not None and case_baseline is not None and self.session_id in case_baseline.by_session():
            message += (f"; today's runs come from host boot {self.session_id}, which the baseline already holds: "
                        "judged as a new occasion of it, with the between-session spread (drift between "
                        "occasions of one boot was measured as large as between boots: docs/calibration.md)")
        return verdict, message, est, decision

    def run_case(self, case: Case) -> CaseResult:
        runs = self.measurement(case)
        m = runs[0]
        if case.variant in m.skipped:  # collection skips these; a worker may still disagree
            pytest.skip(m.skipped[case.variant])
        failure = build_failure(case, runs)
        if failure:
            pytest.fail(failure, pytrace=False)
        names = [REFERENCE, case.variant] if case.variant != REFERENCE else [REFERENCE]
        samples = [r.samples(names) for r in runs]
        stale = self._stale(case)
        case_baseline = self.baseline.cases.get(case.id) if self.baseline and not stale else None
        why_not = (not_comparable_reason(case_baseline, runs[0].threads, self.menv.names, THREADS)
                   if case_baseline is not None else None)
        decision = None
        if stale is not None or why_not is not None:  # measured, never judged against the baseline
            verdict, message = INCONCLUSIVE, stale or why_not or ""
            est = runs_speedup_estimate(samples, case.variant, confidence=self.confidence)
        else:
            verdict, message, est, decision = self._judge(case, samples, runs, case_baseline)
        if verdict == "no-baseline" and self.require_baseline and not self.update:
            verdict, message = "regression", f"no baseline for this case and {REQUIRE_BASELINE} was given"
        judgement = decision.judgement if decision else None
        noise = sorted({n for r in runs for n in r.noise.reasons()})
        unobserved = ("infergate: the machine's load could not be read while measuring (no /proc/stat samples): "
                      "a busy run cannot be told from a quiet one, so no run was re-measured for noise")
        if any(r.noise.samples == 0 and r.measure_s > 0.5 for r in runs) and unobserved not in self.notes:
            self.notes.append(unobserved)
        result = CaseResult(
            case_id=case.id, model_id=case.model_id, variant=case.variant, dtype=case.dtype.value,
            lane=self.lane, threads=m.threads, rounds=sum(r.rounds for r in runs),
            median_ms=_median_of(runs, case.variant), eager_median_ms=_median_of(runs, REFERENCE),
            speedup=est.point, ci=(est.low, est.high),
            confidence=self.confidence, verdict=verdict, message=message,  # type: ignore[arg-type]
            baseline=case_baseline.speedup if case_baseline else None,
            baseline_ci=case_baseline.span if case_baseline else None,
            runs=len(decision.speedups) if decision else len(runs),
            baseline_runs=len(case_baseline.runs) if case_baseline else 0,
            floor=judgement.floor if judgement else (
                case_baseline.floor if case_baseline and case_baseline.floor is not None else self.floor),
            noise=tuple(noise), measure_s=sum(r.measure_s for r in runs),
            times_s=[t / 1e9 for r in runs for t in r.times_ns[case.variant]],
            run_speedups=[s.speedup(case.variant) for s in samples] if case.variant != REFERENCE else [],
            run_records=[run_record(case.variant, s, self.session_id).to_json() for s in samples]
            if case.variant != REFERENCE else [],
            mdd=judgement.mdd if judgement else None,
            floor_source=("floor" if judgement.verified else "mdd") if judgement else None,
            spread=(self.spreads[(case.variant, case_baseline.estimator)].describe()
                    if decision and case_baseline else None),
            cost=asdict(m.costs[case.variant]) if case.variant in m.costs else None,
            proof=m.proofs.get(case.variant),
            recipe=get_variant(case.variant).recipe,
        )
        self.results.append(result)
        return result

    def session_environment(self) -> dict[str, Any]:
        from ..building.machine import environment

        threads = next((runs[0].threads for runs in self.measurements.values()), None)
        return {**environment(), "torch_threads": threads, "measuring": self.menv.describe(),
                "injected_slowdown": list(self.inject) if self.inject else None}

    def record_baselines(self) -> str:
        if self.inject:
            return (f"infergate: baselines NOT updated: {INJECT} was given; a deliberately slowed variant "
                    "is never recorded as the accepted state")
        env = self.session_environment()
        session = bl.this_session(env)
        new: dict[str, bl.CaseBaseline] = {}
        for r in self.results:
            if r.variant == REFERENCE or r.verdict == "reference":
                continue
            runs = self.measurements[_key(r.model_id, r.dtype, r.variant)]
            previous = self.baseline.cases.get(r.case_id) if self.baseline else None
            # The worker's thread count, not this process's: the measurement ran there.
            case_env = {**env, "torch_threads": runs[0].threads, bl.RECIPE: r.recipe}
            samples = [m.samples([REFERENCE, r.variant]) for m in runs]
            new[r.case_id] = to_case_baseline(r.variant, samples, case_env, previous, session[0])
        if not new:
            return "infergate: no speedups measured, baselines unchanged"
        notes = bl.update(self.baseline_path, new, self.machine_class, self.lane, session=session,
                          replace=self.replace)
        noisy = sum(1 for r in self.results if r.noise and r.variant != REFERENCE)
        warn = f" (WARNING: {noisy} of them measured while the machine was busy)" if noisy else ""
        each = f" of {self.repeat} runs each" if self.repeat > 1 else (
            " of 1 run each (the gate needs several: --ig-repeat 5)")
        how = "replacing their earlier runs" if self.replace else f"as session {session[0]}"
        lines = [f"infergate: recorded {len(new)} baseline(s){each} in {self.baseline_path}, {how}{warn}"]
        return "\n".join(lines + [f"infergate: {n}" for n in notes])

    def machine_info(self) -> dict[str, Any]:
        import platform
        import sys

        from ..building.capabilities import read_cpu_model
        from ..building.machine import provenance
        from ..core.paths import REPO_ROOT
        from ..gate.lane_venvs import STAMP_NAME

        env = self.session_environment()
        sid, info = bl.this_session(env)
        return {"machine_class": self.machine_class, "lane": self.lane, "cpu": read_cpu_model(),
                "node": platform.node(), "python_version": platform.python_version(),
                "environment": env, "provenance": provenance(Path(sys.prefix) / STAMP_NAME, REPO_ROOT),
                "infergate": {"results_version": RESULTS_VERSION, "session": sid,
                              "session_info": info.to_json(), "estimator": "median-of-round-ratios"}}

    @property
    def inconclusive(self) -> list[CaseResult]:
        return [r for r in self.results if r.verdict == INCONCLUSIVE]

    def outcome(self, fusions_compared: int) -> RunOutcome:
        from .project_plugin import record_command

        return RunOutcome(self.results, self.floor, self.machine_class, self.lane,
                          record_command(), self.inconclusive_fails,
                          self.unverified_fails, fusions_compared, self.update)


# Version of what --ig-json adds to pytest-benchmark's form (machine_info["infergate"] and each
# benchmark's extra_info), read back by `python -m infergate baselines add`.
RESULTS_VERSION = 1


