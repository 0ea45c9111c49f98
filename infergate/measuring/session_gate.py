"""The speedup gate's statistics: today's runs judged as a new host session against the baseline's.

One-sided rules at the family confidence (docs/calibration.md): regression, improvement (significant
and at least half the floor), pass (a floor-sized drop ruled out), else unverified with the minimum
detectable drop.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Final

from ..building.variants import COMPILE, JIT, JIT_IPEX
from .run_spread import student_t_quantile
from .stats import Estimate
from .verdicts import JudgedVerdict

# Between-session sd of the log-speedup (docs/calibration.md, "The between-session prior"): every
# occasion pair the project measured, pooled over variants, rounded up; worth PRIOR_DF sessions.
POOLED_PRIOR_SD: Final = 0.03
PRIOR_BETWEEN_SD: Mapping[str, float] = {JIT: POOLED_PRIOR_SD, COMPILE: POOLED_PRIOR_SD, JIT_IPEX: POOLED_PRIOR_SD}
DEFAULT_PRIOR_BETWEEN_SD = POOLED_PRIOR_SD
PRIOR_DF = 4  # independent occasion pairs behind the prior
POWER = 0.95
MAX_DF = 1000  # t with more df is the normal to four digits; keeps the quantile cache small


@dataclass(frozen=True)
class Components:
    """The two variance components of one variant's log-speedup, with where each came from."""

    within_sd: float
    within_df: int
    between_sd: float  # what the gate uses: the measured part pooled with the prior
    between_df: float  # the prior's df plus the measured part's (min of sessions - 1 and the scattering cases' df)
    sessions: int
    measured_between_sd: float | None  # None: fewer than 2 sessions
    prior_sd: float
    prior_df: int

    @property
    def prior_only(self) -> bool:
        return self.measured_between_sd is None

    def describe(self) -> str:
        if self.prior_only:
            between = (f"between-session sd {self.between_sd:.2%} ASSUMED (prior, df {self.prior_df}; the baseline "
                       f"holds {self.sessions} session(s): record more to measure it)")
        else:
            between = (f"between-session sd {self.between_sd:.2%} (df {self.between_df:g}: measured "
                       f"{self.measured_between_sd:.2%} with {self.between_df - self.prior_df:g} df from "
                       f"{self.sessions} sessions, pooled with the prior "
                       f"{self.prior_sd:.2%} worth {self.prior_df})")
        return f"within-session sd {self.within_sd:.2%} (df {self.within_df}); {between}"


def prior_for(variant: str) -> float:
    return PRIOR_BETWEEN_SD.get(variant, DEFAULT_PRIOR_BETWEEN_SD)


def _logs(speedups: Sequence[float]) -> list[float]:
    """Log speedups, refusing what no timing yields (0, negative, NaN, inf) with the values named."""
    values = [float(v) for v in speedups]
    if not values or not all(math.isfinite(v) and v > 0.0 for v in values):
        raise ValueError(f"speedups must be finite and > 0, got {values}")
    return [math.log(v) for v in values]


def components(cases: Sequence[Sequence[Sequence[float]]], sessions: int, prior_sd: float,
               prior_df: int = PRIOR_DF) -> Components:
    """Variance components from ``cases[c][s]`` (case c's run speedups in session s); ``sessions``
    counts distinct sessions (the measured part's df is at most ``sessions - 1``)."""
    ss_w, df_w = 0.0, 0
    ss_m, df_m, inv_n = 0.0, 0, []
    for case in cases:
        means, case_inv_n = [], []
        for runs in case:
            logs = _logs(runs)
            mean = sum(logs) / len(logs)
            ss_w += sum((x - mean) ** 2 for x in logs)
            df_w += len(logs) - 1
            means.append(mean)
            case_inv_n.append(1.0 / len(logs))
        if len(means) >= 2:  # only cases whose session means scatter carry the within part to take out
            inv_n += case_inv_n
            grand = sum(means) / len(means)
            ss_m += sum((m - grand) ** 2 for m in means)
            df_m += len(means) - 1
    within_sd = math.sqrt(ss_w / df_w) if df_w else 0.0
    between_df_data = min(df_m, max(0, sessions - 1))
    if not between_df_data:
        return Components(within_sd, df_w, prior_sd, float(prior_df), sessions, None, prior_sd, prior_df)
    # Session means scatter by between^2 + within^2 / n: take the within part out (moment method).
    h = sum(inv_n) / len(inv_n)
    measured = math.sqrt(max(0.0, ss_m / df_m - within_sd ** 2 * h))
    df = prior_df + between_df_data
    var = (prior_df * prior_sd ** 2 + between_df_data * measured ** 2) / df
    return Components(within_sd, df_w, math.sqrt(var), float(df), sessions, measured, prior_sd, prior_df)


@dataclass(frozen=True)
class Judgement:
    status: JudgedVerdict
    ratio: Estimate  # today's speedup / the baseline's; one-sided bounds at ``confidence``
    mdd: float  # minimum detectable drop (a fraction)
    floor: float  # --ig-floor (or the case's own): what "pass" rules out
    se: float  # predictive standard error of the log-ratio
    df: float
    confidence: float
    message: str

    @property
    def verified(self) -> bool:
        """The floor was ruled out (a pass or an improvement), or the data could see a drop of it."""
        return self.ratio.low >= 1.0 - self.floor or self.mdd <= self.floor


def _t(p: float, df: float) -> float:
    if df >= MAX_DF or not math.isfinite(df):
        return NormalDist().inv_cdf(p)
    return student_t_quantile(p, max(1, int(df)))  # rounded down: conservative


def one_sided_t(confidence: float, df: float) -> float:
    """The quantile every rule of the gate uses: one-sided, since only a drop fails."""
    return _t(confidence, df)


def predictive_se(comp: Components, today_runs: int, baseline_sessions: int,
                  baseline_runs_per_session: float) -> tuple[float, float]:
    """(se, Welch-Satterthwaite df) of mean(today's log-speedups) - mean(baseline's session means)."""
    if today_runs < 1 or baseline_sessions < 1 or baseline_runs_per_session <= 0:
        raise ValueError("need at least one run today and one baseline session")
    a = 1.0 + 1.0 / baseline_sessions
    b = 1.0 / today_runs + 1.0 / (baseline_sessions * baseline_runs_per_session)
    vb, vw = a * comp.between_sd ** 2, b * comp.within_sd ** 2
    var = vb + vw
    if var == 0.0:
        return 0.0, float(MAX_DF)
    denom = (vb ** 2 / comp.between_df if 0 < comp.between_df < math.inf else 0.0) + (
        vw ** 2 / comp.within_df if comp.within_df > 0 else (math.inf if vw > 0 else 0.0))
    df = var ** 2 / denom if denom > 0 else float(MAX_DF)
    return math.sqrt(var), min(df, float(MAX_DF))


def minimum_detectable_drop(se: float, df: float, confidence: float, power: float = POWER,
                            floor: float = 0.0) -> float:
    """The drop caught as a regression in ``power`` of sessions at ``confidence`` (one-sided)."""
    k = one_sided_t(confidence, df) + _t(power, df)
    significant = 1.0 - math.exp(-k * se)
    half_floor = 1.0 - (1.0 - floor / 2) * math.exp(-_t(power, df) * se)
    return max(significant, half_floor)


def judge(measured: Sequence[float], baseline_sessions: Sequence[Sequence[float]], comp: Components,
          floor: float, confidence: float, power: float = POWER) -> Judgement:
    """Today's run speedups (one new session) against the case's baseline sessions."""
    if not 0.0 <= floor < 1.0:
        raise ValueError(f"floor must be in [0, 1), got {floor}")
    sessions = [list(s) for s in baseline_sessions if s]
    if not measured or not sessions:
        raise ValueError("need at least one measured run and one baseline session")
    today = sum(_logs(measured)) / len(measured)
    means = [sum(_logs(s)) / len(s) for s in sessions]
    base = sum(means) / len(means)
    n_h = len(sessions) / sum(1.0 / len(s) for s in sessions)  # harmonic mean runs per session
    se, df = predictive_se(comp, len(measured), len(sessions), n_h)
    centre = today - base
    half = one_sided_t(confidence, df) * se
    ratio = Estimate(math.exp(centre), math.exp(centre - half), math.exp(centre + half))
    mdd = minimum_detectable_drop(se, df, confidence, power, floor)
    if ratio.high < 1.0 and ratio.point <= 1.0 - floor / 2:
        status: JudgedVerdict = "regression"
    elif ratio.low > 1.0 and ratio.point >= 1.0 + floor / 2:
        status = "improvement"
    elif ratio.low >= 1.0 - floor:
        status = "pass"
    else:
        status = "unverified"
    sees = f"sees drops of {mdd:.1%} or more" + ("" if mdd <= floor else f", not the {floor:.0%} floor")
    looks = (f"; looks {1 - ratio.point:.1%} slower, not significant at this precision"
             if status == "unverified" and ratio.point < 1.0 else "")
    message = (f"speedup {math.exp(today):.3f} ({len(measured)} run(s)) vs baseline {math.exp(base):.3f} "
               f"({len(sessions)} session(s)): ratio {ratio.point:.3f}, one-sided bounds [{ratio.low:.3f}, "
               f"{ratio.high:.3f}] at {confidence:.4g} (t, df {df:.0f}); {sees}{looks}")
    return Judgement(status, ratio, mdd, floor, se, df, confidence, message)
