"""The results history: every perf run's cases, append-only JSONL in ``<root>/<class>/<YYYY-MM>.jsonl``:
a ``run`` line per results file and its ``case`` lines. A run id is written once; a month file is
rewritten atomically; a line of another schema or version, or with any field that is not what
infergate writes, or a run or case read twice, is refused, naming file and line."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import filelock

from ..building.machine import LANE_NAME, MACHINE_CLASS_NAME
from ..building.variants import REFERENCE
from ..core.atomic import write_text
from ..core.datafile import describe, parse_json
from ..core.errors import DataFileError
from .baseline_records import InvalidBaseline, RunRecord

SCHEMA = "infergate-history"
VERSION = 1
READABLE_VERSIONS = (1,)
KIND = "history"
# A case line's runs are in the form of baselines version 4's runs (each with its session), what
# RunRecord wrote when history version 1 was made. Read as that, not as the baselines' current
# VERSION: a later baselines format must not make every history line unreadable; a change of the
# runs' form is a new history version (``check`` refuses to append a line this could not read).
RUN_RECORD_VERSION = 4


@dataclass(frozen=True)
class RunInfo:
    """One perf run (one results file) of a machine class and lane."""

    run_id: str
    machine_class: str
    lane: str
    session: str
    night: str  # UTC date of its first measured run
    recorded: str  # its first measured run's timestamp
    commit: str | None
    lock: str | None
    packages: Mapping[str, str] | None
    cpu: str
    cpu_flags: Sequence[str] | None
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "version": VERSION, "kind": "run", "run_id": self.run_id,
                "machine_class": self.machine_class, "lane": self.lane, "session": self.session,
                "night": self.night, "recorded": self.recorded, "commit": self.commit, "lock": self.lock,
                "packages": None if self.packages is None else dict(self.packages), "cpu": self.cpu,
                "cpu_flags": None if self.cpu_flags is None else list(self.cpu_flags), "source": self.source}


@dataclass(frozen=True)
class CaseRecord:
    """One case of one run: its runs (separate processes), eager latency and what measuring cost."""

    run_id: str
    case_id: str
    variant: str
    recipe: int
    threads: int | None
    runs: tuple[RunRecord, ...]
    environment: Mapping[str, Any] = field(default_factory=dict)
    verdict: str | None = None  # the gate's verdict that night (pass, unverified, REGRESSION, ...)

    @property
    def mean_log(self) -> float:
        """The session mean on the log scale: speedups are ratios."""
        return sum(math.log(r.speedup) for r in self.runs) / len(self.runs)

    @property
    def eager_ms(self) -> float | None:
        values = sorted(r.median_ms[REFERENCE] for r in self.runs if REFERENCE in r.median_ms)
        return values[len(values) // 2] if values else None

    @property
    def cost_s(self) -> float:
        """Time spent in the timed calls: rounds × (eager + variant) per run."""
        return sum(r.rounds * sum(r.median_ms.values()) for r in self.runs) / 1000.0

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "version": VERSION, "kind": "case", "run_id": self.run_id,
                "case_id": self.case_id, "variant": self.variant, "recipe": self.recipe, "threads": self.threads,
                "runs": [r.to_json() for r in self.runs], "eager_ms": self.eager_ms,
                "cost_s": round(self.cost_s, 3), "environment": dict(self.environment),
                "verdict": self.verdict}


@dataclass
class History:
    runs: dict[str, RunInfo] = field(default_factory=dict)
    cases: list[CaseRecord] = field(default_factory=list)

    def of(self, machine_class: str, lane: str) -> list[tuple[RunInfo, CaseRecord]]:
        """The class and lane's case records with their run, oldest run first."""
        pairs = [(self.runs[c.run_id], c) for c in self.cases]
        pairs = [(r, c) for r, c in pairs if (r.machine_class, r.lane) == (machine_class, lane)]
        return sorted(pairs, key=lambda p: (p[0].recorded, p[0].run_id))

    def classes_and_lanes(self) -> list[tuple[str, str]]:
        return sorted({(r.machine_class, r.lane) for r in self.runs.values()})


def run_id(machine_class: str, lane: str, session: str, recorded: Iterable[str]) -> str:
    """Same results file, same id: the class, lane, session and every run's timestamp."""
    text = "|".join([machine_class, lane, session, *sorted(recorded)])
    return "r-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def month_path(root: Path, machine_class: str, night: str) -> Path:
    return root / machine_class / f"{night[:7]}.jsonl"


def _check_line(path: Path, number: int, data: Any) -> str:
    where = f"history file {path} line {number}"
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise DataFileError(f"{where} is not an infergate history record")
    # type() is int: True and 1.0 equal 1 but are not a version this infergate wrote.
    if type(data.get("version")) is not int or data.get("version") not in READABLE_VERSIONS:
        raise DataFileError(f"{where} has history version {data.get('version')!r}; this infergate reads "
                            f"{', '.join(map(str, READABLE_VERSIONS))}")
    kind = data.get("kind")
    if kind not in ("run", "case"):
        raise DataFileError(f"{where} has unknown kind {kind!r}")
    return str(kind)


RUN_KEYS = ("run_id", "machine_class", "lane", "session", "night", "recorded", "commit", "lock", "packages", "cpu",
            "cpu_flags", "source")
CASE_KEYS = ("run_id", "case_id", "variant", "recipe", "threads", "runs", "environment", "verdict")
_DERIVED = ("eager_ms", "cost_s")  # written for readers of the file, recomputed from the runs here
_NIGHT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class BadLine(ValueError):
    """What is wrong with one line's field; read_file names the file and line."""


def _keys(data: Mapping[str, Any], required: Sequence[str], derived: Sequence[str] = ()) -> None:
    missing = [k for k in (*required, *derived) if k not in data]
    if missing:
        raise BadLine(f"is missing {', '.join(missing)}")
    unknown = sorted(set(data) - {"schema", "version", "kind", *required, *derived})
    if unknown:  # a misspelt field would otherwise be ignored
        raise BadLine(f"has unknown field(s) {', '.join(map(repr, unknown))}")


def _text(data: Mapping[str, Any], key: str, optional: bool = False) -> Any:
    value = data[key]
    if not (isinstance(value, str) and value) and not (optional and value is None):
        raise BadLine(f"{key} must be a non-empty string{' or null' if optional else ''}, got {describe(value)}")
    return value


def _strings(data: Mapping[str, Any], key: str) -> Any:
    value = data[key]
    if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise BadLine(f"{key} must be a list of strings or null, got {describe(value)}")
    return value


def _run_from(path: Path, data: Mapping[str, Any]) -> RunInfo:
    """Every field checked: a line edited by hand or written by something else is one DataFileError,
    never a crash in show, detect, promote or publish (whose exit 1 would read as a regression) nor a
    path: the class and lane name the history's directory and the dashboard's pages."""
    _keys(data, RUN_KEYS)
    for key in ("run_id", "machine_class", "lane", "session", "cpu", "source"):
        _text(data, key)
    for key in ("commit", "lock"):
        _text(data, key, optional=True)
    machine_class, lane = data["machine_class"], data["lane"]
    if not MACHINE_CLASS_NAME.fullmatch(machine_class) or not LANE_NAME.fullmatch(lane):
        raise BadLine(f"{machine_class!r} / {lane!r} is not a machine class and lane infergate names")
    if machine_class != path.parent.name:
        raise BadLine(f"machine class {machine_class!r} is not its directory's {path.parent.name!r}")
    recorded = _text(data, "recorded")
    try:
        datetime.fromisoformat(recorded)
    except ValueError:
        raise BadLine(f"recorded must be an ISO timestamp, got {recorded!r}") from None
    night = _text(data, "night")
    try:
        date.fromisoformat(night)
        if not _NIGHT.fullmatch(night):
            raise ValueError
    except ValueError:
        raise BadLine(f"night must be a date YYYY-MM-DD, got {night!r}") from None
    if night != recorded[:10] or path.name != f"{night[:7]}.jsonl":
        raise BadLine(f"night {night} is not the date of its recorded {recorded} in month file {path.name}")
    packages = data["packages"]
    if packages is not None and not (isinstance(packages, dict)
                                     and all(isinstance(v, str) for v in (*packages, *packages.values()))):
        raise BadLine(f"packages must be an object of package names to version strings, or null, got "
                      f"{describe(packages)}")
    _strings(data, "cpu_flags")
    return RunInfo(**{k: data[k] for k in RUN_KEYS})


def _case_from(data: Mapping[str, Any]) -> CaseRecord:
    _keys(data, CASE_KEYS, _DERIVED)
    for key in ("run_id", "case_id", "variant"):
        _text(data, key)
    _text(data, "verdict", optional=True)
    recipe, threads = data["recipe"], data["threads"]
    # type() is int: True, "2" and 1.9 are not a recipe revision or a thread count this infergate wrote.
    if type(recipe) is not int or recipe < 1:
        raise BadLine(f"recipe must be a revision number (an integer from 1), got {describe(recipe)}")
    if threads is not None and (type(threads) is not int or threads < 1):
        raise BadLine(f"threads must be a positive integer or null, got {describe(threads)}")
    if not isinstance(data["environment"], dict):
        raise BadLine(f"environment must be an object, got {describe(data['environment'])}")
    if not isinstance(data["runs"], list) or not data["runs"]:
        raise BadLine(f"runs must be a non-empty list of runs, got {describe(data['runs'])}")
    try:
        runs = tuple(RunRecord.from_json(r, RUN_RECORD_VERSION) for r in data["runs"])
    except InvalidBaseline as exc:
        raise BadLine(f"a run {exc}") from None
    return CaseRecord(data["run_id"], data["case_id"], data["variant"], recipe, threads, runs, data["environment"],
                      data["verdict"])


def check(root: Path, run: RunInfo, cases: Sequence[CaseRecord]) -> None:
    """What ``append`` would write, read back as ``load`` reads it (BadLine, naming the record): a
    results file whose provenance or case the history could not read is refused before anything is
    written, not appended for every later load of its class to refuse."""
    path = month_path(root, run.machine_class, run.night)
    fields = {k: getattr(run, k) for k in RUN_KEYS}  # not to_json: it assumes the types checked here
    for kind, data in (("run", fields), *(("case", c.to_json()) for c in cases)):
        try:
            if kind == "run":
                _run_from(path, json.loads(json.dumps(data)))
            else:
                _case_from(json.loads(json.dumps(data)))
        except BadLine as exc:
            raise BadLine(f"a {kind} record {exc}") from None


Seen = dict[tuple[str, ...], tuple[Path, int]]  # a run's (run_id,) or a case's (run_id, case_id): its file and line


def _once(seen: Seen, key: tuple[str, ...], path: Path, number: int) -> None:
    """A record is written once: a case read twice would be a second point of its night, and a run read
    twice would replace the first (its lock, commit and night) without a word."""
    if key in seen:
        first, line = seen[key]
        where = f"line {line}" if first == path else f"line {line} of history file {first}"
        what = f"run {key[0]}" if len(key) == 1 else f"case {key[1]} of run {key[0]}"
        raise DataFileError(f"history file {path} line {number} repeats {what}, already on {where}: each record is "
                            "written once (a line copied by hand, or two copies of the history joined?)")
    seen[key] = (path, number)


def _runless(path: Path, cases: Mapping[int, CaseRecord], runs: set[str]) -> None:
    """``append`` writes a run and its cases to one month file: a case whose run is not there was moved or
    truncated. Paired by id across files, a case filed in another class's directory was read as a
    point of that class's run by ``load(root)`` and refused by ``load(root, class)``."""
    orphans = {number: c.run_id for number, c in cases.items() if c.run_id not in runs}
    if orphans:
        numbers = ", ".join(map(str, sorted(orphans)[:3])) + (", ..." if len(orphans) > 3 else "")
        raise DataFileError(f"history file {path} line(s) {numbers}: case record(s) of run(s) "
                            f"{', '.join(sorted(set(orphans.values()))[:3])} whose run record is not in this file "
                            "(a run's cases are written to its month file: moved, truncated or edited by hand?)")


def read_file(path: Path, into: History, seen: Seen) -> None:
    """Add one JSONL file's records to ``into``; any bad line, a run or case already in ``seen``, or a case
    whose run is not in this file, is one DataFileError naming it."""
    try:
        raw_lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise DataFileError(f"history file {path} is not readable: {exc}") from None
    if not any(raw.strip() for raw in raw_lines):  # append never leaves a month file without its run
        raise DataFileError(f"history file {path} holds no record (emptied or truncated?)")
    runs: set[str] = set()
    cases: dict[int, CaseRecord] = {}
    for number, raw in enumerate(raw_lines, 1):
        if not raw.strip():
            continue
        data = parse_json(path, raw, KIND, number)
        kind = _check_line(path, number, data)
        try:
            record = _run_from(path, data) if kind == "run" else _case_from(data)
        except BadLine as exc:
            raise DataFileError(f"history file {path} line {number}: a {kind} record {exc}") from None
        if isinstance(record, RunInfo):
            _once(seen, (record.run_id,), path, number)
            runs.add(record.run_id)
            into.runs[record.run_id] = record
        else:
            _once(seen, (record.run_id, record.case_id), path, number)
            cases[number] = record
    _runless(path, cases, runs)
    into.cases.extend(cases.values())


def check_class_dirs(root: Path, machine_class: str | None = None) -> None:
    """A path under ``root`` named as a class (or as ``machine_class``) that is not a directory is refused:
    read as no runs of that class, it was skipped without a word (``append`` makes directories only)."""
    for path in [root / machine_class] if machine_class else sorted(root.iterdir()):
        if MACHINE_CLASS_NAME.fullmatch(path.name) and path.exists() and not path.is_dir():
            raise DataFileError(f"history {root}: {path} is not a directory of month files (a file moved or "
                                "written there by hand?)")


def load(root: Path, machine_class: str | None = None) -> History:
    if not root.is_dir():  # a mistyped --history must not read as an empty history
        raise DataFileError(f"history directory {root} {'is not a directory' if root.exists() else 'does not exist'}")
    check_class_dirs(root, machine_class)
    history = History()
    pattern = f"{machine_class}/*.jsonl" if machine_class else "*/*.jsonl"
    seen: Seen = {}
    for path in sorted(root.glob(pattern)):
        read_file(path, history, seen)
    return history


def load_runs(root: Path, action: str) -> History:
    """``load``, refusing a directory that holds no run: a mistyped ``--history`` (an existing directory
    of something else) must not read as a night with nothing to report."""
    history = load(root)
    if not history.runs:
        raise DataFileError(f"history {root} holds no runs: nothing to {action}")
    return history


def _records(run: RunInfo, cases: Iterable[CaseRecord]) -> Any:
    """A run's records as written and read back, its source (the results file's name) aside: the same
    file added again under another name is the same run."""
    fields = {k: v for k, v in run.to_json().items() if k != "source"}
    return json.loads(json.dumps([fields, sorted((c.to_json() for c in cases), key=lambda d: d["case_id"])]))


def check_repeats(root: Path, items: Sequence[tuple[Path, RunInfo, Sequence[CaseRecord]]]) -> None:
    """A run id already in the history (or given twice) is kept once: only right when it comes with the
    same records. The id is the class, lane, session and run timestamps; other records under it (an
    edited copy of a results file, another draw of ``history simulate``) were dropped without a word."""
    known: dict[str, tuple[str, Any]] = {}
    wanted = {run.run_id for _, run, _ in items}  # only these are compared: not the whole class's history
    for machine_class in sorted({run.machine_class for _, run, _ in items}):
        if not (root / machine_class).is_dir():
            continue
        history = load(root, machine_class)
        of_run: dict[str, list[CaseRecord]] = {rid: [] for rid in wanted & history.runs.keys()}
        for c in history.cases:  # one pass over the class's cases, not one per run
            of_run.get(c.run_id, []).append(c)
        for rid, held in of_run.items():
            known[rid] = (f"the history {root}", _records(history.runs[rid], held))
    for path, run, cases in items:
        records = _records(run, cases)
        where, had = known.setdefault(run.run_id, (f"results file {path}", records))
        if had != records:
            raise DataFileError(f"results file {path}: run {run.run_id} (session {run.session}) is already in "
                                f"{where} with other records; a run id is kept once, so these would be lost "
                                "(a results file edited by hand?): nothing was added")


def append(root: Path, items: Sequence[tuple[RunInfo, Sequence[CaseRecord]]]) -> list[bool]:
    """Append each run and its cases under one lock per class; False where the run id is already there."""
    by_class: dict[str, list[int]] = {}
    for k, (run, _) in enumerate(items):
        by_class.setdefault(run.machine_class, []).append(k)
    added = [False] * len(items)
    for machine_class, indices in by_class.items():
        try:  # add and simulate check the paths first; this is for what changed since (a race, permissions)
            (root / machine_class).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataFileError(f"history {root}: cannot make {root / machine_class}: {exc.strerror or exc}") from None
        with filelock.FileLock(str(root / machine_class / ".lock"), timeout=120):
            known = set(load(root, machine_class).runs)
            lines: dict[Path, list[str]] = {}
            for k in indices:
                run, cases = items[k]
                if run.run_id in known:
                    continue
                known.add(run.run_id)
                added[k] = True
                text = [json.dumps(run.to_json(), sort_keys=True)]
                text += [json.dumps(c.to_json(), sort_keys=True, allow_nan=False) for c in cases]
                lines.setdefault(month_path(root, machine_class, run.night), []).extend(text)
            # The month file is rewritten whole (temp file, rename), not appended to: a write cut short
            # would leave a torn last line, and load would then refuse the whole class.
            for path, text in lines.items():
                old = path.read_text(encoding="utf-8") if path.exists() else ""
                if old and not old.endswith("\n"):  # load reads a last line without one; glued to ours, neither parses
                    old += "\n"
                write_text(path, old + "\n".join(text) + "\n")
    return added


def series(history: History, machine_class: str, lane: str) -> dict[str, list[tuple[RunInfo, CaseRecord]]]:
    """Each case's records of a class and lane, oldest first."""
    out: dict[str, list[tuple[RunInfo, CaseRecord]]] = {}
    for run, case in history.of(machine_class, lane):
        out.setdefault(case.case_id, []).append((run, case))
    return out


def set_up_key(run: RunInfo, case: CaseRecord) -> str:
    """What a series' segment must share: the lock digest, the variant's recipe and the threads."""
    return f"{run.lock or 'unknown-lock'}|recipe {case.recipe}|threads {case.threads}"
