"""The case matrix, declared once: model specs × variants × dtypes, selected by named profiles.

Ids are built here and only here, so ``-k`` expressions and baseline keys never drift apart:
``<arch>-<task>-<size>-<attention>_attn[-<shape>]-<variant>-<dtype>``, e.g.
``bert-qa-tiny-eager_attn-jit_ipex-fp32`` or ``bert-qa-small-sdpa_attn-b1s128-compile-fp32``. A perf
case's shape (batch x sequence) is what it is traced at and timed at; the trace shape b2s32 is left
out of ids, so that baselines recorded before shapes were declared keep their keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..core.errors import UsageError
from ..matrix.dtypes import DType
from ..matrix.inputs import SERVING_SHAPE, TRACE_SHAPE, Shape
from ..matrix.spec import ModelSpec
from ..matrix.zoo import ARCHS, EAGER_ATTENTION, SIZES, Task
from .variants import COMPILE, VARIANTS, default_variants


def measured_model_id(spec: ModelSpec, shape: Shape) -> str:
    return spec.id if shape == TRACE_SHAPE else f"{spec.id}-{shape}"


@dataclass(frozen=True)
class Case:
    spec: ModelSpec
    variant: str
    dtype: DType
    shape: Shape = TRACE_SHAPE  # perf: traced and timed at it; correctness varies shapes itself

    @property
    def model_id(self) -> str:
        """The measured model: its spec at its shape (one worker measures all its variants)."""
        return measured_model_id(self.spec, self.shape)

    @property
    def id(self) -> str:
        return f"{self.model_id}-{self.variant}-{self.dtype.value}"


@dataclass(frozen=True)
class Selection:
    """One slice of the matrix. ``None`` means every value of that axis."""

    sizes: tuple[str, ...]
    archs: tuple[str, ...] | None = None
    tasks: tuple[Task, ...] | None = None
    attentions: tuple[str, ...] | None = None
    variants: tuple[str, ...] | None = None
    dtypes: tuple[DType, ...] | None = None
    real_checkpoint: bool = False  # add the packaged MiniLM-L6 checkpoint
    # Perf shapes (batch x sequence). The checkpoint's inputs are its tokenizer's real texts, whose
    # length is the texts' own, so checkpoint selections keep the trace shape's batch only.
    shapes: tuple[Shape, ...] = (TRACE_SHAPE,)

    def __post_init__(self) -> None:
        if self.real_checkpoint and self.shapes != (TRACE_SHAPE,):
            raise UsageError("a real-checkpoint selection is timed on its tokenizer's texts: it takes no shapes")

    def specs(self) -> Iterator[ModelSpec]:
        for size in self.sizes:
            for arch_name in self.archs or tuple(ARCHS):
                arch = ARCHS[arch_name]
                for task in self.tasks or tuple(Task):
                    for attn in arch.attentions:
                        if self.attentions is None or attn in self.attentions:
                            yield ModelSpec(arch, task, SIZES[size], attn)
        if self.real_checkpoint:
            from ..matrix.checkpoint import default_checkpoint_spec

            for task in self.tasks or tuple(Task):
                for attn in self.attentions or ("sdpa",):
                    yield default_checkpoint_spec(task, attn)

    def cases(self) -> Iterator[Case]:
        for spec in self.specs():
            for shape in self.shapes if spec.checkpoint is None else (TRACE_SHAPE,):
                for variant in self.variants or default_variants():
                    for dtype in self.dtypes or tuple(DType):
                        yield Case(spec, variant, dtype, shape)


def preferred_attention(arch_name: str) -> str:
    """The attention transformers picks by default: SDPA where the architecture has it."""
    attns = ARCHS[arch_name].attentions
    return "sdpa" if "sdpa" in attns else attns[0]


@dataclass(frozen=True)
class Profile:
    name: str
    help: str
    correctness: tuple[Selection, ...]
    perf: tuple[Selection, ...]


ALL_BUT_COMPILE = tuple(v for v in default_variants() if v != COMPILE)

# Compile costs 5-15 s per build on 2 cores plus a recompile per new shape in the property tests
# (measured: the 133 compile correctness tests of one lane took 12 min of wall time with -n 2), so
# the default run compiles each architecture once, for QA (two outputs, the span check) at its
# preferred attention; nightly compiles every task. TorchScript variants, cheap to build, cover
# every task and both attention implementations. The compile options (C++ wrapper, max-autotune)
# take 25-45 s per tiny build (measured, torch 2.13 on 2 AMD cores): their proofs run on BERT QA,
# FP32 by default and every dtype nightly; claims --compile-options times them per model.
# The registry's variants outside the default matrix (compile_cpp, compile_autotune), not a second list.
COMPILE_OPTIONS = tuple(n for n, v in VARIANTS.items() if not v.in_default_matrix)


def _correctness(compile_tasks: tuple[Task, ...] | None,
                 option_dtypes: tuple[DType, ...] | None) -> tuple[Selection, ...]:
    return (
        Selection(sizes=("tiny",), variants=ALL_BUT_COMPILE),
        *(
            Selection(sizes=("tiny",), archs=(a,), tasks=compile_tasks,
                      attentions=(preferred_attention(a),), variants=(COMPILE,))
            for a in ARCHS
        ),
        Selection(sizes=("tiny",), archs=("bert",), tasks=(Task.QA,), attentions=("sdpa",),
                  variants=COMPILE_OPTIONS, dtypes=option_dtypes),
        # The real-loading path: the packaged MiniLM-L6 with its tokenizer and real text, every task.
        Selection(sizes=(), real_checkpoint=True, variants=ALL_BUT_COMPILE),
        Selection(sizes=(), real_checkpoint=True, tasks=(Task.SEQ_CLS,), variants=(COMPILE,)),
    )


_CORRECTNESS = _correctness(compile_tasks=(Task.QA,), option_dtypes=(DType.FP32,))
_CORRECTNESS_NIGHTLY = _correctness(compile_tasks=None, option_dtypes=None)

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "smoke",
            "one model, for PR smoke runs and the tool's own tests",
            correctness=(Selection(sizes=("tiny",), archs=("bert",), tasks=(Task.QA,)),),
            perf=(Selection(sizes=("small",), archs=("bert",), tasks=(Task.QA,), attentions=(EAGER_ATTENTION,),
                            dtypes=(DType.FP32,)),),
        ),
        Profile(
            "default",
            "tiny models for correctness, small models and the real MiniLM-L6 checkpoint for perf",
            correctness=_CORRECTNESS,
            # Perf must finish in about 5 min of suite time on 2 cores. A model costs a worker
            # start, four builds (compile is the slowest) and --ig-budget seconds of rounds, so four:
            # BERT's eager vs SDPA attention pair at the trace shape (IPEX's MHA fusion needs eager
            # attention), BERT with SDPA at the serving shape, in BF16 too where the CPU computes
            # BF16 natively (elsewhere the BF16 case is skipped with that reason), and the real
            # MiniLM-L6 checkpoint on its tokenizer's texts.
            perf=(
                Selection(sizes=("small",), archs=("bert",), tasks=(Task.QA,), dtypes=(DType.FP32,)),
                Selection(sizes=("small",), archs=("bert",), tasks=(Task.QA,), attentions=("sdpa",),
                          shapes=(SERVING_SHAPE,)),
                Selection(sizes=(), real_checkpoint=True, tasks=(Task.SEQ_CLS,), dtypes=(DType.FP32,)),
            ),
        ),
        Profile(
            "nightly",
            "adds every architecture and task to perf, base sizes at the serving shape in FP32 and BF16",
            correctness=_CORRECTNESS_NIGHTLY,
            perf=(
                Selection(sizes=("small",), dtypes=(DType.FP32,)),
                Selection(sizes=("base",), shapes=(SERVING_SHAPE,)),  # BF16 where the CPU has it
                Selection(sizes=(), real_checkpoint=True, dtypes=(DType.FP32,)),
            ),
        ),
    )
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UsageError(f"unknown profile {name!r}; valid: {', '.join(PROFILES)}") from None


def _unique_cases(selections: tuple[Selection, ...]) -> list[Case]:
    """Cases in declaration order; a case two selections both cover appears once."""
    seen: dict[str, Case] = {}
    for sel in selections:
        for case in sel.cases():
            seen.setdefault(case.id, case)
    return list(seen.values())


def correctness_cases(profile: Profile) -> list[Case]:
    return _unique_cases(profile.correctness)


def perf_cases(profile: Profile) -> list[Case]:
    return _unique_cases(profile.perf)
