"""Calibration trials (a model's variant beside slowed copies, in rounds and in blocks), saved as JSON."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..building.variants import REFERENCE
from ..core.errors import UsageError
from ..matrix.dtypes import DType
from ..matrix.spec import ModelSpec
from ..measuring.isolation import run_in_worker
from ..measuring.measuring_env import resolve, suite_env
from ..measuring.sampling import Copy, ModelMeasurement, SamplingPlan, measure_model_plans


def copy_name(variant: str, pct: float) -> str:
    return f"{variant}+{pct:g}%"


def find_spec(model_id: str) -> ModelSpec:
    from ..building.cases import PROFILES

    for profile in PROFILES.values():
        for sel in (*profile.perf, *profile.correctness):
            for spec in sel.specs():
                if spec.id == model_id:
                    return spec
    raise UsageError(f"no model {model_id!r} in any profile (ids look like bert-qa-small-eager_attn)")


@dataclass
class Trial:
    shuffled: ModelMeasurement
    blocks: ModelMeasurement
    seconds: float


def run_trial(spec: ModelSpec, variant: str, slowdowns: Sequence[float], budget_s: float,
              block_s: float, seed: int, threads: int | None, settings: Sequence[str] | None = None) -> Trial:
    copies = [Copy(copy_name(variant, p), variant, p / 100.0) for p in (0, *slowdowns)]
    entries = 2 + len(copies)
    plans = (
        SamplingPlan(budget_s=budget_s, seed=seed, threads=threads),
        SamplingPlan(budget_s=block_s * (entries - 1), seed=seed, threads=threads, schedule="blocks",
                     warmup_s=0.5),
    )
    t0 = time.perf_counter()
    # Each trial in a fresh worker: a separate process and build, as a baseline from another day is.
    # The suite's measuring environment unless told otherwise: calibration measures what the suite does.
    menv = suite_env() if settings is None else resolve(settings)
    shuffled, blocks = run_in_worker(measure_model_plans, spec, DType.FP32, (REFERENCE, variant), plans, copies,
                                     timeout=900.0, env=menv.worker_env(), argv_prefix=menv.argv_prefix)
    return Trial(shuffled, blocks, time.perf_counter() - t0)


RAW_SCHEMA = "infergate-calibration-trials"
RAW_VERSION = 1


def save_trials(path: str, trials: Sequence[Trial], meta: dict[str, object]) -> None:
    """Every trial's raw times as JSON, so new rules can be judged on the same samples later."""
    data = {"schema": RAW_SCHEMA, "version": RAW_VERSION, **meta,
            "trials": [{"seconds": t.seconds, "shuffled": dataclasses.asdict(t.shuffled),
                        "blocks": dataclasses.asdict(t.blocks)} for t in trials]}
    with _open(path, "wt") as fh:
        json.dump(data, fh)


def _open(path: str, mode: str):
    # .json.gz: the saved trials committed beside docs/calibration.md are ~1 MB of JSON each.
    import gzip

    return gzip.open(path, mode, encoding="utf-8") if path.endswith(".gz") else open(path, mode, encoding="utf-8")


def load_trials(path: str) -> tuple[list[Trial], dict[str, Any]]:
    try:
        with _open(path, "rt") as fh:
            data = json.load(fh)
    except (OSError, EOFError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read calibration trials {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("schema") != RAW_SCHEMA or data.get("version") != RAW_VERSION:
        raise UsageError(f"{path} is not an {RAW_SCHEMA} file of version {RAW_VERSION}")
    trials = [Trial(_measurement(t["shuffled"]), _measurement(t["blocks"]), t["seconds"]) for t in data.pop("trials")]
    return trials, data


def _measurement(data: dict) -> ModelMeasurement:
    return ModelMeasurement.from_dict(data)
