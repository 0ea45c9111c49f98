"""A baselines file on disk, ``baselines/<machine_class>/<lane_id>.json``: reading, writing, updating.
A bad file is one ``DataFileError`` naming it and is never touched; updates merge under a lock and
replace the file atomically, written with sorted keys so diffs review well."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import filelock

from ..core.atomic import write_text
from ..core.datafile import describe, parse_json
from ..core.errors import DataFileError
from .baseline_merge import merge
from .baseline_records import (
    LEGACY_SESSION,
    READABLE_VERSIONS,
    SCHEMA,
    TOP_KEYS,
    TOP_KEYS_V4,
    VERSION,
    BaselineFile,
    CaseBaseline,
    InvalidBaseline,
    SessionInfo,
    valid_session_id,
)

LOCK_TIMEOUT_S = 120.0


def baseline_path(root: Path, machine_class: str, lane: str) -> Path:
    return Path(root) / machine_class / f"{lane}.json"


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
    """A version 4 file's sessions (each used by a run, every run's known); an older file is one."""
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


def dumps(baselines: BaselineFile) -> str:
    """The file's text; refuses NaN, which would make the file unreadable."""
    try:
        text = json.dumps(baselines.to_json(), indent=2, sort_keys=True, allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"refusing to write a non-finite number to a baselines file: {exc}") from None
    return text + "\n"


def update(
    path: Path | str,
    new_cases: Mapping[str, CaseBaseline],
    machine_class: str,
    lane: str,
    lock_timeout: float = LOCK_TIMEOUT_S,
    session: tuple[str, SessionInfo] | None = None,
    replace: bool = False,
) -> list[str]:
    """Record ``new_cases``, measured in ``session`` (id, description), keeping every other case, even
    one another run wrote meanwhile; returns notes on what was dropped. ``replace``: the recorded cases
    keep only the new runs."""
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
