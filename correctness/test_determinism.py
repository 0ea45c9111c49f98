"""The same input twice gives bit-identical output (oneDNN/inductor must not be nondeterministic)."""

from __future__ import annotations

import pytest

from infergate.building.harness import example_inputs


@pytest.mark.infergate_matrix(suite="correctness")
def test_same_input_same_output(case, harness):
    built = harness.built(case)
    inputs = example_inputs(case.spec)
    first = built(inputs)
    second = built(inputs)
    for i, (a, b) in enumerate(zip(first, second, strict=True)):
        assert a.equal(b), f"{case.id}: output {i} differs between two identical calls"
