"""The pytest plugin. Hooks stay thin: the matrix, building and checking live in plain modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .cases import Case, correctness_cases
from .errors import InfergateError
from .options import Options, add_options

if TYPE_CHECKING:
    from .harness import Harness

MATRIX_MARK = "infergate_matrix"

# Feature plugins, each owning its hooks and options; registered here so the root conftest stays one line.
FEATURE_PLUGINS: tuple[str, ...] = ("infergate.perf_plugin", "infergate.isolation_plugin", "infergate.fusion_plugin")


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    add_options(parser)
    import importlib

    for name in FEATURE_PLUGINS:
        module = importlib.import_module(name)
        if not pluginmanager.is_registered(module):
            pluginmanager.register(module, name)
        if hasattr(module, "add_options"):
            module.add_options(parser)


def options(config: pytest.Config) -> Options:
    return config.stash[_OPTIONS]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MATRIX_MARK}(suite, variants=None, dtypes=None, against_reference=False): parametrize "
                   "`case` over the matrix; against_reference leaves out the FP32 eager reference itself"
    )
    config.stash[_OPTIONS] = Options.from_pytest_config(config)
    _register_hypothesis_profiles(explicit=config.getoption("hypothesis_profile", None) is not None)


def _register_hypothesis_profiles(explicit: bool) -> None:
    # Property tests rebuild nothing per example, but compile may recompile once for a dynamic
    # shape (~10 s on 2 cores); a handful of examples per case keeps a lane's run within CI time.
    from hypothesis import HealthCheck, settings

    common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
                  derandomize=True)
    settings.register_profile("infergate-default", max_examples=6, **common)
    settings.register_profile("infergate-nightly", max_examples=40, **common)
    if not explicit:
        settings.load_profile("infergate-default")


_OPTIONS = pytest.StashKey[Options]()


def matrix_params(cases: list[Case], perf: bool = False) -> list:
    from .harness import perf_skip_reason, skip_reason

    params = []
    for case in cases:
        reason = perf_skip_reason(case) if perf else skip_reason(case)
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        params.append(pytest.param(case, id=case.id, marks=marks))
    return params


def checkpoint_cases(refs: tuple[str, ...], variants: tuple[str, ...] | None = None,
                     dtypes: tuple | None = None) -> list[Case]:
    """The cases of user checkpoints (``--ig-checkpoint``): every task, the given variants and
    dtypes (default all). Shared by correctness and perf, so neither can ignore the option."""
    from .checkpoint import checkpoint_spec
    from .dtypes import DType
    from .variants import DEFAULT_VARIANTS
    from .zoo import Task

    cases = []
    for ref in refs:
        for task in Task:
            spec = checkpoint_spec(ref, task)
            cases += [Case(spec, v, d) for v in (variants or DEFAULT_VARIANTS) for d in (dtypes or tuple(DType))]
    return cases


def _checked_axes(variants, dtypes):
    # A misspelt name in the marker would otherwise select no case at all, silently.
    from .dtypes import DType, get_dtype
    from .variants import get_variant

    for name in variants or ():
        get_variant(name)
    if dtypes is not None:
        dtypes = tuple(d if isinstance(d, DType) else get_dtype(d) for d in dtypes)
    return variants, dtypes


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    mark = metafunc.definition.get_closest_marker(MATRIX_MARK)
    if mark is None or "case" not in metafunc.fixturenames:
        return
    options = metafunc.config.stash[_OPTIONS]
    try:
        cases = correctness_cases(options.profile)
        cases += checkpoint_cases(options.checkpoints)
        variants, dtypes = _checked_axes(mark.kwargs.get("variants"), mark.kwargs.get("dtypes"))
    except InfergateError as exc:
        raise pytest.UsageError(str(exc)) from None
    cases = [
        c for c in cases
        if (variants is None or c.variant in variants) and (dtypes is None or c.dtype in dtypes)
    ]
    if mark.kwargs.get("against_reference"):
        from .dtypes import DType

        # The FP32 eager case *is* the reference: comparing it with itself is a test that cannot fail.
        cases = [c for c in cases if not (c.variant == "eager" and c.dtype is DType.FP32)]
    metafunc.parametrize("case", matrix_params(cases))


@pytest.hookimpl(tryfirst=True)  # before perf's hook collects its cases: it must see this shard's only
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    shard = options(config).shard
    if shard is None:
        return
    from .shards import plan

    index, total = shard
    assignment = plan(options(config).profile, total)
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        case = callspec.params.get("case", callspec.params.get("perf_case")) if callspec else None
        # A model outside the profile (--ig-checkpoint) goes to shard 1, once.
        home = assignment.get(case.spec.id, 1) if isinstance(case, Case) else index
        (kept if home == index else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


class _SkippingHarness:
    """The process harness, turning run-time discoveries of 'cannot run here' into skips."""

    def __init__(self, inner: "Harness") -> None:
        self._inner = inner

    def __getattr__(self, name: str):
        from .errors import CaseUnavailable

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
def harness() -> "Harness":
    from .harness import harness as get

    return _SkippingHarness(get())  # type: ignore[return-value]
