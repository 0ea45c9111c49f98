"""One claims row: one model at one shape and dtype, built, checked, costed and timed in several
worker processes (trials), as plain ``ClaimMeasurement`` data."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..building.variants import Inputs, Outputs, default_variants
from ..matrix.dtypes import DType
from ..matrix.inputs import Shape
from ..matrix.spec import ModelSpec
from .sampling import Cost, ModelMeasurement, SamplingPlan

# Built (and so held in memory) in this order; the report says so beside the memory columns.
# (the registry's default matrix: eager, jit, jit_ipex, compile)
CLAIM_VARIANTS = default_variants()
Call = Callable[[Inputs], Outputs]


@dataclass(frozen=True)
class Answers:
    """A variant's outputs against the FP32 eager reference on the timed inputs."""

    max_abs: float
    within_tolerance: bool
    agreed: int
    total: int
    min_agreement: float
    disagreements: tuple[str, ...] = ()

    @property
    def agrees(self) -> bool:
        """The task answers pass their agreement check, whatever the outputs' distance."""
        return self.total > 0 and self.agreed / self.total >= self.min_agreement

    @property
    def same(self) -> bool:
        return self.within_tolerance and self.agrees

    def why_not(self) -> str:
        if self.same:
            return ""
        if not self.within_tolerance:
            return f"outputs off by {self.max_abs:.2g} (beyond the tolerance table)"
        return f"task answers agree on {self.agreed}/{self.total} (need {self.min_agreement:.0%})"


@dataclass
class ClaimMeasurement:
    model_id: str
    arch: str
    task: str
    shape: str
    dtype: str
    timing: ModelMeasurement | None = None  # None when no variant could be built
    skipped: dict[str, str] = field(default_factory=dict)
    proofs: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # variant -> build or proof error
    answers: dict[str, Answers] = field(default_factory=dict)
    costs: dict[str, Cost] = field(default_factory=dict)
    fusions: dict[str, dict[str, int]] = field(default_factory=dict)  # variant -> fusion_patterns.signals
    wall_s: float = 0.0
    # One per worker process (claims.json version 2); a version 1 row has ``timing`` only.
    trials: list[Trial] = field(default_factory=list)
    ipex_imported: bool = False  # by this worker, read when it ends; kept per trial


@dataclass
class Trial:
    """One worker's timing: ``process`` i of the row (a replicate), in the worker group ``group``.
    ``lockstep`` (claims.json version 3): the replicate's workers were timed in lockstep rounds
    (``claims_pair``), so round r of this trial and round r of its replicate's other worker were
    taken at the same moments."""

    process: int
    group: str
    timing: ModelMeasurement
    ipex_imported: bool = False
    lockstep: bool = False


def timings(m: ClaimMeasurement) -> list[ModelMeasurement]:
    """Every timing of a row: its trials', or a version 1 row's one."""
    return [t.timing for t in m.trials] if m.trials else ([m.timing] if m.timing else [])


def _answers(spec: ModelSpec, dtype: DType, reference, outputs, mask) -> Answers:
    from ..matrix.agreement import closeness, task_agreement
    from ..matrix.tolerances import tolerance

    tol = tolerance(dtype, spec.tolerances)  # the config's override, as the correctness suite applies it
    close = closeness(reference, outputs, tol, mask, spec.task)
    agreement = task_agreement(spec.task, reference, outputs, mask, tol)
    return Answers(close.max_abs, close.ok, agreement.agreed, agreement.total, tol.min_agreement,
                   tuple(agreement.decisive_disagreements))


def unavailable(spec: ModelSpec, shape: Shape, variant: str, dtype: DType) -> str | None:
    """perf's skip rule (``harness.perf_skip_reason``): BF16 jit_ipex is timed in workers of its own."""
    from ..building.cases import Case
    from ..building.harness import perf_skip_reason

    return perf_skip_reason(Case(spec, variant, dtype, shape))


def build_claim(spec: ModelSpec, shape: Shape, dtype: DType, plan: SamplingPlan,
                variants: tuple[str, ...] = CLAIM_VARIANTS) -> tuple[ClaimMeasurement, dict[str, Call], Inputs, int]:
    """Build, check and cost every variant of ``spec`` at ``shape``: the row so far, the calls to
    time, the inputs and the torch threads in effect. A failed build is recorded, never replaced."""
    import torch

    from ..building.builds import build_variants
    from ..building.harness import example_inputs
    from ..matrix.models import build_model
    from .fusion_patterns import count_linear_calls, signals
    from .memory import PeakResident
    from .sampling import pin_threads

    out = ClaimMeasurement(spec.id, spec.arch.name, spec.task.value, str(shape), dtype.value)
    threads = pin_threads(plan.threads)
    model = build_model(spec)
    inputs = example_inputs(spec, shape)
    with torch.no_grad():
        reference = tuple(model(**inputs))
    linear_calls = count_linear_calls(model, inputs)
    calls: dict[str, Call] = {}
    for b in build_variants(model, inputs, dtype, variants, watch=PeakResident,
                            skip_reason=lambda n: unavailable(spec, shape, n, dtype)):
        if b.skipped:
            out.skipped[b.name] = b.skipped
        if b.error:
            out.failed[b.name] = b.error
        built, use = b.built, b.watched.use if b.watched else None
        if built is None:
            continue
        assert use is not None
        out.costs[b.name] = Cost(b.seconds, built.warmup_s[0] if built.warmup_s else float("nan"),
                                 use.peak_rise_mib, use.held_mib)
        out.proofs[b.name] = built.proof
        out.answers[b.name] = _answers(spec, dtype, reference, built(inputs), inputs["attention_mask"])
        if built.kinds:
            out.fusions[b.name] = signals(built.kinds, linear_calls)
        calls[b.name] = built.call
    return out, calls, inputs, threads


def measure_claim(spec: ModelSpec, shape: Shape, dtype: DType, plan: SamplingPlan,
                  variants: tuple[str, ...] = CLAIM_VARIANTS) -> ClaimMeasurement:
    """``build_claim``, then the variants timed together in shuffled rounds."""
    from .load import read_load
    from .sampling import sample_rounds

    start = time.perf_counter()
    out, calls, inputs, threads = build_claim(spec, shape, dtype, plan, variants)
    if calls:
        timing = ModelMeasurement(f"{spec.id}-{shape}", dtype.value, list(calls), {n: [] for n in calls},
                                  threads=threads, schedule=plan.schedule, seed=plan.seed, load_start=read_load())
        sample_rounds(calls, inputs, plan, timing)
        timing.load_end = read_load()
        out.timing = timing
    out.wall_s = time.perf_counter() - start
    out.ipex_imported = "intel_extension_for_pytorch" in sys.modules
    return out
