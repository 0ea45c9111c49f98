"""``python -m infergate claims``: the seed guide's claim, measured, and the evidence to leave IPEX.

The guide says IPEX's jit-mode fusions speed up "about 70 %" of popular question-answering,
text-classification and token-classification models, in FP32 and BF16. For each architecture x
task at a base shape this measures, in one worker process per model, shape and dtype (shuffled
same-process rounds, as perf/ does), the speedup of ``jit`` over eager, of ``jit_ipex`` over ``jit``
(the fusions' own benefit), of ``jit_ipex`` and ``compile`` over eager, each with its interval,
which fusion patterns fired, and whether ``compile`` can replace ``jit_ipex`` (same answers, within
5 % of its speed). The verdicts here are plain functions of the measurements.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from ..building.variants import COMPILE, JIT, JIT_IPEX, REFERENCE
from ..core.defaults import DEFAULT_CONFIDENCE
from .claims_measure import ClaimMeasurement
from .stats import Estimate, bootstrap_ratio_ci, speedup_ratio

GUIDE_SHARE = 0.70  # the guide's "about 70 %"
BENEFIT = 0.05  # a fusion benefit counts when significant and at least this large
LEAVE_WITHIN = 0.05  # compile may be this much slower than jit_ipex and still replace it
CONFIDENCE = DEFAULT_CONFIDENCE
HEADLINE_SEQ = 128  # the share is counted over the models at this sequence length, one row each

# (numerator, denominator): a ratio of times den/num > 1 means ``num`` is faster.
SPEEDUPS: tuple[tuple[str, str, str], ...] = (
    ("jit_vs_eager", JIT, REFERENCE),
    ("fusion_benefit", JIT_IPEX, JIT),
    ("ipex_vs_eager", JIT_IPEX, REFERENCE),
    ("compile_vs_eager", COMPILE, REFERENCE),
    ("compile_vs_ipex", COMPILE, JIT_IPEX),
)


def speedup(m: ClaimMeasurement, faster: str, slower: str, confidence: float = CONFIDENCE,
            across_hosts: bool = False) -> Estimate | None:
    """How many times faster ``faster`` ran than ``slower`` in the same rounds, with its interval;
    None when either was not timed.

    The bootstrap interval covers this process's noise only. ``across_hosts`` widens it by the
    between-session spread measured on this project's machines (session_gate's priors: another
    process or host of the class moves a speedup by that much), which is what a claim about the
    machine class, not this one process, has to carry."""
    t = m.timing
    if t is None or faster not in t.times_ns or slower not in t.times_ns:
        return None
    a, b = t.times_ns[slower], t.times_ns[faster]
    low, high = bootstrap_ratio_ci(a, b, confidence=confidence)
    point = speedup_ratio(a, b)
    if not across_hosts:
        return Estimate(point, low, high)
    half = max(math.log(high / point), math.log(point / low))
    spread = between_hosts_sd(faster, slower)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    wide = math.sqrt(half ** 2 + (z * spread) ** 2)
    return Estimate(point, point * math.exp(-wide), point * math.exp(wide))


def between_hosts_sd(faster: str, slower: str) -> float:
    """sd of log(time ratio) between sessions: the priors are per variant against eager; a ratio of
    two non-eager variants takes both (as if independent: their shared eager part cancels, the rest
    does not)."""
    from .session_gate import prior_for

    return math.sqrt(sum(prior_for(v) ** 2 for v in (faster, slower) if v != REFERENCE))


def benefit_counts(est: Estimate | None, at_least: float = BENEFIT) -> bool:
    """Significant (interval above 1) and at least ``at_least`` faster at the point estimate."""
    return est is not None and est.low > 1.0 and est.point >= 1.0 + at_least


@dataclass(frozen=True)
class LeaveVerdict:
    answer: str  # "yes", "no", "undecided", "n/a"
    why: str


def can_leave_ipex(m: ClaimMeasurement, within: float = LEAVE_WITHIN, across_hosts: bool = False) -> LeaveVerdict:
    """Can ``compile`` replace ``jit_ipex`` for this model: the same answers as eager FP32 and at
    most ``within`` slower than ``jit_ipex``, judged on the interval (never on a point alone):
    this process's interval, or with ``across_hosts`` the one any host of the class can expect."""
    for variant in (JIT_IPEX, COMPILE):  # a row that cannot run here is n/a, not undecided
        if variant in m.skipped:
            return LeaveVerdict("n/a", f"{variant} skipped: {m.skipped[variant]}")
    if "worker" in m.failed or m.timing is None:
        return LeaveVerdict("undecided", "the row was not measured: " + m.failed.get("worker", "nothing timed"))
    for variant in (JIT_IPEX, COMPILE):
        if variant in m.failed:
            return LeaveVerdict("no" if variant == COMPILE else "n/a", f"{variant} failed: {m.failed[variant]}")
    answers = m.answers.get(COMPILE)
    if answers is None or not answers.same:
        return LeaveVerdict("no", "compile's answers differ: " + (answers.why_not() if answers else "not checked"))
    est = speedup(m, COMPILE, JIT_IPEX, across_hosts=across_hosts)
    if est is None:
        return LeaveVerdict("n/a", "compile and jit_ipex were not both timed")
    # est > 1: compile faster. compile's time / jit_ipex's time = 1 / est.
    worst, best = 1.0 / est.low, 1.0 / est.high
    span = f"compile/jit_ipex time {1 / est.point:.3f} [{best:.3f}, {worst:.3f}]"
    if worst <= 1.0 + within:
        return LeaveVerdict("yes", f"same answers; {span}, within {within:.0%}")
    if best > 1.0 + within:
        return LeaveVerdict("no", f"{span}: more than {within:.0%} slower")
    return LeaveVerdict("undecided", f"{span}: the interval straddles {within:.0%}; measure longer")


@dataclass(frozen=True)
class Share:
    dtype: str
    counted: int  # models whose fusion benefit counts on this host (same-process intervals)
    measured: int  # models where both jit and jit_ipex were timed
    skipped: int  # models where the dtype could not run (the reason is in the rows)
    failed: int = 0  # models where a build, proof or the worker failed: named in the rows
    counted_across_hosts: int = 0  # ... and still counts with the between-host spread

    @property
    def fraction(self) -> float | None:
        return self.counted / self.measured if self.measured else None

    def sentence(self, machine_class: str) -> str:
        if not self.measured:
            return f"{machine_class}, {self.dtype.upper()}: not measured ({self.skipped} model(s) skipped)"
        frac = self.fraction
        assert frac is not None
        side = "at or above" if frac >= GUIDE_SHARE else "below"
        failed = f"; {self.failed} model(s) FAILED and are not counted" if self.failed else ""
        return (f"{machine_class}, {self.dtype.upper()}: fusion benefit >= {BENEFIT:.0%} in {self.counted} of "
                f"{self.measured} models ({frac:.0%}), {side} the guide's about {GUIDE_SHARE:.0%} "
                f"({self.counted_across_hosts} of {self.measured} when judged with the between-host spread){failed}")


def headline_rows(rows: Sequence[ClaimMeasurement], dtype: str) -> list[ClaimMeasurement]:
    """One row per model at the headline sequence length (QA's 384 rows are extra evidence)."""
    return [m for m in rows if m.dtype == dtype and m.shape.endswith(f"s{HEADLINE_SEQ}")]


def fusion_share(rows: Sequence[ClaimMeasurement], dtype: str) -> Share:
    counted = measured = skipped = failed = wide = 0
    for m in headline_rows(rows, dtype):
        est = speedup(m, JIT_IPEX, JIT)
        if est is None:
            if m.failed:
                failed += 1
            else:
                skipped += 1
            continue
        measured += 1
        counted += benefit_counts(est)
        wide += benefit_counts(speedup(m, JIT_IPEX, JIT, across_hosts=True))
    return Share(dtype, counted, measured, skipped, failed, wide)
