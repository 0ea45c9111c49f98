"""How much of the between-session spread a variant's cases share: does a host session move every case
together (the host's state), or each case on its own? (docs/calibration.md, "Between sessions the
cases move together".) The gate and the nightly's detector judge each case on its own series; this
says how much of that series' spread a comparison with the case's peers could remove."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SharedShift:
    """A two-way split of case session means (log speedups) into case + session + the rest. The
    variances are the unclipped moment estimates (one can be below 0 by chance), so that pooling
    several splits is not biased upwards; the sds clip them at 0."""

    cases: int
    sessions: int
    shared_var: float  # a session's effect common to every case
    shared_df: int  # sessions - 1
    own_var: float  # a case's own between-session move, beyond the shared effect and its runs' noise
    own_df: int  # (cases - 1) (sessions - 1)
    noise_var: float  # what the within-session noise alone puts in one case's session mean

    @property
    def shared_sd(self) -> float:
        return math.sqrt(max(0.0, self.shared_var))

    @property
    def own_sd(self) -> float:
        return math.sqrt(max(0.0, self.own_var))

    def describe(self) -> str:
        return (f"between sessions the cases move together by sd {self.shared_sd:.2%} (df {self.shared_df}); "
                f"each case's own move beyond that: sd {self.own_sd:.2%} (df {self.own_df}; its runs' "
                f"noise alone {math.sqrt(self.noise_var):.2%}); {self.cases} cases seen in the same "
                f"{self.sessions} sessions")


def pooled(shifts: Sequence[SharedShift]) -> tuple[float, int, float, int]:
    """The shared and the own sd pooled over several splits, each variance weighted by its df:
    (shared sd, its df, own sd, its df)."""
    s_df = sum(x.shared_df for x in shifts)
    o_df = sum(x.own_df for x in shifts)
    if not s_df or not o_df:
        raise ValueError("nothing to pool: no split with at least 2 cases in 2 sessions")
    shared = sum(x.shared_var * x.shared_df for x in shifts) / s_df
    own = sum(x.own_var * x.own_df for x in shifts) / o_df
    return math.sqrt(max(0.0, shared)), s_df, math.sqrt(max(0.0, own)), o_df


def shared_shift(cases: Sequence[Mapping[str, Sequence[float]]], within_sd: float) -> SharedShift | None:
    """``cases[c]`` maps session -> run speedups. Cases seen in fewer than 2 sessions say nothing of a
    move and are left out; the rest are compared on the sessions they all share (a complete block, so
    the session effect is not confounded with which cases a session happened to measure). None when
    fewer than 2 cases share at least 2 sessions."""
    seen = [c for c in cases if len(c) >= 2]
    if len(seen) < 2:
        return None
    common = set(seen[0]).intersection(*seen[1:])
    if len(common) < 2:
        return None
    sessions = sorted(common)
    means = []
    inv_n = []
    for case in seen:
        row = []
        for s in sessions:
            values = [float(v) for v in case[s]]
            if not values or not all(math.isfinite(v) and v > 0 for v in values):
                raise ValueError(f"speedups must be finite and > 0, got {list(case[s])}")
            logs = [math.log(v) for v in values]
            row.append(sum(logs) / len(logs))
            inv_n.append(1.0 / len(logs))
        means.append(row)
    n_c, n_s = len(means), len(sessions)
    grand = sum(map(sum, means)) / (n_c * n_s)
    row_mean = [sum(r) / n_s for r in means]
    col_mean = [sum(r[j] for r in means) / n_c for j in range(n_s)]
    ms_session = n_c * sum((m - grand) ** 2 for m in col_mean) / (n_s - 1)
    own_df = (n_c - 1) * (n_s - 1)
    ms_rest = sum((means[i][j] - row_mean[i] - col_mean[j] + grand) ** 2
                  for i in range(n_c) for j in range(n_s)) / own_df
    noise = within_sd ** 2 * sum(inv_n) / len(inv_n)
    # Expected mean squares: rest = own^2 + noise; session = n_c * shared^2 + rest.
    return SharedShift(n_c, n_s, (ms_session - ms_rest) / n_c, n_s - 1, ms_rest - noise, own_df, noise)
