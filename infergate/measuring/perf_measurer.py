"""How the perf run measures a model: the ``Measurer`` protocol and ``WorkerMeasurer``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..building.cases import Case
from ..building.variants import process_group
from ..core.errors import CaseCrashed
from ..matrix.dtypes import DType
from .measuring_env import MeasuringEnv, check_applied
from .sampling import ModelMeasurement, SamplingPlan, measure_model

# A perf measurement builds every variant (compile and IPEX included) and runs for the budget;
# fifteen minutes only trips on a hung worker, never on a slow but healthy build on 2 busy cores.
MEASURE_TIMEOUT_S = 900.0

# (model id, dtype, the variant's process group): the runs one set of worker processes measured.
MeasurementKey = tuple[str, str, str]


def measurement_key(case: Case) -> MeasurementKey:
    """Which worker measures a case: one per model id, dtype and ``variants.process_group``."""
    return model_key(case.model_id, case.dtype.value, case.variant)


def model_key(model_id: str, dtype: str, variant: str) -> MeasurementKey:
    return model_id, dtype, process_group(variant, DType(dtype))


class Measurer(Protocol):
    def __call__(self, case: Case, variants: tuple[str, ...], plan: SamplingPlan) -> ModelMeasurement:
        """One run of the case's model under ``plan``; CaseCrashed or CaseTimeout on a crash or hang."""
        ...


@dataclass(frozen=True)
class WorkerMeasurer:
    """Each run in a fresh worker started with ``menv``, or in this process when ``timeout`` is None."""

    timeout: float | None
    menv: MeasuringEnv

    def __call__(self, case: Case, variants: tuple[str, ...], plan: SamplingPlan) -> ModelMeasurement:
        if self.timeout is None:
            return measure_model(case.spec, case.dtype, variants, plan, shape=case.shape)
        from .isolation import run_in_worker

        m = run_in_worker(measure_model, case.spec, case.dtype, variants, plan, shape=case.shape,
                          timeout=self.timeout, env=self.menv.worker_env(), argv_prefix=self.menv.argv_prefix)
        problem = check_applied(self.menv, m.observed_env)
        if problem:
            raise CaseCrashed(f"the measuring environment did not apply in the worker: {problem}")
        return m
