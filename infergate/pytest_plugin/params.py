"""What the plugins share: the matrix marker, cases as pytest params, checkpoint cases, hypothesis profiles."""

from __future__ import annotations

import dataclasses

import pytest

from ..building.cases import Case, Profile

MATRIX_MARK = "infergate_matrix"


def matrix_params(cases: list[Case], perf: bool = False) -> list:
    from ..building.harness import perf_skip_reason, skip_reason

    params = []
    for case in cases:
        reason = perf_skip_reason(case) if perf else skip_reason(case)
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        params.append(pytest.param(case, id=case.id, marks=marks))
    return params


def profile_of(metafunc: pytest.Metafunc, profile: Profile) -> Profile:
    """The profile whose zoo cases this module runs: none for the packaged suite in a user's project."""
    if getattr(metafunc.module, "CONFIGURED_MODELS_ONLY", False):
        return dataclasses.replace(profile, correctness=(), perf=())
    return profile


def checkpoint_cases(refs: tuple[str, ...], variants: tuple[str, ...] | None = None,
                     dtypes: tuple | None = None) -> list[Case]:
    """The cases of ``--ig-checkpoint``: every task, the given variants and dtypes (default all)."""
    from ..building.variants import default_variants
    from ..matrix.checkpoint import checkpoint_spec
    from ..matrix.dtypes import DType
    from ..matrix.zoo import Task

    cases = []
    for ref in refs:
        for task in Task:
            spec = checkpoint_spec(ref, task)
            cases += [Case(spec, v, d) for v in (variants or default_variants()) for d in (dtypes or tuple(DType))]
    return cases


def checked_axes(variants, dtypes):
    # A misspelt name in the marker would otherwise select no case at all, silently.
    from ..building.variants import get_variant
    from ..matrix.dtypes import DType, get_dtype

    for name in variants or ():
        get_variant(name)
    if dtypes is not None:
        dtypes = tuple(d if isinstance(d, DType) else get_dtype(d) for d in dtypes)
    return variants, dtypes


def register_hypothesis_profiles(explicit: bool) -> None:
    # Property tests rebuild nothing per example, but compile may recompile once for a dynamic
    # shape (~10 s on 2 cores); a handful of examples per case keeps a lane's run within CI time.
    from hypothesis import HealthCheck, settings

    common = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
                      derandomize=True)
    settings.register_profile("infergate-default", common, max_examples=6)
    settings.register_profile("infergate-nightly", common, max_examples=40)
    if not explicit:
        settings.load_profile("infergate-default")
