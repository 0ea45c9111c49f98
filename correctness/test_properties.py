"""A graph traced, frozen or compiled at one shape must still match eager at other shapes.

TorchScript tracing records Python control flow on shapes as constants; a model that branches on
``seq_len`` or on "is there padding" can be silently wrong at any shape but the traced one.
Hypothesis draws batch sizes, sequence lengths and padding patterns; on failure it shrinks to the
smallest shape that breaks.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infergate.matrix.agreement import closeness
from infergate.matrix.dtypes import DType
from infergate.matrix.inputs import Shape, make_inputs
from infergate.matrix.tolerances import tolerance


@st.composite
def padded_batches(draw, max_batch: int = 4, max_seq: int = 48):
    batch = draw(st.integers(1, max_batch))
    seq_len = draw(st.integers(2, max_seq))
    lengths = draw(st.lists(st.integers(1, seq_len), min_size=batch, max_size=batch))
    seed = draw(st.integers(0, 2**16))
    return Shape(batch, seq_len), lengths, seed


@pytest.mark.infergate_matrix(suite="correctness", variants=("jit", "jit_ipex", "compile"), dtypes=(DType.FP32,))
@given(batch=padded_batches())
def test_other_shapes_match_eager(case, harness, batch):
    shape, lengths, seed = batch
    spec = case.spec
    if spec.factory is not None:
        pytest.skip("a factory's inputs are its own, not token ids and padding: checked at its configured shapes")
    inputs = make_inputs(spec.arch, spec.size.vocab, shape, seed, lengths=lengths)
    reference = harness.reference(spec, inputs)
    outputs = harness.built(case)(inputs)
    tol = tolerance(case.dtype, case.spec.tolerances)
    result = closeness(reference, outputs, tol, inputs["attention_mask"])
    assert result.ok, (
        f"{case.id} at {shape} lengths={lengths}: max |diff| {result.max_abs:.3e} "
        f"(atol={tol.atol}, rtol={tol.rtol})"
    )
