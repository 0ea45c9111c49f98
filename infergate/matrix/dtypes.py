"""Precisions the suite runs, and how each is applied to a call."""

from __future__ import annotations

import contextlib
import enum
from contextlib import AbstractContextManager

from ..core.errors import UsageError


class DType(enum.Enum):
    FP32 = "fp32"
    BF16 = "bf16"  # autocast mixed precision, as IPEX and the seed guide use it

    def autocast(self) -> AbstractContextManager[object]:
        import torch

        if self is DType.BF16:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @property
    def torch_dtype(self):
        import torch

        return torch.bfloat16 if self is DType.BF16 else torch.float32


def get_dtype(name: str) -> DType:
    try:
        return DType(name)
    except ValueError:
        raise UsageError(f"unknown dtype {name!r}; valid: {', '.join(d.value for d in DType)}") from None
