"""Markdown, PNG plots and plain text from a lane gate result or pytest-benchmark-form results files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .report_parts import _ICON, _interval_plot, _md_escape, _pct

if TYPE_CHECKING:
    from ..measuring.lane_results import GateResult

BISECTION_HEADING = "### Bisection (`--bisect`)"

# --------------------------------------------------------------------------------------------
# Lane gate
# --------------------------------------------------------------------------------------------


def _change(est: Sequence[float] | None) -> str:
    if not est:
        return "—"
    p, lo, hi = est
    return f"{_pct(p)} [{_pct(lo)}, {_pct(hi)}]"


def _outputs_cell(outputs: Mapping[str, Any]) -> str:
    status = outputs.get("status")
    if not status:
        return "—"
    mark = {"same": "✅ same", "drift": "❌ drift", "not compared": "⚠️ not compared"}.get(status, status)
    if "max_abs" in outputs:
        return f"{mark} (max {outputs['max_abs']:.1e}, answers {outputs.get('agreement', 0):.0%})"
    return mark


def _what_it_saw(c: Any) -> str:
    """The case's verdict in words: a regression with its interval, or the largest change ruled out."""
    if c.latency is None:
        return "—"  # the note says why, on its own line
    interval = _change(c.latency)[len(_pct(c.latency[0])) + 1:]
    if c.latency_status == "regression":
        return f"slower by {_pct(c.latency[0])} {interval}"
    if c.latency_status == "improvement":
        return f"faster by {_pct(c.latency[0])} {interval}"
    return f"no change beyond ±{c.beyond * 100:.1f}%"


def gate_markdown(gate: GateResult, images: Mapping[str, str] | None = None) -> str:
    images = images or {}
    out = _gate_header(gate)
    out.append("")
    if gate.regressions:
        out += ["### Regressions", "", *[f"- {_md_escape(line)}" for line in gate.regressions], ""]
    if gate.warnings:
        out += ["### Warnings", "", *[f"- {_md_escape(w)}" for w in gate.warnings], ""]
    out += _case_rows(gate) + _pair_rows(gate) + _drift_lines(gate) + _fusion_rows(gate)
    for key, title in (("latency", "Latency change"), ("speedups", "Speedups over eager")):
        if key in images:
            out += [f"![{title}]({images[key]})", ""]
    if gate.bisection:
        out += [BISECTION_HEADING, "", *[f"- {line.removeprefix('bisect: ')}" for line in gate.bisection], ""]
    return "\n".join(out)


def _gate_header(gate: GateResult) -> list[str]:
    """The verdict and how the gate measured: lanes, machine, environment, intervals, correctness."""
    icon = "❌" if not gate.passed else ("⚠️" if gate.inconclusive or gate.nothing_judged else "✅")
    verdict = f"{icon} {gate.headline()}"
    env = gate.environment.get("measuring", {})
    timing = gate.timing
    out = [
        f"## {_gate_title(gate)}: {verdict}",
        "",
        *_revision_lines(gate),
        *([f"- models: configured in `{gate.config}`"] if gate.config else []),
        f"- from: `{gate.from_id}`",
        f"- to: `{gate.to_id}`",
        f"- machine class `{gate.machine_class}`, {gate.threads} torch thread(s) per worker; "
        f"{gate.pairs} pairs of fresh workers (one per lane) driven in lockstep, {gate.rounds} rounds "
        f"per pair and model (variants shuffled, each variant's from/to calls back to back)" + _order_note(gate),
        f"- measuring environment: settings {', '.join(env.get('settings', [])) or '—'}; "
        f"env {', '.join(f'{k}={v}' for k, v in (env.get('env') or {}).items()) or '—'}; "
        f"both lanes' workers measure on CPU {env.get('worker_cpus', '—')} (built on all)",
        _intervals_line(gate),
        f"- correctness under `{gate.to_lane}`: "
        + (("❌ " if gate.correctness.failed else "⚠️ " if gate.correctness.checked_nothing else "✅ ")
           + _md_escape(gate.correctness.summary) if gate.correctness.ran else _md_escape(gate.correctness.summary)),
    ]
    if timing:
        halves = [(c.latency[2] - c.latency[1]) / 2 for c in gate.cases if c.latency]
        out.append(
            f"- measured in {timing.get('seconds', 0) / 60:.1f} min: {timing.get('timed_calls')} timed calls "
            f"({timing.get('calls_per_minute')} per minute); intervals' half-widths "
            + (f"±{min(halves) * 100:.1f}% to ±{max(halves) * 100:.1f}%" if halves else "—")
        )
    for variant, stand_in in gate.replaced.items():
        out.append(f"- replaced in `{gate.to_lane}`: its `{stand_in}` is timed against `{gate.from_lane}`'s "
                   f"`{variant}` in the `{variant}` cases (same seeded weights and inputs; fusions not compared)")
    if gate.injected:
        out.append("- ⚠️ TEST ONLY: injected into 'to': "
                   + ", ".join(f"`{k}` {v:.0%}" for k, v in gate.injected.items()))
    return out


def _md_label(c: Any) -> str:
    return f"`{c.case}` (to: `{c.to_variant}`)" if c.to_variant else f"`{c.case}`"


def _case_rows(gate: GateResult) -> list[str]:
    out = [
        "### Per case (same machine, same moment, lockstep)", "",
        "| case | from ms | to ms | latency to/from [interval] | what it saw | speedup from → to | "
        "outputs to vs from | verdict |",
        "|---|---:|---:|---|---|---|---|---|",
    ]
    for c in gate.cases:
        speed = (f"{c.speedup_from:.2f}x → {c.speedup_to:.2f}x" if c.speedup_from and c.speedup_to else "—")
        row = [_md_label(c), f"{c.from_ms:.2f}" if c.from_ms else "—", f"{c.to_ms:.2f}" if c.to_ms else "—",
               _change(c.latency), _md_escape(_what_it_saw(c)), speed, _md_escape(_outputs_cell(c.outputs)),
               _ICON.get(c.status, c.status)]
        out.append("| " + " | ".join(row) + " |")
        if c.note:
            out.append(f"| ↳ {_md_escape(c.note)} | | | | | | | |")
    out.append("")
    return out


def _pair_rows(gate: GateResult) -> list[str]:
    out: list[str] = []
    pair_rows = [c for c in gate.cases if c.latency_pairs]
    if pair_rows:
        out += ["### Latency to/from in each worker pair", "",
                "| case | " + " | ".join(f"pair {i + 1}" for i in range(gate.pairs)) + " |",
                "|---|" + "---:|" * gate.pairs]
        unplaced = []
        for c in pair_rows:
            cells = _pair_cells(c, gate.pairs)
            unplaced += ["?" in cells]
            out.append(f"| {_md_label(c)} | " + " | ".join(cells) + " |")
        out.append("")
        if any(unplaced):
            out += ["A `?`: the case lost that many pairs, and a gate.json before version 7 did not record "
                    "which: its other values are in pair order, not necessarily under their own pairs.", ""]
    return out


def _pair_cells(c: Any, pairs: int) -> list[str]:
    """Each ratio under its own pair, "—" under a pair that lost the case (its note says why)."""
    if c.latency_pair_numbers:
        by_pair = dict(zip(c.latency_pair_numbers, c.latency_pairs, strict=True))
        return [_pct(by_pair[n]) if n in by_pair else "—" for n in range(1, pairs + 1)]
    return [_pct(r) for r in c.latency_pairs] + ["?"] * (pairs - len(c.latency_pairs))


def _drift_lines(gate: GateResult) -> list[str]:
    out: list[str] = []
    drift = [c for c in gate.cases if c.outputs.get("detail")]
    if drift:
        out += ["### Outputs, to vs from (same seeded weights and inputs)", ""]
        out += [f"- {_md_label(c)}: {_md_escape(c.outputs['detail'])}" for c in drift]
        out.append("")
    return out


def _fusion_rows(gate: GateResult) -> list[str]:
    out: list[str] = []
    # Signals at 0 in both lanes (patterns this case never had) would only bury the ones that count.
    fusion_rows = [(c, kind) for c in gate.cases for kind in sorted(set(c.fusions_from) | set(c.fusions_to))
                   if c.fusions_from.get(kind, 0) or c.fusions_to.get(kind, 0)]
    if fusion_rows:
        out += ["### Fusions (fusion signals of the executed TorchScript graph)", "",
                "| case | signal | from | to |", "|---|---|---:|---:|"]
        for c, kind in fusion_rows:
            a, b = c.fusions_from.get(kind, 0), c.fusions_to.get(kind, 0)
            mark = " ❌" if kind in c.lost_fusions else ""
            to_cell = f"— (`{c.to_variant}`, not compared)" if c.to_variant else f"{b}{mark}"
            out.append(f"| `{c.case}` | `{kind}` | {a} | {to_cell} |")
        out.append("")
    return out


def _revisions_of(gate: GateResult) -> tuple[str, str] | None:
    r = gate.revisions
    if not r:
        return None
    return f"{r['from']['ref']} ({r['from']['commit'][:10]})", f"{r['to']['ref']} ({r['to']['commit'][:10]})"


def _gate_title(gate: GateResult) -> str:
    refs = _revisions_of(gate)
    if refs:
        return f"Two revisions in lane `{gate.revisions['lane']}`: `{refs[0]}` → `{refs[1]}`"
    return f"Upgrade gate: `{gate.from_lane}` → `{gate.to_lane}`"


def _revision_lines(gate: GateResult) -> list[str]:
    """Which commits were compared, and that nothing else differed: the lane was the same."""
    r = gate.revisions
    if not r:
        return []
    configs = {s: r[s].get("config") or "the built-in profile" for s in ("from", "to")}
    return [f"- revisions: from `{r['from']['ref']}` = `{r['from']['commit']}`, to `{r['to']['ref']}` = "
            f"`{r['to']['commit']}`; the same lane `{r['lane']}` for both; uncommitted changes "
            f"{r['uncommitted_changes']}",
            f"- models: from {configs['from']}, to {configs['to']}; infergate code: from "
            f"{r['infergate']['from']}, to {r['infergate']['to']}"]


def gate_terminal(gate: GateResult) -> str:
    refs = _revisions_of(gate)
    head = f"two revisions {refs[0]} -> {refs[1]} in lane {gate.revisions['lane']}" if refs else \
        f"upgrade gate {gate.from_lane} -> {gate.to_lane}"
    lines = [f"{head} on {gate.machine_class}: {gate.headline()}"]
    if gate.config:
        lines.append(f"  models: configured in {gate.config}")
    width = max((len(c.label) for c in gate.cases), default=10)
    for c in gate.cases:
        if c.latency:
            detail = (f"{c.from_ms:9.2f} -> {c.to_ms:9.2f} ms  {_change(c.latency):<24} {_what_it_saw(c)}"
                      + (f"; outputs {c.outputs['status']}" if c.outputs.get("status") else ""))
        else:
            detail = c.note or ""
        lines.append(f"  {c.label:<{width}}  {c.status.upper() if c.status != 'pass' else 'pass':<12} {detail}")
    if gate.correctness.ran:
        lines.append(f"  correctness under {gate.to_lane}: {gate.correctness.summary}")
    if gate.timing:
        lines.append(f"  measured {gate.pairs} worker pairs x {gate.rounds} lockstep rounds in "
                     f"{gate.timing.get('seconds', 0) / 60:.1f} min ({gate.timing.get('timed_calls')} timed calls)")
    lines += [f"  warning: {w}" for w in gate.warnings]
    lines += gate.regressions
    return "\n".join(lines)


def _order_note(gate: GateResult) -> str:
    """Which lane went first within the rounds, as recorded (gate.json version 4 on)."""
    first = {side: sum(o.get(side, 0) for c in gate.cases for o in c.order_first) for side in ("from", "to")}
    if not any(first.values()):
        return ""  # an older result: the order was random and not recorded
    return (f"; which lane goes first alternates by round: 'from' first in {first['from']}, "
            f"'to' first in {first['to']} of the cases' rounds")


def _intervals_line(gate: GateResult) -> str:
    """What the intervals are: one-sided bounds (version 4 on) or two-sided intervals (older results)."""
    # Each case's df is its own pairs - 1: a case that lost pairs has fewer than the run's.
    dfs = sorted({len(c.latency_pairs) - 1 for c in gate.cases if c.latency is not None and c.latency_pairs})
    df: int | str = max(gate.pairs - 1, 0)
    if dfs and dfs != [df]:
        df = f"{dfs[0]}-{dfs[-1]}, per case its pairs - 1" if len(dfs) > 1 else f"{dfs[0]}"
    if gate.one_sided:
        return (f"- intervals: t across worker pairs (df {df}); each end is a one-sided bound at "
                f"{gate.confidence:.2%} per comparison (Bonferroni over all comparisons of the run; together "
                f"a {2 * gate.confidence - 1:.2%} two-sided interval). A regression: the lower bound above 1 "
                f"and a slowdown of ≥{gate.min_change:.0%}; a pass: the upper bound rules out {gate.floor:.0%}")
    return (f"- intervals: t across worker pairs (df {df}), two-sided at {gate.confidence:.2%} per "
            f"comparison (Bonferroni over all comparisons of the run); a significant "
            f"slowdown of ≥{gate.min_change:.0%} is a regression, a pass rules out {gate.floor:.0%}")


def _gate_marks(gate: GateResult) -> list[tuple[float, str]]:
    """The latency plot's lines: where a significant slowdown becomes a regression, and the slowdown a
    pass rules out (one line when they are the same), so a reader sees what each interval was held to."""
    slower, floor = 1 + gate.min_change, 1 + gate.floor
    if abs(slower - floor) < 1e-9:
        return [(slower, f"{slower:.2f}: a pass ends below it; a regression starts above it")]
    return [(slower, f"{slower:.2f}: a significant slowdown from here is a regression"),
            (floor, f"{floor:.2f}: a pass's upper bound ends below it")]


def gate_plots(gate: GateResult, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    measured = [c for c in gate.cases if c.latency]
    plots: dict[str, Path] = {}
    if measured:
        plots["latency"] = _interval_plot(
            [c.label for c in measured], [("to / from", [c.latency for c in measured])],
            "latency to / from (< 1: faster after the upgrade)", 1.0, out_dir / "latency.png",
            f"{gate.from_lane} → {gate.to_lane} ("
            + (f"one-sided bounds at {gate.confidence:.1%}" if gate.one_sided else f"{gate.confidence:.1%} intervals")
            + ")",
            marks=_gate_marks(gate),
        )
    sped = [c for c in gate.cases if c.speedup_change]
    if sped:
        plots["speedups"] = _interval_plot(
            [c.label for c in sped], [("speedup over eager, from / to", [c.speedup_change for c in sped])],
            "speedup over eager, from / to (< 1: gained by the upgrade, > 1: lost)", 1.0, out_dir / "speedups.png",
            f"{gate.from_lane} → {gate.to_lane}: speedup over eager, before / after",
            reference_label="the same speedup in both lanes",
        )
    return plots
