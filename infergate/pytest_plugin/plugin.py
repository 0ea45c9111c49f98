"""The pytest plugin. Hooks stay thin: the matrix, building and checking live in plain modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ..building.cases import Case, correctness_cases
from ..building.user_cases import notes, user_cases
from ..building.variants import REFERENCE
from ..core.errors import InfergateError
from . import fusion_plugin, isolation_plugin, params, perf_plugin, project_plugin
from .params import MATRIX_MARK, checked_axes, checkpoint_cases, matrix_params, register_hypothesis_profiles
from .session import session, start
from .settings import add_options
from .xdist_threads import share_cpus_among_workers

if TYPE_CHECKING:
    from ..building.harness import Harness

# Feature plugins, each owning its hooks; registered here so the root conftest stays
# one line. They receive the session (session.py) and never import this module.
FEATURE_PLUGINS = (perf_plugin, isolation_plugin, fusion_plugin, project_plugin)


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    add_options(parser)  # every plugin's options, declared once (settings.OPTIONS)
    for module in FEATURE_PLUGINS:
        if not pluginmanager.is_registered(module):
            pluginmanager.register(module, module.__name__)


@pytest.hookimpl(tryfirst=True)  # the feature plugins' pytest_configure read the session
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MATRIX_MARK}(suite, variants=None, dtypes=None, against_reference=False): parametrize "
                   "`case` over the matrix; against_reference leaves out the FP32 eager reference itself"
    )
    try:
        start(config)
    except InfergateError as exc:  # a bad combination of options: one line, no traceback
        raise pytest.UsageError(f"infergate: {exc}") from None
    try:
        # Checked once here: found first in each matrix module's parametrization, a checkpoint that
        # cannot be read was one collection error per module, the same message four times.
        checkpoint_cases(session(config).settings.checkpoints)
    except InfergateError as exc:
        raise pytest.UsageError(str(exc)) from None
    register_hypothesis_profiles(explicit=config.getoption("hypothesis_profile", None) is not None)
    share_cpus_among_workers()


def pytest_report_header(config: pytest.Config) -> list[str]:
    models = session(config).models
    if not models:
        return []
    ids = ", ".join(m.model.id for m in models)
    return [f"infergate: your models ({models[0].model.path}): {ids}", *(f"infergate: {n}" for n in notes(models))]


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    # Again under the results: a random head's answers and speed are not the trained model's.
    for note in notes(session(config).models):
        terminalreporter.write_line(f"infergate: {note}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    mark = metafunc.definition.get_closest_marker(MATRIX_MARK)
    if mark is None or "case" not in metafunc.fixturenames:
        return
    settings = session(metafunc.config).settings
    try:
        cases = correctness_cases(params.profile_of(metafunc, settings.profile))
        cases += checkpoint_cases(settings.checkpoints)
        cases += user_cases(session(metafunc.config).models, perf=False)
        variants, dtypes = checked_axes(mark.kwargs.get("variants"), mark.kwargs.get("dtypes"))
    except InfergateError as exc:
        raise pytest.UsageError(str(exc)) from None
    cases = [
        c for c in cases
        if (variants is None or c.variant in variants) and (dtypes is None or c.dtype in dtypes)
    ]
    if mark.kwargs.get("against_reference"):
        from ..matrix.dtypes import DType

        # The FP32 eager case *is* the reference: comparing it with itself is a test that cannot fail.
        cases = [c for c in cases if not (c.variant == REFERENCE and c.dtype is DType.FP32)]
    metafunc.parametrize("case", matrix_params(cases))


@pytest.hookimpl(tryfirst=True)  # before perf's hook collects its cases: it must see this shard's only
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    settings = session(config).settings
    shard = settings.shard
    if shard is None:
        return
    from ..building.shards import plan

    index, total = shard
    assignment = plan(settings.profile, total)
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        case = callspec.params.get("case", callspec.params.get("perf_case")) if callspec else None
        # A model outside the profile (--ig-checkpoint, a configured model) goes to shard 1, once.
        home = assignment.get(case.spec.id, 1) if isinstance(case, Case) else index
        (kept if home == index else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


class _SkippingHarness:
    """The process harness, turning run-time discoveries of 'cannot run here' into skips."""

    def __init__(self, inner: Harness) -> None:
        self._inner = inner

    def __getattr__(self, name: str):
        from ..core.errors import CaseUnavailable

        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            try:
                return attr(*args, **kwargs)
            except CaseUnavailable as exc:
                pytest.skip(str(exc))

        return call


@pytest.fixture(scope="session")
def harness() -> Harness:
    from ..building.harness import harness as get

    return _SkippingHarness(get())  # type: ignore[return-value]
