"""Within-session, between-occasion and between-session spreads of a variant's log-ratio over a reference form."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .reference_runs import SPEEDUP, AlignedRun, log_ratio

Cells = Mapping[tuple[str, str, str, str], Sequence[tuple[float, int]]]  # (unit, session, occasion, model)


def _gamma_p(a: float, x: float) -> float:
    """Regularized lower incomplete gamma P(a, x): series below a + 1, continued fraction above."""
    if x <= 0:
        return 0.0
    lead = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        n = a
        while abs(term) > abs(total) * 1e-15:
            n += 1
            term *= x / n
            total += term
        return total * math.exp(lead)
    b, c, d = x + 1 - a, 1e300, 1.0 / (x + 1 - a)
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = 1.0 / (an * d + b if abs(an * d + b) > 1e-300 else 1e-300)
        c = b + an / c if abs(b + an / c) > 1e-300 else 1e-300
        h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return 1.0 - math.exp(lead) * h


def chi2_quantile(p: float, df: float) -> float:
    """Quantile of chi-square with ``df`` degrees of freedom (bisection on the CDF; scipy is not in every lane)."""
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError(f"need 0 < p < 1 and df > 0, got p={p}, df={df}")
    low, high = 0.0, max(1.0, df)
    while _gamma_p(df / 2, high / 2) < p:
        low, high = high, high * 2
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if _gamma_p(df / 2, mid / 2) < p else (low, mid)
    return (low + high) / 2


@dataclass(frozen=True)
class Spread:
    """One sd (None: the data hold no such contrast) with its df and two-sided chi-square interval."""

    sd: float | None
    df: int
    low: float
    high: float
    behind: str  # what stands behind the df, in words

    def describe(self) -> str:
        if self.sd is None:
            return f"- ({self.behind})"
        return f"{self.sd:.2%} (df {self.df}) [{self.low:.2%}, {self.high:.2%}]"


def _interval(mean_square: float, known: float, df: int, confidence: float) -> tuple[float, float]:
    a = (1 - confidence) / 2
    lo = df * mean_square / chi2_quantile(1 - a, df) - known
    hi = df * mean_square / chi2_quantile(a, df) - known
    return math.sqrt(max(0.0, lo)), math.sqrt(max(0.0, hi))


def _spread(mean_square: float, known: float, df: int, confidence: float, behind: str) -> Spread:
    if df < 1:
        return Spread(None, 0, math.nan, math.nan, behind)
    low, high = _interval(mean_square, known, df, confidence)
    return Spread(math.sqrt(max(0.0, mean_square - known)), df, low, high, behind)


def cells_for(runs: Iterable[AlignedRun], variant: str, reference: str, estimator: str = SPEEDUP) -> Cells:
    """Each occasion's log-ratios of ``variant`` over ``reference``, with the processes behind each."""
    cells: dict[tuple[str, str, str, str], list[tuple[float, int]]] = defaultdict(list)
    for r in sorted(runs, key=lambda r: (r.unit, r.session, r.occasion, r.model, r.run)):
        y = log_ratio(r, variant, reference, estimator)
        if y is not None:  # a case per recipe pair: two revisions' figures are not one quantity
            case = f"{r.model}#{variant}{r.recipes[variant]}/{reference}{r.recipes[reference]}"
            cells[(r.unit, r.session, r.occasion, case)].append((y, r.processes))
    return cells


def _within(cells: Cells) -> tuple[dict[str, tuple[float, int]], float, int]:
    """Per unit and pooled: (within variance, df) over occasions with >= 2 single-process runs."""
    per: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for (unit, *_), values in cells.items():
        ys = [y for y, p in values if p == 1]
        if len(ys) >= 2:
            m = sum(ys) / len(ys)
            per[unit][0] += sum((y - m) ** 2 for y in ys)
            per[unit][1] += len(ys) - 1
    units = {u: (ss / df, int(df)) for u, (ss, df) in per.items()}
    ss, df = sum(v * d for v, d in units.values()), sum(d for _, d in units.values())
    return units, (ss / df if df else 0.0), df


@dataclass(frozen=True)
class _Occasion:
    mean: float
    h: float  # its mean's variance from processes, in units of the within variance


def _occasions(cells: Cells) -> dict[tuple[str, str, str], dict[str, _Occasion]]:
    """(unit, model, session) -> occasion -> mean and within factor."""
    out: dict[tuple[str, str, str], dict[str, _Occasion]] = defaultdict(dict)
    for (unit, session, occasion, model), values in cells.items():
        k = len(values)
        out[(unit, model, session)][occasion] = _Occasion(
            sum(y for y, _ in values) / k, sum(1.0 / p for _, p in values) / k ** 2)
    return out


def _pool(groups: Mapping[Any, tuple[list[float], list[float], int]]) -> tuple[float, float, int, int]:
    """Groups of cases sharing df: (mean squares, known parts, df) -> pooled (MS, known, df, cases)."""
    ms = known = 0.0
    df = cases = 0
    for squares, parts, d in groups.values():
        ms += d * sum(squares) / len(squares)
        known += d * sum(parts) / len(parts)
        df += d
        cases += len(squares)
    return (ms / df, known / df, df, cases) if df else (0.0, 0.0, 0, 0)


def _occasion_part(occ: Mapping[tuple[str, str, str], Mapping[str, _Occasion]], w_unit: Mapping[str, tuple[float, int]],
                   w: float) -> tuple[float, float, int, int, int]:
    groups: dict[tuple[str, str], tuple[list[float], list[float], int]] = {}
    for (unit, _, session), by_occ in occ.items():
        o = len(by_occ)
        if o < 2:
            continue
        m = sum(x.mean for x in by_occ.values()) / o
        ss = sum((x.mean - m) ** 2 for x in by_occ.values())
        part = w_unit.get(unit, (w, 0))[0] * sum(x.h for x in by_occ.values()) / o
        squares, parts, d = groups.setdefault((unit, session), ([], [], o - 1))
        squares.append(ss / (o - 1))
        parts.append(part)
        groups[(unit, session)] = (squares, parts, max(d, o - 1))
    ms, known, df, cases = _pool(groups)
    return ms, known, df, cases, len(groups)


def _session_part(occ: Mapping[tuple[str, str, str], Mapping[str, _Occasion]], w_unit: Mapping[str, tuple[float, int]],
                  w: float) -> tuple[float, float, int, int]:
    by_case: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for (unit, model, _), by_occ in occ.items():
        o = len(by_occ)
        wu = w_unit.get(unit, (w, 0))[0]
        known = wu * sum(x.h for x in by_occ.values()) / o ** 2
        by_case[(unit, model)].append((sum(x.mean for x in by_occ.values()) / o, known))
    groups: dict[str, tuple[list[float], list[float], int]] = {}
    for (unit, _), sessions in by_case.items():
        s = len(sessions)
        if s < 2:
            continue
        m = sum(x for x, _ in sessions) / s
        squares, parts, d = groups.setdefault(unit.split("/", 1)[0], ([], [], s - 1))
        squares.append(sum((x - m) ** 2 for x, _ in sessions) / (s - 1))
        parts.append(sum(k for _, k in sessions) / s)
        groups[unit.split("/", 1)[0]] = (squares, parts, max(d, s - 1))
    ms, known, df, cases = _pool(groups)
    return ms, known, df, len(groups)


def spreads(cells: Cells, confidence: float = 0.95) -> tuple[Spread, Spread, Spread]:
    """(within-session, between-occasion within a boot, between-session) sd of the log-ratio."""
    w_unit, w, w_df = _within(cells)
    n_occ = len(cells)
    within = (_spread(w, 0.0, w_df, confidence, f"{n_occ} occasion-case(s)") if w_df
              else Spread(None, 0, math.nan, math.nan, "no occasion with 2 runs"))
    occ = _occasions(cells)
    ms_o, known_o, df_o, cases_o, boots_o = _occasion_part(occ, w_unit, w)
    occasion = _spread(ms_o, known_o, df_o, confidence,
                       f"{df_o} occasion contrast(s) in {boots_o} boot(s), {cases_o} case(s)" if df_o
                       else "no boot with 2 occasions")
    ms_s, known_s, df_s, classes = _session_part(occ, w_unit, w)
    session = _spread(ms_s, known_s, df_s, confidence,
                      f"{df_s} boot contrast(s) in {classes} class(es)" if df_s else "no class with 2 boots")
    return within, occasion, session


def pooled_prior(occasion: Spread, session: Spread) -> tuple[float | None, int]:
    """The between-session prior these data justify: every occasion contrast one df, variances weighted by df."""
    parts = [(s.sd, s.df) for s in (occasion, session) if s.sd is not None and s.df]
    df = sum(d for _, d in parts)
    if not df:
        return None, 0
    return math.sqrt(sum(d * sd ** 2 for sd, d in parts) / df), df
