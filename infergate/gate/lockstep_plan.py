"""What the upgrade gate measures per model: the variants each side builds and times, and case ids;
``gate --replace``'s stand-ins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..building.cases import Case
from ..building.variants import REFERENCE, TORCH_GROUP, process_group


@dataclass(frozen=True)
class ModelPlan:
    """One model at one dtype: the variants its selected cases need (eager always) and their case ids.
    ``replaced``: variant -> its stand-in in the "to" lane (``gate --replace``), the case keeping the
    "from" name and id. ``group``: the plan's ``variants.process_group``, which gets workers of its own."""

    model: str
    dtype: str
    variants: tuple[str, ...]
    case_ids: Mapping[str, str]  # variant -> case id
    replaced: Mapping[str, str] = field(default_factory=dict)
    group: str = TORCH_GROUP

    def on(self, side: str, variant: str) -> str:
        """The variant ``side``'s worker builds and calls for the case of ``variant``."""
        return self.replaced.get(variant, variant) if side == "to" else variant

    def built_on(self, side: str) -> list[str]:
        return list(dict.fromkeys(self.on(side, v) for v in self.variants))

    @property
    def workers(self) -> tuple[str, str]:
        """Which plans may share a pair of workers: the same group and dtype (FP32 ``jit_ipex``, in the
        torch group, still imports IPEX for good)."""
        return self.group, self.dtype


def _group(case: Case, replaced: Mapping[str, str]) -> str:
    """The case's process group on both sides: a stand-in that imports IPEX needs the IPEX group too."""
    names = {case.variant, replaced.get(case.variant, case.variant)}
    groups = {process_group(n, case.dtype) for n in names}
    return TORCH_GROUP if groups == {TORCH_GROUP} else (groups - {TORCH_GROUP}).pop()


def plan_models(cases: Sequence[Case], replaced: Mapping[str, str] | None = None) -> list[ModelPlan]:
    groups: dict[tuple[str, str, str], list[Case]] = {}
    for case in cases:
        key = (case.model_id, case.dtype.value, _group(case, replaced or {}))
        groups.setdefault(key, []).append(case)
    plans = []
    for (model, dtype, process), group in groups.items():
        variants = tuple(dict.fromkeys([REFERENCE, *(c.variant for c in group)]))
        spec, dt = group[0].spec, group[0].dtype
        # Ids come from cases.Case (an eager case need not be among the selected ones).
        ids = {v: Case(spec, v, dt, group[0].shape).id for v in variants}
        swaps = {v: to for v, to in (replaced or {}).items() if v in variants}
        plans.append(ModelPlan(model, dtype, variants, ids, swaps, process))
    return plans


def by_case(plan: ModelPlan, side: str, per_built: Mapping[str, Any]) -> dict[str, Any]:
    """A worker's reply keyed by what it built, re-keyed by the plan's cases (their "from" names)."""
    return {v: per_built[plan.on(side, v)] for v in plan.variants if plan.on(side, v) in per_built}


def builds_by_case(plan: ModelPlan, side: str, per_built: Mapping[str, Any]) -> dict[str, Any]:
    """The build reply by case; a replaced case's says which variant stood in for it."""
    return {v: {**r, "variant": plan.on(side, v)} if plan.on(side, v) != v else r
            for v, r in by_case(plan, side, per_built).items()}


def case_ids(plans: Sequence[ModelPlan]) -> dict[tuple[str, str, str], str]:
    """(model, variant, dtype) -> case id, for every variant the plans time."""
    return {(p.model, v, p.dtype): p.case_ids[v] for p in plans for v in p.variants}
