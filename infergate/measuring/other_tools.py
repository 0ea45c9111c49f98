"""Other tools' regression rules for the calibration: asv's (Mann-Whitney U) and pytest-benchmark's."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt


def _average_ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1-based ranks with ties given their average rank, plus the sizes of the tie groups."""
    order = np.argsort(values, kind="mergesort")
    sorted_vals = values[order]
    # Boundaries of runs of equal values in the sorted array.
    starts = np.flatnonzero(np.r_[True, sorted_vals[1:] != sorted_vals[:-1]])
    ends = np.r_[starts[1:], sorted_vals.size]
    counts = ends - starts
    avg_rank_per_group = (starts + ends + 1) / 2.0  # mean of (start+1 .. end)
    ranks = np.empty(values.size)
    ranks[order] = np.repeat(avg_rank_per_group, counts)
    return ranks, counts


def mann_whitney_u_p(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Two-sided Mann-Whitney U p-value, as scipy's ``mannwhitneyu(method="asymptotic", use_continuity=True)``."""
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    n1, n2 = x.size, y.size
    if n1 == 0 or n2 == 0:
        raise ValueError("Mann-Whitney needs at least one value in each sample")
    ranks, ties = _average_ranks(np.concatenate([x, y]))
    u1 = ranks[:n1].sum() - n1 * (n1 + 1) / 2.0
    n = n1 + n2
    mu = n1 * n2 / 2.0
    tie_term = float((ties**3 - ties).sum()) / (n * (n - 1)) if n > 1 else 0.0
    var = n1 * n2 / 12.0 * ((n + 1) - tie_term)
    if var <= 0:  # every value tied: no evidence of any difference
        return 1.0
    z = max(abs(u1 - mu) - 0.5, 0.0) / math.sqrt(var)
    return min(1.0, math.erfc(z / math.sqrt(2.0)))


def asv_rule(a_times: npt.ArrayLike, b_times: npt.ArrayLike) -> bool:
    """asv's default regression call for b against a: p < 0.002 and > 10 % slower (normal approximation)."""
    ratio = float(np.median(np.asarray(b_times, dtype=float)) / np.median(np.asarray(a_times, dtype=float)))
    return mann_whitney_u_p(a_times, b_times) < 0.002 and ratio > 1.1


def pytest_benchmark_rule(a_times: npt.ArrayLike, b_times: npt.ArrayLike, pct: float = 5) -> bool:
    """pytest-benchmark's --benchmark-compare-fail=mean:<pct>%: no statistics, just the means."""
    mean_a = float(np.mean(np.asarray(a_times, dtype=float)))
    return float(np.mean(np.asarray(b_times, dtype=float))) > mean_a * (1.0 + pct / 100.0)


