"""The case matrix, declared once: model specs × variants × dtypes, selected by named profiles.

Ids are built here and only here, so ``-k`` expressions and baseline keys never drift apart:
``<arch>-<task>-<size>-<attention>_attn-<variant>-<dtype>``, e.g. ``bert-qa-tiny-eager_attn-jit_ipex-fp32``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from .dtypes import DType
from .errors import UsageError
from .models import ModelSpec
from .variants import VARIANTS
from .zoo import ARCHS, SIZES, Task


@dataclass(frozen=True)
class Case:
    spec: ModelSpec
    variant: str
    dtype: DType

    @property
    def id(self) -> str:
        return f"{self.spec.id}-{self.variant}-{self.dtype.value}"


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

    def specs(self) -> Iterator[ModelSpec]:
        for size in self.sizes:
            for arch_name in self.archs or tuple(ARCHS):
                arch = ARCHS[arch_name]
                for task in self.tasks or tuple(Task):
                    for attn in arch.attentions:
                        if self.attentions is None or attn in self.attentions:
                            yield ModelSpec(arch, task, SIZES[size], attn)
        if self.real_checkpoint:
            from .checkpoint import default_checkpoint_spec

            for task in self.tasks or tuple(Task):
                for attn in self.attentions or ("sdpa",):
                    yield default_checkpoint_spec(task, attn)

    def cases(self) -> Iterator[Case]:
        for spec in self.specs():
            for variant in self.variants or tuple(VARIANTS):
                for dtype in self.dtypes or tuple(DType):
                    yield Case(spec, variant, dtype)


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


ALL_BUT_COMPILE = tuple(v for v in VARIANTS if v != "compile")

# Compile costs 5-15 s per build on 2 cores plus a recompile per new shape in the property tests
# (measured: the 133 compile correctness tests of one lane took 12 min of wall time with -n 2), so
# the default run compiles each architecture once, for QA (two outputs, the span check) at its
# preferred attention; nightly compiles every task. TorchScript variants, cheap to build, cover
# every task and both attention implementations.
def _correctness(compile_tasks: tuple[Task, ...] | None) -> tuple[Selection, ...]:
    return (
        Selection(sizes=("tiny",), variants=ALL_BUT_COMPILE),
        *(
            Selection(sizes=("tiny",), archs=(a,), tasks=compile_tasks,
                      attentions=(preferred_attention(a),), variants=("compile",))
            for a in ARCHS
        ),
        # The real-loading path: the packaged MiniLM-L6 with its tokenizer and real text, every task.
        Selection(sizes=(), real_checkpoint=True, variants=ALL_BUT_COMPILE),
        Selection(sizes=(), real_checkpoint=True, tasks=(Task.SEQ_CLS,), variants=("compile",)),
    )


_CORRECTNESS = _correctness(compile_tasks=(Task.QA,))
_CORRECTNESS_NIGHTLY = _correctness(compile_tasks=None)

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "smoke",
            "one model, for PR smoke runs and the tool's own tests",
            correctness=(Selection(sizes=("tiny",), archs=("bert",), tasks=(Task.QA,)),),
            perf=(Selection(sizes=("small",), archs=("bert",), tasks=(Task.QA,), attentions=("eager",),
                            dtypes=(DType.FP32,)),),
        ),
        Profile(
            "default",
            "tiny models for correctness, small models and the real MiniLM-L6 checkpoint for perf",
            correctness=_CORRECTNESS,
            # Perf must finish in <= 5 min of suite time on 2 cores. A model costs a worker start,
            # four builds (compile is the slowest) and --ig-budget seconds of rounds, so three models:
            # BERT's eager vs SDPA attention pair (the one attention comparison users ask about) and
            # the real MiniLM-L6 checkpoint; FP32 only, so that every machine class gates the same
            # cases: IPEX's BF16 needs AVX-512 or AVX-NE-CONVERT, which the AMD EPYC runners lack.
            perf=(
                Selection(sizes=("small",), archs=("bert",), tasks=(Task.QA,), dtypes=(DType.FP32,)),
                Selection(sizes=(), real_checkpoint=True, tasks=(Task.SEQ_CLS,), dtypes=(DType.FP32,)),
            ),
        ),
        Profile(
            "nightly",
            "adds the real base shapes and every task to perf",
            correctness=_CORRECTNESS_NIGHTLY,
            perf=(
                Selection(sizes=("small", "base"), dtypes=(DType.FP32,)),
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
