"""The perf run's results: each case's verdict from the gate, the terminal table and the JSON.

Plain functions of plain data, so the gate is tested without pytest or torch (tests/test_gate.py).
Per case (speedup = eager / variant in the same run, never absolute times): today's runs are judged
as a new session against the baseline's sessions (``session_gate``); a case the lenient screen
flags, or one measured while the machine was busy, is re-measured in fresh processes within the
run's budget and decided on all its clean runs at the *family* confidence (Bonferroni over the
gated cases). Outcomes: pass, unverified, improvement, regression, inconclusive (every run
disturbed, a set-up mismatch, a stale recipe), no-baseline and reference.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final, Literal

from ..building.variants import REFERENCE
from ..core.defaults import DEFAULT_CONFIDENCE, DEFAULT_CONFIRM_RUNS, DEFAULT_REPEAT, RECORD_RUNS
from ..measuring.baseline_records import BaselineFile, CaseBaseline, RunRecord
from ..measuring.session_gate import (
    Components,
    Judgement,
    components,
    minimum_detectable_drop,
    predictive_se,
    prior_for,
)
from ..measuring.session_gate import judge as judge_session
from ..measuring.stats import (
    ESTIMATOR,
    Estimate,
    Samples,
    runs_speedup_estimate,
)
from .results_json import bench_stats, results_doc

# The confidence recorded in baselines: one fixed level, so files from different runs (with
# different numbers of cases, hence different family confidences) are always comparable.
RECORD_CONFIDENCE = DEFAULT_CONFIDENCE
# Screening only decides which cases get re-measured (the verdict is taken at the family
# confidence on all runs), so it is lenient.
SCREEN_CONFIDENCE = 0.98


def runs_per_model(repeat: int | None, recording: bool) -> int:
    """--ig-repeat when given; otherwise RECORD_RUNS when recording baselines, DEFAULT_REPEAT when
    gating. The same rule for ``pytest perf`` and ``python -m infergate run``."""
    if repeat is not None:
        return repeat
    return RECORD_RUNS if recording else DEFAULT_REPEAT


# Over this relative width (high - low) / point, one run's own interval says the run was disturbed.
MAX_RUN_CI_WIDTH = 0.10

Verdict = Literal["reference", "no-baseline", "pass", "unverified", "improvement", "regression", "inconclusive"]
FAILING: frozenset[str] = frozenset({"regression"})
INCONCLUSIVE: Final = "inconclusive"
UNVERIFIED: Final = "unverified"
# Verdicts that judged the case against a baseline (the rest measured it only).
JUDGED: frozenset[str] = frozenset({"pass", "unverified", "improvement", "regression"})
# Run speedups with the reasons each run is not to be trusted (empty: a clean run).
RunNoise = tuple[str, ...]


@dataclass
class CaseResult:
    case_id: str
    model_id: str
    variant: str
    dtype: str
    lane: str
    threads: int
    rounds: int
    median_ms: float
    eager_median_ms: float
    speedup: float
    ci: tuple[float, float]  # at ``confidence``
    confidence: float
    verdict: Verdict
    message: str
    baseline: float | None = None
    baseline_ci: tuple[float, float] | None = None  # lowest and highest baseline run
    runs: int = 1
    baseline_runs: int = 0
    floor: float | None = None
    noise: tuple[str, ...] = ()
    measure_s: float = 0.0
    times_s: list[float] = field(default_factory=list, repr=False)  # the variant's raw samples
    run_speedups: list[float] = field(default_factory=list)  # the first runs' own speedups
    run_records: list[dict[str, Any]] = field(default_factory=list, repr=False)  # as a baseline stores them
    mdd: float | None = None  # minimum detectable drop at the run's family confidence
    floor_source: str | None = None  # "floor" (--ig-floor) or "mdd" (the data could see no less)
    spread: str | None = None  # the variance components the verdict was judged with
    estimator: str = ESTIMATOR
    # sampling.Cost of the variant in the first run's worker (build_s, first_call_s, peak_rise_mib,
    # held_mib); None when not built there
    cost: dict[str, float] | None = None
    proof: str | None = None  # what the variant's build proved of itself (variants.Built.proof), first run
    recipe: int = 1  # variants.Variant.recipe of what was measured; `baselines add` records it

    @property
    def failed(self) -> bool:
        return self.verdict in FAILING


def run_speedups(runs: Sequence[Samples], variant: str, estimator: str = ESTIMATOR) -> list[float]:
    return [r.speedup(variant, estimator=estimator) for r in runs]


SpreadKey = tuple[str, str]  # (variant, estimator)


def spreads(baseline: BaselineFile | None) -> dict[SpreadKey, Components]:
    """The two variance components per variant and estimator, pooled over the file's cases of that
    variant recorded with that estimator: compile and TorchScript need not scatter alike, and a
    ratio of medians scatters more than a median of round ratios."""
    groups: dict[SpreadKey, list[CaseBaseline]] = {}
    for case in (baseline.cases.values() if baseline else ()):
        groups.setdefault((case.variant, case.estimator), []).append(case)
    out = {}
    for (variant, estimator), cases in groups.items():
        sessions = {r.session for c in cases for r in c.runs}
        out[(variant, estimator)] = components([list(c.by_session().values()) for c in cases], len(sessions),
                                               prior_for(variant))
    return out


def run_noise(samples: Samples, variant: str, in_run: Sequence[str]) -> RunNoise:
    """Why one run of a case is not to be trusted: what the worker saw while measuring, and its own
    interval when that is over-wide (the rounds disagreed with each other)."""
    reasons = list(in_run)
    est = samples.speedup_estimate(variant, confidence=RECORD_CONFIDENCE)
    width = (est.high - est.low) / est.point if est.point > 0 else float("inf")
    if not width <= MAX_RUN_CI_WIDTH:
        reasons.append(f"its speedup interval is {width:.1%} of the estimate, over {MAX_RUN_CI_WIDTH:.0%}")
    return tuple(reasons)


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    message: str
    judgement: Judgement | None = None
    speedups: tuple[float, ...] = ()  # every run's speedup, re-measures included


def staged_verdict(
    measured: Sequence[tuple[float, RunNoise]],
    baseline_sessions: Sequence[Sequence[float]],
    comp: Components,
    floor: float,
    confidence: float,
    remeasure: Callable[[], Sequence[tuple[float, RunNoise]]] | None,
    more_runs: int = DEFAULT_CONFIRM_RUNS,
) -> Decision:
    """Screen, re-measure if flagged, decide on all clean runs at ``confidence`` (see the module doc).

    An unverified case is re-measured only when ``more_runs`` more runs could make the floor
    visible: where the between-session part dominates, more runs today cannot.
    Plain speedups in and out, so the calibration harness judges its trials with this very code.
    """
    runs = list(measured)
    clean = [s for s, noise in runs if not noise]
    screen = judge_session(clean, baseline_sessions, comp, floor, min(SCREEN_CONFIDENCE, confidence)) if clean else None
    flagged = screen is None or len(clean) < len(runs) or screen.status == "regression" or (
        screen.status == UNVERIFIED and _could_verify(len(clean) + more_runs, baseline_sessions, comp, floor,
                                                      confidence))
    how = ""
    if flagged and remeasure is not None:
        more = list(remeasure())
        runs += more
        clean = [s for s, noise in runs if not noise]
        how = f"after {len(more)} re-measure(s): "
    speedups = tuple(s for s, _ in runs)
    if not clean:
        reasons = sorted({r for _, noise in runs for r in noise})
        return Decision(INCONCLUSIVE, f"{how}no run was measured on a quiet machine: " + "; ".join(reasons),
                        None, speedups)
    final = judge_session(clean, baseline_sessions, comp, floor, confidence)
    dropped = len(runs) - len(clean)
    extra = f" ({dropped} disturbed run(s) left out)" if dropped else ""
    prefix = {"regression": "regression", "improvement": "improvement (update the baseline)",
              "pass": "pass", UNVERIFIED: "unverified (no significant drop; the floor was not ruled out)",
              INCONCLUSIVE: "could not decide"}[final.status]
    return Decision(final.status, f"{how}{prefix}: {final.message}{extra}; {comp.describe()}", final, speedups)


def _could_verify(runs: int, baseline_sessions: Sequence[Sequence[float]], comp: Components, floor: float,
                  confidence: float) -> bool:
    sessions = [s for s in baseline_sessions if s]
    n_h = len(sessions) / sum(1.0 / len(s) for s in sessions)
    se, df = predictive_se(comp, runs, len(sessions), n_h)
    return minimum_detectable_drop(se, df, confidence) <= floor


def judge(
    runs: Sequence[Samples],
    variant: str,
    baseline: CaseBaseline | None,
    comp: Components | None,
    floor: float,
    confidence: float,
    in_run_noise: Sequence[Sequence[str]] = (),
    remeasure: Callable[[], Sequence[tuple[Samples, Sequence[str]]]] | None = None,
    confirm_runs: int = DEFAULT_CONFIRM_RUNS,
) -> tuple[Verdict, str, Estimate, Decision | None]:
    """One case's verdict from its runs. Returns (verdict, message, speedup estimate, decision).

    ``in_run_noise[i]``: what run i's worker saw while measuring; ``remeasure`` gives fresh runs of
    the case with theirs, and is called only when the screen flags the case.
    """
    if variant == REFERENCE:
        est = Estimate(1.0, 1.0, 1.0)
        return "reference", "eager is the reference every speedup is taken against", est, None
    est = runs_speedup_estimate(runs, variant, confidence=confidence)
    if baseline is None:
        return "no-baseline", "no baseline recorded for this case: measured, not gated", est, None
    if comp is None or comp.within_df < 1:
        return (INCONCLUSIVE, f"not gated: the baselines of {variant} hold no case with two runs in one "
                              "session, so the between-run spread is unknown; record them with several runs "
                              "(--ig-repeat 5)", est, None)
    floor = baseline.floor if baseline.floor is not None else floor
    # Today's runs are taken the way the baseline's were (older files hold ratios of medians).
    how = baseline.estimator
    noise = list(in_run_noise) or [()] * len(runs)

    def taken(samples: Samples, reasons: Sequence[str]) -> tuple[float, RunNoise]:
        return samples.speedup(variant, estimator=how), run_noise(samples, variant, reasons)

    more = None if remeasure is None else (lambda: [taken(s, n) for s, n in remeasure()])
    first = [taken(s, n) for s, n in zip(runs, noise, strict=True)]
    decision = staged_verdict(first, list(baseline.by_session().values()), comp, floor, confidence, more,
                              confirm_runs)
    message = decision.message
    if how != ESTIMATOR:
        message += f" (judged as {how}, as the baseline was recorded; re-record it to gate on {ESTIMATOR})"
    return decision.verdict, message, est, decision


def run_record(variant: str, samples: Samples, session: str, recorded: str | None = None) -> RunRecord:
    """One run as a baseline stores it, at RECORD_CONFIDENCE."""
    now = recorded or datetime.now(timezone.utc).isoformat(timespec="seconds")
    est = samples.speedup_estimate(variant, confidence=RECORD_CONFIDENCE)
    return RunRecord(speedup=est.point, ci=(est.low, est.high), rounds=samples.rounds,
                     median_ms={REFERENCE: samples.median(REFERENCE), variant: samples.median(variant)},
                     recorded=now, session=session)


def to_case_baseline(variant: str, runs: Sequence[Samples] | Sequence[RunRecord], environment: Mapping[str, Any],
                     previous: CaseBaseline | None, session: str) -> CaseBaseline:
    """What ``--ig-update-baselines`` records: every run of this session, each at RECORD_CONFIDENCE,
    to be appended to the case's earlier sessions (``baselines.update``). A per-case floor and
    fusion counts someone set in the file are kept: re-recording must not silently drop them."""
    records = tuple(r if isinstance(r, RunRecord) else run_record(variant, r, session) for r in runs)
    return CaseBaseline(
        runs=records,
        confidence=RECORD_CONFIDENCE,
        environment=dict(environment),
        floor=previous.floor if previous is not None else None,
        fusions=previous.fusions if previous is not None else None,
        estimator=ESTIMATOR,
    )


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def _ci_text(ci: tuple[float, float] | None) -> str:
    return "-" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


LOUD: frozenset[str] = frozenset({"regression", INCONCLUSIVE})


def format_table(results: Sequence[CaseResult]) -> list[str]:
    header = ("case", "ms", "speedup", "CI", "baseline xruns [low, high]", "sees", "verdict")
    rows = [
        (
            r.case_id,
            f"{r.median_ms:.2f}",
            f"{r.speedup:.3f}",
            "-" if r.variant == REFERENCE else _ci_text(r.ci),
            "-" if r.baseline is None else f"{r.baseline:.3f} x{r.baseline_runs} {_ci_text(r.baseline_ci)}",
            "-" if r.mdd is None else f"{r.mdd:.1%}" + ("*" if r.floor_source == "mdd" else ""),
            r.verdict.upper() if r.verdict in LOUD else r.verdict,
        )
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return lines


def legend(floor: float, confidence: float) -> list[str]:
    """What every column of ``format_table`` means, printed under it."""
    return [
        "legend: ms = the variant's median call time in this run (information only: never compared across runs);",
        "  speedup = median over shuffled rounds of eager / variant, runs pooled; CI = its interval at the family "
        f"confidence {confidence:.4g};",
        "  baseline = geometric mean of the recorded runs, xN = recorded runs (all sessions), [low, high] = the "
        "lowest and highest recorded run;",
        "  sees = the smallest drop this case catches in 95 % of sessions (minimum detectable drop); * = larger "
        f"than the {floor:.0%} floor, so the floor cannot be ruled out;",
        f"  verdicts: pass = a {floor:.0%} drop ruled out; unverified = no significant drop, floor not ruled out; "
        "REGRESSION = significantly slower;",
        "  INCONCLUSIVE = not judged (every run disturbed, set-up mismatch, stale recipe); no-baseline = measured, "
        "not gated; reference = eager itself.",
        "  Gated: the speedup against the baseline. Not gated: ms, cost, and cases without a baseline.",
    ]


def outcome_counts(results: Sequence[CaseResult]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in results:
        if r.verdict != "reference":
            counts[r.verdict] = counts.get(r.verdict, 0) + 1
    return counts


def cost_table(results: Sequence[CaseResult]) -> list[str]:
    """What each variant cost to build and hold, per measured model (first run's worker)."""
    header = ("model", "dtype", "variant", "build s", "first call ms", "peak rise MiB", "held MiB")
    rows, seen = [], set()
    for r in results:
        key = (r.model_id, r.dtype, r.variant)
        if r.cost is None or key in seen:
            continue
        seen.add(key)
        c = r.cost
        rows.append((r.model_id, r.dtype, r.variant, f"{c['build_s']:.1f}", f"{c['first_call_s'] * 1e3:.0f}",
                     f"{c['peak_rise_mib']:.0f}", f"{c['held_mib']:.0f}"))
    if not rows:
        return []
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = ["cost per variant (built in the order eager, jit, jit_ipex, compile: memory a later build "
             "reuses from an earlier one is not counted again)",
             "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return lines


def results_json(results: Sequence[CaseResult], machine_info: Mapping[str, Any]) -> dict[str, Any]:
    """The pytest-benchmark JSON layout (results_json), with our fields in each benchmark's extra_info."""
    benchmarks = []
    for r in results:
        extra = {k: v for k, v in asdict(r).items() if k not in ("times_s",)}
        extra["ci"] = list(r.ci)
        extra["baseline_ci"] = list(r.baseline_ci) if r.baseline_ci else None
        extra["noise"] = list(r.noise)
        benchmarks.append({
            "group": r.model_id,
            "name": f"test_speedup[{r.case_id}]",
            "fullname": f"perf/test_speedups.py::test_speedup[{r.case_id}]",
            "params": {"perf_case": r.case_id},
            "param": r.case_id,
            "extra_info": extra,
            "options": {"timer": "perf_counter_ns", "disable_gc": True, "schedule": "shuffled rounds"},
            # pytest-benchmark's Stats.as_dict() alone lacks "iterations" (compare then fails).
            "stats": bench_stats(r.times_s) if r.times_s else None,
        })
    return results_doc(machine_info, benchmarks)


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    from ..core.atomic import write_json as write

    write(path, data)
