"""Recording runs into a baselines file's contents: the runs a case keeps, sessions, ageing out per case."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..core.defaults import MAX_SESSIONS
from ..core.errors import DataFileError
from .baseline_records import HISTORY, MAX_RUNS, VERSION, BaselineFile, CaseBaseline, RunRecord, SessionInfo
from .baseline_rules import set_up


def run_key(r: RunRecord) -> tuple[str, float, tuple[float, float], int, tuple[tuple[str, float], ...]]:
    """What makes two runs the same run (a CI retry, a file imported twice, `add` of a run that also
    recorded): its session and what it measured. Not ``recorded``: that stamps when a copy was written,
    and a run's two copies are written apart (its results record when its case is judged, its
    recording at the session's end), so keyed on it every such run was pooled twice."""
    return r.session, r.speedup, r.ci, r.rounds, tuple(sorted(r.median_ms.items()))


def merge(
    path: Path,
    current: BaselineFile | None,
    new_cases: Mapping[str, CaseBaseline],
    machine_class: str,
    lane: str,
    session: tuple[str, SessionInfo] | None = None,
    replace: bool = False,
    notes: list[str] | None = None,
) -> BaselineFile:
    """``current`` with ``new_cases`` recorded in ``session``, in memory; callers hold the file's lock.
    ``replace``: the recorded cases keep only the new runs; what was dropped goes to ``notes``."""
    notes = [] if notes is None else notes
    if current is not None and (current.machine_class, current.lane) != (machine_class, lane):
        raise DataFileError(
            f"baselines file {path} is for machine class {current.machine_class!r} lane {current.lane!r}, "
            f"not {machine_class!r} {lane!r}: refusing to mix them"
        )
    cases = dict(current.cases) if current is not None else {}
    for case_id, new in new_cases.items():
        old = cases.get(case_id)
        runs = new.runs if old is None or replace else _pooled_runs(case_id, old, new, notes)
        cases[case_id] = CaseBaseline(runs, new.confidence, new.environment, new.floor, new.fusions, new.estimator)
    sessions = _merged_sessions(current, cases, session)
    kept = _kept_sessions(sessions, cases, notes)
    _drop_aged_runs(cases, kept, notes)
    used = {r.session for c in cases.values() for r in c.runs}
    sessions = {sid: info for sid, info in sessions.items() if sid in used}
    return BaselineFile(machine_class, lane, cases, _merged_history(current), VERSION, sessions)


def _pooled_runs(case_id: str, old: CaseBaseline, new: CaseBaseline, notes: list[str]) -> tuple[RunRecord, ...]:
    """The runs a case keeps when new runs join recorded ones: only the new when the two cannot be pooled."""
    if old.estimator != new.estimator:
        notes.append(f"{case_id}: dropped {len(old.runs)} run(s) taken as {old.estimator}; "
                     f"they cannot be pooled with {new.estimator}")
        return new.runs
    if set_up(old.environment) != set_up(new.environment):
        notes.append(f"{case_id}: dropped {len(old.runs)} run(s) measured with {set_up(old.environment)}; "
                     f"they cannot be pooled with runs measured with {set_up(new.environment)}")
        return new.runs
    # The same run added twice (a CI retry, `add` of a run that also recorded) counts once.
    seen = {run_key(r) for r in old.runs}
    fresh = [r for r in new.runs if run_key(r) not in seen]
    if len(fresh) < len(new.runs):
        notes.append(f"{case_id}: {len(new.runs) - len(fresh)} run(s) already recorded, kept once")
    return tuple(sorted((*old.runs, *fresh), key=lambda r: r.recorded))[-MAX_RUNS:]


def _merged_sessions(current: BaselineFile | None, cases: Mapping[str, CaseBaseline],
                     session: tuple[str, SessionInfo] | None) -> dict[str, SessionInfo]:
    sessions = dict(current.sessions) if current is not None else {}
    if session is not None:
        sid, info = session
        if sid in sessions:  # the same host boot recording again: one session, its span widened
            old_info = sessions[sid]
            info = SessionInfo(info.host, info.kernel, min(old_info.first, info.first),
                               max(old_info.last, info.last), info.environment, old_info.source)
        sessions[sid] = info
    for case in cases.values():  # runs whose session nobody described (a caller without one)
        for r in case.runs:
            if r.session not in sessions:
                sessions[r.session] = SessionInfo("unknown", "unknown", r.recorded, r.recorded, case.environment,
                                                  "recorded without a session description")
    return sessions


def _kept_sessions(sessions: Mapping[str, SessionInfo], cases: Mapping[str, CaseBaseline],
                   notes: list[str]) -> dict[str, set[str]]:
    """Each case keeps the newest MAX_SESSIONS sessions it was measured in, by their last record.
    Per case, not per file: every nightly shard is a session of its own, and a file-wide window
    would let the other shards' sessions push out a case's only ones."""
    kept = {}
    for case_id, case in cases.items():
        own = {r.session for r in case.runs}  # in the file's order: a tie on last keeps the older first
        ordered = sorted((sid for sid in sessions if sid in own), key=lambda sid: sessions[sid].last)
        kept[case_id] = set(ordered[-MAX_SESSIONS:])
        if aged := ordered[:-MAX_SESSIONS]:
            notes.append(f"{case_id}: aged out {len(aged)} session(s) beyond its newest {MAX_SESSIONS}: "
                         f"{', '.join(aged)}")
    return kept


def _drop_aged_runs(cases: dict[str, CaseBaseline], kept: Mapping[str, set[str]], notes: list[str]) -> None:
    for case_id in list(cases):
        case = cases[case_id]
        runs = tuple(r for r in case.runs if r.session in kept[case_id])
        if not runs:
            del cases[case_id]
            notes.append(f"{case_id}: every run aged out; case removed")
        elif len(runs) != len(case.runs):
            cases[case_id] = CaseBaseline(runs, case.confidence, case.environment, case.floor, case.fusions,
                                          case.estimator)


def _merged_history(current: BaselineFile | None) -> tuple[str, ...]:
    # An older file is rewritten in the current version; its history gains the newer lines.
    history = current.history if current is not None else ()
    known = {line.split(":", 1)[0] for line in history}
    return (*history, *(line for line in HISTORY if line.split(":", 1)[0] not in known))
