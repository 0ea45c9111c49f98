"""``history add``: perf results files become history records; all are checked before any is appended."""

from __future__ import annotations

from pathlib import Path

from ..measuring import history as hi
from ..measuring.baseline_records import CaseBaseline
from .baseline_sessions import cases_from_results, class_and_lane, read_results


def records_from_results(path: Path) -> tuple[hi.RunInfo, list[hi.CaseRecord]]:
    data = read_results(path)
    info = data["machine_info"]
    machine_class, lane = class_and_lane(path, info)
    cases, (session, _) = cases_from_results(path, data)
    prov = info.get("provenance") or {}
    recorded = [r.recorded for c in cases.values() for r in c.runs]
    rid = hi.run_id(machine_class, lane, session, recorded)
    first = min(recorded)
    run = hi.RunInfo(rid, machine_class, lane, session, first[:10], first, prov.get("commit"), prov.get("lock"),
                     prov.get("packages"), str(info.get("cpu", "unknown")), prov.get("cpu_flags"), path.name)
    verdicts = {(b.get("extra_info") or {}).get("case_id"): (b.get("extra_info") or {}).get("verdict")
                for b in data.get("benchmarks", [])}
    return run, [_case_record(rid, cid, c, verdicts.get(cid)) for cid, c in sorted(cases.items())]


def _case_record(rid: str, case_id: str, case: CaseBaseline, verdict: object) -> hi.CaseRecord:
    env = dict(case.environment)
    return hi.CaseRecord(rid, case_id, case.variant, int(env.pop("recipe")), env.pop("torch_threads", None),
                         case.runs, {k: v for k, v in env.items() if k in ("allocator", "measuring", "python")},
                         verdict if isinstance(verdict, str) else None)


def add(paths: list[Path], root: Path) -> list[str]:
    loaded = [(path, *records_from_results(path)) for path in paths]  # all checked before any is written
    written = hi.append(root, [(run, cases) for _, run, cases in loaded])
    lines = []
    for (path, run, cases), new in zip(loaded, written, strict=True):
        if new:
            lines.append(f"added run {run.run_id} ({run.machine_class} {run.lane}, session {run.session}, "
                         f"night {run.night}, {len(cases)} case(s)) from {path.name}")
        else:
            lines.append(f"run {run.run_id} from {path.name} is already in the history: kept once")
    return lines
