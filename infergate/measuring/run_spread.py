"""Between-run spread of log-speedups (``RunSpread``) and Student's t without scipy."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz), for x < (a+1)/(a+b+2)."""
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 100_000):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            return h
    raise ArithmeticError(f"incomplete beta fraction did not converge (a={a}, b={b}, x={x})")


def _regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), accurate in the small tail (where the t quantile of an extreme p lives)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def _t_upper_tail(t: float, df: int) -> float:
    """P(T > t) for t >= 0: half the regularized incomplete beta I_{df/(df+t^2)}(df/2, 1/2)."""
    return 0.5 * _regularized_beta(df / 2.0, 0.5, df / (df + t * t))


@functools.lru_cache(maxsize=256)  # the gate asks for the same few (p, df) over and over
def student_t_quantile(p: float, df: int) -> float:
    """Quantile of Student's t with ``df`` degrees of freedom, to ~1e-12 relative at any p in (0, 1).
    df 1 and 2 have closed forms; otherwise bisection on the upper tail from the incomplete beta
    function, taken as a tail so that an extreme p (a Bonferroni family's) loses nothing to 1 - p.
    (The earlier Simpson integral of the density over [0, t] missed df 1's narrow peak once t was
    large and returned ~5700 for every p above ~0.9994.)"""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    if p < 0.5:
        return -student_t_quantile(1.0 - p, df)
    if df == 1:  # Cauchy: F(t) = 1/2 + atan(t)/pi
        return math.tan(math.pi * (p - 0.5))
    if df == 2:  # F(t) = 1/2 + t / (2 sqrt(2 + t^2))
        return (2.0 * p - 1.0) / math.sqrt(2.0 * p * (1.0 - p))
    tail = 1.0 - p  # exact for p in [0.5, 1)
    low, high = 0.0, 1.0
    while _t_upper_tail(high, df) > tail:
        low, high = high, high * 2.0
        if high > 1e300:
            raise ValueError(f"quantile {p} of t({df}) is out of range")
    while high - low > 1e-13 * high:
        mid = (low + high) / 2.0
        low, high = (mid, high) if _t_upper_tail(mid, df) > tail else (low, mid)
    return (low + high) / 2.0


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
