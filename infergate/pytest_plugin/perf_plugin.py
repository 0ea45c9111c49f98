"""The perf suite's pytest hooks: the ``perf_case`` matrix, the engine, the outcomes and the summary."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from ..building.cases import Case, perf_cases
from ..building.user_cases import user_cases
from ..building.variants import REFERENCE
from ..core.defaults import runs_per_model
from ..core.errors import DataFileError, UsageError
from ..measuring.case_result import CaseResult, Failed, Outcome, Skipped
from ..measuring.measuring_env import MeasuringEnv, suite_env
from ..measuring.perf_measurer import MEASURE_TIMEOUT_S, Measurer, WorkerMeasurer
from ..measuring.sampling import ModelMeasurement, SamplingPlan
from ..measuring.verdicts import INCONCLUSIVE, REGRESSION, UNVERIFIED
from ..reports.summary import cost_table, format_table, legend, results_json, write_json
from .params import checkpoint_cases, matrix_params, profile_of
from .perf_run import PerfRun
from .session import session as run_session
from .settings import CONFIRM_BUDGET, INJECT, REPEAT, Settings

if TYPE_CHECKING:
    from _pytest.terminal import TerminalReporter

PERF_MARK = "infergate_perf"
# The perf test every case is a parameter of (the results JSON names each benchmark after it).
PERF_TEST = "perf/test_speedups.py::test_speedup"

# --------------------------------------------------------------------------------------------
# Hooks
# --------------------------------------------------------------------------------------------

_RUN = pytest.StashKey["PerfRun"]()


def perf_run_of(config: pytest.Config) -> PerfRun:
    if _RUN not in config.stash:
        from .isolation_plugin import settings as isolation_settings

        run = run_session(config)
        isolation = isolation_settings(config)
        try:
            menv = suite_env()
        except UsageError as exc:  # e.g. the allocator library is not installed: one line, no traceback
            raise pytest.UsageError(f"infergate: {exc}") from None
        config.stash[_RUN] = PerfRun(run, worker_measurer(run.settings, isolation, menv), menv)
    return config.stash[_RUN]


def worker_measurer(settings: Settings, isolation: Any, menv: MeasuringEnv) -> Measurer:
    """The measurer ``--ig-isolate`` and ``--ig-timeout`` ask for: the timeout bounds one run of a whole
    model (every variant built and timed), in a worker or, with ``--ig-isolate never``, by SIGALRM here."""
    timeout = isolation.timeout if isolation.timeout is not None else MEASURE_TIMEOUT_S
    isolated = isolation.isolates(REFERENCE, perf=True)
    repeat = runs_per_model(settings.repeat, settings.update_baselines)
    if repeat > 1 and not isolated:
        raise pytest.UsageError(f"infergate: {REPEAT} {repeat} needs a separate process per run; "
                                "it cannot be combined with --ig-isolate never")
    return WorkerMeasurer(timeout, menv) if isolated else InProcessMeasurer(WorkerMeasurer(None, menv), timeout)


@dataclass(frozen=True)
class InProcessMeasurer:
    """A measurement in this process, bounded best effort (SIGALRM) as in-process correctness cases are."""

    inner: Measurer
    timeout: float

    def __call__(self, case: Case, variants: tuple[str, ...], plan: SamplingPlan) -> ModelMeasurement:
        from .isolation_plugin import alarm

        with alarm(self.timeout, f"measuring {case.model_id}/{case.dtype.value}"):
            return self.inner(case, variants, plan)


def settle_outcome(outcome: Outcome) -> CaseResult:
    """The perf run's outcome of a case as pytest's: a skip or failure raises, a result returns."""
    if isinstance(outcome, Skipped):
        pytest.skip(outcome.reason)
    if isinstance(outcome, Failed):
        pytest.fail(outcome.message, pytrace=False)
    return outcome


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{PERF_MARK}: parametrize `perf_case` over the profile's perf matrix")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker(PERF_MARK) is None or "perf_case" not in metafunc.fixturenames:
        return
    from ..core.errors import InfergateError

    settings = run_session(metafunc.config).settings
    cases = perf_cases(profile_of(metafunc, settings.profile))
    try:
        # A user's own checkpoint is timed too (same variants and dtypes as the profile's perf
        # cases); ignoring the option would give them numbers for our models instead.
        cases += checkpoint_cases(settings.checkpoints, tuple(dict.fromkeys(c.variant for c in cases)),
                                  tuple(dict.fromkeys(c.dtype for c in cases)))
        cases += user_cases(run_session(metafunc.config).models, perf=True)
    except InfergateError as exc:
        raise pytest.UsageError(str(exc)) from None
    metafunc.parametrize("perf_case", matrix_params(cases, perf=True))


XDIST_REFUSED = ("infergate: perf cases cannot run under pytest-xdist (-n): its workers would time the same "
                 "model at once on the same CPUs; run perf with -n 0 or -p no:xdist")
# The perf test's function name (suite/test_perf.py), as the xdist controller sees it in node ids.
PERF_FUNCTION = PERF_TEST.rpartition("::")[2]


def _perf_case(item: pytest.Item) -> Case | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params["perf_case"] if callspec is not None and "perf_case" in callspec.params else None


def pytest_collection_finish(session: pytest.Session) -> None:
    perf_items = [item for item in session.items if _perf_case(item) is not None]
    if not perf_items:
        return
    perf_run_of(session.config)  # every case skipped too: the run's end says it judged nothing
    cases = [c for item in perf_items if not item.get_closest_marker("skip") and (c := _perf_case(item))]
    if not cases:
        return
    from ..building.harness import perf_skip_reason

    settings = run_session(session.config).settings
    family = None
    if settings.shard is not None:  # the whole run's gateable cases, not this shard's
        everything = perf_cases(settings.profile) + checkpoint_cases(settings.checkpoints)
        family = [c for c in everything + user_cases(run_session(session.config).models, perf=True)
                  if perf_skip_reason(c) is None]
    try:
        perf_run_of(session.config).prepare(cases, family)
    except (DataFileError, UsageError) as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """Under xdist (the controller, before any test is sent out): refuse perf cases. Each worker would
    measure every model of its cases at once with the others, on the same CPUs, and the summary, exit
    code and baselines live in a PerfRun that only the workers hold. Only the ids reach the controller."""
    if any(f"::{PERF_FUNCTION}[" in nodeid for nodeid in ids):
        pytest.exit(XDIST_REFUSED, returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each perf case's skip reason (a skip mark, or a skip while run) and failure for the run's end."""
    report = yield
    run = item.config.stash.get(_RUN, None)
    if run is not None and _perf_case(item) is not None:
        if report.skipped and isinstance(report.longrepr, tuple):
            run.skipped[item.nodeid] = str(report.longrepr[2]).removeprefix("Skipped: ")
        elif report.failed:
            run.failed.add(item.nodeid)
    return report


@pytest.fixture(scope="session")
def perf_run(request: pytest.FixtureRequest) -> PerfRun:
    return perf_run_of(request.config)


def record_benchmark(benchmark: Any, result: CaseResult) -> None:
    """Give pytest-benchmark the paired samples already taken instead of timing a second time."""
    benchmark.extra_info.update({
        "variant": result.variant, "dtype": result.dtype, "lane": result.lane, "threads": result.threads,
        "speedup": result.speedup, "ci": list(result.ci), "confidence": result.confidence,
        "baseline": result.baseline, "verdict": result.verdict, "rounds": result.rounds,
    })
    if getattr(benchmark, "disabled", False):
        return
    # Private API of pytest-benchmark 5 (fixture._make_stats / _mode): the public ones would time
    # the call again, outside the shuffled rounds, and the two would disagree.
    stats = benchmark._make_stats(1)
    for t in result.times_s:
        stats.update(t)
    benchmark._mode = "infergate paired rounds"


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    run = perf_run_of(config)
    machine_info.update({"machine_class": run.machine_class, "lane": run.lane})


def pytest_sessionfinish(session: pytest.Session) -> None:
    run = session.config.stash.get(_RUN, None)
    if run is None:
        return
    # The results first: a baselines file that cannot be written must not lose the run's measurements.
    # Nor the other way round: a results file that cannot be written (its path is checked when parsed,
    # but the disk can still refuse) is one line and a failed run, and the baselines are still recorded.
    results_path = run.settings.results_json
    if results_path is not None:
        try:
            write_json(results_path, results_json(run.results, run.machine_info(), PERF_TEST))
            run.notes.append(f"infergate: results JSON written to {results_path}")
        except OSError as exc:
            run.notes.append(f"infergate: results JSON NOT written to {results_path}: {exc.strerror or exc}")
            results_path = None
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if run.update:
        try:
            run.notes.append(run.record_baselines())
        except (DataFileError, OSError, ValueError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            where = f" ({exc.filename})" if isinstance(exc, OSError) and exc.filename else ""
            run.notes.append(f"infergate: baselines NOT updated: {why}{where}"
                             + (f"; this run's results are in {results_path}" if results_path else ""))
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    # Could not decide, could not verify and judged nothing are never a pass: with nothing worse to
    # report, the run says so in its own code.
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = run.outcome(fusions_compared(session.config)).exit_code


def passed_undecided(config: pytest.Config) -> str | None:
    """The perf cases a pass policy (--ig-inconclusive / --ig-unverified pass) let through undecided,
    counted ("2 unverified"); None when there were none or no perf run."""
    run = config.stash.get(_RUN, None)
    if run is None:
        return None
    counts = run.outcome(fusions_compared(config)).counts
    return ", ".join(f"{counts[v]} {v}" for v in (INCONCLUSIVE, UNVERIFIED) if counts.get(v)) or None


def fusions_compared(config: pytest.Config) -> int:
    from .fusion_plugin import compared_count

    return compared_count(config)

def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    run = terminalreporter.config.stash.get(_RUN, None)
    if run is None:
        return
    tr = terminalreporter
    tr.write_sep("=", f"infergate perf: {run.machine_class} / {run.lane}")
    # No table without a result (every case skipped or failed); the notes and the outcome still.
    for line in summary_lines(run) if run.results else run.notes:
        tr.write_line(line)
    measured = sum(m.measure_s for runs in run.measurements.values() for m in runs)
    tr.write_line(f"measuring time: {measured:.1f} s over {len(run.measurements)} model(s), "
                  f"{run.confirm_spent_s:.0f} s re-measuring, "
                  f"{time.perf_counter() - _T0:.0f} s since the plugin loaded")
    for line in run.outcome(fusions_compared(tr.config)).lines():
        tr.write_line(line)


def summary_lines(run: PerfRun) -> list[str]:
    """The summary's text: how speedups were judged, the table, undecided cases, the environment."""
    lines = [
        f"speedup = each run's median over its shuffled rounds of eager / variant, geometric mean over runs; "
        f"judged as a new session against "
        f"the baseline's sessions at {run.confidence:.4f} ({family_text(run)}), one-sided; pass rules out a "
        f"{run.floor:.0%} drop ('sees': the drop a case can see; * = more than the floor); "
        f"{run.repeat} run(s) per model, up to {run.settings.confirm_runs} re-measure(s) of a flagged case",
        f"measuring environment: {', '.join(run.menv.names) or 'none'} "
        f"({' '.join(f'{k}={v}' for k, v in sorted(run.menv.env.items())) or 'nothing added'})",
    ]
    if run.inject and any(r.variant == run.inject[0] for r in run.results):  # else none was slowed
        lines.append(f"!!! TEST HOOK {INJECT} {run.inject[0]}={run.inject[1]:g}: {run.inject[0]} was built with "
                     "extra in-graph work; its regression is deliberate")
    lines += format_table(run.results)
    lines += legend(run.floor, run.confidence)
    lines += cost_table(run.results)
    for key, comp in sorted(run.spreads.items()):
        lines.append(f"spread {key[0]} ({key[1]}): {comp.describe()}")
    for r in run.results:
        if r.verdict in (REGRESSION, INCONCLUSIVE, UNVERIFIED):
            lines.append(f"{r.case_id}: {r.verdict.upper()}: {r.message}")
    lines += noise_lines(run.results)
    if run.confirm_skipped:
        lines.append(f"re-measuring budget ({run.settings.confirm_budget_s:g} s, {CONFIRM_BUDGET}) spent: "
                     f"{', '.join(run.confirm_skipped)} decided without re-measures")
    lines += run.notes
    return lines


_T0 = time.perf_counter()


def family_text(run: PerfRun) -> str:
    if not run.gated_cases:
        return f"no gated cases: family alpha {run.alpha:g} as for one"
    return f"family alpha {run.alpha:g} over {run.gated_cases} gated case(s)"


def noise_lines(results: list[CaseResult]) -> list[str]:
    """What the workers saw while measuring (inrun_noise), each reason once."""
    return [f"machine busy while measuring: {reason}" for reason in sorted({n for r in results for n in r.noise})]
