"""Seeded model inputs with realistic variable lengths and padding masks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .zoo import Arch

if TYPE_CHECKING:
    import torch

# Ids below this are reserved (pad, cls, sep, mask...) in every vocabulary we build.
FIRST_ORDINARY_ID = 5


@dataclass(frozen=True)
class Shape:
    batch: int
    seq_len: int

    def __str__(self) -> str:
        return f"b{self.batch}s{self.seq_len}"


# The example shape a variant is traced/compiled at; property tests vary away from it.
TRACE_SHAPE = Shape(batch=2, seq_len=32)
# What users serve: one request of 128 tokens, where GEMM time outweighs framework overhead and
# every speedup differs from the trace shape's (perf declares it per profile, in cases.py).
SERVING_SHAPE = Shape(batch=1, seq_len=128)


def pad_id(arch: Arch) -> int:
    return 1 if arch.model_type == "roberta" else 0


def make_inputs(
    arch: Arch,
    vocab: int,
    shape: Shape,
    seed: int,
    lengths: list[int] | None = None,
) -> dict[str, torch.Tensor]:
    """A padded batch; ``lengths`` (real tokens per row) default to seeded draws in [s/2, s] with one full row."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    b, s = shape.batch, shape.seq_len
    if lengths is None:
        lo = max(1, s // 2)
        lengths = [int(x) for x in torch.randint(lo, s + 1, (b,), generator=gen)]
        lengths[int(torch.randint(0, b, (1,), generator=gen))] = s
    if len(lengths) != b or not all(1 <= n <= s for n in lengths):
        raise ValueError(f"lengths {lengths} do not fit shape {shape}")
    ids = torch.randint(FIRST_ORDINARY_ID, vocab, (b, s), generator=gen)
    mask = torch.zeros(b, s, dtype=torch.long)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
    ids = torch.where(mask.bool(), ids, torch.full_like(ids, pad_id(arch)))
    out = {"input_ids": ids, "attention_mask": mask}
    if arch.token_type_ids:
        types = torch.zeros(b, s, dtype=torch.long)
        for row, n in enumerate(lengths):
            types[row, n // 2 : n] = 1  # a question/context style second segment
        out["token_type_ids"] = types
    return out
