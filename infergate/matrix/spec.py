"""What a model is (architecture, task, size, attention, seed, or a checkpoint) and its seeded weights."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .dtypes import DType
from .inputs import Shape
from .zoo import NUM_SEQ_LABELS, NUM_TOKEN_LABELS, Arch, Size, Task

if TYPE_CHECKING:
    import torch

# Heads are drawn wider than the trunk so that task answers are decisive, as in a trained model.
# With the trunk's 0.02 a random head gives near-ties everywhere and an argmax check means nothing.
TRUNK_STD = 0.02
HEAD_STD = 0.5
HEAD_PREFIXES = ("qa_outputs", "classifier", "pre_classifier", "pooler")


@dataclass(frozen=True)
class ModelSpec:
    arch: Arch
    task: Task
    size: Size
    attention: str
    seed: int = 0
    checkpoint: str | None = None  # a local directory: weights come from it, heads are seeded
    label: str | None = None  # short name of a checkpoint, used in ids instead of the arch
    # A user's model (user_models.py); the built-in matrix leaves these at their defaults.
    factory: str | None = None  # package.module:build, the module and inputs come from it
    shape: Shape | None = None  # its example (trace) shape; None: the matrix's, or a checkpoint's texts
    # A factory's configured shapes after the first: its inputs are its own, so the property test
    # cannot draw shapes for it; correctness checks its outputs at each of these instead.
    other_shapes: tuple[Shape, ...] = ()
    own_head: bool = False  # the checkpoint has this task's head: keep its labels, seed nothing
    tolerances: tuple[tuple[DType, float, float], ...] = ()  # (dtype, atol, rtol) overrides
    skips: tuple[tuple[str | None, DType | None, str], ...] = ()  # (variant, dtype, reason), None: any

    @property
    def id(self) -> str:
        name = self.label or self.arch.name
        if self.factory is not None:  # no size or attention of ours: the factory decides both
            return f"{name}-{self.task.value}-custom"
        return f"{name}-{self.task.value}-{self.size.name}-{self.attention}_attn"

    @property
    def random_head(self) -> bool:
        """A real checkpoint run for a task whose head it lacks: that head is seeded, not trained."""
        return self.checkpoint is not None and not self.own_head

    @property
    def factory_shapes(self) -> tuple[Shape | None, ...]:
        """A factory's configured shapes (None: its first, the example), the only ones its module may
        take: the inputs are its own, so no other shape is drawn for it. Empty for any other model."""
        return (None, *self.other_shapes) if self.factory is not None else ()

    def skip_reason(self, variant: str, dtype: DType) -> str | None:
        for skip_variant, skip_dtype, reason in self.skips:
            if skip_variant in (None, variant) and skip_dtype in (None, dtype):
                return f"skipped by the config: {reason}"
        return None


def num_labels(task: Task) -> int:
    return {Task.QA: 2, Task.SEQ_CLS: NUM_SEQ_LABELS, Task.TOKEN_CLS: NUM_TOKEN_LABELS}[task]


def seeded_init_(model: torch.nn.Module, seed: int, head_names: tuple[str, ...] = HEAD_PREFIXES) -> None:
    """Overwrite every parameter from one seeded generator, in name order: the same weights in every lane."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            noise = torch.randn(param.shape, generator=gen, dtype=torch.float32)
            leaf = name.rsplit(".", 1)[-1]
            is_norm = "norm" in name.lower() and leaf in ("weight", "bias")
            if is_norm and leaf == "weight":
                value = 1.0 + TRUNK_STD * noise
            elif any(part in head_names for part in name.split(".")):
                value = HEAD_STD * noise
            else:
                value = TRUNK_STD * noise
            param.copy_(value.to(param.dtype))
