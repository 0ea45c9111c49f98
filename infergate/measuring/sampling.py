"""Same-run paired sampling: every variant of one model timed in shuffled, seeded rounds in one
process. ``measure_model`` takes and returns picklable data, to run in a worker (``isolation``)."""

from __future__ import annotations

import gc
import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from ..building.variants import Inputs, Outputs
from ..core.defaults import DEFAULT_BUDGET_S
from ..matrix.dtypes import DType
from ..matrix.inputs import TRACE_SHAPE, Shape
from ..matrix.spec import ModelSpec
from .inrun_noise import InRunNoise, NoiseSampler
from .load import read_load, usable_cpus
from .measuring_env import observed
from .memory import PeakResident
from .stats import Samples

if TYPE_CHECKING:
    import torch

    from ..building.capabilities import Capabilities

Schedule = Literal["shuffled", "blocks"]

# Enough warm-up for TorchScript's profiling executor (optimised graph from the 3rd call, already
# done by the variants' build) and for oneDNN/inductor caches and CPU clocks to settle: the first
# ~1 s of a fresh process runs measurably slower on this 2-core machine.
DEFAULT_WARMUP_S = 1.5
MIN_WARMUP_ROUNDS = 5


@dataclass(frozen=True)
class SamplingPlan:
    """How long and how to sample. ``budget_s``: the measuring time for all of the model's variants together."""

    budget_s: float = DEFAULT_BUDGET_S
    warmup_s: float = DEFAULT_WARMUP_S
    min_rounds: int = 20
    max_rounds: int = 2000
    seed: int = 0
    threads: int | None = None  # None: every CPU this process may use
    schedule: Schedule = "shuffled"  # "blocks" (all of A, then all of B) only to emulate other tools
    # TEST ONLY (--ig-inject-slowdown): (variant, fraction) built with extra in-graph work (inject.py)
    inject: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        # Finite too: an infinite budget or warm-up never ends, a NaN one ends at once.
        if not (math.isfinite(self.budget_s) and self.budget_s > 0 and math.isfinite(self.warmup_s)
                and self.warmup_s >= 0):
            raise ValueError(f"budget_s must be finite and > 0 and warmup_s finite and >= 0, got {self.budget_s}, "
                             f"{self.warmup_s}")
        if not 1 <= self.min_rounds <= self.max_rounds:
            raise ValueError(f"need 1 <= min_rounds <= max_rounds, got {self.min_rounds}, {self.max_rounds}")
        if self.schedule not in ("shuffled", "blocks"):
            raise ValueError(f"schedule must be 'shuffled' or 'blocks', got {self.schedule!r}")


@dataclass(frozen=True)
class Copy:
    """An extra timed entry: the built ``base`` variant again, slowed by ``slowdown`` (0: an A/A check)."""

    name: str
    base: str
    slowdown: float = 0.0


@dataclass(frozen=True)
class Cost:
    """What building a variant cost in its worker: seconds, the first call's latency, resident memory."""

    build_s: float
    first_call_s: float
    peak_rise_mib: float
    held_mib: float


@dataclass
class ModelMeasurement:
    """Plain data only (picklable across a worker boundary)."""

    model_id: str
    dtype: str
    variants: list[str]  # timed, in declaration order (copies last)
    times_ns: dict[str, list[int]]  # times_ns[v][i]: variant v in round i
    skipped: dict[str, str] = field(default_factory=dict)  # variant -> precise reason
    failed: dict[str, str] = field(default_factory=dict)  # variant -> its build or proof error (that case fails)
    proofs: dict[str, str] = field(default_factory=dict)
    costs: dict[str, Cost] = field(default_factory=dict)  # in build order: later builds may reuse freed memory
    warmup_median_ns: dict[str, float] = field(default_factory=dict)
    threads: int = 0
    rounds: int = 0
    warmup_s: float = 0.0
    measure_s: float = 0.0
    schedule: str = "shuffled"
    seed: int = 0
    load_start: float = 0.0
    load_end: float = 0.0
    noise: InRunNoise = field(default_factory=InRunNoise)  # sampled while timing (inrun_noise)
    observed_env: dict[str, object] = field(default_factory=dict)  # measuring_env.observed()

    def samples(self, variants: Sequence[str] | None = None) -> Samples:
        names = list(variants) if variants is not None else self.variants
        return Samples({v: [t / 1e6 for t in self.times_ns[v]] for v in names})  # ms

    def median_ms(self, variant: str) -> float:
        return statistics.median(self.times_ns[variant]) / 1e6

    @classmethod
    def from_dict(cls, raw: dict) -> ModelMeasurement:
        """Back from ``dataclasses.asdict``; an older file's ``build_s`` (held in ``costs``) is dropped."""
        kept = {k: v for k, v in raw.items() if k != "build_s"}
        if isinstance(kept.get("noise"), dict):
            kept["noise"] = InRunNoise(**kept["noise"])
        kept["costs"] = {k: v if isinstance(v, Cost) else Cost(**v) for k, v in kept.get("costs", {}).items()}
        return cls(**kept)


# --------------------------------------------------------------------------------------------
# The slowdown injector
# --------------------------------------------------------------------------------------------


def busy_wait_ns(duration_ns: int) -> None:
    # A spin, not time.sleep: sleep gives the core away and wakes late by ~50-100 us, which would
    # make a "2 %" slowdown anything from 2 % to 3 % on a 10 ms call.
    end = time.perf_counter_ns() + duration_ns
    while time.perf_counter_ns() < end:
        pass


class Slowed:
    """A call followed by a spin of ``fraction`` x the reference time (``set_reference``: the warm-up median)."""

    def __init__(self, call: Callable[[Inputs], Outputs], fraction: float) -> None:
        if not 0.0 <= fraction < 10.0:
            raise ValueError(f"slowdown fraction must be in [0, 10), got {fraction}")
        self.call = call
        self.fraction = fraction
        self.delay_ns = 0

    def set_reference(self, median_ns: float) -> None:
        self.delay_ns = int(round(self.fraction * median_ns))

    def __call__(self, inputs: Inputs) -> Outputs:
        out = self.call(inputs)
        if self.delay_ns:
            busy_wait_ns(self.delay_ns)
        return out


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


def _time_once(call: Callable[[Inputs], Outputs], inputs: Inputs) -> int:
    t0 = time.perf_counter_ns()
    call(inputs)
    return time.perf_counter_ns() - t0


def _shuffled_rounds(
    calls: dict[str, Callable[[Inputs], Outputs]],
    inputs: Inputs,
    rounds: int,
    rng: random.Random,
    times: dict[str, list[int]],
    between: Callable[[], None] | None = None,
) -> None:
    order = list(calls)
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            times[name].append(_time_once(calls[name], inputs))
        if between is not None:  # outside every timed call
            between()


def _blocks(
    calls: dict[str, Callable[[Inputs], Outputs]], inputs: Inputs, rounds: int, times: dict[str, list[int]]
) -> None:
    for name, call in calls.items():
        for _ in range(rounds):
            times[name].append(_time_once(call, inputs))


def pin_threads(threads: int | None) -> int:
    """Set torch's intra-op threads (default: every usable CPU) and return what is in effect."""
    import torch

    torch.set_num_threads(threads or usable_cpus())
    return int(torch.get_num_threads())


def measure_model(
    spec: ModelSpec,
    dtype: DType,
    variants: Sequence[str],
    plan: SamplingPlan = SamplingPlan(),
    copies: Sequence[Copy] = (),
    shape: Shape = TRACE_SHAPE,
) -> ModelMeasurement:
    """Build ``variants`` of ``spec`` at ``dtype`` (plus ``copies``), warm up and time in rounds at ``shape``."""
    return measure_model_plans(spec, dtype, variants, (plan,), copies, shape)[0]


def measure_model_plans(
    spec: ModelSpec,
    dtype: DType,
    variants: Sequence[str],
    plans: Sequence[SamplingPlan],
    copies: Sequence[Copy] = (),
    shape: Shape = TRACE_SHAPE,
) -> list[ModelMeasurement]:
    """Like ``measure_model``, one measurement per plan from a single build; threads from the first plan."""
    from ..building.capabilities import probe
    from ..building.cases import measured_model_id
    from ..building.harness import example_inputs
    from ..matrix.models import build_model

    if not plans:
        raise ValueError("need at least one sampling plan")
    load_start = read_load()
    threads = pin_threads(plans[0].threads)
    caps = probe()
    model = build_model(spec)
    inputs = example_inputs(spec, shape)
    skipped, failed, proofs, costs, calls = _build_variants(model, inputs, dtype, variants, plans[0], caps)
    for copy in copies:
        if copy.base in failed:  # calibration copies a variant that did not build: its own error says why
            from ..core.errors import BuildError

            raise BuildError(f"copy {copy.name!r} of {copy.base}: {failed[copy.base]}")
        if copy.base not in calls:
            raise ValueError(f"copy {copy.name!r} needs variant {copy.base!r}, which was not built here")
        calls[copy.name] = Slowed(calls[copy.base], copy.slowdown)
        proofs[copy.name] = f"copy of {copy.base}, slowed by {copy.slowdown:.1%}"
    results = []
    for plan in plans:
        result = ModelMeasurement(
            measured_model_id(spec, shape), dtype.value, list(calls), {name: [] for name in calls},
            skipped=dict(skipped), failed=dict(failed),
            proofs=dict(proofs), costs=dict(costs), threads=threads, schedule=plan.schedule,
            seed=plan.seed, load_start=load_start, observed_env=observed(),
        )
        if calls:
            sample_rounds(calls, inputs, plan, result)
        result.load_end = load_start = read_load()
        results.append(result)
    return results


def _build_variants(
    model: torch.nn.Module, inputs: Inputs, dtype: DType, variants: Sequence[str], plan: SamplingPlan,
    caps: Capabilities,
) -> tuple[dict[str, str], dict[str, str], dict[str, str], dict[str, Cost], dict[str, Callable[[Inputs], Outputs]]]:
    """``build_variants`` (``plan.inject``: from a slowed copy), split into skips, errors, proofs, costs, calls."""
    from ..building.builds import build_variants
    from ..building.variants import get_variant

    builds = build_variants(model, inputs, dtype, variants, watch=PeakResident, inject=dict(plan.inject),
                            skip_reason=lambda n: get_variant(n).unavailable(dtype, caps))
    costs: dict[str, Cost] = {}
    calls: dict[str, Callable[[Inputs], Outputs]] = {}
    for b in builds:
        if b.built is not None:
            assert b.watched is not None and b.watched.use is not None
            costs[b.name] = Cost(b.seconds, b.built.warmup_s[0] if b.built.warmup_s else 0.0,
                                 b.watched.use.peak_rise_mib, b.watched.use.held_mib)
            calls[b.name] = b.built.call
    return ({b.name: b.skipped for b in builds if b.skipped}, {b.name: b.error for b in builds if b.error},
            {b.name: b.built.proof for b in builds if b.built}, costs, calls)


def sample_rounds(
    calls: dict[str, Callable[[Inputs], Outputs]],
    inputs: Inputs,
    plan: SamplingPlan,
    result: ModelMeasurement,
) -> None:
    for call in calls.values():
        if isinstance(call, Slowed):  # an earlier plan's delay must not leak into this reference
            call.set_reference(0.0)
    rng = random.Random(plan.seed)
    # The warm-up runs for a wall-clock time, so it draws a varying number of orders: from its own
    # generator, or the seed would not fix the timed rounds' order.
    warm_rng = random.Random(f"warm-up {plan.seed}")
    warm: dict[str, list[int]] = {name: [] for name in calls}
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < plan.warmup_s or len(next(iter(warm.values()))) < MIN_WARMUP_ROUNDS:
        _shuffled_rounds(calls, inputs, 1, warm_rng, warm)
    result.warmup_s = time.perf_counter() - t0
    result.warmup_median_ns = {name: float(statistics.median(ts)) for name, ts in warm.items()}
    for name, call in calls.items():
        if isinstance(call, Slowed):
            call.set_reference(result.warmup_median_ns[name])
    per_round_ns = sum(result.warmup_median_ns.values()) + sum(
        c.delay_ns for c in calls.values() if isinstance(c, Slowed)
    )
    rounds = int(plan.budget_s * 1e9 // max(per_round_ns, 1.0))
    result.rounds = max(plan.min_rounds, min(plan.max_rounds, rounds))

    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection inside one timed call would land on whichever variant was running
    sampler = NoiseSampler()
    t0 = time.perf_counter()
    try:
        if plan.schedule == "shuffled":
            _shuffled_rounds(calls, inputs, result.rounds, rng, result.times_ns, between=sampler.sample)
        else:
            _blocks(calls, inputs, result.rounds, result.times_ns)
    finally:
        if gc_was_enabled:
            gc.enable()
    result.measure_s = time.perf_counter() - t0
    result.noise = sampler.result()
