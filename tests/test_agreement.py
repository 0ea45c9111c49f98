"""Comparing outputs with the reference (matrix/agreement.py): a NaN anywhere it looks is never close."""

from __future__ import annotations

import math

import pytest
import torch

from infergate.matrix.agreement import closeness
from infergate.matrix.dtypes import DType
from infergate.matrix.tolerances import TOLERANCES, tolerance
from infergate.matrix.zoo import Task

FP32 = TOLERANCES[DType.FP32]
NAN, INF = float("nan"), float("inf")


def test_close_outputs_are_ok_and_far_ones_are_not() -> None:
    ref = (torch.tensor([[0.5, 1.0]]),)
    assert closeness(ref, (torch.tensor([[0.5, 1.0 + 1e-6]]),), FP32).ok
    far = closeness(ref, (torch.tensor([[0.5, 2.0]]),), FP32)
    assert not far.ok and far.max_abs == pytest.approx(1.0) and not far.nan_in


@pytest.mark.parametrize(("ref", "out", "tol", "where"), [
    # Python's max(excess, nan) kept the finite excess: a NaN reference beside a far output passed.
    ([[NAN, 1.0]], [[0.0, 5e3]], FP32, "reference"),
    ([[NAN, 1.0]], [[0.0, 1.0]], FP32, "reference"),
    ([[1.0, NAN]], [[1.0, 1.0]], FP32, "reference"),
    ([[1.0, 1.0]], [[NAN, 1.0]], FP32, "output"),
    ([[1.0, 1.0]], [[1.0, 1.0]], tolerance(DType.FP32, ((DType.FP32, NAN, 1e-3),)), "tolerance bound"),
    ([[INF, 1.0]], [[INF, 1.0]], FP32, "difference (both sides infinite)"),
])
def test_a_nan_is_never_close_and_the_report_says_where(ref, out, tol, where) -> None:
    result = closeness((torch.tensor(ref),), (torch.tensor(out),), tol)
    assert not result.ok and result.nan_in == where and math.isnan(result.max_abs)
    assert str(result) == f"NaN in the {where}"


def test_a_nan_in_a_later_output_or_only_at_padding() -> None:
    ok = torch.tensor([[1.0, 2.0]])
    # The second output's NaN must not be hidden behind the first output's finite excess.
    result = closeness((ok, torch.tensor([[NAN, 1.0]])), (ok, torch.tensor([[0.0, 1.0]])), FP32)
    assert not result.ok and result.nan_in == "reference"
    # A padded position (mask 0) of a per-token output is not compared: a NaN there is not looked at.
    mask = torch.tensor([[1, 0]])
    per_token = (torch.tensor([[[1.0], [NAN]]]),)
    assert closeness(per_token, (torch.tensor([[[1.0], [0.0]]]),), FP32, mask, Task.TOKEN_CLS).ok


def test_a_class_logit_is_compared_even_when_the_sequence_is_as_long_as_the_labels() -> None:
    """Which outputs are per token is the task's, not the shape's: a [batch, labels] output matched a
    [batch, 3] mask and its padded "positions" (here label 2) went uncompared."""
    ref = (torch.tensor([[0.1, 0.2, 0.3]]),)
    off = (torch.tensor([[0.1, 0.2, 5.3]]),)
    mask = torch.tensor([[1, 1, 0]])
    assert not closeness(ref, off, FP32, mask, Task.SEQ_CLS).ok
    # The same tensors as QA's start and end logits: per token, the padded position is not compared.
    assert closeness((*ref, *ref), (*off, *off), FP32, mask, Task.QA).ok
    # An output after the head (a factory module's hidden states, [batch, sequence, hidden]) is per
    # token by its shape: its padded position is not compared.
    hidden, hidden_off = torch.zeros(1, 3, 2), torch.zeros(1, 3, 2)
    hidden_off[0, 2] = 9.0
    assert closeness((*ref, hidden), (*ref, hidden_off), FP32, mask, Task.SEQ_CLS).ok
    with pytest.raises(ValueError, match="a mask needs the task"):
        closeness(ref, off, FP32, mask)


def test_a_decisive_flip_is_reported_and_a_near_tie_is_tolerated() -> None:
    from infergate.matrix.agreement import task_agreement

    tol = tolerance(DType.BF16)
    ref = torch.tensor([[0.0, 3.0], [1.0, 1.0 + tol.decisive_margin / 2]])
    flipped = torch.tensor([[3.0, 0.0], [1.0 + tol.decisive_margin / 2, 1.0]])  # row 0 decisive, row 1 a near tie
    mask = torch.ones(2, 4, dtype=torch.long)
    a = task_agreement(Task.SEQ_CLS, (ref,), (flipped,), mask, tol)
    assert (a.total, a.agreed) == (2, 0) and a.decisive_disagreements == ["row(0,): 1->0"]
    assert task_agreement(Task.SEQ_CLS, (ref,), (ref.clone(),), mask, tol).decisive_disagreements == []


def test_padding_never_answers_and_padded_tokens_are_not_counted() -> None:
    from infergate.matrix.agreement import task_agreement

    tol = tolerance(DType.FP32)
    mask = torch.tensor([[1, 1, 0]])
    start = torch.tensor([[5.0, 0.0, -1.0]])
    # The variant's highest logit sits on the padded position: the answer over real tokens is unchanged.
    padded_wins = torch.tensor([[5.0, 0.0, 9.0]])
    qa = task_agreement(Task.QA, (start, start), (padded_wins, padded_wins), mask, tol)
    assert (qa.total, qa.agreed, qa.decisive_disagreements) == (2, 2, [])
    moved = torch.tensor([[0.0, 5.0, -1.0]])
    assert task_agreement(Task.QA, (start, start), (moved, start), mask, tol).decisive_disagreements == [
        "start row(0,): 0->1"]
    # Token classification: the padded token's flip is not counted, a real token's is.
    ref = torch.tensor([[[4.0, 0.0], [4.0, 0.0], [4.0, 0.0]]])
    pad_flip = torch.tensor([[[4.0, 0.0], [4.0, 0.0], [0.0, 4.0]]])
    real_flip = torch.tensor([[[0.0, 4.0], [4.0, 0.0], [4.0, 0.0]]])
    assert task_agreement(Task.TOKEN_CLS, (ref,), (pad_flip,), mask, tol).agreed == 2
    tok = task_agreement(Task.TOKEN_CLS, (ref,), (real_flip,), mask, tol)
    assert (tok.total, tok.agreed, tok.decisive_disagreements) == (2, 1, ["token(0, 0): 0->1"])
