"""What a model is: its spec (architecture, task, size, attention, seed, or a real checkpoint) and the
seeded weights every lane draws the same, with no download."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

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

    @property
    def id(self) -> str:
        name = self.label or self.arch.name
        return f"{name}-{self.task.value}-{self.size.name}-{self.attention}_attn"


def num_labels(task: Task) -> int:
    return {Task.QA: 2, Task.SEQ_CLS: NUM_SEQ_LABELS, Task.TOKEN_CLS: NUM_TOKEN_LABELS}[task]


def seeded_init_(model: torch.nn.Module, seed: int, head_names: tuple[str, ...] = HEAD_PREFIXES) -> None:
    """Overwrite every parameter from one seeded generator, in name order.

    Independent of transformers' own init, so the same spec gives the same weights in every lane:
    that is what lets two lanes' outputs be compared at all.
    """
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
