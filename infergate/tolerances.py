"""How close a variant's outputs must be to the FP32 eager reference, and how task answers agree.

Measured with ``python -m infergate.measure`` over the whole tiny correctness matrix on the 2-core
AVX2 machine; each bound is the measured worst case times a safety margin, written beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .dtypes import DType


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float
    # Task answers: a flip is tolerated only where the reference's top-1/top-2 margin is below
    # ``decisive_margin`` (a near-tie), and the overall agreement rate must reach ``min_agreement``.
    decisive_margin: float
    min_agreement: float
    why: str


TOLERANCES: dict[DType, Tolerance] = {
    DType.FP32: Tolerance(
        atol=1e-4, rtol=1e-4, decisive_margin=1e-3, min_agreement=1.0,
        why="FP32_WHY",
    ),
    DType.BF16: Tolerance(
        atol=0.25, rtol=0.05, decisive_margin=0.5, min_agreement=0.95,
        why="BF16_WHY",
    ),
}
