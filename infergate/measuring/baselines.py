"""Versioned baseline files: one per machine class x lane, ``baselines/<machine_class>/<lane_id>.json``.

The files are reviewed in pull requests and hand-merged when two branches update them, so:
- they are written with sorted keys, 2-space indent and a trailing newline, so diffs read well;
- every way a file can be bad (empty, truncated, a merge leftover, a hand edit with a typo, a
  newer format) is reported as one ``DataFileError`` naming the file and the problem, and the
  file is never touched when that happens: it is someone's data;
- updates take a lock, re-read and merge, then replace the file atomically, so two runs
  recording different cases at once both keep their entries and a crash leaves the old file.

The format and the records it holds are in ``baseline_records``; this module reads, merges and
writes the files, and names the session a recording belongs to (``host_identity``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any

import filelock

from ..core.atomic import write_text
from ..core.datafile import describe, parse_json
from ..core.errors import DataFileError
from .baseline_records import (
    HISTORY,
    LEGACY_SESSION,
    MAX_RUNS,
    MAX_SESSIONS,
    READABLE_VERSIONS,
    SCHEMA,
    TOP_KEYS,
    TOP_KEYS_V4,
    VERSION,
    BaselineFile,
    CaseBaseline,
    InvalidBaseline,
    RunRecord,
    SessionInfo,
    valid_session_id,
)

LOCK_TIMEOUT_S = 120.0


def baseline_path(root: Path, machine_class: str, lane: str) -> Path:
    return Path(root) / machine_class / f"{lane}.json"


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _parse(path: Path, raw: bytes) -> Any:
    return parse_json(path, raw, "baselines")


def _check_header(path: Path, data: Any) -> None:
    if not isinstance(data, dict):
        raise DataFileError(f"baselines file {path} must hold a JSON object, found {type(data).__name__}")
    if "schema" not in data:
        raise DataFileError(f"baselines file {path} has no 'schema' field: not an infergate baselines file")
    if data["schema"] != SCHEMA:
        raise DataFileError(
            f"baselines file {path} has schema {describe(data['schema'])}, expected {SCHEMA!r}: "
            "not an infergate baselines file"
        )
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise DataFileError(f"baselines file {path} has version {version!r}; expected an integer")
    if version not in READABLE_VERSIONS:
        hint = "upgrade infergate or move the file aside" if version > VERSION else "move the file aside"
        readable = ", ".join(map(str, READABLE_VERSIONS))
        raise DataFileError(
            f"baselines file {path} has version {version}; this infergate reads versions {readable} — {hint}"
        )
    top = TOP_KEYS_V4 if version >= 4 else TOP_KEYS
    missing = sorted(top - data.keys())
    if missing:
        raise DataFileError(f"baselines file {path} is missing {', '.join(missing)}")
    unknown = sorted(data.keys() - top)
    if unknown:
        raise DataFileError(f"baselines file {path} has unknown field(s) {', '.join(map(repr, unknown))}")


def _check_str(path: Path, name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise DataFileError(
            f"baselines file {path}: {name} must be a non-empty string, got {describe(value)}"
        )
    return value


def _from_json(path: Path, data: Any) -> BaselineFile:
    _check_header(path, data)
    history = data["history"]
    if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
        raise DataFileError(
            f"baselines file {path}: history must be a list of strings, got {describe(history)}"
        )
    machine_class = _check_str(path, "machine_class", data["machine_class"])
    lane = _check_str(path, "lane", data["lane"])
    raw_cases = data["cases"]
    if not isinstance(raw_cases, dict):
        raise DataFileError(f"baselines file {path}: cases must be an object, got {describe(raw_cases)}")
    cases = {}
    for case_id, raw in raw_cases.items():
        try:
            cases[case_id] = CaseBaseline.from_json(raw, data["version"])
        except (InvalidBaseline, TypeError) as exc:
            raise DataFileError(f"baselines file {path}: case {case_id!r} {exc}") from None
    sessions = _sessions(path, data, cases)
    return BaselineFile(machine_class, lane, MappingProxyType(cases), tuple(history), data["version"],
                        MappingProxyType(sessions))


def _sessions(path: Path, data: Mapping[str, Any], cases: Mapping[str, CaseBaseline]) -> dict[str, SessionInfo]:
    """A version 4 file's sessions, each referenced by a run and every run's session known; an
    older file is one session, described from what it recorded."""
    if data["version"] < 4:
        if not cases:
            return {}
        stamps = [r.recorded for c in cases.values() for r in c.runs]
        env = next(iter(cases.values())).environment
        return {LEGACY_SESSION: SessionInfo(host="unknown", kernel="unknown", first=min(stamps),
                                            last=max(stamps), environment=env,
                                            source=f"a version {data['version']} file: host not recorded")}
    raw = data["sessions"]
    if not isinstance(raw, Mapping):
        raise DataFileError(f"baselines file {path}: sessions must be an object, got {describe(raw)}")
    sessions = {}
    for sid, info in raw.items():
        try:
            sessions[valid_session_id(sid)] = SessionInfo.from_json(info)
        except (InvalidBaseline, TypeError) as exc:
            raise DataFileError(f"baselines file {path}: session {sid!r} {exc}") from None
    used = {r.session for c in cases.values() for r in c.runs}
    unknown = sorted(used - sessions.keys())
    if unknown:
        raise DataFileError(f"baselines file {path}: run(s) of unknown session(s) {', '.join(unknown)}")
    unused = sorted(sessions.keys() - used)
    if unused:
        raise DataFileError(f"baselines file {path}: session(s) {', '.join(unused)} hold no run "
                            "(a hand edit or a merge leftover?)")
    return sessions


def load(path: Path | str) -> BaselineFile:
    """Read and validate a baselines file; any problem, including a missing file, is a DataFileError."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataFileError(f"baselines file {path} does not exist") from None
    except OSError as exc:
        raise DataFileError(f"baselines file {path} could not be read: {exc.strerror or exc}") from None
    return _from_json(path, _parse(path, raw))


def load_or_none(path: Path | str) -> BaselineFile | None:
    """Like ``load``, but a missing file is None: no baseline recorded yet is a normal state."""
    path = Path(path)
    if not path.exists():
        return None
    return load(path)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def dumps(baselines: BaselineFile) -> str:
    """The file's text. allow_nan=False: a NaN written today would make the file unreadable.

    ASCII-escaped (json's default) so any string, even one with a lone surrogate, can be written.
    """
    try:
        text = json.dumps(baselines.to_json(), indent=2, sort_keys=True, allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"refusing to write a non-finite number to a baselines file: {exc}") from None
    return text + "\n"


# The environment key holding the variant's recipe revision (variants.Variant.recipe); files
# recorded before it existed were all measured with revision 1.
RECIPE = "recipe"


def recipe_of(environment: Mapping[str, Any]) -> int:
    value = environment.get(RECIPE, 1)
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def _set_up(environment: Mapping[str, Any]) -> tuple[Any, Any, int]:
    """What makes runs incomparable: torch threads, the measuring settings (None when unrecorded,
    as in files older than the measuring environment, which were all taken in the inherited one)
    and the revision of the variant's recipe."""
    measuring = environment.get("measuring")
    settings = measuring.get("settings") if isinstance(measuring, Mapping) else None
    return (environment.get("torch_threads"),
            tuple(settings) if settings not in (None, ["none"], ("none",)) else None,
            recipe_of(environment))


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
    """``current`` with ``new_cases`` recorded in ``session``, in memory; callers hold the file's lock."""
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
    """The runs a case keeps when new runs join recorded ones: only the new, when the old cannot be
    pooled with them."""
    set_up = _set_up(old.environment) != _set_up(new.environment)
    if old.estimator != new.estimator:
        notes.append(f"{case_id}: dropped {len(old.runs)} run(s) taken as {old.estimator}; "
                     f"they cannot be pooled with {new.estimator}")
        return new.runs
    if set_up:
        notes.append(f"{case_id}: dropped {len(old.runs)} run(s) measured with {_set_up(old.environment)}; "
                     f"they cannot be pooled with runs measured with {_set_up(new.environment)}")
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
    """Age out per case: each case keeps the newest MAX_SESSIONS sessions it was measured in, by their
    last record. Not per file: every nightly shard is a session of its own, and a file-wide window
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


def update(
    path: Path | str,
    new_cases: Mapping[str, CaseBaseline],
    machine_class: str,
    lane: str,
    lock_timeout: float = LOCK_TIMEOUT_S,
    session: tuple[str, SessionInfo] | None = None,
    replace: bool = False,
) -> list[str]:
    """Record ``new_cases`` in the file, keeping every other case already in it; returns notes on
    what was dropped (runs of another estimator, sessions aged out).

    ``session`` (id, description) is the session the new runs were measured in: their runs are
    appended to the case's earlier sessions (``replace``: the recorded cases keep only the new
    runs, for accepting an intended change).

    The file is re-read *under the lock*: reading it earlier and writing later would drop the
    cases another run wrote in between. A corrupt current file is refused, not overwritten.
    """
    path = Path(path)
    for case_id, case in new_cases.items():
        if not isinstance(case_id, str) or not case_id or not isinstance(case, CaseBaseline):
            raise TypeError(
                f"new_cases must map case ids to CaseBaseline, got {case_id!r}: {type(case).__name__}"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(path) + ".lock", timeout=lock_timeout)
    try:
        with lock:
            notes: list[str] = []
            merged = merge(path, load_or_none(path), new_cases, machine_class, lane, session, replace, notes)
            write_text(path, dumps(merged))
            return notes
    except filelock.Timeout:
        raise DataFileError(
            f"baselines file {path} is locked by another run "
            f"(lock {path}.lock held for over {lock_timeout:g}s)"
        ) from None


def run_key(r: RunRecord) -> tuple[str, str, float, tuple[float, float]]:
    """What makes two runs the same run (a CI retry, a file imported twice)."""
    return r.session, r.recorded, r.speedup, r.ci


# --------------------------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------------------------


BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def host_identity(boot_id_path: Path = BOOT_ID) -> str:
    """A session id: a hash of the host name and its boot id. Not a secret and not reversible to
    the name; the same host after a reboot is a new session, as its state (memory layout, clocks,
    neighbours) is new."""
    import hashlib
    import platform

    try:
        boot = boot_id_path.read_text().strip()
    except OSError:
        boot = "no-boot-id"
    return "h-" + hashlib.sha256(f"{platform.node()}|{boot}".encode()).hexdigest()[:12]


def this_session(environment: Mapping[str, Any], source: str = "recorded") -> tuple[str, SessionInfo]:
    import platform

    sid = host_identity()
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return sid, SessionInfo(host=sid, kernel=platform.release(), first=now, last=now,
                            environment=dict(environment), source=source)
