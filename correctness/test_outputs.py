"""Every variant × dtype against the FP32 eager reference, within the named tolerance table."""

from __future__ import annotations

import pytest

from infergate.building.harness import example_inputs
from infergate.matrix.agreement import closeness
from infergate.matrix.tolerances import tolerance


@pytest.mark.infergate_matrix(suite="correctness", against_reference=True)
def test_outputs_match_fp32_eager(case, harness):
    inputs = example_inputs(case.spec)
    reference = harness.reference(case.spec, inputs)
    outputs = harness.built(case)(inputs)
    tol = tolerance(case.dtype, case.spec.tolerances)
    result = closeness(reference, outputs, tol, inputs.get("attention_mask"))  # a factory's module may take none
    assert result.ok, (
        f"{case.id}: max |diff| {result.max_abs:.3e} exceeds atol={tol.atol} rtol={tol.rtol} "
        f"by {result.worst_excess:.3e}"
    )
