"""The answers a user sees agree: predicted class, QA start/end span, token tags."""

from __future__ import annotations

import pytest
import torch

from infergate.building.harness import example_inputs
from infergate.matrix.agreement import task_agreement
from infergate.matrix.inputs import Shape
from infergate.matrix.tolerances import tolerance

# A larger batch than the trace shape, so the agreement rate is over enough answers to mean something.
AGREEMENT_SHAPE = Shape(batch=8, seq_len=32)


@pytest.mark.infergate_matrix(suite="correctness", against_reference=True)
def test_task_answers_agree(case, harness):
    inputs = example_inputs(case.spec, AGREEMENT_SHAPE, seed=99)
    reference = harness.reference(case.spec, inputs)
    outputs = harness.built(case)(inputs)
    tol = tolerance(case.dtype, case.spec.tolerances)
    mask = inputs.get("attention_mask")  # a factory's module may take none: every position counts
    if mask is None:
        mask = torch.ones(reference[0].shape[:2], dtype=torch.long)
    agreement = task_agreement(case.spec.task, reference, outputs, mask, tol)
    assert not agreement.decisive_disagreements, (
        f"{case.id}: answers changed where the reference was decisive "
        f"(margin > {tol.decisive_margin}): {agreement.decisive_disagreements}"
    )
    assert agreement.rate >= tol.min_agreement, (
        f"{case.id}: {agreement.agreed}/{agreement.total} answers agree, below {tol.min_agreement:.0%}"
    )
