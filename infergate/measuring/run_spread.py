"""Between-run spread of log-speedups (``RunSpread``) and Student's t without scipy."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@functools.lru_cache(maxsize=256)  # the gate asks for the same few (p, df) over and over
def student_t_quantile(p: float, df: int) -> float:
    """Quantile of Student's t with ``df`` degrees of freedom (numerical CDF and bisection, ~1e-6)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    if p < 0.5:
        return -student_t_quantile(1.0 - p, df)
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def cdf(t: float) -> float:
        x = np.linspace(0.0, t, 2001)
        y = np.exp(log_norm - (df + 1) / 2 * np.log1p(x * x / df))
        h = t / 2000
        return 0.5 + h / 3 * float(y[0] + y[-1] + 4 * y[1:-1:2].sum() + 2 * y[2:-1:2].sum())

    low, high = 0.0, 1.0
    while cdf(high) < p:
        low, high = high, high * 2
        if high > 1e7:  # only reachable for absurd p with df 1
            raise ValueError(f"quantile {p} of t({df}) is out of range")
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if cdf(mid) < p else (low, mid)
    return (low + high) / 2


@dataclass(frozen=True)
class RunSpread:
    """Sd of one run's log-speedup around its case's mean, pooled over cases."""

    sd: float
    df: int

    def __post_init__(self) -> None:
        if not (math.isfinite(self.sd) and self.sd >= 0) or self.df < 0:
            raise ValueError(f"need a finite sd >= 0 and df >= 0, got {self.sd}, {self.df}")


def pooled_spread(groups: Sequence[Sequence[float]]) -> RunSpread:
    """Pool the within-case variance of log-speedups over cases: df = sum of (runs - 1); 0 without two runs."""
    ss, df = 0.0, 0
    for runs in groups:
        logs = np.log(np.asarray(runs, dtype=float))
        if logs.size and not np.all(np.isfinite(logs)):
            raise ValueError(f"speedups must be finite and > 0, got {list(runs)}")
        if logs.size >= 2:
            ss += float(((logs - logs.mean()) ** 2).sum())
            df += logs.size - 1
    return RunSpread(math.sqrt(ss / df) if df else 0.0, df)
