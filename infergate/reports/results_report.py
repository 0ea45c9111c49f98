"""The perf results report: speedups per case against their baselines, as Markdown and PNG."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..core.errors import DataFileError
from .report_parts import _ICON, _est, _interval_plot


def result_rows(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per benchmark from its ``extra_info``; the benchmark's name when there is no ``case_id``.
    The same case twice on one class and lane is refused: the table would show both rows and the
    plot, keyed on (class, lane, case), would keep one of them."""
    from .results_json import benchmark_origin, case_key

    rows = []
    seen: set[tuple[str, str, str]] = set()
    for bench in doc["benchmarks"]:
        extra = bench.get("extra_info") or {}
        machine_class, lane = benchmark_origin(doc, bench)
        key = (machine_class, lane, case_key(bench))
        if key in seen:
            raise DataFileError(f"{key[2]!r} on {machine_class} / {lane} is in the results twice: one case, one result")
        seen.add(key)
        stats = bench.get("stats")
        median_ms = float(stats["median"]) * 1000.0 if stats else extra.get("median_ms")
        baseline = extra.get("baseline")
        baseline_ci = extra.get("baseline_ci")
        rows.append({
            "case": key[2], "machine_class": machine_class, "lane": lane,
            "median_ms": median_ms, "variant": extra.get("variant"),
            "speedup": extra.get("speedup"), "ci": extra.get("ci"), "confidence": extra.get("confidence"),
            "baseline": ((float(baseline), *map(float, baseline_ci))
                         if baseline is not None and baseline_ci else None),
            "verdict": extra.get("verdict"), "fusions": extra.get("fusions") or {},
        })
    return rows


def injected(doc: Mapping[str, Any]) -> list[str]:
    """The test-only slowdown hook's settings in a results file, per source of a merged one."""
    info = doc.get("machine_info") or {}
    sources = info["sources"] if isinstance(info.get("sources"), list) else [{"source": None, **info}]
    out = []
    for s in sources:
        hook = (s.get("environment") or {}).get("injected_slowdown")
        if hook:
            what = _hook_text(hook)
            out.append(f"{what} in `{s['source']}`" if s.get("source") else what)
    return out


def _hook_text(hook: Any) -> str:
    """A perf run's one (variant, fraction) or a gate's list of them, as "`variant` 5%"."""
    def pair(p: Any) -> str | None:
        ok = isinstance(p, list) and len(p) == 2 and isinstance(p[1], (int, float)) and not isinstance(p[1], bool)
        return f"`{p[0]}` {p[1]:.0%}" if ok else None

    if pair(hook):
        return str(pair(hook))
    parts = [pair(p) for p in hook] if isinstance(hook, list) else [None]
    return ", ".join(str(p) for p in parts) if all(parts) else repr(hook)


def _speedup_est(row: Mapping[str, Any]) -> tuple[float, float, float] | None:
    if row["speedup"] is None or not row["ci"]:
        return None
    return (float(row["speedup"]), float(row["ci"][0]), float(row["ci"][1]))


def _baseline_est(row: Mapping[str, Any]) -> tuple[float, float, float] | None:
    """(baseline, lowest run, highest run): the span of the recorded runs (CaseBaseline.span), not an
    interval at any confidence, so the report labels and draws it apart from the speedup's."""
    return row["baseline"]


def _speedup_cell(row: Mapping[str, Any]) -> str:
    est = _speedup_est(row)
    if est:
        return _est(est)
    # A speedup without an interval (a gate's to.json has none) is still what was measured.
    return f"{float(row['speedup']):.2f} (no interval)" if row["speedup"] is not None else "—"


def results_markdown(doc: Mapping[str, Any], images: Mapping[str, str] | None = None) -> str:
    images = images or {}
    rows = result_rows(doc)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["machine_class"], row["lane"]), []).append(row)
    out = ["## infergate results", "",
           f"{len(rows)} benchmarks from {len(groups)} machine class × lane combination(s).", ""]
    hooked = injected(doc)
    if hooked:  # as the gate's report says it: a slowdown put there on purpose is not a regression
        out += ["- ⚠️ TEST ONLY: measured with the test-only slowdown hook: " + ", ".join(hooked)
                + "; its regressions were injected, not measured", ""]
    for (machine_class, lane), group in sorted(groups.items()):
        # The interval's level and what it spans (summary.legend): its runs' rounds, within-run noise only.
        levels = sorted({float(r["confidence"]) for r in group if r["confidence"] is not None})
        at = f" at {' / '.join(f'{c:.4g}' for c in levels)}" if levels else ""
        out += [f"### `{machine_class}` · `{lane}`", "",
                f"| case | median ms | speedup [rounds-only interval{at}] | baseline [lowest, highest run] | verdict |",
                "|---|---:|---|---|---|"]
        for r in sorted(group, key=lambda r: r["case"]):
            median = f"{r['median_ms']:.2f}" if r["median_ms"] is not None else "—"
            out.append(f"| `{r['case']}` | {median} | {_speedup_cell(r)} | "
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
    series, fmts = [], []
    for mc, lane in keys:
        series.append((f"{mc} · {lane}", [_speedup_est(index[(mc, lane, c)]) if (mc, lane, c) in index
                                         else None for c in cases]))
        fmts.append("o")
        if any(_baseline_est(index[(mc, lane, c)]) for c in cases if (mc, lane, c) in index):
            series.append((f"baseline {mc} · {lane} [lowest, highest run]",
                           [_baseline_est(index[(mc, lane, c)]) if (mc, lane, c) in index else None
                            for c in cases]))
            fmts.append("D:")  # a span of runs, not an interval: another marker and dotted bars
    return {"speedups": _interval_plot(cases, series, "speedup over eager (x)", 1.0, out_dir / "speedups.png",
                                       "speedup per case [rounds-only interval] vs baseline [lowest, highest run]",
                                       fmts=fmts,
                                       reference_label="as fast as eager")}
