"""Reports people read: Markdown (fits a GitHub step summary), PNG plots, a plain-text summary.

Two inputs: a lane gate result (``lane_results.GateResult``: latency change to/from per case, speedups
in both lanes, fusions, correctness) and results files in pytest-benchmark form (one run, or a merge
of several machine classes: speedups per case against their baselines).

``python -m infergate report gate.json --out DIR`` re-renders a gate's reports from its JSON.
Plots use matplotlib's Agg backend: no display, same PNG on every runner.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import DataFileError, InfergateError

if TYPE_CHECKING:
    from ..measuring.lane_results import GateResult

_ICON = {"pass": "✅ pass", "regression": "❌ regression", "improvement": "🟢 improvement",
         "noisy": "⚠️ noisy", "inconclusive": "⚠️ INCONCLUSIVE", "no-baseline": "— no baseline",
         "reference": "reference", "unavailable": "— unavailable", None: "—"}


def _pct(ratio: float) -> str:
    return f"{(ratio - 1.0) * 100:+.1f}%"


def _est(est: Sequence[float] | None, fmt: str = "{:.2f}") -> str:
    if not est:
        return "—"
    p, lo, hi = est
    return f"{fmt.format(p)} [{fmt.format(lo)}, {fmt.format(hi)}]"


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


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
    """The case's verdict in the words the issue asked for: a regression with its interval, or the
    largest change the run rules out."""
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
    return "\n".join(out)


def _gate_header(gate: GateResult) -> list[str]:
    """The verdict and how the gate measured: lanes, machine, environment, intervals, correctness."""
    icon = "❌" if not gate.passed else ("⚠️" if gate.inconclusive else "✅")
    verdict = f"{icon} {gate.headline()}"
    env = gate.environment.get("measuring", {})
    timing = gate.timing
    out = [
        f"## Upgrade gate: `{gate.from_lane}` → `{gate.to_lane}`: {verdict}",
        "",
        f"- from: `{gate.from_id}`",
        f"- to: `{gate.to_id}`",
        f"- machine class `{gate.machine_class}`, {gate.threads} torch thread(s) per worker; "
        f"{gate.pairs} pairs of fresh workers (one per lane) driven in lockstep, {gate.rounds} rounds "
        f"per pair and model (variants shuffled, each variant's from/to calls back to back)",
        f"- measuring environment: settings {', '.join(env.get('settings', [])) or '—'}; "
        f"env {', '.join(f'{k}={v}' for k, v in (env.get('env') or {}).items()) or '—'}; "
        f"both lanes' workers measure on CPU {env.get('worker_cpus', '—')} (built on all)",
        f"- intervals: t across worker pairs (df {max(gate.pairs - 1, 0)}) at {gate.confidence:.2%} per "
        f"comparison (Bonferroni over all comparisons of the run); a significant "
        f"slowdown of ≥{gate.min_change:.0%} is a regression, a pass rules out {gate.floor:.0%}",
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
        for c in pair_rows:
            cells = [_pct(r) for r in c.latency_pairs] + ["—"] * (gate.pairs - len(c.latency_pairs))
            out.append(f"| {_md_label(c)} | " + " | ".join(cells) + " |")
        out.append("")
    return out


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


def gate_terminal(gate: GateResult) -> str:
    lines = [f"upgrade gate {gate.from_lane} -> {gate.to_lane} on {gate.machine_class}: {gate.headline()}"]
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


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _interval_plot(labels: list[str], series: Sequence[tuple[str, Sequence[Sequence[float] | None]]],
                   xlabel: str, reference: float, path: Path, title: str,
                   marks: Sequence[tuple[float, str]] = ()) -> Path:
    """Horizontal point-and-interval plot, one row per label, one marker per series; ``marks``: more
    labelled vertical lines (a threshold)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(labels) + 1.6))
    n = len(series)
    for s, (name, ests) in enumerate(series):
        offset = (s - (n - 1) / 2) * 0.25
        ys, xs, lo, hi = [], [], [], []
        for i, est in enumerate(ests):
            if est:
                ys.append(i + offset)
                xs.append(est[0])
                lo.append(est[0] - est[1])
                hi.append(est[2] - est[0])
        ax.errorbar(xs, ys, xerr=[lo, hi], fmt="o", capsize=3, label=name)
    ax.axvline(reference, color="grey", linestyle="--", linewidth=1)
    for (x, text), color in zip(marks, ("tab:red", "tab:purple", "tab:brown"), strict=False):
        ax.axvline(x, color=color, linestyle=":", linewidth=1, label=text)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    if n > 1 or marks:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def gate_plots(gate: GateResult, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    measured = [c for c in gate.cases if c.latency]
    plots: dict[str, Path] = {}
    if measured:
        plots["latency"] = _interval_plot(
            [c.label for c in measured], [("to / from", [c.latency for c in measured])],
            "latency to / from (< 1: faster after the upgrade)", 1.0, out_dir / "latency.png",
            f"{gate.from_lane} → {gate.to_lane} ({gate.confidence:.1%} intervals)",
        )
    sped = [c for c in gate.cases if c.speedup_change]
    if sped:
        plots["speedups"] = _interval_plot(
            [c.label for c in sped], [("from / to", [c.speedup_change for c in sped])],
            "speedup over eager, from / to (> 1: 'to' lost speedup)", 1.0, out_dir / "speedups.png",
            "speedup over eager lost by the upgrade",
        )
    return plots


# --------------------------------------------------------------------------------------------
# pytest-benchmark results (one run or merged)
# --------------------------------------------------------------------------------------------


def result_rows(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per benchmark, from the fields the perf suite (``summary.results_json``) and the lane
    gate put in ``extra_info``; the benchmark's name is used when no ``case_id`` is given."""
    from .results_json import benchmark_origin

    rows = []
    for bench in doc["benchmarks"]:
        extra = bench.get("extra_info") or {}
        machine_class, lane = benchmark_origin(doc, bench)
        stats = bench.get("stats")
        median_ms = float(stats["median"]) * 1000.0 if stats else extra.get("median_ms")
        baseline = extra.get("baseline")
        baseline_ci = extra.get("baseline_ci")
        rows.append({
            "case": extra.get("case_id") or bench["name"], "machine_class": machine_class, "lane": lane,
            "median_ms": median_ms, "variant": extra.get("variant"),
            "speedup": extra.get("speedup"), "ci": extra.get("ci"),
            "baseline": ((float(baseline), *map(float, baseline_ci))
                         if baseline is not None and baseline_ci else None),
            "verdict": extra.get("verdict"), "fusions": extra.get("fusions") or {},
        })
    return rows


def _speedup_est(row: Mapping[str, Any]) -> tuple[float, float, float] | None:
    if row["speedup"] is None or not row["ci"]:
        return None
    return (float(row["speedup"]), float(row["ci"][0]), float(row["ci"][1]))


def _baseline_est(row: Mapping[str, Any]) -> tuple[float, float, float] | None:
    return row["baseline"]


def results_markdown(doc: Mapping[str, Any], images: Mapping[str, str] | None = None) -> str:
    images = images or {}
    rows = result_rows(doc)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["machine_class"], row["lane"]), []).append(row)
    out = ["## infergate results", "",
           f"{len(rows)} benchmarks from {len(groups)} machine class × lane combination(s).", ""]
    for (machine_class, lane), group in sorted(groups.items()):
        out += [f"### `{machine_class}` · `{lane}`", "",
                "| case | median ms | speedup [interval] | baseline [interval] | verdict |",
                "|---|---:|---|---|---|"]
        for r in sorted(group, key=lambda r: r["case"]):
            median = f"{r['median_ms']:.2f}" if r["median_ms"] is not None else "—"
            out.append(f"| `{r['case']}` | {median} | {_est(_speedup_est(r))} | "
                       f"{_est(_baseline_est(r))} | {_ICON.get(r['verdict'], r['verdict'])} |")
        out.append("")
        fused = [r for r in group if r["fusions"]]
        if fused:
            out += ["| case | fusion kind | count |", "|---|---|---:|"]
            for r in fused:
                out += [f"| `{r['case']}` | `{k}` | {n} |" for k, n in sorted(r["fusions"].items())]
            out.append("")
    if "speedups" in images:
        out += [f"![Speedups]({images['speedups']})", ""]
    return "\n".join(out)


def results_plots(doc: Mapping[str, Any], out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [r for r in result_rows(doc) if _speedup_est(r)]
    if not rows:
        return {}
    keys = sorted({(r["machine_class"], r["lane"]) for r in rows})
    cases = sorted({r["case"] for r in rows})
    index = {(r["machine_class"], r["lane"], r["case"]): r for r in rows}
    series = []
    for mc, lane in keys:
        series.append((f"{mc} · {lane}", [_speedup_est(index[(mc, lane, c)]) if (mc, lane, c) in index
                                         else None for c in cases]))
        if any(_baseline_est(index[(mc, lane, c)]) for c in cases if (mc, lane, c) in index):
            series.append((f"baseline {mc} · {lane}",
                           [_baseline_est(index[(mc, lane, c)]) if (mc, lane, c) in index else None
                            for c in cases]))
    return {"speedups": _interval_plot(cases, series, "speedup over eager (x)", 1.0,
                                       out_dir / "speedups.png", "speedup per case vs baseline")}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infergate report", description=__doc__.split("\n\n")[0])
    parser.add_argument("input", type=Path, metavar="JSON",
                        help="a gate.json or a pytest-benchmark results file")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="where report.md and PNGs go")
    args = parser.parse_args(argv)
    try:
        try:
            doc = json.loads(args.input.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:  # ValueError: not JSON, or not UTF-8 text at all
            raise DataFileError(f"{args.input}: cannot read JSON: {exc}") from None
        if isinstance(doc, dict) and doc.get("schema") == "infergate-lane-gate":
            from ..measuring.lane_results import GateResult

            gate = GateResult.from_json(doc)
            plots = gate_plots(gate, args.out)
            text = gate_markdown(gate, {k: p.name for k, p in plots.items()})
            print(gate_terminal(gate))
        else:
            from .results_json import load_results

            results = load_results(args.input)
            plots = results_plots(results, args.out)
            text = results_markdown(results, {k: p.name for k, p in plots.items()})
        (args.out / "report.md").write_text(text, encoding="utf-8")
    except InfergateError as exc:
        print(f"infergate: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
