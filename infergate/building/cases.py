"""The case matrix, declared once: model specs x variants x dtypes, selected by named profiles. Ids
are built only here: ``<arch>-<task>-<size>-<attention>_attn[-<shape>]-<variant>-<dtype>``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..core.errors import UsageError
from ..matrix.dtypes import DType
from ..matrix.inputs import TRACE_SHAPE, Shape
from ..matrix.spec import ModelSpec
from ..matrix.zoo import ARCHS, SIZES, Task
from .preset import load_preset
from .variants import VARIANTS, default_variants


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


@dataclass(frozen=True)
class Profile:
    name: str
    help: str
    correctness: tuple[Selection, ...]
    perf: tuple[Selection, ...]


# The registry's variants outside the default matrix (compile_cpp, compile_autotune), not a second
# list: correctness proves them on BERT QA (builtin_preset.toml), claims --compile-options times them.
COMPILE_OPTIONS = tuple(n for n, v in VARIANTS.items() if not v.in_default_matrix)

# The built-in preset, declared as data in builtin_preset.toml (the same format as a user's models).
PROFILES: dict[str, Profile] = {
    p.name: Profile(p.name, p.help, tuple(Selection(**s) for s in p.correctness),
                    tuple(Selection(**s) for s in p.perf))
    for p in load_preset()
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
