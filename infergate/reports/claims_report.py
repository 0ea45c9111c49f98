"""The claims report: Markdown tables and one PNG, from ``ClaimMeasurement`` rows."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..building.variants import COMPILE, COMPILE_AUTOTUNE, COMPILE_CPP, JIT, JIT_IPEX, REFERENCE
from ..measuring.claims import (
    BENEFIT,
    CONFIDENCE,
    HEADLINE_SEQ,
    LEAVE_WITHIN,
    benefit_counts,
    can_leave_ipex,
    fusion_share,
    speedup,
)
from ..measuring.claims_measure import ClaimMeasurement
from ..measuring.fusion_patterns import label as fusion_label
from ..measuring.stats import Estimate


def _prior_range() -> str:
    from ..measuring.session_gate import PRIOR_BETWEEN_SD

    low, high = min(PRIOR_BETWEEN_SD.values()), max(PRIOR_BETWEEN_SD.values())
    return f"{low:.0%}-{high:.0%}"


def _est(est: Estimate | None) -> str:
    if est is None:
        return "—"
    return f"{est.point:.2f}× [{est.low:.2f}, {est.high:.2f}]"


def _why_missing(m: ClaimMeasurement, *variants: str) -> str:
    for v in variants:
        if v in m.skipped:
            return f"skip ({v}: {m.skipped[v]})"
        if v in m.failed:
            return f"FAILED ({v}: {m.failed[v]})"
    return "—"


def _cell(m: ClaimMeasurement, faster: str, slower: str) -> str:
    est = speedup(m, faster, slower)
    if est is None:
        return _why_missing(m, faster, slower)
    if not (faster == JIT_IPEX and slower == JIT):
        return _est(est)
    wide = speedup(m, faster, slower, across_hosts=True)
    assert wide is not None
    mark = " **≥5 %**" if benefit_counts(est) else ""
    mark += "; **≥5 % across hosts**" if benefit_counts(wide) else ""
    return f"{_est(est)}{mark}; across hosts [{wide.low:.2f}, {wide.high:.2f}]"


def _fired(m: ClaimMeasurement) -> str:
    sig = m.fusions.get(JIT_IPEX, {})
    # Sorted, so a report re-rendered from its JSON (written with sorted keys) reads the same.
    fired = [f"{fusion_label(k)} ×{n}" for k, n in sorted(sig.items()) if n]
    return ", ".join(fired) if fired else ("—" if JIT_IPEX not in m.fusions else "none")


def _eager_ms(m: ClaimMeasurement) -> str:
    if m.timing is None or REFERENCE not in m.timing.times_ns:
        return "—"
    return f"{m.timing.median_ms(REFERENCE):.1f}"


def speedup_table(rows: Sequence[ClaimMeasurement]) -> list[str]:
    lines = ["| model | shape | eager ms | jit / eager | jit_ipex / jit (fusions) | jit_ipex / eager "
             "| compile / eager | compile / jit_ipex | IPEX fusions fired | can leave IPEX: this host "
             "| can leave IPEX: any host of the class |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in rows:
        here, anywhere = can_leave_ipex(m), can_leave_ipex(m, across_hosts=True)
        lines.append(
            f"| {m.model_id} | {m.shape} | {_eager_ms(m)} | {_cell(m, JIT, REFERENCE)} | {_cell(m, JIT_IPEX, JIT)} "
            f"| {_cell(m, JIT_IPEX, REFERENCE)} | {_cell(m, COMPILE, REFERENCE)} | {_cell(m, COMPILE, JIT_IPEX)} "
            f"| {_fired(m)} | **{here.answer}**: {here.why} | **{anywhere.answer}**: {anywhere.why} |")
    return lines


OPTION_RATIOS = ((COMPILE_CPP, COMPILE), (COMPILE_AUTOTUNE, COMPILE),
                 (COMPILE_CPP, JIT_IPEX), (COMPILE_AUTOTUNE, JIT_IPEX))


def options_table(rows: Sequence[ClaimMeasurement]) -> list[str]:
    """compile's inductor options against plain (frozen) compile and against jit_ipex, for the rows
    that built any of them (claims --compile-options); empty when none did."""
    rows = [m for m in rows if any(v in m.costs or v in m.failed or v in m.skipped for v, _ in OPTION_RATIOS)]
    if not rows:
        return []
    head = " | ".join(f"{a} / {b}" for a, b in OPTION_RATIOS)
    lines = [f"| model | shape | {head} |", "|---|---|" + "---|" * len(OPTION_RATIOS)]
    for m in rows:
        lines.append(f"| {m.model_id} | {m.shape} | " + " | ".join(_cell(m, a, b) for a, b in OPTION_RATIOS) + " |")
    return lines


def _variants(rows: Sequence[ClaimMeasurement]) -> list[str]:
    """The variants the rows built or tried, in the order they are built (the registry's)."""
    from ..building.variants import VARIANTS

    seen = {v for m in rows for v in (*m.costs, *m.skipped, *m.failed) if v != "worker"}
    return [v for v in VARIANTS if v in seen]


def cost_table(rows: Sequence[ClaimMeasurement]) -> list[str]:
    lines = ["| model | shape | variant | median ms | build s | first call s | peak rise MiB | held MiB |",
             "|---|---|---|---|---|---|---|---|"]
    for m in rows:
        for v in _variants(rows):
            c = m.costs.get(v)
            if c is None:
                continue
            median = f"{m.timing.median_ms(v):.1f}" if m.timing and v in m.timing.times_ns else "—"
            lines.append(f"| {m.model_id} | {m.shape} | {v} | {median} | {c.build_s:.1f} | {c.first_call_s:.2f} "
                         f"| {c.peak_rise_mib:.0f} | {c.held_mib:.0f} |")
    return lines


def answers_table(rows: Sequence[ClaimMeasurement]) -> list[str]:
    lines = ["| model | shape | variant | max abs diff | task answers | same |", "|---|---|---|---|---|---|"]
    for m in rows:
        for v, a in m.answers.items():
            if v == REFERENCE and m.dtype == "fp32":
                continue  # the reference itself
            same = "yes" if a.same else f"NO: {a.why_not()}"
            lines.append(f"| {m.model_id} | {m.shape} | {v} | {a.max_abs:.2g} | {a.agreed}/{a.total} | {same} |")
    return lines


def render(rows: Sequence[ClaimMeasurement], facts: Mapping[str, str], machine_class: str,
           dtypes: Sequence[str]) -> str:
    lines = [f"# The guide's claim, measured: {machine_class}", ""]
    lines += [f"- **{k}**: {v}" for k, v in facts.items()]
    lines += ["", "## The guide's \"about 70 %\"", ""]
    for dtype in dtypes:
        lines.append(f"- {fusion_share(rows, dtype).sentence(machine_class)}")
    lines += ["", f"Counted over one row per model at sequence {HEADLINE_SEQ} (QA's 384 rows are extra evidence). "
              f"A fusion benefit counts when `jit_ipex` is faster than `jit` with its {CONFIDENCE:.0%} interval "
              f"above 1 and by at least {BENEFIT:.0%}. \"Can leave IPEX\": `compile` gives the same answers as eager "
              f"FP32 (tolerance table and task answers) and its time over `jit_ipex`'s has its interval at or "
              f"below {1 + LEAVE_WITHIN:.2f}; \"undecided\" when the interval straddles it. Two intervals: *this "
              "host*, the paired bootstrap over same-process shuffled rounds (this process's noise only), and "
              "*across hosts*, the same widened by the between-session spread measured on this project's machines "
              f"(infergate/measuring/session_gate.py priors: a speedup against eager moves by {_prior_range()} sd "
              "between sessions), "
              "which is what any other host of the class can expect. A claim about the class needs the second.", ""]
    for dtype in dtypes:
        sel = [m for m in rows if m.dtype == dtype]
        if not sel:
            continue
        lines += [f"## Speedups, {dtype.upper()}", "", *speedup_table(sel), ""]
    options = options_table(rows)
    if options:
        lines += ["## compile's inductor options", "",
                  "`compile_cpp`: inductor's C++ wrapper; `compile_autotune`: C++ wrapper and max-autotune (both "
                  "frozen, each proven to have taken effect). Speedups as above (> 1: the first is faster), this "
                  "host's intervals; \"can leave IPEX\" above is judged on plain `compile`.", "", *options, ""]
    lines += ["## Cost per variant", "",
              f"Built in the order {', '.join(_variants(rows))} in one process; \"peak rise\" is the resident "
              "set's highest point above its level when the build began (build, proof, warm-up calls), "
              "\"held\" what stayed resident after it. Memory glibc keeps from an earlier build may be reused "
              "by a later one, so later variants' figures are lower bounds.", "", *cost_table(rows), "",
              "## Answers against eager FP32", "", *answers_table(rows), "", "## Proofs, skips, failures", ""]
    for m in rows:
        for v, p in m.proofs.items():
            lines.append(f"- {m.model_id} {m.shape} {m.dtype} {v}: {p}")
        for v, r in {**m.skipped, **m.failed}.items():
            lines.append(f"- {m.model_id} {m.shape} {m.dtype} {v}: **{'FAILED' if v in m.failed else 'skipped'}**: {r}")
    return "\n".join(lines) + "\n"


def plot(rows: Sequence[ClaimMeasurement], path: Path, title: str) -> Path | None:
    from .report import _interval_plot

    timed = [m for m in rows if m.timing is not None]
    if not timed:
        return None
    labels = [f"{m.model_id} {m.shape} {m.dtype}" for m in timed]
    series = [(name, [speedup(m, a, b) for m in timed]) for name, a, b in (
        ("jit_ipex / jit (the fusions)", JIT_IPEX, JIT),
        ("compile / jit_ipex", COMPILE, JIT_IPEX),
        ("compile / eager", COMPILE, REFERENCE),
    )]
    series = [(n, s) for n, s in series if any(e is not None and math.isfinite(e.point) for e in s)]
    if not series:
        return None
    return _interval_plot(labels, series, "speedup (x faster; > 1 the first is faster)", 1.0, path, title)
