"""The calibration's rules judged on the trials, per injected slowdown, as regression tallies."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..core.defaults import DEFAULT_CONFIRM_RUNS, DEFAULT_FAMILY_ALPHA, DEFAULT_REPEAT, RECORD_RUNS
from ..core.errors import UsageError
from ..measuring.other_tools import asv_rule, pytest_benchmark_rule
from ..measuring.run_spread import pooled_spread
from ..measuring.session_gate import Components, components, prior_for
from ..measuring.speedup_verdicts import family_confidence, gate_verdict, ratio_status
from ..measuring.staging import RECORD_CONFIDENCE, staged_verdict
from ..measuring.stats import LEGACY_ESTIMATOR
from .calibration_trials import Trial, copy_name

CONFIDENCE = RECORD_CONFIDENCE  # the interval a recorded baseline carries
# Within one run, a change must be significant *and* at least half this floor (``speedup_verdicts.ratio_status``,
# the rule ``lanegate`` applies): an A/A ratio scatters over trials by an sd of 0.17-0.27 %
# (docs/calibration.md), a little more than one trial's bootstrap allows for (~0.15 %), so
# "significant" alone flags the odd A/A trial.
WITHIN_FLOOR = 0.02
BASELINE_RUNS = RECORD_RUNS  # what `run --update-baselines` records


@dataclass
class Tally:
    hits: dict[float, int] = field(default_factory=dict)  # slowdown % (0 = A/A) -> regressions
    trials: int = 0
    mdds: list[float] = field(default_factory=list)  # the A/A judgements' minimum detectable drops
    undecided: dict[float, int] = field(default_factory=dict)  # slowdown % -> unverified or inconclusive

    def add(self, pct: float, hit: bool) -> None:
        self.hits[pct] = self.hits.get(pct, 0) + int(hit)


@dataclass(frozen=True)
class GateShape:
    """How many separate runs the emulated suite gate uses: today, recorded, re-measures."""

    first: int = DEFAULT_REPEAT
    baseline: int = BASELINE_RUNS
    confirm: int = DEFAULT_CONFIRM_RUNS
    gated_cases: int = 1  # the final verdict's confidence is the suite's family confidence over these

    @property
    def confidence(self) -> float:
        return family_confidence(DEFAULT_FAMILY_ALPHA, self.gated_cases)


# The default shape of the report's functions: frozen, so one shared instance is safe (B008 cannot see that
# through an import).
DEFAULT_SHAPE = GateShape()


def min_trials(shape: GateShape = GateShape()) -> int:
    # Today's runs, the baseline's and the re-measures must all be different trials, and the
    # spread needs >= 2 degrees of freedom from trials other than today's and the re-measures.
    return max(shape.baseline, 3) + shape.first + shape.confirm


def judge_trials(trials: Sequence[Trial], variant: str, slowdowns: Sequence[float],
                 floors: Sequence[float], shape: GateShape = GateShape()) -> dict[str, Tally]:
    """Every rule on every trial; for ``staged@floor`` trials i .. i+first-1 are today's runs, the
    ``shape.baseline`` trials before them the baseline, the ``shape.confirm`` after them re-measures."""
    rules = {"within": Tally(), "within-floor": Tally(), "within-rom": Tally(),
             **{f"same@{f}": Tally() for f in floors}, **{f"staged@{f}": Tally() for f in floors},
             **{f"baseline@{f}": Tally() for f in floors}, "pytest-benchmark": Tally(), "asv": Tally()}
    n = len(trials)
    aa = copy_name(variant, 0)
    speedups = {pct: [t.shuffled.samples().speedup(copy_name(variant, pct)) for t in trials]
                for pct in (0, *slowdowns)}
    for i, trial in enumerate(trials):
        s = trial.shuffled.samples()
        previous = trials[(i - 1) % n].shuffled.samples()
        baseline = previous.speedup_estimate(aa, confidence=CONFIDENCE)
        base_runs = [speedups[0][(i - j) % n] for j in range(1, shape.baseline + 1)]
        today_idx = [(i + j) % n for j in range(shape.first)]
        confirm_idx = [(i + shape.first + j) % n for j in range(shape.confirm)]
        spread = pooled_spread([[speedups[0][j] for j in range(n) if j not in today_idx + confirm_idx]])
        # One session's runs: the new gate uses the documented prior for the between-session part;
        # "same" pretends today is the recording session (between-session sd 0), as the old gate did.
        one_session = components([[base_runs]], 1, prior_for(variant))
        one_session = Components(spread.sd, spread.df, one_session.between_sd, one_session.between_df, 1, None,
                                 one_session.prior_sd, one_session.prior_df)
        same = Components(spread.sd, spread.df, 0.0, math.inf, 1, 0.0, 0.0, 0)
        for pct in (0, *slowdowns):
            slowed = copy_name(variant, pct)
            reference = variant  # the unwrapped variant: A/A then includes the wrapper, as it should
            within = s.speedup_estimate(slowed, reference=reference, confidence=CONFIDENCE)
            rules["within"].add(pct, within.high < 1.0)
            rules["within-floor"].add(pct, ratio_status(within, WITHIN_FLOOR) == "regression")
            rom = s.speedup_estimate(slowed, reference=reference, confidence=CONFIDENCE,
                                     estimator=LEGACY_ESTIMATOR)
            rules["within-rom"].add(pct, rom.high < 1.0)
            measured = s.speedup_estimate(slowed, confidence=CONFIDENCE)
            for f in floors:
                verdict = gate_verdict(measured, baseline, floor=f)
                rules[f"baseline@{f}"].add(pct, verdict.status == "regression")
                more = [(speedups[pct][j], ()) for j in confirm_idx]
                today = [(speedups[pct][j], ()) for j in today_idx]
                for key, comp in ((f"staged@{f}", one_session), (f"same@{f}", same)):
                    decision = staged_verdict(today, [base_runs], comp, f, shape.confidence, more.copy)
                    rules[key].add(pct, decision.verdict == "regression")
            a, b = trial.blocks.times_ns[reference], trial.blocks.times_ns[slowed]
            rules["pytest-benchmark"].add(pct, pytest_benchmark_rule(a, b, pct=5))
            rules["asv"].add(pct, asv_rule(a, b))
    for tally in rules.values():
        tally.trials = n
    return rules


def judge_sessions(sessions: Sequence[tuple[str, Sequence[Trial]]], variant: str, slowdowns: Sequence[float],
                   floor: float, shape: GateShape = GateShape()) -> tuple[dict[str, Tally], list[str]]:
    """The suite's gate across sessions: each session in turn judged as today's against the others."""
    if len(sessions) < 2:
        raise UsageError("a cross-session calibration needs at least two sessions (--sessions A,B)")
    if len({name for name, _ in sessions}) != len(sessions):
        raise UsageError(f"session names must differ, got {[name for name, _ in sessions]}")
    short = [name for name, trials in sessions if len(trials) < shape.first + shape.confirm + 1]
    if short:
        raise UsageError(f"session(s) {', '.join(short)} hold fewer than {shape.first + shape.confirm + 1} trials: "
                         "today's runs and their re-measures must be different trials")
    per_session = {name: {pct: [t.shuffled.samples().speedup(copy_name(variant, pct)) for t in trials]
                          for pct in (0, *slowdowns)} for name, trials in sessions}
    tallies: dict[str, Tally] = {}
    for name, trials in sessions:
        others = [per_session[o][0][: shape.baseline] for o, _ in sessions if o != name]
        comp = components([others], len(others), prior_for(variant))
        tally = Tally()
        n = len(trials)
        for i in range(n):
            today_idx = [(i + j) % n for j in range(shape.first)]
            confirm_idx = [(i + shape.first + j) % n for j in range(shape.confirm)]
            for pct in (0, *slowdowns):
                sp = per_session[name][pct]
                today = [(sp[j], ()) for j in today_idx]
                more = [(sp[j], ()) for j in confirm_idx]
                decision = staged_verdict(today, others, comp, floor, shape.confidence, more.copy)
                tally.add(pct, decision.verdict == "regression")
                undecided = int(decision.verdict in ("inconclusive", "unverified"))
                tally.undecided[pct] = tally.undecided.get(pct, 0) + undecided
                if pct == 0:
                    tally.hits[-1] = tally.hits.get(-1, 0) + undecided
                    if decision.judgement is not None:
                        tally.mdds.append(decision.judgement.mdd)
        tally.trials = n
        tallies[name] = tally
    every = [per_session[name][0] for name, _ in sessions]
    measured = components([every], len(every), prior_sd=0.0, prior_df=0)
    notes = ["- sessions: " + "; ".join(
        f"{name}: {len(per_session[name][0])} trials, speedup eager/{variant} geometric mean "
        f"{math.exp(sum(map(math.log, per_session[name][0])) / len(per_session[name][0])):.3f}"
        for name, _ in sessions),
        f"- measured over all {len(sessions)} sessions: within-session sd {measured.within_sd:.2%} "
        f"(df {measured.within_df}), between-session sd {measured.measured_between_sd or 0:.2%} "
        f"(df {len(sessions) - 1}); the gate's prior for {variant}: {prior_for(variant):.2%}"]
    return tallies, notes
