"""Building one model's variants with one error policy for every caller: a skip reason means not
built, a ``BuildError`` or ``ProofError`` is that variant's outcome, anything else propagates."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from ..core.errors import BuildError, ProofError
from ..matrix.dtypes import DType
from .variants import Built, Inputs, get_variant

if TYPE_CHECKING:
    import torch

W = TypeVar("W")


@dataclass(frozen=True)
class VariantBuild(Generic[W]):
    """One variant's outcome: exactly one of ``built``, ``error``, ``skipped``; ``seconds``, ``watched``: built only."""

    name: str
    built: Built | None = None
    error: str | None = None
    skipped: str | None = None
    seconds: float = 0.0
    watched: W | None = None
    injected: float | None = None  # TEST ONLY: the in-graph slowdown it was built with (building.inject)


def build_variants(
    model: torch.nn.Module, inputs: Inputs, dtype: DType, variants: Sequence[str], *,
    skip_reason: Callable[[str], str | None], watch: Callable[[], AbstractContextManager[W]],
    inject: Mapping[str, float] | None = None,
) -> list[VariantBuild[W]]:
    """Each of ``variants`` built once from ``model`` (a variant in ``inject``: from a slowed copy), in order."""
    out: list[VariantBuild[W]] = []
    for name in variants:
        reason = skip_reason(name)
        if reason:
            out.append(VariantBuild(name, skipped=reason))
            continue
        fraction = (inject or {}).get(name)
        t0 = time.perf_counter()
        try:
            with watch() as watched:
                source = model
                if fraction:
                    from .inject import slowed_copy

                    source = slowed_copy(model, fraction)
                built = get_variant(name).build(source, inputs, dtype)
        except (BuildError, ProofError) as exc:
            out.append(VariantBuild(name, error=f"{type(exc).__name__}: {exc}"))
            continue
        out.append(VariantBuild(name, built, seconds=time.perf_counter() - t0, watched=watched, injected=fraction))
    return out
