"""``python -m infergate calibrate``: measure the speedup gate itself on this machine.

Each trial builds one model's eager and ``--variant`` forms once, adds copies of the variant
slowed by 0 % (A/A) and by each injected slowdown (``sampling.Slowed``: a spin of a fixed share
of the variant's own warm-up median), then times them twice:

- shuffled paired rounds (what the suite does) -> our rules;
- in blocks, one entry after the other, ~``--block-s`` seconds each (what a pytest-benchmark or
  asv comparison of two runs amounts to) -> their rules, on the same built variants.

Rules, per trial and per injected slowdown p (A/A is p = 0):
- within-run: the median over the same rounds of variant/(variant+p) (``stats.speedup_ratio``),
  99 % paired bootstrap; a regression when the whole interval is below 1 (no floor); and the same
  with the ratio of medians, the issue's reference rule and the suite's estimator until baseline
  format 3;
- the suite's gate vs a stored baseline (``summary.staged_verdict``, the code the suite runs): the
  speedups eager/(variant+p) of this trial and the next ``--first-runs - 1`` (today's runs)
  against the speedups eager/variant of the ``--baseline-runs`` trials before it (separate
  builds, as a baseline recorded on another day), judged with the between-run spread of the
  other trials; when the screen flags it, the same copy in the next ``--confirm-runs`` trials is
  its re-measure (fresh processes, as in the suite); the final verdict at the suite's family
  confidence over ``--gated-cases``;
- the earlier rule, kept for comparison: against the single speedup recorded by the *previous*
  trial, bootstrap intervals combined in quadrature (``stats.gate_verdict``);
- pytest-benchmark ``compare-fail=mean:5%`` and asv (Mann-Whitney p < 0.002 and ratio > 1.1),
  on the blocks of the variant (A) and the slowed copy (B, timed after A).

Position bias: the A/A ratio (variant+0%)/variant - 1, mean over trials (shuffled: the suite's
estimator; blocks: the ratio of medians, as their calls are not paired).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.defaults import DEFAULT_FLOOR
from ..core.errors import InfergateError, UsageError
from ..matrix.dtypes import DType
from ..matrix.spec import ModelSpec
from ..measuring.baselines import host_identity
from ..measuring.isolation import run_in_worker
from ..measuring.load import read_load
from ..measuring.measuring_env import SUITE_SETTINGS, resolve, suite_env
from ..measuring.other_tools import asv_rule, pytest_benchmark_rule
from ..measuring.run_spread import pooled_spread
from ..measuring.sampling import Copy, ModelMeasurement, SamplingPlan, measure_model_plans
from ..measuring.session_gate import Components, components, prior_for
from ..measuring.speedup_verdicts import family_confidence, gate_verdict, ratio_status
from ..measuring.stats import ESTIMATOR, LEGACY_ESTIMATOR, ratio_of_medians, speedup_ratio
from ..reports.summary import (
    DEFAULT_CONFIRM_RUNS,
    DEFAULT_FAMILY_ALPHA,
    DEFAULT_REPEAT,
    DEFAULT_THREADS,
    RECORD_CONFIDENCE,
    staged_verdict,
)

CONFIDENCE = RECORD_CONFIDENCE  # the interval a recorded baseline carries
DEFAULT_SLOWDOWNS = (1, 2, 3, 5, 10)
DEFAULT_FLOORS = (DEFAULT_FLOOR,)
# Within one run, a change must be significant *and* at least half this floor (``speedup_verdicts.ratio_status``,
# the rule ``lanegate`` applies): an A/A ratio scatters over trials by an sd of 0.17-0.27 %
# (docs/calibration.md), a little more than one trial's bootstrap allows for (~0.15 %), so
# "significant" alone flags the odd A/A trial.
WITHIN_FLOOR = 0.02
BASELINE_RUNS = 5  # what `run --update-baselines` records
# The default profile's gated cases on the ipex lane on the AVX2 class: 4 measured models x jit,
# jit_ipex, compile in FP32 (its BF16 cases are timed only where BF16 is native).
DEFAULT_GATED_CASES = 12


def copy_name(variant: str, pct: float) -> str:
    return f"{variant}+{pct:g}%"


def find_spec(model_id: str) -> ModelSpec:
    from ..building.cases import PROFILES

    for profile in PROFILES.values():
        for sel in (*profile.perf, *profile.correctness):
            for spec in sel.specs():
                if spec.id == model_id:
                    return spec
    raise UsageError(f"no model {model_id!r} in any profile (ids look like bert-qa-small-eager_attn)")


@dataclass
class Trial:
    shuffled: ModelMeasurement
    blocks: ModelMeasurement
    seconds: float


def run_trial(spec: ModelSpec, variant: str, slowdowns: Sequence[float], budget_s: float,
              block_s: float, seed: int, threads: int | None, settings: Sequence[str] | None = None) -> Trial:
    copies = [Copy(copy_name(variant, p), variant, p / 100.0) for p in (0, *slowdowns)]
    entries = 2 + len(copies)
    plans = (
        SamplingPlan(budget_s=budget_s, seed=seed, threads=threads),
        SamplingPlan(budget_s=block_s * (entries - 1), seed=seed, threads=threads, schedule="blocks",
                     warmup_s=0.5),
    )
    t0 = time.perf_counter()
    # Each trial in a fresh worker: a separate process and build, as a baseline from another day is.
    # The suite's measuring environment unless told otherwise: calibration measures what the suite does.
    menv = suite_env() if settings is None else resolve(settings)
    shuffled, blocks = run_in_worker(measure_model_plans, spec, DType.FP32, ("eager", variant), plans, copies,
                                     timeout=900.0, env=dict(menv.env), argv_prefix=menv.argv_prefix)
    return Trial(shuffled, blocks, time.perf_counter() - t0)


RAW_SCHEMA = "infergate-calibration-trials"
RAW_VERSION = 1


def save_trials(path: str, trials: Sequence[Trial], meta: dict[str, object]) -> None:
    """Every trial's raw times as JSON, so new rules can be judged on the same samples later."""
    data = {"schema": RAW_SCHEMA, "version": RAW_VERSION, **meta,
            "trials": [{"seconds": t.seconds, "shuffled": dataclasses.asdict(t.shuffled),
                        "blocks": dataclasses.asdict(t.blocks)} for t in trials]}
    with _open(path, "wt") as fh:
        json.dump(data, fh)


def _open(path: str, mode: str):
    # .json.gz: the saved trials committed beside docs/calibration.md are ~1 MB of JSON each.
    import gzip

    return gzip.open(path, mode, encoding="utf-8") if path.endswith(".gz") else open(path, mode, encoding="utf-8")


def load_trials(path: str) -> tuple[list[Trial], dict[str, Any]]:
    try:
        with _open(path, "rt") as fh:
            data = json.load(fh)
    except (OSError, EOFError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read calibration trials {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("schema") != RAW_SCHEMA or data.get("version") != RAW_VERSION:
        raise UsageError(f"{path} is not an {RAW_SCHEMA} file of version {RAW_VERSION}")
    trials = [Trial(_measurement(t["shuffled"]), _measurement(t["blocks"]), t["seconds"]) for t in data.pop("trials")]
    return trials, data


def _measurement(data: dict) -> ModelMeasurement:
    from ..measuring.inrun_noise import InRunNoise

    if isinstance(data.get("noise"), dict):  # saved by dataclasses.asdict
        data = {**data, "noise": InRunNoise(**data["noise"])}
    return ModelMeasurement(**data)


@dataclass
class Tally:
    hits: dict[float, int] = field(default_factory=dict)  # slowdown % (0 = A/A) -> regressions
    trials: int = 0
    mdds: list[float] = field(default_factory=list)  # the A/A judgements' minimum detectable drops
    undecided: dict[float, int] = field(default_factory=dict)  # slowdown % -> inconclusive

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


def min_trials(shape: GateShape = GateShape()) -> int:
    # Today's runs, the baseline's and the re-measures must all be different trials, and the
    # spread needs >= 2 degrees of freedom from trials other than today's and the re-measures.
    return max(shape.baseline, 3) + shape.first + shape.confirm


def judge_trials(trials: Sequence[Trial], variant: str, slowdowns: Sequence[float],
                 floors: Sequence[float], shape: GateShape = GateShape()) -> dict[str, Tally]:
    """Every rule on every trial. For the suite's gate (``staged@floor``), trials i .. i+first-1
    are today's runs; the baseline is the ``shape.baseline`` trials before i (cyclically), the
    re-measures the ``shape.confirm`` trials after today's (each a fresh process, as in the suite),
    and the between-run spread is pooled from every trial except today's and the re-measures
    (standing in for the suite's pooling over models)."""
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
    """The suite's gate across sessions: each session in turn is "today" (a host that did not record
    the baseline), judged against the *other* sessions as the baseline's sessions, exactly as
    ``summary.staged_verdict`` judges a case (the between-session part measured from those
    sessions, shrunk toward the documented prior). Every trial of today's session starts one
    emulated run: it and the next ``shape.first - 1`` are today's runs, the following
    ``shape.confirm`` its re-measures. Returns the tally per today-session and notes with the
    measured components."""
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
                tally.undecided[pct] = tally.undecided.get(pct, 0) + int(decision.verdict == "inconclusive")
                if pct == 0:
                    tally.hits[-1] = tally.hits.get(-1, 0) + int(decision.verdict == "inconclusive")
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


def session_markdown(
    tallies: dict[str, Tally], slowdowns: Sequence[float], shape: GateShape, floor: float
) -> list[str]:
    head = ["today's session (judged against the others)", "A/A false alarms", "A/A inconclusive",
            *(f"{p:g}% caught (inconclusive)" for p in slowdowns), "detectable drop (median)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, t in tallies.items():
        mdd = sorted(t.mdds)[len(t.mdds) // 2] if t.mdds else float("nan")
        cells = ([f"{t.hits.get(p, 0)}/{t.trials}" for p in (0, -1)]
                 + [f"{t.hits.get(p, 0)}/{t.trials} ({t.undecided.get(p, 0)})" for p in slowdowns] + [f"{mdd:.1%}"])
        lines.append("| " + " | ".join([name, *cells]) + " |")
    lines.append("")
    lines.append(f"Gate shape: {shape.first} run(s) today, up to {shape.baseline} runs per baseline session, "
                 f"{shape.confirm} re-measures, confidence {shape.confidence:.4g}, floor {floor:.0%} or the "
                 "detectable drop (summary.staged_verdict, as the suite runs it).")
    return lines


def _bias(trials: Sequence[Trial], variant: str, schedule: str) -> tuple[float, float]:
    """Mean and standard deviation over trials of (variant+0%)/variant - 1: shuffled rounds with
    the suite's per-round estimator, blocks (not paired) with the ratio of medians."""
    values = []
    for t in trials:
        m = t.shuffled if schedule == "shuffled" else t.blocks
        a, b = m.times_ns[copy_name(variant, 0)], m.times_ns[variant]
        values.append((speedup_ratio if schedule == "shuffled" else ratio_of_medians)(a, b) - 1.0)
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / max(len(values) - 1, 1))
    return mean, sd


RULE_LABELS = {
    "within": "**infergate within-run**: same-run shuffled rounds, median of per-round ratios, 99% bootstrap, "
              "no floor",
    "within-floor": f"**infergate within-run with a floor**: as above, and at least half of a {WITHIN_FLOOR:.0%} "
                    "floor (stats.ratio_status)",
    "within-rom": "same-run shuffled rounds, ratio of medians (the issue's reference rule), 99% bootstrap, no floor",
    "pytest-benchmark": "pytest-benchmark compare-fail=mean:5% (block A then block B)",
    "asv": "asv: Mann-Whitney p<0.002 and ratio>1.1 (block A then block B)",
}


def rule_label(key: str, shape: GateShape = GateShape()) -> str:
    if key.startswith("baseline@"):
        floor = float(key.split("@", 1)[1])
        return (f"earlier rule, vs one stored run (previous trial): bootstrap CIs in quadrature, whole "
                f"interval below 1-floor, floor {floor:.0%}")
    if key.startswith("staged@"):
        floor = float(key.split("@", 1)[1])
        return (f"**infergate gate vs a one-session baseline**: {shape.first} run(s) vs {shape.baseline} earlier "
                f"runs as one session, between-run spread plus the documented between-session prior, screen "
                f"then {shape.confirm} re-measures, {shape.confidence:.4g} (family alpha {DEFAULT_FAMILY_ALPHA:g} "
                f"over {shape.gated_cases} case(s)), floor {floor:.0%} or the detectable drop")
    if key.startswith("same@"):
        floor = float(key.split("@", 1)[1])
        return (f"same, but assuming today is the recording session (between-session sd 0: the gate before "
                f"sessions), floor {floor:.0%}")
    return RULE_LABELS[key]


def spread_lines(trials: Sequence[Trial], variant: str) -> list[str]:
    """Per estimator, the between-run sd of the log-speedup next to the sd one run's bootstrap
    implies (the gap is why a stored baseline needs several runs), and the scatter of single
    calls against that of per-round ratios (why the suite takes ratios per round)."""
    import numpy as np

    lines = []
    for name, estimator in (("median of per-round ratios", ESTIMATOR), ("ratio of medians", LEGACY_ESTIMATOR)):
        logs, ses, aa_widths = [], [], []
        for t in trials:
            s = t.shuffled.samples()
            est = s.speedup_estimate(variant, confidence=CONFIDENCE, estimator=estimator)
            logs.append(math.log(est.point))
            ses.append((math.log(est.high) - math.log(est.low)) / 2 / 2.5758)
            aa = s.speedup_estimate(copy_name(variant, 0), reference=variant, confidence=CONFIDENCE,
                                    estimator=estimator)
            aa_widths.append(math.log(aa.high) - math.log(aa.low))
        between = float(np.std(logs, ddof=1))
        lines.append(f"- {name}: speedup eager/{variant} over trials {math.exp(min(logs)):.3f} to "
                     f"{math.exp(max(logs)):.3f}; between-run sd of the log-speedup {between:.2%}, while one "
                     f"run's bootstrap implies {sum(ses) / len(ses):.2%} on average; A/A 99% interval "
                     f"{sum(aa_widths) / len(aa_widths):.2%} wide on average.")
    call_iqr, ratio_iqr = [], []
    for t in trials:
        x = np.asarray(t.shuffled.times_ns[variant], dtype=float)
        y = np.asarray(t.shuffled.times_ns[copy_name(variant, 0)], dtype=float)
        q1, q2, q3 = np.percentile(x, [25, 50, 75])
        call_iqr.append((q3 - q1) / q2)
        r1, r3 = np.percentile(np.log(y / x), [25, 75])
        ratio_iqr.append(r3 - r1)
    lines.append(f"- Scatter within a trial: single calls of {variant}, interquartile range "
                 f"{float(np.mean(call_iqr)):.1%} of the median; per-round log-ratios {variant}+0%/{variant}, "
                 f"interquartile range {float(np.mean(ratio_iqr)):.1%} (means over trials).")
    return lines


def markdown(rules: dict[str, Tally], slowdowns: Sequence[float], shape: GateShape = GateShape()) -> list[str]:
    head = ["rule", "A/A false alarms", *(f"{p:g}% caught" for p in slowdowns)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, tally in rules.items():
        cells = [f"{tally.hits.get(p, 0)}/{tally.trials} ({tally.hits.get(p, 0) / tally.trials:.0%})"
                 for p in (0, *slowdowns)]
        lines.append("| " + " | ".join([rule_label(key, shape), *cells]) + " |")
    return lines


def report(trials: Sequence[Trial], spec: ModelSpec, variant: str, slowdowns: Sequence[float],
           floors: Sequence[float], load: tuple[float, float], argv: Sequence[str],
           shape: GateShape = GateShape()) -> list[str]:
    rules = judge_trials(trials, variant, slowdowns, floors, shape)
    sh = [t.shuffled for t in trials]
    bl = [t.blocks for t in trials]
    entries = len(sh[0].variants)
    bias_s, sd_s = _bias(trials, variant, "shuffled")
    bias_b, sd_b = _bias(trials, variant, "blocks")
    med = sum(m.median_ms(variant) for m in sh) / len(sh)
    eager = sum(m.median_ms("eager") for m in sh) / len(sh)
    lines = [
        f"Command: `python -m infergate calibrate {' '.join(argv)}`".replace("  ", " "),
        "",
        f"Model {spec.id}, fp32, variant `{variant}`; {len(trials)} trials; torch threads {sh[0].threads}; "
        f"eager {eager:.2f} ms and {variant} {med:.2f} ms a call (mean of trial medians); "
        f"load average {load[0]:.2f} at start, {load[1]:.2f} at end on {os.cpu_count()} CPUs.",
        "",
        *markdown(rules, slowdowns, shape),
        "",
        f"- A/A position bias, shuffled rounds: {bias_s:+.2%} mean (sd {sd_s:.2%} over trials); "
        f"blocks (fixed order): {bias_b:+.2%} (sd {sd_b:.2%}).",
        f"- Shuffled: {sum(m.rounds for m in sh) / len(sh):.0f} rounds of {entries} entries, "
        f"{sum(m.measure_s for m in sh) / len(sh):.1f} s of measuring per trial, i.e. "
        f"{sum(m.measure_s for m in sh) / len(sh) / entries:.2f} s of samples per side; "
        f"blocks: {sum(m.rounds for m in bl) / len(bl):.0f} calls per side, "
        f"{sum(m.measure_s for m in bl) / len(bl) / entries:.2f} s per side.",
        "- Time per trial (build, warm-up, both schedules): "
        f"{sum(t.seconds for t in trials) / len(trials):.1f} s; "
        f"measuring time of one suite case (eager + variant sides of the shuffled rounds): "
        f"{2 * sum(m.measure_s for m in sh) / len(sh) / entries:.1f} s.",
        *spread_lines(trials, variant),
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m infergate calibrate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=15, help="trials (separate builds). Default: 15")
    parser.add_argument("--model", default="bert-qa-small-eager_attn", help="model id. Default: %(default)s")
    parser.add_argument("--variant", default="jit", help="variant slowed and compared. Default: jit")
    parser.add_argument("--budget", type=float, default=12.0,
                        help="seconds of shuffled rounds per trial, all entries together. Default: 12")
    parser.add_argument("--block-s", type=float, default=1.0, help="seconds per block. Default: 1")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help=f"torch threads (--ig-threads). Default: {DEFAULT_THREADS}")
    parser.add_argument("--slowdowns", default=",".join(map(str, DEFAULT_SLOWDOWNS)),
                        help="injected slowdowns in percent. Default: %(default)s")
    parser.add_argument("--floors", default=",".join(map(str, DEFAULT_FLOORS)),
                        help="effect floors judged against the stored baseline. Default: %(default)s")
    parser.add_argument("--save", metavar="FILE", help="also write every trial's raw times to FILE (JSON)")
    parser.add_argument("--load", metavar="FILE",
                        help="judge the trials saved in FILE instead of measuring (--model/--variant/"
                             "--slowdowns come from the file)")
    parser.add_argument("--settings", default=",".join(SUITE_SETTINGS) or "none",
                        help="measuring settings of the trial workers (infergate.measuring.measuring_env), "
                             "comma-separated. "
                             "Default: the suite's, %(default)s")
    parser.add_argument("--sessions", metavar="FILE[,FILE...]",
                        help="judge saved trial files against each other, each file one session (another "
                             "host or boot): the cross-session table")
    parser.add_argument("--first-runs", type=int, default=DEFAULT_REPEAT,
                        help=f"runs of 'today' in the emulated gate (--ig-repeat). Default: {DEFAULT_REPEAT}")
    parser.add_argument("--baseline-runs", type=int, default=BASELINE_RUNS,
                        help=f"recorded runs in the emulated baseline. Default: {BASELINE_RUNS}")
    parser.add_argument("--confirm-runs", type=int, default=DEFAULT_CONFIRM_RUNS,
                        help=f"re-measures of a flagged case (--ig-confirm-runs). Default: {DEFAULT_CONFIRM_RUNS}")
    parser.add_argument("--gated-cases", type=int, default=DEFAULT_GATED_CASES,
                        help="cases the suite gates at once, for its family confidence (Bonferroni over "
                             f"alpha {DEFAULT_FAMILY_ALPHA:g}). Default: {DEFAULT_GATED_CASES}, the "
                             "default profile on the ipex lane")
    args = parser.parse_args(argv)
    if min(args.first_runs, args.baseline_runs, args.gated_cases) < 1 or args.confirm_runs < 0:
        parser.error("--first-runs, --baseline-runs and --gated-cases must be >= 1, --confirm-runs >= 0")
    shape = GateShape(args.first_runs, args.baseline_runs, args.confirm_runs, args.gated_cases)
    if args.trials < min_trials(shape) and not args.load:
        parser.error(f"--trials must be >= {min_trials(shape)}: each trial needs {shape.baseline} baseline "
                     f"trials, {shape.first} of today and {shape.confirm} re-measures, all different")
    try:
        slowdowns = tuple(float(x) for x in args.slowdowns.split(","))
        floors = tuple(float(x) for x in args.floors.split(","))
        if args.sessions:
            loaded = [(f.rsplit("/", 1)[-1].split(".")[0], *load_trials(f)) for f in args.sessions.split(",")]
            metas = {(str(m["model"]), str(m["variant"])) for _, _, m in loaded}
            if len(metas) != 1:
                raise UsageError(f"the sessions must be trials of one model and variant, got {sorted(metas)}")
            model, variant = metas.pop()
            common = sorted(set.intersection(*(set(float(x) for x in m["slowdowns"]) for _, _, m in loaded)))
            tallies, notes = judge_sessions([(name, trials) for name, trials, _ in loaded], variant, common,
                                            floors[0], shape)
            print(f"Command: `python -m infergate calibrate {' '.join(argv)}`\n\nModel {model}, variant `{variant}`.\n")
            print("\n".join(session_markdown(tallies, common, shape, floors[0]) + [""] + notes))
            return 0
        if args.load:
            trials, meta = load_trials(args.load)
            spec, variant = find_spec(str(meta["model"])), str(meta["variant"])
            slowdowns = tuple(float(x) for x in meta["slowdowns"])
            load = (float(meta["load_start"]), float(meta["load_end"]))
            if len(trials) < min_trials(shape):
                raise UsageError(f"{args.load} holds {len(trials)} trials; this gate shape needs {min_trials(shape)}")
            print("\n".join(report(trials, spec, variant, slowdowns, floors, load, list(meta["argv"]), shape)))
            return 0
        spec = find_spec(args.model)
        load_start = read_load()
        trials = []
        for seed in range(args.trials):
            trial = run_trial(spec, args.variant, slowdowns, args.budget, args.block_s, seed, args.threads,
                              args.settings.split(","))
            trials.append(trial)
            print(f"trial {seed + 1}/{args.trials}: {trial.seconds:.0f} s, {trial.shuffled.rounds} rounds, "
                  f"load {read_load():.2f}", file=sys.stderr, flush=True)
        load_end = read_load()
        if args.save:
            save_trials(args.save, trials, {"model": spec.id, "variant": args.variant, "slowdowns": slowdowns,
                                            "load_start": load_start, "load_end": load_end, "argv": argv,
                                            "settings": args.settings, "session": host_identity()})
        lines = report(trials, spec, args.variant, slowdowns, floors, (load_start, load_end), argv, shape)
    except (InfergateError, ValueError) as exc:
        print(f"infergate.commands.calibrate: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
