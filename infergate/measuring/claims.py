"""The seed guide's claim measured (``infergate claims``) and the evidence to leave IPEX: speedups
across worker processes (t, df = processes - 1; a BF16 row's two workers paired round by round in
lockstep), fusions fired, and whether ``compile`` can replace ``jit_ipex``. Method: docs/claims.md."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import NamedTuple

from ..building.variants import COMPILE, JIT, JIT_IPEX, REFERENCE
from ..core.defaults import DEFAULT_CONFIDENCE
from .claims_measure import Answers, ClaimMeasurement, timings
from .reference_runs import worker_partners
from .run_spread import student_t_quantile
from .stats import bootstrap_ratio_ci, speedup_ratio

GUIDE_SHARE = 0.70  # the guide's "about 70 %"
BENEFIT = 0.05  # a fusion benefit counts when significant and at least this large
LEAVE_WITHIN = 0.05  # compile may be this much slower than jit_ipex and still replace it
CONFIDENCE = DEFAULT_CONFIDENCE
HEADLINE_SEQ = 128  # the share is counted over the models at this sequence length, one row each
MIN_SESSIONS = 2  # baseline sessions needed to say anything about another host

# (name, faster, slower): the speedup slower's time / faster's time, > 1 when ``faster`` is faster.
SPEEDUPS: tuple[tuple[str, str, str], ...] = (
    ("jit_vs_eager", JIT, REFERENCE),
    ("fusion_benefit", JIT_IPEX, JIT),
    ("ipex_vs_eager", JIT_IPEX, REFERENCE),
    ("compile_vs_eager", COMPILE, REFERENCE),
    ("compile_vs_ipex", COMPILE, JIT_IPEX),
)


class Speedup(NamedTuple):
    """``point`` [``low``, ``high``] times faster; ``se`` of its log; ``processes`` (1: a version 1 row)."""

    point: float
    low: float
    high: float
    processes: int
    se: float


# A figure printed to two decimals that rounds onto the threshold its verdict compares it with reads
# as on the wrong side of it (a benefit's lower bound of 1.003 as "1.00" beside "≥5 %", a bound of
# 0.954 as "0.95" beside "straddles 0.952"), so it gets the decimals that tell the two apart.
@dataclass(frozen=True)
class Marks:
    """The thresholds a verdict compares a speedup's point and bounds with."""

    point: tuple[float, ...] = ()
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()


NO_MARKS = Marks()  # a figure no verdict reads: two decimals
BENEFIT_MARKS = Marks(point=(1.0 + BENEFIT,), low=(1.0,))  # a fusion benefit: above 1, its point >= 1.05
LEAVE = 1.0 / (1.0 + LEAVE_WITHIN)
LEAVE_MARKS = Marks(low=(LEAVE,), high=(LEAVE,))  # compile over jit_ipex: yes above 0.952, no below


def shown(value: float, marks: Sequence[float] = ()) -> str:
    """A speedup to two decimals, or as many more (up to five) as set it apart from ``marks``."""
    if math.isinf(value):
        return "∞"
    places = 2
    while places < 5 and value not in marks and any(round(value, places) == round(t, places) for t in marks):
        places += 1
    return f"{value:.{places}f}"


def shown_span(est: Speedup, marks: Marks = NO_MARKS) -> str:
    """``point× [low, high]``, each figure ``shown`` against the thresholds its verdict uses."""
    return f"{shown(est.point, marks.point)}× [{shown(est.low, marks.low)}, {shown(est.high, marks.high)}]"


@dataclass(frozen=True)
class HostSpread:
    """Between-session sd of a ratio's log, measured in the committed baselines."""

    sd: float
    sessions: int
    cases: int
    df: int | None = None  # what the sd rests on: min(sessions - 1, the scattering cases' df); None: sessions - 1
    # Cases whose estimate fell below what their sessions resolve (a session mean's own noise from
    # its runs), so ``sd`` holds that resolution for them: an upper figure, not a measurement.
    floored: int = 0
    process_var: float = 0.0  # pooled variance of the ratio's log between runs (processes) of a session

    @property
    def resolved(self) -> bool:
        return self.floored < self.cases

    @property
    def dof(self) -> int:
        return self.df if self.df is not None else self.sessions - 1


def two_sided_t(confidence: float, df: int) -> float:
    return student_t_quantile(0.5 + confidence / 2.0, df)


def per_process_logs(m: ClaimMeasurement, faster: str, slower: str) -> list[float]:
    """log(slower's time / faster's time) per process: the median of the per-round ratios when the
    two ran in one worker, or in two workers timed in lockstep (claims.json version 3: round r of
    each is the same moment); the ratio of the two workers' medians when they ran one after the
    other (version 2). Processes lacking either side are left out (``speedup`` refuses such a row);
    a lockstep pair whose round counts differ raises ValueError naming the row."""
    by_process = defaultdict(list)
    for trial in m.trials:
        by_process[trial.process].append(trial)
    logs = []
    for process in sorted(by_process):
        group = by_process[process]
        a = next((t for t in group if slower in t.timing.times_ns), None)
        b = next((t for t in group if faster in t.timing.times_ns), None)
        if a is None or b is None:
            continue
        x, y = a.timing.times_ns[slower], b.timing.times_ns[faster]
        if a is not b and (a.lockstep or b.lockstep) and not (a.lockstep and b.lockstep and len(x) == len(y)):
            raise ValueError(f"{m.model_id} {m.shape} {m.dtype}, process {process}: {slower} ({a.group}, "
                             f"{len(x)} rounds, lockstep {a.lockstep}) and {faster} ({b.group}, {len(y)} rounds, "
                             f"lockstep {b.lockstep}) are not one lockstep pair")
        if a is b or a.lockstep:
            logs.append(math.log(speedup_ratio(x, y)))
        else:
            logs.append(math.log(statistics.median(x) / statistics.median(y)))
    return logs


def _timed_in(m: ClaimMeasurement, faster: str, slower: str) -> tuple[int, int]:
    """(processes that timed both, processes that timed either) of a row's trials."""
    both: dict[int, set[str]] = defaultdict(set)
    for t in m.trials:
        both[t.process] |= {faster, slower} & set(t.timing.times_ns)
    return sum(len(v) == 2 for v in both.values()), sum(bool(v) for v in both.values())


def across_processes(logs: Sequence[float], confidence: float = CONFIDENCE) -> Speedup:
    """Geometric mean of per-process speedups, t interval with df = processes - 1."""
    n = len(logs)
    mean = sum(logs) / n
    if n < 2:  # one process says nothing about the next one
        return Speedup(math.exp(mean), 0.0, math.inf, n, math.inf)
    se = statistics.stdev(logs) / math.sqrt(n)
    if se == 0.0:  # identical processes are copies, not a zero spread: no bounds, as for one process
        return Speedup(math.exp(mean), 0.0, math.inf, n, math.inf)
    half = two_sided_t(confidence, n - 1) * se
    return Speedup(math.exp(mean), math.exp(mean - half), math.exp(mean + half), n, se)


def speedup(m: ClaimMeasurement, faster: str, slower: str, confidence: float = CONFIDENCE,
            hosts: HostSpread | None = None) -> Speedup | None:
    """How many times faster ``faster`` ran than ``slower``, with its interval; None when either failed
    in any process or was not timed in every process that timed the other, or the row's worker was
    flagged (the row's ``failed`` names why).
    With ``hosts``: a prediction for another host of the class (never narrower than this host's)."""
    if {faster, slower, "worker"} & set(m.failed):
        # A variant that failed in any process, even where its partner failed too (that process then
        # timed neither and would drop out of the count), or a worker that was not what it claimed:
        # no interval rests on fewer replicates than were run, or on a worker's wrong kernels.
        return None
    if m.trials:
        both, either = _timed_in(m, faster, slower)
        if both < either:  # a replicate lost one side (its build failed there): no interval on fewer
            return None
        logs = per_process_logs(m, faster, slower)
        if not logs:
            return None
        est = across_processes(logs, confidence)
    else:
        t = m.timing
        if t is None or faster not in t.times_ns or slower not in t.times_ns:
            return None
        a, b = t.times_ns[slower], t.times_ns[faster]
        low, high = bootstrap_ratio_ci(a, b, confidence=confidence)
        point = speedup_ratio(a, b)
        half = max(math.log(high / point), math.log(point / low))
        est = Speedup(point, low, high, 1, half / NormalDist().inv_cdf(0.5 + confidence / 2))
    if hosts is None:
        return est
    # A version 1 row is one process: its bootstrap misses the spread between processes, which the
    # baselines' runs (one process each) measure, so a prediction for another host adds it.
    se = math.sqrt(est.se ** 2 + (0.0 if m.trials else hosts.process_var) + 2.0 * hosts.sd ** 2)
    process_df = est.processes - 1 if m.trials else math.inf  # a version 1 row: a bootstrap, df unknown
    half = two_sided_t(confidence, max(1, int(min(process_df, hosts.dof)))) * se  # 1 process: se is inf
    return Speedup(est.point, est.point * math.exp(-half), est.point * math.exp(half), est.processes, se)


def _session_logs(runs, over=None) -> dict[str, list[float]]:
    """Per session, each run's log speedup; with ``over`` (another form's runs), over that form's
    run from the same worker process (``reference_runs.worker_partners``). A run with no such
    partner (another recording's worker, or two partners) is no ratio and is left out: pairing by
    list position paired different processes and recordings where a form's runs were kept from
    another recording than its partner's."""
    out: dict[str, list[float]] = defaultdict(list)
    if over is None:
        for r in runs:
            out[r.session].append(math.log(r.speedup))
        return out
    for r, found in worker_partners(runs, over):
        if len(found) == 1:
            out[r.session].append(math.log(r.speedup / found[0].speedup))
    return out


def _aligned(baselines_dir: Path, machine_class: str, lane: str, faster: str, slower: str,
             dtype: str) -> list[dict[str, list[float]]]:
    """Per case and session of ``baselines_dir/<class>/<lane>.json``, the run-aligned log ratio of
    ``faster`` over ``slower``."""
    from .baselines import baseline_path, load_or_none

    base = load_or_none(baseline_path(baselines_dir, machine_class, lane))
    if base is None:
        return []
    cases: dict[str, dict] = defaultdict(dict)
    for case_id, case in base.cases.items():
        prefix, variant, case_dtype = case_id.rsplit("-", 2)
        if case_dtype == dtype:
            cases[prefix][variant] = case
    out = []
    for variants in cases.values():
        if faster not in variants or (slower != REFERENCE and slower not in variants):
            continue
        sessions = _session_logs(variants[faster].runs,
                                 variants[slower].runs if slower != REFERENCE else None)
        out.append({k: v for k, v in sessions.items() if v})
    return out


def _run_spreads(sessions: dict[str, list[float]]) -> list[tuple[float, int]]:
    """Per session with two runs or more: the variance of its runs (processes) and its df."""
    return [(statistics.variance(v), len(v) - 1) for v in sessions.values() if len(v) > 1]


def process_sd(baselines_dir: Path, machine_class: str, lane: str, faster: str, slower: str,
               dtype: str) -> tuple[float, int] | None:
    """(sd, df) of the ratio's log between processes of one session, pooled; None without two runs of a session."""
    spreads = [x for sessions in _aligned(baselines_dir, machine_class, lane, faster, slower, dtype)
               for x in _run_spreads(sessions)]
    df = sum(d for _, d in spreads)
    return (math.sqrt(sum(var * d for var, d in spreads) / df), df) if df else None


def host_spread(baselines_dir: Path, machine_class: str, lane: str, faster: str, slower: str,
                dtype: str) -> HostSpread | None:
    """The ratio's between-session sd from the baselines, pooled over cases; None below ``MIN_SESSIONS``."""
    between, weight, seen, used, floored = 0.0, 0, set(), 0, 0
    within_ss, within_df = 0.0, 0
    for sessions in _aligned(baselines_dir, machine_class, lane, faster, slower, dtype):
        if len(sessions) < MIN_SESSIONS:
            continue
        means = [sum(v) / len(v) for v in sessions.values()]
        spreads = _run_spreads(sessions)
        within = [var for var, _ in spreads]
        within_ss += sum(var * d for var, d in spreads)
        within_df += sum(d for _, d in spreads)
        mean_inv_n = sum(1 / len(v) for v in sessions.values()) / len(sessions)
        # What the session means scatter by from their runs alone: an estimate below it is not a
        # measured zero (with 2 sessions it falls there about half the time when the true spread is
        # that size), so it is taken at that resolution, an upper figure the report names as such.
        resolution = (statistics.mean(within) if within else 0.0) * mean_inv_n
        var = statistics.variance(means) - resolution
        floored += var < resolution
        between += max(resolution, var) * (len(sessions) - 1)
        weight += len(sessions) - 1
        seen |= set(sessions)
        used += 1
    if not used:
        return None
    # One host's effect is shared by every case measured on it, as in session_gate.components.
    return HostSpread(math.sqrt(between / weight), len(seen), used, min(weight, len(seen) - 1), floored,
                      within_ss / within_df if within_df else 0.0)


def benefit_counts(est: Speedup | None, at_least: float = BENEFIT) -> bool:
    """Significant (interval above 1) and at least ``at_least`` faster at the point estimate."""
    return est is not None and est.low > 1.0 and est.point >= 1.0 + at_least


NOT_ASSESSABLE = "not assessable yet"


@dataclass(frozen=True)
class LeaveVerdict:
    answer: str  # "yes", "no", "undecided", "n/a", NOT_ASSESSABLE
    why: str


def can_leave_ipex(m: ClaimMeasurement, within: float = LEAVE_WITHIN, across_hosts: bool = False,
                   hosts: HostSpread | None = None) -> LeaveVerdict:
    """Can ``compile`` replace ``jit_ipex``: the same answers as eager FP32 and at most ``within``
    slower on the interval (``across_hosts``: the one widened by ``hosts``; without it, not assessable)."""
    for variant in (JIT_IPEX, COMPILE):  # a row that cannot run here is n/a, not undecided
        if variant in m.skipped:
            return LeaveVerdict("n/a", f"{variant} skipped")
    if "worker" in m.failed or not timings(m):
        return LeaveVerdict("undecided", "the row was not measured: " + m.failed.get("worker", "nothing timed"))
    for variant in (JIT_IPEX, COMPILE):
        if variant in m.failed:
            return LeaveVerdict("no" if variant == COMPILE else "n/a", f"{variant} failed")
    answers, ipex_answers = m.answers.get(COMPILE), m.answers.get(JIT_IPEX)
    caveat = ""
    if answers is None or not answers.same:
        if answers is None or not _as_close_as(m, answers, ipex_answers):
            return LeaveVerdict("no", "compile's answers differ: " + (answers.why_not() if answers else "not checked"))
        # jit_ipex misses eager FP32's tolerance too (BF16 numerics): the table cannot tell the two
        # apart when compile is no further off than what is served already; speed decides, and says so.
        caveat = (f"; neither meets eager FP32's tolerance (compile off by {answers.max_abs:.2g}, jit_ipex by "
                  f"{ipex_answers.max_abs:.2g}; answers agree {answers.agreed}/{answers.total} and "
                  f"{ipex_answers.agreed}/{ipex_answers.total})" if ipex_answers else "")
    if across_hosts and hosts is None:
        return LeaveVerdict(NOT_ASSESSABLE, f"fewer than {MIN_SESSIONS} baseline sessions of this class and lane"
                            + caveat)
    est = speedup(m, COMPILE, JIT_IPEX, hosts=hosts if across_hosts else None)
    if est is None:
        return LeaveVerdict("n/a", "compile and jit_ipex were not both timed")
    need = 1.0 / (1.0 + within)  # at most ``within`` slower, as a speed
    span = shown_span(est, LEAVE_MARKS)
    if est.low >= need:
        return LeaveVerdict("yes", span + caveat)
    if est.high < need:
        return LeaveVerdict("no", f"{span}: slower{caveat}")
    return LeaveVerdict("undecided", f"{span}: straddles {need:.3f}{caveat}")


def _as_close_as(m: ClaimMeasurement, answers: Answers, ipex: Answers | None) -> bool:
    """compile misses the tolerance, but so does the jit_ipex it would replace; its outputs are no
    further from FP32 than a BF16 form already served (jit_ipex or eager BF16), and its own task
    answers pass their agreement check."""
    if ipex is None or ipex.within_tolerance or answers.within_tolerance:
        return False
    eager = m.answers.get(REFERENCE)
    return answers.agrees and answers.max_abs <= max(ipex.max_abs, eager.max_abs if eager else 0.0)


# On a quiet machine one call's time scatters by an IQR of ~22 % of its median (stats.speedup_ratio,
# from the calibration data); more than twice that in a row's rounds is a machine that changed
# speed while it was timed, which the in-run samples can miss (a neighbour between two samples).
MAX_ROUND_SCATTER = 0.5


def disturbed(m: ClaimMeasurement) -> tuple[str, ...]:
    """Did something compete with the row: the in-run samples, or round times scattering beyond
    ``MAX_ROUND_SCATTER``."""
    reasons = [r for t in timings(m) for r in t.noise.reasons()]
    for t in timings(m):
        scatter = {}
        for v, times in t.times_ns.items():
            if len(times) > 1:
                q1, median, q3 = statistics.quantiles(times, n=4)
                if median > 0 and (q3 - q1) / median > MAX_ROUND_SCATTER:
                    scatter[v] = (q3 - q1) / median
        if scatter:
            reasons.append(f"times scattered by an IQR over {MAX_ROUND_SCATTER:.0%} of their median: "
                           + ", ".join(f"{v} {x:.0%}" for v, x in sorted(scatter.items())))
    return tuple(dict.fromkeys(reasons))


def wilson(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a share of k in n."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Share:
    dtype: str
    counted: int  # models whose fusion benefit counts in this session (across-process intervals)
    measured: int  # models where both jit and jit_ipex were timed
    skipped: int  # models where the dtype could not run (the reason is in the rows)
    failed: int = 0  # models where a build, proof or the worker failed: named in the rows
    counted_across_hosts: int | None = None  # with the between-session spread; None: not assessable
    one_process: int = 0  # of the measured, rows with one process's interval (version 1)
    counted_disturbed: int = 0  # of the counted, rows measured while the machine was disturbed (⚠)

    @property
    def fraction(self) -> float | None:
        return self.counted / self.measured if self.measured else None

    def disturbed_note(self) -> str:
        """How many counted rows were disturbed (a row's ⚠ sits in the tables, far from the count
        people quote); empty when none was."""
        if not self.counted_disturbed:
            return ""
        return f"; {self.counted_disturbed} of the {self.counted} counted measured while disturbed (⚠)"

    def sentence(self, machine_class: str) -> str:
        if not self.measured:
            failed = f"; {self.failed} model(s) FAILED" if self.failed else ""
            return f"{machine_class}, {self.dtype.upper()}: not measured ({self.skipped} model(s) skipped{failed})"
        frac = self.fraction
        assert frac is not None
        low, high = wilson(self.counted, self.measured)
        side = "at or above" if frac >= GUIDE_SHARE else "below"
        hosts = (NOT_ASSESSABLE if self.counted_across_hosts is None
                 else f"{self.counted_across_hosts} of {self.measured}")
        failed = f"; {self.failed} model(s) FAILED and are not counted" if self.failed else ""
        one = "; one-process intervals" if self.one_process else ""
        return (f"{machine_class}, {self.dtype.upper()}: fusion benefit >= {BENEFIT:.0%} in {self.counted} of "
                f"{self.measured} models ({frac:.0%}), {side} the guide's about {GUIDE_SHARE:.0%} "
                f"({CONFIDENCE:.0%} Wilson interval of the share {low:.0%}-{high:.0%}; across hosts: {hosts}"
                f"{one}){failed}{self.disturbed_note()}")


def headline_rows(rows: Sequence[ClaimMeasurement], dtype: str) -> list[ClaimMeasurement]:
    """One row per model, so the share counts models: its batch-1 row at the headline sequence length
    (QA's 384 rows are extra evidence), else its first at that length, else (a configured model
    measured at other shapes only) its first row."""
    def rank(m: ClaimMeasurement) -> int:
        return 0 if m.shape == f"b1s{HEADLINE_SEQ}" else 1 if m.shape.endswith(f"s{HEADLINE_SEQ}") else 2

    best: dict[str, ClaimMeasurement] = {}
    for m in rows:
        if m.dtype == dtype and (m.model_id not in best or rank(m) < rank(best[m.model_id])):
            best[m.model_id] = m
    return list(best.values())


def fusion_share(rows: Sequence[ClaimMeasurement], dtype: str, hosts: HostSpread | None = None) -> Share:
    counted = measured = skipped = failed = wide = one = flagged = 0
    for m in headline_rows(rows, dtype):
        est = speedup(m, JIT_IPEX, JIT)
        if est is None:
            if m.failed:
                failed += 1
            else:
                skipped += 1
            continue
        measured += 1
        one += est.processes == 1
        counts = benefit_counts(est)
        counted += counts
        flagged += counts and bool(disturbed(m))
        if hosts is not None:
            wide += benefit_counts(speedup(m, JIT_IPEX, JIT, hosts=hosts))
    return Share(dtype, counted, measured, skipped, failed, wide if hosts is not None else None, one, flagged)
