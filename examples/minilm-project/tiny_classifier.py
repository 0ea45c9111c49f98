"""A small custom text classifier, given to infergate through a factory.

infergate calls ``build(task, dtype, shape)`` and times and checks every variant (TorchScript,
TorchScript + IPEX, torch.compile) of the module it returns against its eager form, on the inputs
it returns. The module must return a tuple of tensors; ``dtype`` is FP32 (each variant converts
the module to its case's dtype itself).
"""

from __future__ import annotations

import torch

VOCAB = 1000
CLASSES = 3


class Block(torch.nn.Module):
    """Feed-forward (Linear + GELU + Linear) with a residual connection and LayerNorm."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.up = torch.nn.Linear(hidden, 4 * hidden)
        self.down = torch.nn.Linear(4 * hidden, hidden)
        self.norm = torch.nn.LayerNorm(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.down(torch.nn.functional.gelu(self.up(x))))


class TinyClassifier(torch.nn.Module):
    """Token embeddings, two feed-forward blocks, mean pooling over the attention mask, a head."""

    def __init__(self, hidden: int = 128, blocks: int = 2) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, hidden)
        self.blocks = torch.nn.Sequential(*(Block(hidden) for _ in range(blocks)))
        self.head = torch.nn.Linear(hidden, CLASSES)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor]:
        x = self.blocks(self.embed(input_ids))
        mask = attention_mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return (self.head(pooled),)


def build(task: str, dtype: torch.dtype, shape: tuple[int, int]) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    if task != "seqcls":
        raise ValueError(f"TinyClassifier classifies sequences; asked for {task!r}")
    torch.manual_seed(0)  # the same weights in every worker, so every variant is compared on one model
    batch, seq = shape
    gen = torch.Generator().manual_seed(1)
    inputs = {
        "input_ids": torch.randint(0, VOCAB, (batch, seq), generator=gen),
        "attention_mask": torch.ones(batch, seq, dtype=torch.long),
    }
    return TinyClassifier().eval().to(dtype), inputs
