"""Builds and caches what tests need, once per process: models, inputs, FP32 eager references, variants."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.errors import CaseUnavailable
from ..matrix.dtypes import DType
from ..matrix.inputs import TRACE_SHAPE, Shape, make_inputs
from ..matrix.models import attention_problem, build_model
from ..matrix.spec import ModelSpec
from .capabilities import ipex_autocast_problem, probe
from .cases import Case
from .variants import Built, Inputs, Outputs, get_variant

if TYPE_CHECKING:
    import torch

EXAMPLE_SEED = 1234


def example_inputs(spec: ModelSpec, shape: Shape | None = None, seed: int = EXAMPLE_SEED) -> Inputs:
    """Inputs at ``shape``, by default the spec's own example shape (a user's first), else the trace shape."""
    if spec.factory is not None:
        from ..matrix.factory import factory_build

        return factory_build(spec.factory, spec.task, shape or spec.shape or TRACE_SHAPE)[1]
    if spec.checkpoint is not None:
        from ..matrix.texts import tokenize

        # The built-in checkpoint cases keep their texts' own length; a user's model has its shapes.
        seq_len = None if spec.shape is None else (shape or spec.shape).seq_len
        return tokenize(spec.checkpoint, spec.task, (shape or spec.shape or TRACE_SHAPE).batch, seq_len)
    shape = shape or spec.shape or TRACE_SHAPE
    return make_inputs(spec.arch, spec.size.vocab or spec.arch.base_vocab, shape, seed)


def skip_reason(case: Case) -> str | None:
    spec = case.spec
    return (spec.skip_reason(case.variant, case.dtype) or attention_problem(spec)
            or get_variant(case.variant).unavailable(case.dtype, probe()))


def perf_skip_reason(case: Case) -> str | None:
    """Why a case is not timed here: it cannot run, or it is BF16 on a CPU that only emulates BF16."""
    from .capabilities import bf16_perf_problem

    if case.dtype is DType.BF16 and (problem := bf16_perf_problem(probe().cpu_flags)):
        return problem
    return skip_reason(case)


class Harness:
    def __init__(self) -> None:
        self._models: dict[str, torch.nn.Module] = {}
        self._built: dict[str, Built] = {}

    def model(self, spec: ModelSpec) -> torch.nn.Module:
        if spec.id not in self._models:
            self._models[spec.id] = build_model(spec)
        return self._models[spec.id]

    def reference(self, spec: ModelSpec, inputs: Inputs) -> Outputs:
        import torch

        with torch.no_grad():
            return tuple(self.model(spec)(**inputs))

    def built(self, case: Case) -> Built:
        if case.dtype is DType.BF16 and get_variant(case.variant).bf16_by_autocast:
            reason = ipex_autocast_problem(probe())
            if reason:
                raise CaseUnavailable(reason)
        if case.id not in self._built:
            spec = case.spec
            self._built[case.id] = get_variant(case.variant).build(
                self.model(spec), example_inputs(spec), case.dtype
            )
        return self._built[case.id]


_HARNESS: Harness | None = None


def harness() -> Harness:
    global _HARNESS
    if _HARNESS is None:
        _HARNESS = Harness()
    return _HARNESS


__all__ = ["Harness", "harness", "example_inputs", "skip_reason", "perf_skip_reason", "DType"]
