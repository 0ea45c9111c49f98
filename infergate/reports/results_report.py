"""The perf results report: speedups per case against their baselines, as Markdown and PNG."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .report_parts import _ICON, _est, _interval_plot


def result_rows(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per benchmark from its ``extra_info``; the benchmark's name when there is no ``case_id``."""
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
