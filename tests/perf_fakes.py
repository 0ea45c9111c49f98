"""Test doubles for the perf engine: a run's Settings and RunContext without pytest, and a measurer
that hands out prepared measurements instead of starting workers."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infergate.building.cases import Case, get_profile
from infergate.measuring.measuring_env import MeasuringEnv
from infergate.measuring.sampling import ModelMeasurement, SamplingPlan
from infergate.pytest_plugin.perf_run import PerfRun
from infergate.pytest_plugin.session import RunContext
from infergate.pytest_plugin.settings import Settings

# Settings fields under the names the tests used for them before the engine took Settings.
_FIELDS = {"update": "update_baselines", "replace": "replace_baselines", "results_path": "results_json"}


def settings(root: Path, **changes: Any) -> Settings:
    """Every option's declared default, the smoke profile and baselines under ``root``."""
    base = Settings.from_values(lambda o: o.kwargs.get("default"), root)
    changes = {_FIELDS.get(k, k): v for k, v in changes.items()}
    return dataclasses.replace(base, **{"profile": get_profile("smoke"), "baselines_dir": root, **changes})


@dataclass
class FakeMeasurer:
    """First runs by seed from ``first``; re-measures (seeds from ``len(first)`` on) from ``more``
    in order. Every call is kept as (model id, variants, seed)."""

    first: Sequence[ModelMeasurement]
    more: list[ModelMeasurement] = field(default_factory=list)
    calls: list[tuple[str, tuple[str, ...], int]] = field(default_factory=list)

    def __call__(self, case: Case, variants: tuple[str, ...], plan: SamplingPlan) -> ModelMeasurement:
        self.calls.append((case.model_id, variants, plan.seed))
        return self.first[plan.seed] if plan.seed < len(self.first) else self.more.pop(0)

    @property
    def remeasured(self) -> list[tuple[tuple[str, ...], int]]:
        return [(variants, seed) for _, variants, seed in self.calls if seed >= len(self.first)]


def perf_run(root: Path, machine_class: str, lane: str, measurer: Any, menv: MeasuringEnv | None = None,
             **changes: Any) -> PerfRun:
    context = RunContext(settings(root, **changes), machine_class, lane, ())
    return PerfRun(context, measurer, menv) if menv is not None else PerfRun(context, measurer)


def change(run: PerfRun, **changes: Any) -> None:
    """Give the run other options, as if its pytest session had been started with them."""
    run.context = dataclasses.replace(run.context, settings=dataclasses.replace(run.settings, **changes))
