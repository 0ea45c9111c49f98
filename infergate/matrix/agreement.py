"""Comparing a variant's outputs with the reference: raw closeness and the task answers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .tolerances import Tolerance
from .zoo import Task

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Closeness:
    max_abs: float
    worst_excess: float  # max(|d| - (atol + rtol*|ref|)); > 0 means out of tolerance
    # Where a NaN was met ("output", "reference", "tolerance bound", "difference"): never ok.
    # Both figures are NaN then; a NaN compared with max() would have been dropped silently.
    nan_in: str = ""

    @property
    def ok(self) -> bool:
        return not self.nan_in and self.worst_excess <= 0

    def __str__(self) -> str:
        if self.nan_in:
            return f"NaN in the {self.nan_in}"
        return f"max |diff| {self.max_abs:.3e}, worst excess over the bound {self.worst_excess:.3e}"


# The task's head outputs that hold a value per token (QA's start and end logits, token
# classification's logits): decided by the task, not by shape, since a sequence classifier's
# [batch, labels] logits matched a [batch, sequence] mask whenever the sequence was as long as the
# labels, and a logit went uncompared. Outputs after the head (a factory module's hidden states)
# are per token where their shape says so.
HEAD_PER_TOKEN = {Task.QA: (True, True), Task.TOKEN_CLS: (True,), Task.SEQ_CLS: (False,)}


def _per_token(i: int, shape: tuple[int, ...], mask_shape: tuple[int, ...], task: Task) -> bool:
    head = HEAD_PER_TOKEN[task]
    return head[i] if i < len(head) else len(shape) >= 2 and shape[:2] == mask_shape


def closeness(ref: Sequence[torch.Tensor], out: Sequence[torch.Tensor], tol: Tolerance,
              mask: torch.Tensor | None = None, task: Task | None = None) -> Closeness:
    """Compare all output tensors, ignoring padded positions (mask == 0) of ``task``'s per-token
    outputs; every other output is compared whole."""
    import torch

    if mask is not None and task is None:
        raise ValueError("a mask needs the task: it says which outputs are per token")
    if len(ref) != len(out):
        raise AssertionError(f"variant returned {len(out)} outputs, reference {len(ref)}")
    max_abs, excess = 0.0, float("-inf")
    for i, (r, o) in enumerate(zip(ref, out, strict=True)):
        if r.shape != o.shape:
            raise AssertionError(f"output shape {tuple(o.shape)} != reference {tuple(r.shape)}")
        r32, o32 = r.float(), o.float()
        diff = (o32 - r32).abs()
        bound = tol.atol + tol.rtol * r32.abs()
        keep = torch.ones_like(diff, dtype=torch.bool)
        if mask is not None and task is not None and _per_token(i, tuple(r.shape), tuple(mask.shape), task):
            if r.shape[:2] != mask.shape:
                raise AssertionError(f"per-token output {i} has shape {tuple(r.shape)}, the mask {tuple(mask.shape)}")
            keep = mask.bool().reshape(*mask.shape, *([1] * (r.dim() - 2))).expand_as(diff)
        nan = float("nan")
        # Python's max(x, nan) keeps x and torch's max over a NaN is NaN: a NaN on either side (or
        # in the bound) passed as long as another position was finite. It is never close.
        for side, values in (("output", o32), ("reference", r32), ("tolerance bound", bound)):
            if bool(torch.isnan(values[keep]).any()):
                return Closeness(nan, nan, side)
        worst_abs, worst_excess = float(diff[keep].max()), float((diff - bound)[keep].max())
        if math.isnan(worst_abs) or math.isnan(worst_excess):  # inf - inf: both sides infinite
            return Closeness(nan, nan, "difference (both sides infinite)")
        max_abs = max(max_abs, worst_abs)
        excess = max(excess, worst_excess)
    return Closeness(max_abs, excess)


@dataclass(frozen=True)
class Agreement:
    total: int
    agreed: int
    decisive_disagreements: list[str]

    @property
    def rate(self) -> float:
        return self.agreed / self.total if self.total else 1.0


def _margin(logits: torch.Tensor) -> torch.Tensor:
    top2 = logits.float().topk(2, dim=-1).values
    return top2[..., 0] - top2[..., 1]


def _compare_argmax(ref: torch.Tensor, out: torch.Tensor, keep: torch.Tensor, margin: float,
                    what: str) -> Agreement:
    r_arg, o_arg = ref.float().argmax(-1), out.float().argmax(-1)
    decisive = _margin(ref) > margin
    same = r_arg == o_arg
    bad = (~same) & decisive & keep
    where = [f"{what}{tuple(i.tolist())}: {int(r_arg[tuple(i)])}->{int(o_arg[tuple(i)])}" for i in bad.nonzero()]
    return Agreement(int(keep.sum()), int((same & keep).sum()), where[:5])


def task_agreement(task: Task, ref: Sequence[torch.Tensor], out: Sequence[torch.Tensor],
                   mask: torch.Tensor, tol: Tolerance) -> Agreement:
    import torch

    if task is Task.SEQ_CLS:
        keep = torch.ones(ref[0].shape[0], dtype=torch.bool)
        return _compare_argmax(ref[0], out[0], keep, tol.decisive_margin, "row")
    if task is Task.TOKEN_CLS:
        return _compare_argmax(ref[0], out[0], mask.bool(), tol.decisive_margin, "token")
    # QA: the answer is the (start, end) span over real tokens; padding can never be the answer.
    neg = torch.finfo(torch.float32).min
    total, agreed = 0, 0
    bad: list[str] = []
    for name, r, o in (("start", ref[0], out[0]), ("end", ref[1], out[1])):
        r = r.float().masked_fill(~mask.bool(), neg)
        o = o.float().masked_fill(~mask.bool(), neg)
        keep = torch.ones(r.shape[0], dtype=torch.bool)
        a = _compare_argmax(r, o, keep, tol.decisive_margin, name + " row")
        total, agreed, bad = total + a.total, agreed + a.agreed, bad + a.decisive_disagreements
    return Agreement(total, agreed, bad)
