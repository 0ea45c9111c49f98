"""The speedup gate's staging: screen a case's runs, re-measure a flagged one, decide on its clean runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..core.defaults import DEFAULT_CONFIDENCE, DEFAULT_CONFIRM_RUNS
from .session_gate import Components, Judgement, minimum_detectable_drop, predictive_se
from .session_gate import judge as judge_session
from .stats import Samples
from .verdicts import INCONCLUSIVE, UNVERIFIED, JudgedVerdict

# The confidence recorded in baselines: one fixed level, so files from different runs (with
# different numbers of cases, hence different family confidences) are always comparable.
RECORD_CONFIDENCE = DEFAULT_CONFIDENCE
# Screening only decides which cases get re-measured (the verdict is taken at the family
# confidence on all runs), so it is lenient.
SCREEN_CONFIDENCE = 0.98
# Over this relative width (high - low) / point, one run's own interval says the run was disturbed.
MAX_RUN_CI_WIDTH = 0.10

# Why one run is not to be trusted (empty: a clean run).
RunNoise = tuple[str, ...]
# Fresh runs of a flagged case: (speedup, noise) each; empty when the run's budget is spent.
Remeasure = Callable[[], Sequence[tuple[float, RunNoise]]]


def run_noise(samples: Samples, variant: str, in_run: Sequence[str]) -> RunNoise:
    """Why one run is not to be trusted: in-run noise, or its own interval over-wide; empty if trusted."""
    reasons = list(in_run)
    est = samples.speedup_estimate(variant, confidence=RECORD_CONFIDENCE)
    width = (est.high - est.low) / est.point if est.point > 0 else float("inf")
    if not width <= MAX_RUN_CI_WIDTH:
        reasons.append(f"its speedup interval is {width:.1%} of the estimate, over {MAX_RUN_CI_WIDTH:.0%}")
    return tuple(reasons)


def trusted_runs(samples: Sequence[Samples], variant: str, in_run: Sequence[Sequence[str]]) -> list[int]:
    """The indices of the runs the gate would keep (``run_noise`` empty): what baselines and the history
    take, so that a run the gate leaves out as disturbed never becomes tomorrow's reference."""
    return [i for i, (s, reasons) in enumerate(zip(samples, in_run, strict=True)) if not run_noise(s, variant, reasons)]


@dataclass(frozen=True)
class Decision:
    verdict: JudgedVerdict
    message: str
    judgement: Judgement | None = None
    speedups: tuple[float, ...] = ()  # every run's speedup, re-measures included
    # The runs the final judgement used (clean ones, re-measures included), as indices into ``speedups``.
    used: tuple[int, ...] = ()


def staged_verdict(
    measured: Sequence[tuple[float, RunNoise]],
    baseline_sessions: Sequence[Sequence[float]],
    comp: Components,
    floor: float,
    confidence: float,
    remeasure: Remeasure | None,
    more_runs: int = DEFAULT_CONFIRM_RUNS,
) -> Decision:
    """Screen, re-measure if flagged (disturbed, a lenient-screen regression, or unverified where
    ``more_runs`` could show the floor), decide on all clean runs at ``confidence``."""
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
    used = tuple(i for i, (_, noise) in enumerate(runs) if not noise)
    return Decision(final.status, f"{how}{prefix}: {final.message}{extra}; {comp.describe()}", final, speedups,
                    used)


def _could_verify(runs: int, baseline_sessions: Sequence[Sequence[float]], comp: Components, floor: float,
                  confidence: float) -> bool:
    sessions = [s for s in baseline_sessions if s]
    n_h = len(sessions) / sum(1.0 / len(s) for s in sessions)
    se, df = predictive_se(comp, runs, len(sessions), n_h)
    return minimum_detectable_drop(se, df, confidence, floor=floor) <= floor
