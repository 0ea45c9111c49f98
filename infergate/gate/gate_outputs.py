"""What the upgrade gate writes: gate.json, each lane's timings, the report and plots, how it measured."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..building.variants import REFERENCE, TORCH_GROUP
from ..measuring.lane_results import GateResult
from .lockstep import PairRecord
from .lockstep_plan import case_ids


def lane_results_doc(gate: GateResult, side: str) -> dict[str, Any]:
    """One lane's timings in pytest-benchmark form, for ``pytest-benchmark compare from.json to.json``."""
    from ..reports.results_json import benchmark_entry, machine_info, results_doc

    lane_name = gate.from_lane if side == "from" else gate.to_lane
    lane = gate.from_id if side == "from" else gate.to_id
    benches = []
    for c in gate.cases:
        times = gate.timing.get("times_ms", {}).get(side, {}).get(c.case)
        if not times:
            continue
        variant = c.to_variant if side == "to" and c.to_variant else c.variant
        extra = {"case_id": c.case, "model_id": c.model, "model": c.model, "variant": variant,
                 "dtype": c.dtype, "lane": lane, "lane_name": lane_name, "threads": gate.threads,
                 "machine_class": gate.machine_class,
                 "speedup": c.speedup_from if side == "from" else c.speedup_to,
                 "verdict": c.status if side == "to" else None,
                 "fusions": c.fusions_from if side == "from" else c.fusions_to}
        benches.append(benchmark_entry(c.case, [t / 1000.0 for t in times], extra, group=c.model))
    # "to" carries the test-only slowdowns as a perf run's results do, so `report` and `merge` of
    # to.json say its regressions were injected (the gate's own report says so from gate.json).
    hooked = ({"environment": {"injected_slowdown": [[v, f] for v, f in sorted(gate.injected.items())]}}
              if side == "to" and gate.injected else {})
    info = machine_info(gate.machine_class, lane, lane_name=lane_name,
                        versions=gate.environment.get(f"versions_{side}"), **hooked)
    return results_doc(info, benches)


def write_outputs(gate: GateResult, out_dir: Path) -> dict[str, Path]:
    from ..reports import report
    from ..reports.results_json import write_json

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"gate": out_dir / "gate.json", "from": out_dir / "from.json", "to": out_dir / "to.json",
             "markdown": out_dir / "report.md"}
    for side in ("from", "to"):
        write_json(paths[side], lane_results_doc(gate, side))
    doc = gate.to_json()
    write_json(paths["gate"], doc)
    plots = report.gate_plots(gate, out_dir)
    paths.update(plots)
    paths["markdown"].write_text(
        report.gate_markdown(gate, {k: p.name for k, p in plots.items()}), encoding="utf-8"
    )
    return paths


def attach_run_facts(gate: GateResult, records: Sequence[PairRecord], env_desc: Mapping[str, Any],
                     plans: Sequence[Any], seconds: float) -> None:
    """What the report says about how it measured: environment per worker, time and what it bought."""
    first = records[0].hello
    gate.environment = {
        "measuring": dict(env_desc),
        # The CPUs each worker measured on, in its own word (read after it was moved there).
        "workers": [{"pair": r.pair + 1, **{s: {"pid": h.get("pid"),
                                                 "measured_on_cpus": sorted({c for m in r.models
                                                                             for c in (m.cpus.get(s) or [])}),
                                                 "observed": h.get("observed_env")}
                                            for s, h in r.hello.items()},
                     # the pair's workers of other process groups (BF16 jit_ipex): pids and environments
                     "more": [{s: {"pid": h.get("pid"), "observed": h.get("observed_env")} for s, h in said.items()}
                              for said in r.more_hellos]} for r in records],
        "versions_from": first["from"].get("versions"), "versions_to": first["to"].get("versions"),
    }
    ids = case_ids(plans)
    times: dict[str, dict[str, list[float]]] = {"from": {}, "to": {}}
    calls = 0
    for r in records:
        for m in r.models:
            for side, per_variant in m.times_ns.items():
                for v, ns in per_variant.items():
                    calls += len(ns)
                    if v == REFERENCE and m.group != TORCH_GROUP:  # eager under IPEX: a reference only
                        continue
                    times[side].setdefault(ids[(m.model, v, m.dtype)], []).extend(x / 1e6 for x in ns)
    widths = [(c.latency[2] - c.latency[1]) / 2 for c in gate.cases if c.latency]
    gate.timing = {
        "seconds": round(seconds, 1), "pair_seconds": [r.seconds for r in records], "timed_calls": calls,
        "calls_per_minute": round(calls / (seconds / 60.0), 1) if seconds > 0 else None,
        "widest_half_width": max(widths) if widths else None,
        "times_ms": times,
    }
