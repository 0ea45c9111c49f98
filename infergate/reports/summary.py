"""The perf run's terminal summary and results JSON from its ``CaseResult`` s (formatting only)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..building.variants import REFERENCE
from ..measuring.case_result import CaseResult
from ..measuring.verdicts import INCONCLUSIVE, REFERENCE_ONLY, REGRESSION
from .results_json import bench_stats, results_doc


def _ci_text(ci: tuple[float, float] | None) -> str:
    return "-" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


LOUD: frozenset[str] = frozenset({REGRESSION, INCONCLUSIVE})


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
        "  speedup = geometric mean of the runs' medians over shuffled rounds of eager / variant (the runs the "
        f"verdict used); CI = its rounds-only interval at the family confidence {confidence:.4g}: within-run noise, "
        "not the between-run spread (the verdict adds that; 'sees' shows what it can detect);",
        "  baseline = geometric mean of the recorded runs, xN = recorded runs (all sessions), [low, high] = the "
        "lowest and highest recorded run;",
        "  sees = the smallest drop this case catches in 95 % of sessions (minimum detectable drop); * = larger "
        "than the case's floor, which its runs did not rule out either;",
        f"  the floor = --ig-floor ({floor:.0%}), or the case's own where its baseline sets one; verdicts: pass = a "
        "drop of the floor ruled out; unverified = no significant drop, floor not ruled out; "
        "REGRESSION = significantly slower;",
        "  INCONCLUSIVE = not judged (every run disturbed, set-up mismatch, stale recipe); no-baseline = measured, "
        "not gated; reference = eager itself.",
        "  Gated: the speedup against the baseline. Not gated: ms, cost, and cases without a baseline.",
    ]


def outcome_counts(results: Sequence[CaseResult]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in results:
        if r.verdict != REFERENCE_ONLY:
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


def results_json(results: Sequence[CaseResult], machine_info: Mapping[str, Any], test: str) -> dict[str, Any]:
    """The pytest-benchmark JSON layout with our fields in extra_info; ``test``: the perf test's node id."""
    benchmarks = []
    for r in results:
        extra = {k: v for k, v in asdict(r).items() if k not in ("times_s",)}
        extra["ci"] = list(r.ci)
        extra["baseline_ci"] = list(r.baseline_ci) if r.baseline_ci else None
        extra["noise"] = list(r.noise)
        benchmarks.append({
            "group": r.model_id,
            "name": f"{test.rpartition('::')[2]}[{r.case_id}]",
            "fullname": f"{test}[{r.case_id}]",
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
