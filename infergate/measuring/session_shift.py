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
    several splits is not biased upwards; the sds clip them at 0. Like the gate's between-session
    sd, each is the sd of a session's level: a move between two sessions is √2 times it."""

    cases: int
    sessions: tuple[str, ...]  # the block's session ids
    shared_var: float  # a session's level common to every case
    own_var: float  # a case's own session level, beyond the shared one and its runs' noise
    noise_var: float  # what the within-session noise alone puts in one case's session mean

    @property
    def shared_df(self) -> int:
        return len(self.sessions) - 1

    @property
    def own_df(self) -> int:
        return (self.cases - 1) * (len(self.sessions) - 1)

    @property
    def shared_sd(self) -> float:
        return math.sqrt(max(0.0, self.shared_var))

    @property
    def own_sd(self) -> float:
        return math.sqrt(max(0.0, self.own_var))

    def describe(self, unit: str = "sessions") -> str:
        """``unit``: what the block's columns are (host sessions, or the history's nights)."""
        return (f"between {unit} the cases share a level of sd {self.shared_sd:.2%} (df {self.shared_df}); "
                f"each case's own beyond it: sd {self.own_sd:.2%} (df {self.own_df}; its runs' noise alone "
                f"{math.sqrt(self.noise_var):.2%}); {self.cases} cases seen in the same {len(self.sessions)} {unit}")


def _block(cases: Sequence[Mapping[str, Sequence[float]]]) -> tuple[list[str], list[Mapping[str, Sequence[float]]]]:
    """The complete block (every case in every session: the session effect is then not confounded
    with which cases a session measured) with the most df, (cases - 1)(sessions - 1), found greedily:
    from every case with 2+ sessions, drop one case at a time, the one whose absence completes the most
    sessions, keeping the best block seen. So a model added later, or a case a shard missed some nights
    of, leaves the block instead of taking the other cases' sessions with it. O(sessions x cases^2)."""
    remaining = [c for c in cases if len(c) >= 2]
    best: tuple[int, list[str], list[Mapping[str, Sequence[float]]]] | None = None
    while len(remaining) >= 2:
        count: dict[str, int] = {}
        for c in remaining:
            for s in c:
                count[s] = count.get(s, 0) + 1
        m = len(remaining)
        full = sorted(s for s, k in count.items() if k == m)
        if len(full) >= 2 and (best is None or (m - 1) * (len(full) - 1) > best[0]):
            best = ((m - 1) * (len(full) - 1), full, list(remaining))
        gain = [0] * m
        for s, k in count.items():
            if k == m - 1:
                gain[next(i for i, c in enumerate(remaining) if s not in c)] += 1
        if not any(gain):  # dropping any one case completes no session: the block only shrinks
            break
        remaining.pop(max(range(m), key=lambda i: (gain[i], -len(remaining[i]))))
    if best is None:
        return [], []
    return best[1], best[2]


def shared_shift(cases: Sequence[Mapping[str, Sequence[float]]], within_sd: float) -> SharedShift | None:
    """``cases[c]`` maps session -> run speedups. Measured on the complete block with the most df
    (``_block``); None when no 2 cases share 2 sessions."""
    sessions, members = _block(cases)
    if not members:
        return None
    means = []
    inv_n = []
    for case in members:
        row = []
        for s in sessions:
            values = [float(v) for v in case[s]]
            if not values or not all(math.isfinite(v) and v > 0 for v in values):
                raise ValueError(f"speedups must be finite and > 0, got {list(case[s])}")
            row.append(sum(math.log(v) for v in values) / len(values))
            inv_n.append(1.0 / len(values))
        means.append(row)
    n_c, n_s = len(means), len(sessions)
    grand = sum(map(sum, means)) / (n_c * n_s)
    row_mean = [sum(r) / n_s for r in means]
    col_mean = [sum(r[j] for r in means) / n_c for j in range(n_s)]
    ms_session = n_c * sum((m - grand) ** 2 for m in col_mean) / (n_s - 1)
    ms_rest = sum((means[i][j] - row_mean[i] - col_mean[j] + grand) ** 2
                  for i in range(n_c) for j in range(n_s)) / ((n_c - 1) * (n_s - 1))
    # The runs' noise in a session mean, averaged over the block's cells: it enters both mean squares
    # (with unequal runs per cell too) and cancels out of the shared part.
    noise = within_sd ** 2 * sum(inv_n) / len(inv_n)
    # Expected mean squares: rest = own^2 + noise; session = n_c * shared^2 + rest.
    return SharedShift(n_c, tuple(sessions), (ms_session - ms_rest) / n_c, ms_rest - noise, noise)


@dataclass(frozen=True)
class Pooled:
    """Splits pooled, each variance weighted by its df, with the df that are independent: every
    variant of a machine class was moved by the same host sessions (the shared part's independent
    contrasts are the distinct sessions less one per connected set of them), and a model's variants
    share its eager runs (a file's own parts are worth at least its largest split's df, at most their
    sum)."""

    shared_sd: float
    shared_contrasts: int
    own_sd: float
    own_df_low: int
    own_df_high: int


def pooled(groups: Mapping[str, Sequence[SharedShift]]) -> Pooled:
    """``groups``: a baselines file's splits (one per variant) under the file's name."""
    shifts = [s for g in groups.values() for s in g]
    s_df = sum(x.shared_df for x in shifts)
    o_df = sum(x.own_df for x in shifts)
    if not s_df or not o_df:
        raise ValueError("nothing to pool: no split with at least 2 cases in 2 sessions")
    parent: dict[str, str] = {}

    def root(s: str) -> str:
        while parent.setdefault(s, s) != s:
            s = parent[s]
        return s

    for x in shifts:
        for s in x.sessions[1:]:
            parent[root(s)] = root(x.sessions[0])
    contrasts = len(parent) - len({root(s) for s in list(parent)})
    return Pooled(math.sqrt(max(0.0, sum(x.shared_var * x.shared_df for x in shifts) / s_df)), contrasts,
                  math.sqrt(max(0.0, sum(x.own_var * x.own_df for x in shifts) / o_df)),
                  sum(max(x.own_df for x in g) for g in groups.values() if g), o_df)
