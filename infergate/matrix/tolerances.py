"""How close a variant's outputs must be to the FP32 eager reference: each bound is the worst case
``infergate measure`` saw on 228 tiny cases (2-core AVX2, both lanes) times the margin beside it."""

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
        why="worst |diff| measured 4.8e-6 (jit_ipex; compile 3.8e-6; jit and eager bit-exact): ~20x headroom",
    ),
    DType.BF16: Tolerance(
        atol=0.3, rtol=0.05, decisive_margin=0.5, min_agreement=0.95,
        why="worst |diff| measured 0.154 on logits of magnitude ~1-8 (eager autocast; jit 0.093, "
            "compile 0.047): ~2x headroom; a flip needs a margin < 2x0.154, so 0.5 is decisive; "
            "worst token-tag agreement measured 0.976",
    ),
}


def tolerance(dtype: DType, overrides: tuple[tuple[DType, float, float], ...] = ()) -> Tolerance:
    """The dtype's tolerance, with a configured model's (atol, rtol) override where it gives one."""
    from dataclasses import replace

    for over_dtype, atol, rtol in overrides:
        if over_dtype is dtype:
            return replace(TOLERANCES[dtype], atol=atol, rtol=rtol, why="set in the config")
    return TOLERANCES[dtype]
