"""What a lane worker must prove before it is timed, and the error it raises when it cannot.

Split from ``lockstep`` (which drives the workers): each check reads a worker's own word, given in
its replies, against what the gate asked of it: the measuring environment, the CPU it measures on,
and no IPEX in a process that times BF16 without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..building.variants import TORCH_GROUP
from ..core.errors import InfergateError
from ..matrix.dtypes import DType
from .lockstep_plan import ModelPlan

WORKER_SETTINGS = ("passive-omp",)  # added to measuring_env.SUITE_SETTINGS for lane workers


class WorkerError(InfergateError):
    """A lane worker died, hung or answered outside the protocol. One line, with its log."""


def _worker_menv() -> Any:
    """The lane workers' measuring environment: perf/'s settings plus passive OpenMP."""
    from ..measuring.measuring_env import SUITE_SETTINGS, resolve

    return resolve(tuple(n for n in (*SUITE_SETTINGS, *WORKER_SETTINGS) if n != "none") or ("none",))


def worker_env() -> tuple[dict[str, str | None], tuple[str, ...], dict[str, object]]:
    """(environment changes, None unsetting, argv prefix, description to record) for a lane worker."""
    menv = _worker_menv()
    return menv.worker_env(), tuple(menv.argv_prefix), menv.describe()


def check_worker_env(hello: Mapping[str, Mapping[str, Any]]) -> None:
    """Every worker proves, from the inside, that it runs with the settings it was started with."""
    from ..measuring.measuring_env import check_applied

    menv = _worker_menv()
    for side, h in hello.items():
        problem = check_applied(menv, h.get("observed_env") or {})
        if problem:
            raise WorkerError(f"the '{side}' lane worker does not run with the gate's measuring environment: {problem}")


def check_pinned(endpoints: Mapping[str, Any], seen: Mapping[str, Any]) -> None:
    """Both workers say, from the inside, that they measure on the CPU they were moved to."""
    for side, ep in endpoints.items():
        wanted = getattr(ep, "cpus", None)
        if wanted and seen.get(side) != sorted(wanted):
            raise WorkerError(f"the '{side}' lane worker measures on CPU(s) {seen.get(side)}, not on "
                              f"{sorted(wanted)} as asked")


def check_no_ipex(plan: ModelPlan, warm: Mapping[str, Mapping[str, Any]]) -> None:
    """A BF16 plan of the torch group must be timed without IPEX loaded (``ModelPlan.group``); each
    worker says, after warming up, whether it is."""
    if plan.group != TORCH_GROUP or plan.dtype != DType.BF16.value:
        return
    for side, reply in warm.items():
        if reply.get("ipex_loaded"):
            raise WorkerError(f"the '{side}' lane worker timing BF16 {plan.model} without IPEX has IPEX loaded: "
                              "its autocast kernels would be IPEX's, not torch's")
