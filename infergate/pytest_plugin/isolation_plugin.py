"""Pytest side of isolation: a case that crashes or hangs fails alone. ``auto`` runs IPEX cases and perf
measurements in a fresh worker (``isolation.run_in_worker``; cost: docs/bad-input.md); in-process cases
get a best-effort SIGALRM timeout. A broken baselines file or a CPU without AVX2 is one line up front.
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from ..core.errors import CaseCrashed, CaseTimeout, DataFileError, WorkerOutcome
from .session import RunContext
from .session import session as run_session
from .settings import ISOLATE, Mode

if TYPE_CHECKING:
    from ..building.cases import Case

# Fixtures that must not travel to a worker (they hold models) but are rebuilt there from a
# zero-argument factory: name -> "module:function".
PROCESS_LOCAL_FIXTURES: dict[str, str] = {"harness": "infergate.building.harness:harness"}


@dataclass(frozen=True)
class IsolationSettings:
    """Which cases run in a worker and their timeouts: --ig-isolate and --ig-timeout over the variants' rules."""

    mode: Mode
    timeout: float | None  # None: the per-variant defaults

    @classmethod
    def of(cls, run: RunContext) -> IsolationSettings:
        return cls(mode=run.settings.isolate, timeout=run.settings.timeout_s)

    def timeout_for(self, variant: str) -> float:
        if self.timeout is not None:
            return self.timeout
        from ..building.variants import get_variant

        return get_variant(variant).timeout_s

    def isolates(self, variant: str, perf: bool = False) -> bool:
        """Whether a case of ``variant`` runs in a worker (perf measurements ask with perf=True)."""
        if self.mode is Mode.AUTO:
            from ..building.variants import get_variant

            return perf or get_variant(variant).crash_prone
        return self.mode is Mode.ALWAYS


def settings(config: pytest.Config) -> IsolationSettings:
    return IsolationSettings.of(run_session(config))


# --------------------------------------------------------------------------------------------
# Hooks


def pytest_sessionstart(session: pytest.Session) -> None:
    problem = baselines_problem(run_session(session.config))
    if problem:
        raise pytest.UsageError(problem)


def _matrix_item(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return callspec is not None and bool({"case", "perf_case"} & set(callspec.params))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Only the model cases need AVX2; the tool's own tests must still run (and fail) on such a CPU,
    # or `./suite test` would exit 0 having tested nothing.
    matrix = [item for item in items if _matrix_item(item)]
    reason = avx2_skip_reason() if matrix else None  # the probe imports torch: only when needed
    if reason:
        for item in matrix:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> Any:
    # A bad option value or name found while parametrizing the matrix is a UsageError; reported
    # as a collection error pytest would print it with a traceback through pluggy. One line instead.
    try:
        return (yield)
    except pytest.UsageError as exc:
        raise collector.CollectError(str(exc)) from None


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    case = matrix_case(pyfuncitem)
    if case is None:
        return None
    config_settings = settings(pyfuncitem.config)
    if not config_settings.isolates(case.variant):
        return None
    run_test_isolated(pyfuncitem, case, config_settings.timeout_for(case.variant))
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    case = matrix_case(item)
    if case is None or settings(item.config).isolates(case.variant):
        return (yield)
    with alarm(settings(item.config).timeout_for(case.variant), case.id):
        return (yield)


# --------------------------------------------------------------------------------------------
# Plain functions the hooks call (and the tests)


def baselines_problem(run: RunContext) -> str | None:
    """The one-line problem of this machine's baselines file, checked before any case runs."""
    try:
        _ = run.baseline  # reading the property loads and checks the file
    except DataFileError as exc:
        return str(exc)
    return None


def avx2_skip_reason() -> str | None:
    # Looked up on the module at call time so a test can inject a probe with other CPU flags.
    from ..building import capabilities

    return capabilities.probe().avx2_problem()


def matrix_case(item: pytest.Item) -> Case | None:
    """The case of a matrix test that isolation applies to (perf tests isolate their own measurement)."""
    from ..building.cases import Case
    from .params import MATRIX_MARK

    mark = item.get_closest_marker(MATRIX_MARK)
    case = getattr(item, "funcargs", {}).get("case")
    if mark is None or mark.kwargs.get("suite") == "perf" or not isinstance(case, Case):
        return None
    return case


def raise_as_pytest(outcome: WorkerOutcome) -> NoReturn:
    """A test's skip, xfail or failure in a worker, as the same pytest outcome here."""
    if outcome.kind == "Skipped":
        pytest.skip(outcome.message)
    if outcome.kind == "XFailed":
        pytest.xfail(outcome.message)
    pytest.fail(outcome.message, pytrace=False)


def run_test_isolated(item: pytest.Function, case: Case, timeout: float) -> None:
    from ..measuring.isolation import run_in_worker

    kwargs = {}
    for name in item._fixtureinfo.argnames:
        kwargs[name] = _LocalFixture(name) if name in PROCESS_LOCAL_FIXTURES else item.funcargs[name]
    cls_name = item.cls.__qualname__ if item.cls is not None else None
    try:
        run_in_worker(
            call_test_function, item.module.__name__, cls_name, item.originalname, kwargs,
            _hypothesis_profile(), timeout=timeout,
        )
        return
    except WorkerOutcome as outcome:
        raise_as_pytest(outcome)
    except (CaseCrashed, CaseTimeout) as exc:
        failure = f"{case.id}: {type(exc).__name__}: {exc}"
    # Outside the except block, so the report is this message alone, not a chain of tracebacks.
    pytest.fail(failure, pytrace=False)


@dataclass(frozen=True)
class _LocalFixture:
    name: str


def _hypothesis_profile() -> str | None:
    hypothesis = sys.modules.get("hypothesis")
    return getattr(hypothesis.settings, "_current_profile", None) if hypothesis else None


def call_test_function(module_name: str, cls_name: str | None, func_name: str, kwargs: dict[str, Any],
                       hypothesis_profile: str | None) -> None:
    """Runs in the worker: import the test module as the parent did and call the test function."""
    if hypothesis_profile is not None:
        from hypothesis import settings as hyp_settings

        from .params import register_hypothesis_profiles

        register_hypothesis_profiles(explicit=True)
        hyp_settings.load_profile(hypothesis_profile)
    module = importlib.import_module(module_name)
    owner: Any = module
    if cls_name is not None:
        for part in cls_name.split("."):
            owner = getattr(owner, part)
        owner = owner()
    resolved = {
        name: _factory(value.name)() if isinstance(value, _LocalFixture) else value
        for name, value in kwargs.items()
    }
    getattr(owner, func_name)(**resolved)


def _factory(fixture: str) -> Any:
    module_name, attr = PROCESS_LOCAL_FIXTURES[fixture].split(":")
    return getattr(importlib.import_module(module_name), attr)


@contextlib.contextmanager
def alarm(seconds: float, case_id: str) -> Iterator[None]:
    """Raise CaseTimeout in the main thread after ``seconds``; elsewhere faulthandler dumps stacks and exits."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        import faulthandler
        import sys

        print(f"infergate: {case_id} runs off the main thread: on its timeout of {seconds:g}s the whole "
              f"process is stopped with every thread's stack (use {ISOLATE} always to lose only the case)",
              file=sys.stderr)
        faulthandler.dump_traceback_later(seconds, exit=True)
        try:
            yield
        finally:
            faulthandler.cancel_dump_traceback_later()
        return

    def expire(signum: int, frame: Any) -> None:
        raise CaseTimeout(f"{case_id} ran over its timeout of {seconds:g}s in-process "
                          f"(use {ISOLATE} always for a hard kill of hangs in native code)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
