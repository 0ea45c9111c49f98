"""Files recorded on another machine merged into this tree's, locked and atomic: baseline sessions and
fusion expectations, each keeping where it came from (what may be imported: ``baselines_cli``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import filelock

from ..core.atomic import write_text
from ..core.errors import DataFileError
from . import baselines as bl
from . import fusions
from .baseline_merge import merge, run_key
from .baseline_records import BaselineFile, CaseBaseline, SessionInfo


def merge_sessions(
    path: Path | str,
    source: BaselineFile,
    source_of: Callable[[str, SessionInfo], str],
    lock_timeout: float = bl.LOCK_TIMEOUT_S,
) -> tuple[int, int, list[str]]:
    """Append every session of ``source`` to the file at ``path`` in one locked update, each with the
    source ``source_of(id, info)``. A run already there counts once. Returns (added, already there, notes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with filelock.FileLock(str(path) + ".lock", timeout=lock_timeout):
            merged = bl.load_or_none(path)
            seen = {(cid, run_key(r)) for cid, c in (merged.cases if merged else {}).items() for r in c.runs}
            added = present = 0
            notes: list[str] = []
            for sid, info in source.sessions.items():
                new_cases = {}
                for cid, case in source.cases.items():
                    runs = [r for r in case.runs if r.session == sid]
                    fresh = tuple(r for r in runs if (cid, run_key(r)) not in seen)
                    present += len(runs) - len(fresh)
                    if not fresh:
                        continue
                    added += len(fresh)
                    # A floor or fusion counts someone set by hand in the file are kept.
                    old = merged.cases.get(cid) if merged else None
                    kept = old if old is not None else case
                    new_cases[cid] = CaseBaseline(fresh, case.confidence, case.environment, kept.floor,
                                                  kept.fusions, case.estimator)
                if not new_cases:
                    continue
                described = dataclasses.replace(info, source=source_of(sid, info))
                before = merged.sessions.get(sid) if merged else None
                merged = merge(path, merged, new_cases, source.machine_class, source.lane, (sid, described),
                                  notes=notes)
                if before is not None and described.source not in before.source:
                    # The session was there already (an earlier partial import, a recording): its
                    # new runs' origin is kept beside the old one.
                    sessions = {**merged.sessions, sid: dataclasses.replace(
                        merged.sessions[sid], source=f"{before.source}; then {described.source}")}
                    merged = dataclasses.replace(merged, sessions=sessions)
            if merged is not None and added:
                write_text(path, bl.dumps(merged))
            return added, present, notes
    except filelock.Timeout:
        raise DataFileError(
            f"baselines file {path} is locked by another run "
            f"(lock {path}.lock held for over {lock_timeout:g}s)"
        ) from None


def merge_fusions(path: Path | str, source: fusions.FusionFile, source_of: Callable[[fusions.Expectation], str],
                  lock_timeout: float = bl.LOCK_TIMEOUT_S) -> tuple[int, int, int]:
    """Merge ``source``'s expectations into the file at ``path``, each with the source
    ``source_of(expectation)``; one already there, or recorded later there, is kept. Returns (merged,
    already there, kept newer)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with filelock.FileLock(str(path) + ".lock", timeout=lock_timeout):
            current = fusions.load(path)
            if current is not None and (current.machine_class, current.lane) != (source.machine_class, source.lane):
                raise DataFileError(
                    f"fusion expectations file {path} is for {current.machine_class!r} / {current.lane!r}, "
                    f"not {source.machine_class!r} / {source.lane!r}: refusing to mix them")
            cases = dict(current.cases) if current else {}
            merged = present = newer = 0
            for cid, e in source.cases.items():
                old = cases.get(cid)
                if old is not None and (dict(old.counts), old.recorded) == (dict(e.counts), e.recorded):
                    present += 1
                elif old is not None and aware_stamp(old.recorded) > aware_stamp(e.recorded):
                    newer += 1
                else:
                    cases[cid] = fusions.Expectation(e.counts, e.recorded, source_of(e))
                    merged += 1
            if merged:
                merged_file = fusions.FusionFile(source.machine_class, source.lane, cases,
                                                 fusions.merged_history(current))
                write_text(path, fusions.dumps(merged_file))
            return merged, present, newer
    except filelock.Timeout:
        raise DataFileError(
            f"fusion expectations file {path} is locked by another run (over {lock_timeout:g}s)"
        ) from None


def aware_stamp(recorded: str) -> datetime:
    """An ISO timestamp, one without an offset taken as UTC (as infergate writes every timestamp)."""
    stamp = datetime.fromisoformat(recorded)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)
