"""Comparing outputs with the reference (matrix/agreement.py): a NaN anywhere it looks is never close."""

from __future__ import annotations

import math

import pytest
import torch

from infergate.matrix.agreement import closeness
from infergate.matrix.dtypes import DType
from infergate.matrix.tolerances import TOLERANCES, tolerance

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
    assert closeness(per_token, (torch.tensor([[[1.0], [0.0]]]),), FP32, mask).ok
