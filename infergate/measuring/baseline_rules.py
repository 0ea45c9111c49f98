"""Which recorded runs may be compared with today's or pooled: the recipe revision and the set-up."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..building.variants import get_variant
from .baseline_records import CaseBaseline

# The environment key holding the variant's recipe revision (variants.Variant.recipe); files
# recorded before it existed were all measured with revision 1.
RECIPE = "recipe"
# In the lane's python; recording drops the runs of an older recipe.
RERECORD = "python -m infergate run --update-baselines"


def recipe_of(environment: Mapping[str, Any]) -> int:
    value = environment.get(RECIPE, 1)
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def set_up(environment: Mapping[str, Any]) -> tuple[Any, Any, int]:
    """What makes runs incomparable: torch threads, measuring settings (None when unrecorded) and recipe revision."""
    measuring = environment.get("measuring")
    settings = measuring.get("settings") if isinstance(measuring, Mapping) else None
    return (environment.get("torch_threads"),
            tuple(settings) if settings not in (None, ["none"], ("none",)) else None,
            recipe_of(environment))


def stale_reason(case_id: str, variant: str, base: CaseBaseline | None) -> str | None:
    """Why the case's baseline measured another build of the variant (its recipe revision)."""
    if base is None:
        return None
    recorded, current = recipe_of(base.environment), get_variant(variant).recipe
    if recorded == current:
        return None
    return (f"stale baseline: recorded with revision {recorded} of the {variant} recipe, this build is "
            f"revision {current} (infergate.building.variants), so it measured another build: not judged; "
            f"re-record it on this machine class: {RERECORD} -k '{case_id}'")


def not_comparable_reason(base: CaseBaseline, threads: int, measuring_settings: Sequence[str],
                          threads_flag: str) -> str | None:
    """Why today's runs cannot be compared with the recorded ones at all (a set-up mismatch)."""
    env = base.environment
    recorded_threads = env.get("torch_threads")
    if recorded_threads not in (None, threads):
        return (f"not comparable: the baseline was measured with {recorded_threads} torch thread(s), "
                f"this run with {threads}; re-record it or pass {threads_flag} {recorded_threads}")
    measuring = env.get("measuring")
    if isinstance(measuring, dict) and measuring.get("settings") != list(measuring_settings):
        return (f"not comparable: the baseline was measured with settings {measuring.get('settings')}, "
                f"this run with {list(measuring_settings)} (infergate.measuring.measuring_env); re-record it")
    return None


def pooling_refusal(case_id: str, old: CaseBaseline | None, new: CaseBaseline, replace: bool = False) -> str | None:
    """Why runs measured elsewhere (``baselines add`` / ``import``) may not join the case's recorded ones.
    Pooling runs of another set-up keeps only the newcomers, and a file brought in is no statement
    that this tree's runs are obsolete (a recording, or ``--replace``, is): so instead of dropping
    runs the gate judges against, the file is refused. Runs of another recipe revision than this
    infergate's are refused even into an empty case: they measured another build, never judged."""
    variant = new.variant
    recorded, current = recipe_of(new.environment), get_variant(variant).recipe
    if recorded != current:
        return (f"{case_id}: its runs measured revision {recorded} of the {variant} recipe, this infergate's is "
                f"revision {current}: another build, never judged")
    if old is None or replace or recipe_of(old.environment) != current:
        return None  # nothing the gate uses is dropped: a stale case's runs give way, as on recording
    if old.estimator != new.estimator:
        return f"{case_id}: recorded as {old.estimator}, these runs as {new.estimator}"
    if set_up(old.environment) != set_up(new.environment):
        return f"{case_id}: recorded with {_described(old.environment)}, these runs with {_described(new.environment)}"
    return None


def _described(environment: Mapping[str, Any]) -> str:
    threads, settings, recipe = set_up(environment)
    return f"{threads} torch thread(s), measuring settings {list(settings) if settings else None}, recipe {recipe}"
