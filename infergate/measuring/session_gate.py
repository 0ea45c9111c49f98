"""Judging today's runs against baselines recorded in other sessions: two variance components.

A speedup (eager / variant, same process, shuffled rounds) scatters at three levels:
1. within one run, the rounds: one run's bootstrap interval, ±0.3-0.6 % here;
2. between runs of one session (separate processes on the same host and boot): ~1-3 %;
3. between sessions (another host of the same machine class, another boot, another day): the host's
   own balance of front-end, cache and memory speed moves eager and the compiled forms differently,
   and measured on this project's machines that moved speedups by 3-13 % (docs/calibration.md).

A baseline recorded in one session knows levels 1-2 only, so judging a new session with them
raises false alarms on every new host. Here the gate estimates, per variant and pooled over the
baseline file's cases, the within-session sd (runs around their session's mean) and the
between-session sd (session means around the case's mean, less what the within part explains),
and judges today's runs as **a new session**: the predictive variance of today's mean log-speedup
minus the baseline's mean is ``between^2 (1 + 1/S) + within^2 (1/m + 1/(S n))`` for S baseline
sessions of n runs and m runs today; today's runs cannot average the between part away.

A session is a host boot (``baselines.host_identity``): two recordings on the same boot share the
host's state and are one session, so they cannot pass for two independent draws. The
between-session df is the number of sessions - 1, not pooled over cases: one host's effect is
shared by all cases measured on it.

Too few sessions to estimate the between part: a handful of sessions estimate a variance very
poorly (with 3 sessions, 2 df, a t quantile at the family confidence is ~20), so the measured
between-session variance is shrunk toward a documented prior (``PRIOR_BETWEEN_SD``, measured on this
project's machines and rounded up) that counts as ``PRIOR_DF`` sessions' worth of evidence, and the
result is used as known (a plug-in: only the within-session part, estimated from many runs, adds
t's df uncertainty). With one session the prior alone decides, and the summary says so; more
sessions (``python -m infergate baselines add`` on CI results) move it toward what the machines
really do.

Every judgement states its **minimum detectable drop** (MDD): the drop caught in ``POWER`` of
sessions at the family confidence, ``1 - exp(-(t_conf + t_power) * se)``. The effective floor is the
larger of the user's floor and the MDD; a verdict never claims more precision than that.

- regression:   the interval at the family confidence lies below 1, and the drop is at least half
                the effective floor;
- improvement:  the mirror image;
- pass:         a drop as large as the effective floor is ruled out at ``POWER`` one-sided, and
                the measured speedup is not below the user's floor (a case that *looks* a floor
                slower is never passed because the gate could not confirm it);
- inconclusive: anything else. Never a pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

from ..building.variants import COMPILE, JIT, JIT_IPEX
from .run_spread import student_t_quantile
from .stats import Estimate

Status = Literal["pass", "improvement", "regression", "inconclusive"]

# Between-session sd of the log-speedup per variant, used as a prior (see the module doc).
# Measured: the same tree, a host that did not record the baselines, Intel class
# (issue 11: compile 4-7 % below, jit 1.5-5.6 % above, jit_ipex 1-13 % above their one-session
# baselines) and the AMD class (docs/calibration.md, "Between sessions": jit 2.3 %, i.e. 1.6 %).
# A shift between two sessions has sd sqrt(2) x the between-session sd, so these are the middle
# of each observed range / sqrt(2), rounded up (jit 3.55/1.41 = 2.5 -> 3 %, compile 5.5/1.41 = 3.9
# -> 4 %, jit_ipex 7/1.41 = 4.9 -> 6 %). The largest shifts seen (jit 5.6 %, compile 7 %, jit_ipex
# 13 %) are 1.3, 1.2 and 1.5 of these sd's, well inside the family-wise intervals (about 3.3 sd):
# they are what the prior must not call a regression, not its size.
PRIOR_BETWEEN_SD: Mapping[str, float] = {JIT: 0.03, COMPILE: 0.04, JIT_IPEX: 0.06}
DEFAULT_PRIOR_BETWEEN_SD = 0.06  # a variant never measured across sessions: the largest above
PRIOR_DF = 2  # the prior's weight, in sessions' worth of evidence
POWER = 0.95
MAX_DF = 1000  # t with more df is the normal to four digits; keeps the quantile cache small


@dataclass(frozen=True)
class Components:
    """The two variance components of one variant's log-speedup, with where each came from."""

    within_sd: float
    within_df: int
    between_sd: float  # what the gate uses: the measured part shrunk toward the prior
    between_df: float  # inf: used as known (see the module doc)
    sessions: int
    measured_between_sd: float | None  # None: fewer than 2 sessions
    prior_sd: float
    prior_df: int

    @property
    def prior_only(self) -> bool:
        return self.measured_between_sd is None

    def describe(self) -> str:
        if self.prior_only:
            between = (f"between-session sd {self.between_sd:.2%} ASSUMED (documented prior: the baseline "
                       f"holds {self.sessions} session(s); record more to measure it)")
        else:
            between = (f"between-session sd {self.between_sd:.2%} (measured {self.measured_between_sd:.2%} "
                       f"over {self.sessions} sessions, shrunk toward the prior {self.prior_sd:.2%} worth "
                       f"{self.prior_df} sessions)")
        return f"within-session sd {self.within_sd:.2%} (df {self.within_df}); {between}"


def prior_for(variant: str) -> float:
    return PRIOR_BETWEEN_SD.get(variant, DEFAULT_PRIOR_BETWEEN_SD)


def components(cases: Sequence[Sequence[Sequence[float]]], sessions: int, prior_sd: float,
               prior_df: int = PRIOR_DF) -> Components:
    """``cases[c][s]``: the run speedups of case c in its session s; ``sessions``: distinct sessions
    over all cases (the between-session df is ``sessions - 1``)."""
    ss_w, df_w = 0.0, 0
    ss_m, df_m, inv_n = 0.0, 0, []
    for case in cases:
        means, case_inv_n = [], []
        for runs in case:
            logs = [math.log(float(v)) for v in runs]
            if not logs or not all(math.isfinite(x) for x in logs):
                raise ValueError(f"speedups must be finite and > 0, got {list(runs)}")
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
    measured = None
    between_df_data = max(0, sessions - 1)
    if df_m and between_df_data:
        # Session means scatter by between^2 + within^2 / n: take the within part out (moment method).
        var_means = ss_m / df_m
        h = sum(inv_n) / len(inv_n)
        measured = math.sqrt(max(0.0, var_means - within_sd ** 2 * h))
    if measured is None:
        return Components(within_sd, df_w, prior_sd, math.inf, sessions, None, prior_sd, prior_df)
    # Shrinkage: the prior counts as prior_df sessions' worth of prior_sd^2.
    var = (prior_df * prior_sd ** 2 + between_df_data * measured ** 2) / (prior_df + between_df_data)
    return Components(within_sd, df_w, math.sqrt(var), math.inf, sessions, measured, prior_sd, prior_df)


@dataclass(frozen=True)
class Judgement:
    status: Status
    ratio: Estimate  # today's speedup / the baseline's, interval at ``confidence``
    mdd: float  # minimum detectable drop (a fraction)
    floor: float  # the effective floor: max(user floor, mdd)
    floor_source: Literal["floor", "mdd"]
    se: float  # predictive standard error of the log-ratio
    df: float
    confidence: float
    message: str


def _t(p: float, df: float) -> float:
    if df >= MAX_DF or not math.isfinite(df):
        return NormalDist().inv_cdf(p)
    return student_t_quantile(p, max(1, int(df)))  # rounded down: conservative


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


def minimum_detectable_drop(se: float, df: float, confidence: float, power: float = POWER) -> float:
    """The drop a new session's runs are caught with in ``power`` of sessions: one-sided test at
    ``confidence`` (the family's two-sided level, as the interval is two-sided)."""
    k = _t(0.5 + confidence / 2.0, df) + _t(power, df)
    return 1.0 - math.exp(-k * se)


def judge(measured: Sequence[float], baseline_sessions: Sequence[Sequence[float]], comp: Components,
          floor: float, confidence: float, power: float = POWER) -> Judgement:
    """Today's run speedups (one new session) against the case's baseline sessions."""
    if not 0.0 <= floor < 1.0:
        raise ValueError(f"floor must be in [0, 1), got {floor}")
    sessions = [list(s) for s in baseline_sessions if s]
    if not measured or not sessions:
        raise ValueError("need at least one measured run and one baseline session")
    today = sum(math.log(v) for v in measured) / len(measured)
    means = [sum(math.log(v) for v in s) / len(s) for s in sessions]
    base = sum(means) / len(means)
    n_h = len(sessions) / sum(1.0 / len(s) for s in sessions)  # harmonic mean runs per session
    se, df = predictive_se(comp, len(measured), len(sessions), n_h)
    centre = today - base
    half = _t(0.5 + confidence / 2.0, df) * se
    ratio = Estimate(math.exp(centre), math.exp(centre - half), math.exp(centre + half))
    mdd = minimum_detectable_drop(se, df, confidence, power)
    source: Literal["floor", "mdd"] = "floor" if floor >= mdd else "mdd"
    eff = floor if source == "floor" else mdd
    ruled_out_low = math.exp(centre - _t(power, df) * se)  # a drop of ``eff`` ruled out at ``power``
    if ratio.high < 1.0 and ratio.point <= 1.0 - eff / 2:
        status: Status = "regression"
    elif ratio.low > 1.0 and ratio.point >= 1.0 + eff / 2:
        status = "improvement"
    elif ruled_out_low >= 1.0 - eff and ratio.point > 1.0 - floor:
        status = "pass"
    else:
        status = "inconclusive"
    floor_text = (f"floor {eff:.1%} (--ig-floor)" if source == "floor"
                  else f"floor {eff:.1%} = the minimum detectable drop, above --ig-floor {floor:.0%}")
    looks = (f"; looks {1 - ratio.point:.1%} slower, more than --ig-floor {floor:.0%}, which this gate cannot "
             f"confirm" if status == "inconclusive" and ratio.point <= 1.0 - floor else "")
    message = (f"speedup {math.exp(today):.3f} ({len(measured)} run(s)) vs baseline {math.exp(base):.3f} "
               f"({len(sessions)} session(s)): ratio {ratio.point:.3f} [{ratio.low:.3f}, {ratio.high:.3f}] at "
               f"{confidence:.4g}; detectable drop {mdd:.1%}; {floor_text}{looks}")
    return Judgement(status, ratio, mdd, eff, source, se, df, confidence, message)
