"""The perf run as an engine built from the ``RunContext``: measures each model through the injected
``Measurer``, judges each case (``CaseResult``, ``Skipped`` or ``Failed``) and records baselines."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..building.cases import Case, Profile
from ..building.variants import REFERENCE
from ..core.defaults import runs_per_model
from ..core.errors import DataFileError, UsageError
from ..measuring import baselines as bl
from ..measuring import host_session
from ..measuring.baseline_rules import RECIPE, not_comparable_reason, stale_reason
from ..measuring.case_result import CaseResult, Failed, Outcome, Skipped, build_failure, case_result
from ..measuring.measuring_env import MeasuringEnv, suite_env
from ..measuring.perf_measurer import MeasurementKey, Measurer, measurement_key, model_key
from ..measuring.recording import to_case_baseline
from ..measuring.sampling import ModelMeasurement, SamplingPlan
from ..measuring.session_gate import Components
from ..measuring.speedup_gate import GateRules, SpreadKey, judge_case, spreads
from ..measuring.speedup_verdicts import family_confidence
from ..measuring.staging import trusted_runs
from ..measuring.verdicts import INCONCLUSIVE, REFERENCE_ONLY
from ..reports.outcome import RunOutcome
from ..reports.results_json import RESULTS_VERSION
from .settings import INJECT, REQUIRE_BASELINE, THREADS, Settings

if TYPE_CHECKING:
    from .session import RunContext

UNOBSERVED = ("infergate: the machine's load could not be read while measuring (no /proc/stat samples): "
              "a busy run cannot be told from a quiet one, so no run was re-measured for noise")


def no_baseline_line(path: Path, machine_class: str, lane: str) -> str:
    return (
        f"infergate: no baselines for machine class {machine_class} lane {lane} ({path} does not exist); "
        "speedups are reported, not gated (record them with --ig-update-baselines)"
    )


@dataclass
class PerfRun:
    """One pytest session's perf cases: what was measured, judged and noted."""

    context: RunContext
    measurer: Measurer
    menv: MeasuringEnv = field(default_factory=suite_env)  # what the measurer's workers run with
    baseline: bl.BaselineFile | None = None
    variants_by_model: dict[MeasurementKey, tuple[str, ...]] = field(default_factory=dict)
    gated_cases: int = 0
    spreads: dict[SpreadKey, Components] = field(default_factory=dict)
    measurements: dict[MeasurementKey, list[ModelMeasurement]] = field(default_factory=dict)
    crashed: dict[MeasurementKey, str] = field(default_factory=dict)
    results: list[CaseResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Cases left INCONCLUSIVE because their baseline measured another build or set-up, which this
    # recording run re-recorded: what the gate's message told the user to do, so no failure of the run.
    rerecorded: set[str] = field(default_factory=set)
    remeasured: dict[MeasurementKey, list[ModelMeasurement]] = field(default_factory=dict)
    confirm_spent_s: float = 0.0
    confirm_skipped: list[str] = field(default_factory=list)
    # The perf cases pytest skipped (node id -> reason) and failed (node ids), however early: a run
    # whose every case was skipped judged nothing.
    skipped: dict[str, str] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)

    # -- what the session says ------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self.context.settings

    @property
    def profile(self) -> Profile:
        return self.settings.profile

    @property
    def update(self) -> bool:
        return self.settings.update_baselines

    @property
    def floor(self) -> float:
        return self.settings.floor

    @property
    def alpha(self) -> float:
        return self.settings.alpha

    @property
    def repeat(self) -> int:
        return runs_per_model(self.settings.repeat, self.update)

    @property
    def inject(self) -> tuple[str, float] | None:
        return self.settings.inject

    @property
    def machine_class(self) -> str:
        return self.context.machine_class

    @property
    def lane(self) -> str:
        return self.context.lane

    @property
    def baseline_path(self) -> Path:
        return self.context.baseline_path

    @functools.cached_property
    def host_session(self) -> str:
        """This host boot's session id, read once per run (results and recordings name it)."""
        return host_session.host_identity()

    # -- the run --------------------------------------------------------------------------------

    def prepare(self, cases: list[Case], family: list[Case] | None = None) -> None:
        """Once the selection is known: read the baseline and fix the family size (``family``: the whole
        run's cases when this is one shard)."""
        if self.inject and self.inject[0] not in {c.variant for c in cases}:
            raise UsageError(f"{INJECT} {self.inject[0]}={self.inject[1]:g}: no selected perf case is of variant "
                             f"{self.inject[0]}, so nothing would be slowed (selected: "
                             f"{', '.join(sorted({c.variant for c in cases}))})")
        self.baseline = self.context.baseline
        if self.baseline is not None and (self.baseline.machine_class, self.baseline.lane) != (
                self.machine_class, self.lane):
            raise DataFileError(
                f"baselines file {self.baseline_path} says machine class {self.baseline.machine_class!r} lane "
                f"{self.baseline.lane!r}, but it sits where {self.machine_class!r} {self.lane!r} belongs: "
                "moved or renamed by hand? refusing to gate against it")
        self.spreads = spreads(self.baseline)
        if self.baseline is None:
            if self.settings.require_baseline and not self.update:
                raise DataFileError(
                    f"no baselines for machine class {self.machine_class} lane {self.lane} "
                    f"({self.baseline_path} does not exist) and {REQUIRE_BASELINE} was given: nothing could be "
                    "gated, so nothing is measured"
                )
            self.notes.append(no_baseline_line(self.baseline_path, self.machine_class, self.lane))
        models: dict[MeasurementKey, list[str]] = {}
        for case in cases:
            names = models.setdefault(measurement_key(case), [REFERENCE])
            if case.variant not in names:
                names.append(case.variant)
        self.variants_by_model = {k: tuple(v) for k, v in models.items()}
        # The family is the cases that can fail: one without a baseline, or with a stale one, is
        # never judged and would only widen every other case's interval. A shard is judged in the
        # family of the whole run, so splitting a run never loosens the family-wise rate.
        # Without a baselines file no case is gated: 0, as the summary's header says.
        self.gated_cases = sum(1 for c in (family or cases) if c.variant != REFERENCE and self.baseline is not None
                               and c.id in self.baseline.cases and self._stale(c) is None)

    @property
    def confidence(self) -> float:
        """The per-case confidence over the gated family; with none gated, that of a family of one."""
        return family_confidence(self.alpha, max(1, self.gated_cases))

    @property
    def rules(self) -> GateRules:
        return GateRules(self.floor, self.confidence, self.settings.confirm_runs, THREADS,
                         REQUIRE_BASELINE if self.settings.require_baseline and not self.update else None)

    def plan(self, seed: int = 0) -> SamplingPlan:
        return SamplingPlan(budget_s=self.settings.budget_s, seed=seed, threads=self.settings.threads,
                            inject=(self.inject,) if self.inject else ())

    def _measure_seeds(self, case: Case, variants: tuple[str, ...], seeds: range) -> list[ModelMeasurement]:
        return [self.measurer(case, variants, self.plan(seed)) for seed in seeds]

    def measurement(self, case: Case) -> list[ModelMeasurement] | Failed:
        """The model's runs, measured when its first case runs; a crash, hang or error fails every case of the model."""
        key = measurement_key(case)
        if key not in self.measurements and key not in self.crashed:
            variants = self.variants_by_model.get(key, (REFERENCE, case.variant))
            try:
                self.measurements[key] = self._measure_seeds(case, variants, range(self.repeat))
            # Any error, not only a crash or hang: kept, so each case of the model fails once with it
            # instead of measuring the whole model again for every one of its cases.
            except Exception as exc:
                what = f"measuring {case.model_id}/{case.dtype.value}"
                self.crashed[key] = f"{what}: {type(exc).__name__}: {exc}"
        return Failed(self.crashed[key]) if key in self.crashed else self.measurements[key]

    def _remeasure(self, case: Case) -> list[ModelMeasurement]:
        """Fresh runs of the case's model (unused seeds), all its variants at once (a disturbance that flags one
        usually flags all), while the budget lasts; once it is spent the case is decided as it is."""
        key = measurement_key(case)
        if key not in self.remeasured:
            if self.confirm_spent_s >= self.settings.confirm_budget_s:
                self.confirm_skipped.append(case.id)
                return []
            start = time.perf_counter()
            seeds = range(self.repeat, self.repeat + self.settings.confirm_runs)
            variants = self.variants_by_model.get(key, (REFERENCE, case.variant))
            try:  # an error while confirming (a crash, or any) loses the confirmation, not the first runs' verdicts
                self.remeasured[key] = self._measure_seeds(case, variants, seeds)
            except Exception as exc:  # kept for every case of the model, its time charged
                first_line = (str(exc).splitlines() or [""])[0]
                self.notes.append(f"infergate: re-measuring {case.model_id}/{case.dtype.value} failed "
                                  f"({type(exc).__name__}: {first_line}); decided on the first runs")
                self.remeasured[key] = []
            self.confirm_spent_s += time.perf_counter() - start
        return self.remeasured[key]

    def _mismatch(self, r: CaseResult, base: bl.CaseBaseline | None) -> bool:
        """Whether the case's baseline was not compared for measuring another build or set-up (judge_case)."""
        if base is None:
            return False
        return stale_reason(r.case_id, r.variant, base) is not None or not_comparable_reason(
            base, r.threads, self.menv.names, THREADS) is not None

    def _stale(self, case: Case) -> str | None:
        return stale_reason(case.id, case.variant, self.baseline.cases.get(case.id) if self.baseline else None)

    def run_case(self, case: Case) -> Outcome:
        runs = self.measurement(case)
        if isinstance(runs, Failed):
            return runs
        if case.variant in runs[0].skipped:  # collection skips these; a worker may still disagree
            return Skipped(runs[0].skipped[case.variant])
        failure = build_failure(case, runs)
        if failure:
            return Failed(failure)
        recorded = self.baseline.cases.get(case.id) if self.baseline else None
        judged = judge_case(case, runs, recorded, self.spreads, self.rules, self.menv.names, self.host_session,
                            functools.partial(self._remeasure, case))
        if isinstance(judged, Failed):
            return judged
        if any(r.noise.samples == 0 and r.measure_s > 0.5 for r in runs) and UNOBSERVED not in self.notes:
            self.notes.append(UNOBSERVED)
        result = case_result(case, runs, judged, self.lane, self.host_session, self.confidence)
        self.results.append(result)
        return result

    # -- after the run --------------------------------------------------------------------------

    def session_environment(self) -> dict[str, Any]:
        from ..building.machine import environment

        threads = next((runs[0].threads for runs in self.measurements.values()), None)
        return {**environment(), "torch_threads": threads, "measuring": self.menv.describe(),
                "injected_slowdown": list(self.inject) if self.inject else None}

    def record_baselines(self) -> str:
        # (A run with INJECT never gets here: Settings refuses it with --ig-update-baselines.)
        env = self.session_environment()
        session = host_session.this_session(env)
        new: dict[str, bl.CaseBaseline] = {}
        left_out, fewer = [], 0
        for r in self.results:
            if r.variant == REFERENCE or r.verdict == REFERENCE_ONLY:
                continue
            # As for the history: a run measured on a busy machine is not tomorrow's reference.
            measured = self.measurements[model_key(r.model_id, r.dtype, r.variant)]
            keep = (range(len(measured)) if self.settings.record_disturbed else
                    trusted_runs([m.samples([REFERENCE, r.variant]) for m in measured], r.variant,
                                 [m.noise.reasons() for m in measured]))
            runs = [measured[i] for i in keep]
            if not runs:
                left_out.append(r.case_id)
                continue
            fewer += len(runs) < len(measured)
            previous = self.baseline.cases.get(r.case_id) if self.baseline else None
            # The worker's thread count, not this process's: the measurement ran there.
            case_env = {**env, "torch_threads": runs[0].threads, RECIPE: r.recipe}
            samples = [m.samples([REFERENCE, r.variant]) for m in runs]
            new[r.case_id] = to_case_baseline(r.variant, samples, case_env, previous, session[0])
        if not new:
            return "infergate: no speedups measured, baselines unchanged"
        notes = bl.update(self.baseline_path, new, self.machine_class, self.lane, session=session,
                          replace=self.settings.replace_baselines)
        # Their old runs of another recipe or set-up were dropped in the update (baseline_merge._pooled_runs).
        self.rerecorded |= {r.case_id for r in self.results if r.case_id in new and r.verdict == INCONCLUSIVE
                            and self.baseline is not None and self._mismatch(r, self.baseline.cases.get(r.case_id))}
        warn = (f" ({fewer} of them with fewer: the runs the gate leaves out, measured on a busy machine or "
                "with an over-wide interval, were left out)" if fewer else "")
        each = f" of up to {self.repeat} runs each" if self.repeat > 1 else (
            " of 1 run each (the gate needs several: --ig-repeat 5)")
        how = "replacing their earlier runs" if self.settings.replace_baselines else f"as session {session[0]}"
        lines = [f"infergate: recorded {len(new)} baseline(s){each} in {self.baseline_path}, {how}{warn}"]
        if left_out:
            lines.append("infergate: NOT recorded (every run measured on a busy machine or with an over-wide "
                         f"interval, as the gate leaves them out): {', '.join(left_out)}")
        return "\n".join(lines + [f"infergate: {n}" for n in notes])

    def machine_info(self) -> dict[str, Any]:
        import platform
        import sys

        from ..building.capabilities import read_cpu_model
        from ..building.machine import provenance
        from ..core.paths import REPO_ROOT
        from ..gate.lane_venvs import STAMP_NAME

        env = self.session_environment()
        sid, info = host_session.this_session(env)
        return {"machine_class": self.machine_class, "lane": self.lane, "cpu": read_cpu_model(),
                "node": platform.node(), "python_version": platform.python_version(),
                "environment": env, "provenance": provenance(Path(sys.prefix) / STAMP_NAME, REPO_ROOT),
                "infergate": {"results_version": RESULTS_VERSION, "session": sid,
                              "session_info": info.to_json(), "estimator": "median-of-round-ratios"}}

    def outcome(self, fusions_compared: int) -> RunOutcome:
        from .project_plugin import record_command

        return RunOutcome(self.results, self.floor, self.machine_class, self.lane,
                          record_command(),
                          self.settings.on_inconclusive == "fail", self.settings.on_unverified == "fail",
                          fusions_compared, self.update, frozenset(self.rerecorded),
                          tuple(self.skipped.values()), len(self.failed))
