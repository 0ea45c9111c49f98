"""The calibration's report as markdown lines."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from ..building.variants import REFERENCE
from ..core.defaults import DEFAULT_FAMILY_ALPHA
from ..matrix.spec import ModelSpec
from ..measuring.stats import ESTIMATOR, LEGACY_ESTIMATOR, ratio_of_medians, speedup_ratio
from .calibration_rules import CONFIDENCE, DEFAULT_SHAPE, WITHIN_FLOOR, GateShape, Tally, judge_trials
from .calibration_trials import Trial, copy_name


def session_markdown(
    tallies: dict[str, Tally], slowdowns: Sequence[float], shape: GateShape, floor: float
) -> list[str]:
    head = ["today's session (judged against the others)", "A/A false alarms", "A/A undecided",
            *(f"{p:g}% caught (undecided)" for p in slowdowns), "detectable drop (median)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, t in tallies.items():
        mdd = sorted(t.mdds)[len(t.mdds) // 2] if t.mdds else float("nan")
        cells = ([f"{t.hits.get(p, 0)}/{t.trials}" for p in (0, -1)]
                 + [f"{t.hits.get(p, 0)}/{t.trials} ({t.undecided.get(p, 0)})" for p in slowdowns] + [f"{mdd:.1%}"])
        lines.append("| " + " | ".join([name, *cells]) + " |")
    lines.append("")
    lines.append(f"Gate shape: {shape.first} run(s) today, up to {shape.baseline} runs per baseline session, "
                 f"{shape.confirm} re-measures, one-sided confidence {shape.confidence:.4g}, floor {floor:.0%}; "
                 "undecided = unverified or inconclusive (staging.staged_verdict, as the suite runs it).")
    return lines


def _bias(trials: Sequence[Trial], variant: str, schedule: str) -> tuple[float, float]:
    """Mean and sd over trials of (variant+0%)/variant - 1: shuffled with the suite's estimator, blocks with medians."""
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
                    "floor (speedup_verdicts.ratio_status)",
    "within-rom": "same-run shuffled rounds, ratio of medians (the issue's reference rule), 99% bootstrap, no floor",
    "pytest-benchmark": "pytest-benchmark compare-fail=mean:5% (block A then block B)",
    "asv": "asv: Mann-Whitney p<0.002 and ratio>1.1 (block A then block B)",
}


def rule_label(key: str, shape: GateShape = DEFAULT_SHAPE) -> str:
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
    """Per estimator, the between-run sd of the log-speedup beside what one run's bootstrap implies."""
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


def markdown(rules: dict[str, Tally], slowdowns: Sequence[float], shape: GateShape = DEFAULT_SHAPE) -> list[str]:
    head = ["rule", "A/A false alarms", *(f"{p:g}% caught" for p in slowdowns)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, tally in rules.items():
        cells = [f"{tally.hits.get(p, 0)}/{tally.trials} ({tally.hits.get(p, 0) / tally.trials:.0%})"
                 for p in (0, *slowdowns)]
        lines.append("| " + " | ".join([rule_label(key, shape), *cells]) + " |")
    return lines


def report(trials: Sequence[Trial], spec: ModelSpec, variant: str, slowdowns: Sequence[float],
           floors: Sequence[float], load: tuple[float, float], argv: Sequence[str],
           shape: GateShape = DEFAULT_SHAPE) -> list[str]:
    rules = judge_trials(trials, variant, slowdowns, floors, shape)
    sh = [t.shuffled for t in trials]
    bl = [t.blocks for t in trials]
    entries = len(sh[0].variants)
    bias_s, sd_s = _bias(trials, variant, "shuffled")
    bias_b, sd_b = _bias(trials, variant, "blocks")
    med = sum(m.median_ms(variant) for m in sh) / len(sh)
    eager = sum(m.median_ms(REFERENCE) for m in sh) / len(sh)
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
