"""Every variant x dtype against the FP32 eager reference: outputs within the tolerance table, the
answers a user sees, determinism, and shapes other than the traced one (hypothesis)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from infergate.building.harness import example_inputs
from infergate.building.variants import COMPILE, JIT, JIT_IPEX
from infergate.matrix.agreement import closeness, task_agreement
from infergate.matrix.dtypes import DType
from infergate.matrix.inputs import Shape, make_inputs
from infergate.matrix.tolerances import tolerance
from infergate.pytest_plugin.params import MATRIX_MARK

# Collected as itself (a user's project): the configured models only (suite/__init__.py).
CONFIGURED_MODELS_ONLY = True

# A larger batch than the trace shape, so the agreement rate is over enough answers to mean something:
# at 20 rows BF16's 95 % lets a sequence classifier's one near-tie flip pass (8 rows let none: 7/8 is
# 87.5 %, so a flip below the decisive margin failed as if it were decisive).
AGREEMENT_SHAPE = Shape(batch=20, seq_len=32)

matrix = getattr(pytest.mark, MATRIX_MARK)


@matrix(suite="correctness", against_reference=True)
def test_outputs_match_fp32_eager(case, harness):
    tol = tolerance(case.dtype, case.spec.tolerances)
    # A factory's model at each configured shape (the property test cannot draw its inputs); the
    # variant stays the one built at the first.
    for shape in case.spec.factory_shapes or (None,):
        inputs = example_inputs(case.spec, shape)
        reference = harness.reference(case.spec, inputs)
        outputs = harness.built(case)(inputs)
        # A factory's module may take no mask.
        result = closeness(reference, outputs, tol, inputs.get("attention_mask"), case.spec.task)
        at = "" if shape is None else f" at {shape}"
        assert result.ok, (
            f"{case.id}{at}: NaN in the {result.nan_in}" if result.nan_in else
            f"{case.id}{at}: max |diff| {result.max_abs:.3e} exceeds atol={tol.atol} rtol={tol.rtol} "
            f"by {result.worst_excess:.3e}"
        )


@matrix(suite="correctness", against_reference=True)
def test_task_answers_agree(case, harness):
    tol = tolerance(case.dtype, case.spec.tolerances)
    # A factory's model serves the shapes it was configured for, and may take no other: each of those.
    shapes = case.spec.factory_shapes or (AGREEMENT_SHAPE,)
    for shape in shapes:
        inputs = example_inputs(case.spec, shape, seed=99)
        reference = harness.reference(case.spec, inputs)
        outputs = harness.built(case)(inputs)
        mask = inputs.get("attention_mask")  # a factory's module may take none: every position counts
        if mask is None:
            mask = torch.ones(reference[0].shape[:2], dtype=torch.long)
        agreement = task_agreement(case.spec.task, reference, outputs, mask, tol)
        at = "" if case.spec.factory is None else f" at {shape or case.spec.shape}"
        assert not agreement.decisive_disagreements, (
            f"{case.id}{at}: answers changed where the reference was decisive "
            f"(margin > {tol.decisive_margin}): {agreement.decisive_disagreements}"
        )
        assert agreement.rate >= tol.min_agreement, (
            f"{case.id}{at}: {agreement.agreed}/{agreement.total} answers agree, below {tol.min_agreement:.0%}"
        )


@st.composite
def padded_batches(draw, max_batch: int = 4, max_seq: int = 48):
    batch = draw(st.integers(1, max_batch))
    seq_len = draw(st.integers(2, max_seq))
    lengths = draw(st.lists(st.integers(1, seq_len), min_size=batch, max_size=batch))
    seed = draw(st.integers(0, 2**16))
    return Shape(batch, seq_len), lengths, seed


@matrix(suite="correctness", variants=(JIT, JIT_IPEX, COMPILE), dtypes=(DType.FP32,))
@given(batch=padded_batches())
def test_other_shapes_match_eager(case, harness, batch):
    shape, lengths, seed = batch
    spec = case.spec
    if spec.factory_shapes:
        pytest.skip("a factory's inputs are its own, not token ids and padding: test_outputs_match_fp32_eager "
                    "checks it at each of its configured shapes instead")
    inputs = make_inputs(spec.arch, spec.size.vocab, shape, seed, lengths=lengths)
    reference = harness.reference(spec, inputs)
    outputs = harness.built(case)(inputs)
    tol = tolerance(case.dtype, case.spec.tolerances)
    result = closeness(reference, outputs, tol, inputs["attention_mask"], spec.task)
    assert result.ok, (
        f"{case.id} at {shape} lengths={lengths}: {result} (atol={tol.atol}, rtol={tol.rtol})"
    )


@matrix(suite="correctness")
def test_same_input_same_output(case, harness):
    built = harness.built(case)
    inputs = example_inputs(case.spec)
    first = built(inputs)
    second = built(inputs)
    for i, (a, b) in enumerate(zip(first, second, strict=True)):
        assert a.equal(b), f"{case.id}: output {i} differs between two identical calls"
