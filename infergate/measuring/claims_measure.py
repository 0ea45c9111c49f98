"""One row of the claims report, measured in its own worker process: one model at one serving
shape and dtype, every variant built, proven, checked against the FP32 eager answers, costed
(build, first call, memory) and timed in the same shuffled rounds as perf/.

Plain data out (``ClaimMeasurement`` pickles across the worker boundary); the verdicts are drawn
from it by ``claims``, so they can be tested on synthetic timings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..building.variants import default_variants, get_variant
from ..matrix.dtypes import DType
from ..matrix.inputs import Shape
from ..matrix.spec import ModelSpec
from .sampling import Cost, ModelMeasurement, SamplingPlan

# Built (and so held in memory) in this order; the report says so beside the memory columns.
# (the registry's default matrix: eager, jit, jit_ipex, compile)
CLAIM_VARIANTS = default_variants()


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
    def same(self) -> bool:
        return self.within_tolerance and self.total > 0 and self.agreed / self.total >= self.min_agreement

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


def _answers(spec: ModelSpec, dtype: DType, reference, outputs, mask) -> Answers:
    from ..matrix.agreement import closeness, task_agreement
    from ..matrix.tolerances import TOLERANCES

    tol = TOLERANCES[dtype]
    close = closeness(reference, outputs, tol, mask)
    agreement = task_agreement(spec.task, reference, outputs, mask, tol)
    return Answers(close.max_abs, close.ok, agreement.agreed, agreement.total, tol.min_agreement,
                   tuple(agreement.decisive_disagreements))


def unavailable(spec: ModelSpec, shape: Shape, variant: str, dtype: DType) -> str | None:
    """perf's skip rule (harness.perf_skip_reason), plus one of this worker's own: its BF16 variants
    share the process with jit_ipex, so BF16 autocast must survive IPEX's kernels here."""
    from ..building.capabilities import ipex_autocast_problem, probe
    from ..building.cases import Case
    from ..building.harness import perf_skip_reason

    reason = perf_skip_reason(Case(spec, variant, dtype, shape))
    if reason is None and dtype is DType.BF16 and get_variant(variant).bf16_by_autocast:
        reason = ipex_autocast_problem(probe())
    return reason


def measure_claim(spec: ModelSpec, shape: Shape, dtype: DType, plan: SamplingPlan,
                  variants: tuple[str, ...] = CLAIM_VARIANTS) -> ClaimMeasurement:
    """Build every variant of ``spec`` traced/compiled at ``shape``, check and cost each, then time
    them together in shuffled rounds at that shape. A failed build is recorded, never replaced."""
    import torch

    from ..building.harness import example_inputs
    from ..building.variants import get_variant
    from ..core.errors import BuildError, ProofError
    from ..matrix.models import build_model
    from .fusion_patterns import count_linear_calls, signals
    from .load import read_load
    from .memory import PeakResident
    from .sampling import pin_threads, sample_rounds

    start = time.perf_counter()
    out = ClaimMeasurement(spec.id, spec.arch.name, spec.task.value, str(shape), dtype.value)
    threads = pin_threads(plan.threads)
    model = build_model(spec)
    inputs = example_inputs(spec, shape)
    with torch.no_grad():
        reference = tuple(model(**inputs))
    linear_calls = count_linear_calls(model, inputs)
    calls = {}
    for name in variants:
        reason = unavailable(spec, shape, name, dtype)
        if reason:
            out.skipped[name] = reason
            continue
        t0 = time.perf_counter()
        try:
            with PeakResident() as window:
                built = get_variant(name).build(model, inputs, dtype)
        except (BuildError, ProofError) as exc:
            out.failed[name] = str(exc)
            continue
        use = window.use
        assert use is not None
        out.costs[name] = Cost(time.perf_counter() - t0, built.warmup_s[0] if built.warmup_s else float("nan"),
                               use.peak_rise_mib, use.held_mib)
        out.proofs[name] = built.proof
        out.answers[name] = _answers(spec, dtype, reference, built(inputs), inputs["attention_mask"])
        if built.kinds:
            out.fusions[name] = signals(built.kinds, linear_calls)
        calls[name] = built.call
    if calls:
        timing = ModelMeasurement(f"{spec.id}-{shape}", dtype.value, list(calls), {n: [] for n in calls},
                                  threads=threads, schedule=plan.schedule, seed=plan.seed, load_start=read_load())
        sample_rounds(calls, inputs, plan, timing)
        timing.load_end = read_load()
        out.timing = timing
    out.wall_s = time.perf_counter() - start
    return out
