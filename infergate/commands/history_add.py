"""``history add``: perf results files become history records; all are checked before any is appended."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timezone
from pathlib import Path
from typing import Any, NamedTuple

from ..building.variants import REFERENCE
from ..core.datafile import describe
from ..core.errors import DataFileError
from ..measuring import history as hi
from ..measuring.baseline_records import CaseBaseline
from ..measuring.imported import aware_stamp
from .baseline_sessions import cases_from_results, class_and_lane, read_results

BUSY = "every run measured on a busy machine"


def _without_runless(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The results without the measured cases that carry an empty ``run_records``, and those cases' ids.
    A perf run writes a case whose every run was disturbed with no runs (only quiet runs feed the
    history, ``case_result``); it is a night's fact, not bad input, so it must not cost the file's
    other cases (and, since every file is checked first, every shard of the night) their record."""
    benches = data.get("benchmarks", [])
    if not isinstance(benches, list):  # cases_from_results says what is wrong with it
        return data, []
    kept, runless = [], []
    for bench in benches:
        extra = bench.get("extra_info") if isinstance(bench, dict) else None
        if (isinstance(extra, dict) and extra.get("variant") not in (None, REFERENCE)
                and extra.get("run_records") == []):
            runless.append(str(extra.get("case_id")))
        else:
            kept.append(bench)
    return {**data, "benchmarks": kept}, runless


def _measured(data: dict[str, Any]) -> bool:
    """Whether any case is left that measured a variant (a file of reference cases only is refused as before)."""
    return any(isinstance(b, dict) and isinstance(b.get("extra_info"), dict)
               and b["extra_info"].get("variant") not in (None, REFERENCE) for b in data["benchmarks"])


class Loaded(NamedTuple):
    """One results file's run and case records (``run`` None: it has no case with runs) and the cases it
    left out for having none."""

    run: hi.RunInfo | None
    cases: list[hi.CaseRecord]
    runless: list[str]


def records_from_results(path: Path) -> Loaded:
    data = read_results(path)
    info = data["machine_info"]
    machine_class, lane = class_and_lane(path, info)
    data, runless = _without_runless(data)
    if runless and not _measured(data):
        return Loaded(None, [], runless)
    cases, (session, _) = cases_from_results(path, data)
    prov = info.get("provenance") or {}
    if not isinstance(prov, dict):  # its fields are read below; hi.check says what is wrong with each
        raise DataFileError(f"results file {path}: machine_info.provenance must be an object (commit, lock, "
                            f"packages, cpu_flags), got {describe(prov)}")
    recorded = [r.recorded for c in cases.values() for r in c.runs]
    rid = hi.run_id(machine_class, lane, session, recorded)
    # The night is the UTC date of the first run: the timestamps' own offsets (a foreign or hand-made
    # file may carry one) compared as strings, or their local dates taken, filed runs on the wrong night.
    first = min(aware_stamp(r) for r in recorded).astimezone(timezone.utc).isoformat()
    run = hi.RunInfo(rid, machine_class, lane, session, first[:10], first, prov.get("commit"), prov.get("lock"),
                     prov.get("packages"), str(info.get("cpu", "unknown")), prov.get("cpu_flags"), path.name)
    verdicts = {(b.get("extra_info") or {}).get("case_id"): (b.get("extra_info") or {}).get("verdict")
                for b in data.get("benchmarks", [])}
    return Loaded(run, [_case_record(rid, cid, c, verdicts.get(cid)) for cid, c in sorted(cases.items())], runless)


def _case_record(rid: str, case_id: str, case: CaseBaseline, verdict: object) -> hi.CaseRecord:
    env = dict(case.environment)
    return hi.CaseRecord(rid, case_id, case.variant, int(env.pop("recipe")), env.pop("torch_threads", None),
                         case.runs, {k: v for k, v in env.items() if k in ("allocator", "measuring", "python")},
                         verdict if isinstance(verdict, str) else None)


def check_history(root: Path, classes: Iterable[str]) -> None:
    """Whether ``append`` can write the classes' directories under ``root``, asked before anything is
    written: a history path that is a file (or under one), or a class's path that is, ended in a traceback
    after other classes' runs (or simulate's results files) had been written."""
    if root.exists() and not root.is_dir():
        raise DataFileError(f"history directory {root} is not a directory")
    above = next((p for p in root.absolute().parents if p.exists()), None)
    if not root.exists() and above is not None and not above.is_dir():
        raise DataFileError(f"history directory {root} cannot be made: {above} is not a directory")
    if root.is_dir():
        # A baselines directory given as --history (the layout is alike: <class>/...) took month files
        # beside its baselines files without a word.
        foreign = next((p for p in sorted(root.glob("*/*.json"))), None)
        if foreign is not None:
            raise DataFileError(f"history directory {root} holds {foreign.relative_to(root)}, not a history's "
                                "<class>/<YYYY-MM>.jsonl month files (a baselines directory?): give the history's")
        for machine_class in sorted(set(classes)):
            hi.check_class_dirs(root, machine_class)


def _left_out(runless: list[str]) -> str:
    return f"{len(runless)} case(s) left out ({BUSY}): {', '.join(runless)}"


def add(paths: list[Path], root: Path) -> list[str]:
    return add_counted(paths, root)[0]


def add_counted(paths: list[Path], root: Path) -> tuple[list[str], int]:
    """``add``'s lines and how many runs it appended (a run already in the history is not one)."""
    loaded = [(path, records_from_results(path)) for path in paths]  # all checked before any is written
    usable = [(path, got.run, got.cases) for path, got in loaded if got.run is not None]
    for path, run, cases in usable:
        try:
            hi.check(root, run, cases)
        except hi.BadLine as exc:
            raise DataFileError(f"results file {path} would give the history {exc}") from None
    check_history(root, [run.machine_class for _, run, _ in usable])
    hi.check_repeats(root, usable)
    if not usable:
        # Nothing at all to append is the night lost: said as an error, not as a quiet "nothing added".
        raise DataFileError("no run to add: " + "; ".join(f"results file {path}: {_left_out(got.runless)}"
                                                          for path, got in loaded))
    appended = hi.append(root, [(run, cases) for _, run, cases in usable])
    written = iter(appended)
    lines = []
    for path, got in loaded:
        skipped = f"; {_left_out(got.runless)}" if got.runless else ""
        if got.run is None:
            lines.append(f"nothing added from {path.name}: {_left_out(got.runless)}")
        elif next(written):
            lines.append(f"added run {got.run.run_id} ({got.run.machine_class} {got.run.lane}, session "
                         f"{got.run.session}, night {got.run.night}, {len(got.cases)} case(s)) from {path.name}"
                         f"{skipped}")
        else:
            lines.append(f"run {got.run.run_id} from {path.name} is already in the history: kept once{skipped}")
    return lines, sum(appended)
