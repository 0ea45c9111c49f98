"""Real text for the real-checkpoint cases, written for this project, and its tokenization."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .zoo import Task

if TYPE_CHECKING:
    import torch

SENTENCES = (
    "The nightly run finished before the morning stand-up.",
    "Upgrading the runtime made the tokenizer twice as slow on long documents.",
    "She moved the inference service from Frankfurt to Dublin in March.",
    "Frozen graphs keep their weights as constants.",
    "A regression of two percent is easy to miss on a noisy shared machine.",
    "Paris is the capital of France.",
)

QA_PAIRS = (
    ("Where was the service moved?", "She moved the inference service from Frankfurt to Dublin in March."),
    ("What do frozen graphs keep as constants?",
     "Frozen graphs keep their weights as constants, so no attribute lookups remain."),
    ("When did development of the extension end?",
     "The extension for PyTorch had its last release, 2.8, and development ended in 2025."),
    ("How many cores does the runner have?", "Each nightly runner has two cores and twenty-four gigabytes of memory."),
)


def tokenize(directory: str, task: Task, batch: int, seq_len: int | None = None) -> dict[str, torch.Tensor]:
    """A padded batch of the written texts, cycled to ``batch`` rows; truncated to ``seq_len`` when given."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(directory, local_files_only=True, trust_remote_code=False)
    fit: dict = {"padding": True} if seq_len is None else {"padding": "max_length", "truncation": True,
                                                            "max_length": seq_len}
    if task is Task.QA:
        pairs = [QA_PAIRS[i % len(QA_PAIRS)] for i in range(batch)]
        enc = tok([q for q, _ in pairs], [c for _, c in pairs], return_tensors="pt", **fit)
    else:
        enc = tok([SENTENCES[i % len(SENTENCES)] for i in range(batch)], return_tensors="pt", **fit)
    return {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
