"""The records a baselines file holds and their JSON form, version 4 (1-3 are read as one session each;
the format: docs/architecture.md, "Baseline files"). Construction validates and normalises every field."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from ..building.variants import REFERENCE
from ..core.datafile import InvalidData, describe
from .stats import ESTIMATOR, LEGACY_ESTIMATOR, SPEEDUP_ESTIMATORS

SCHEMA = "infergate-baselines"
VERSION = 4
READABLE_VERSIONS = (1, 2, 3, 4)
HISTORY: tuple[str, ...] = (
    "1: first format: one file per machine class x lane; per case the speedup of the variant "
    "over eager with its bootstrap CI, confidence, rounds, median ms per variant, optional effect "
    "floor and fusion counts, record time and environment",
    "2: per case a list of 'runs' (speedup, ci, rounds, median_ms, recorded), one per separate "
    "measuring process, so the gate knows the between-run spread; a version 1 case is one run",
    "3: per case the 'estimator' its speedups were taken with: 'median-of-round-ratios' (the median "
    "over shuffled rounds of eager/variant) or 'ratio-of-medians' (what versions 1 and 2 hold)",
    "4: 'sessions' (host boot identity, kernel, first/last record, measuring environment, source) and "
    "per run the 'session' it was measured in, so the gate can tell within-session from "
    "between-session spread; a version 1-3 file is one session",
)
# What each means: infergate.measuring.stats. Versions 1 and 2 hold LEGACY_ESTIMATOR's speedups.
ESTIMATORS = tuple(SPEEDUP_ESTIMATORS)

TOP_KEYS = frozenset({"schema", "version", "history", "machine_class", "lane", "cases"})
TOP_KEYS_V4 = TOP_KEYS | {"sessions"}
_RUN_KEYS = frozenset({"speedup", "ci", "rounds", "median_ms", "recorded"})
_RUN_KEYS_V4 = _RUN_KEYS | {"session"}
_SESSION_KEYS = frozenset({"host", "kernel", "first", "last", "environment", "source"})
_CASE_REQUIRED = {1: _RUN_KEYS | {"confidence", "environment"}, 2: frozenset({"runs", "confidence", "environment"}),
                  3: frozenset({"runs", "confidence", "environment", "estimator"}),
                  4: frozenset({"runs", "confidence", "environment", "estimator"})}
_CASE_OPTIONAL = frozenset({"floor", "fusions"})
MAX_RUNS = 60  # per case, over all its sessions
LEGACY_SESSION = "legacy"  # the one session a version 1-3 file is read as


# A field that is not what the format says; ``load`` turns it into a DataFileError.
InvalidBaseline = InvalidData


# --------------------------------------------------------------------------------------------
# Field checks: each returns the normalised value or raises InvalidBaseline naming the field
# --------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    # bool is an int subclass, and `true` in a hand-edited file is never meant as 1.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive(name: str, value: Any) -> float:
    if not _is_number(value):
        raise InvalidBaseline(f"{name} must be a number, got {describe(value)}")
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise InvalidBaseline(f"{name} must be a finite number > 0, got {value!r}")
    return number


def _fraction(name: str, value: Any, low: float, high: float, low_inclusive: bool) -> float:
    if not _is_number(value):
        raise InvalidBaseline(f"{name} must be a number, got {describe(value)}")
    number = float(value)
    above = number >= low if low_inclusive else number > low
    if not (above and number < high):
        bracket = "[" if low_inclusive else "("
        raise InvalidBaseline(f"{name} must be in {bracket}{low:g}, {high:g}), got {value!r}")
    return number


def _ci(value: Any) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise InvalidBaseline(f"ci must be a pair [low, high] of numbers, got {describe(value)}")
    low, high = _positive("ci[0]", value[0]), _positive("ci[1]", value[1])
    if low > high:
        raise InvalidBaseline(f"ci must be [low, high] with low <= high, got {list(value)}")
    return low, high


def _rounds(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidBaseline(f"rounds must be an integer >= 1, got {describe(value)}")
    return value


def _median_ms(value: Any) -> Mapping[str, float]:
    if not isinstance(value, Mapping) or not value:
        raise InvalidBaseline(
            f"median_ms must be a non-empty object of variant -> ms, got {describe(value)}"
        )
    out = {}
    for variant, ms in value.items():
        if not isinstance(variant, str):
            raise InvalidBaseline(f"median_ms keys must be variant names, got {variant!r}")
        out[variant] = _positive(f"median_ms[{variant!r}]", ms)
    if REFERENCE not in out:
        raise InvalidBaseline("median_ms must include 'eager', the reference every speedup is against")
    return MappingProxyType(out)


def _fusions(value: Any) -> Mapping[str, int] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidBaseline(f"fusions must be an object of pattern -> count, got {describe(value)}")
    out = {}
    for pattern, count in value.items():
        if not isinstance(pattern, str) or not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise InvalidBaseline(f"fusions[{pattern!r}] must be a count >= 0, got {describe(count)}")
        out[pattern] = count
    return MappingProxyType(out)


def _recorded(value: Any, name: str = "recorded") -> str:
    """``name``: the field read (a session's first and last are checked here too, and were called "recorded")."""
    if not isinstance(value, str):
        raise InvalidBaseline(f"{name} must be an ISO timestamp string, got {describe(value)}")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise InvalidBaseline(f"{name} must be an ISO timestamp, got {value!r}") from None
    return value


def _environment(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidBaseline(f"environment must be an object, got {describe(value)}")
    return MappingProxyType(dict(value))


def _estimator(value: Any) -> str:
    if value not in ESTIMATORS:
        raise InvalidBaseline(f"estimator must be one of {', '.join(ESTIMATORS)}, got {describe(value)}")
    return str(value)


# --------------------------------------------------------------------------------------------
# The data
# --------------------------------------------------------------------------------------------


def _check_keys(data: Any, required: frozenset[str], optional: frozenset[str] = frozenset()) -> None:
    if not isinstance(data, Mapping):
        raise InvalidBaseline(f"must be an object, got {describe(data)}")
    missing = sorted(required - data.keys())
    if missing:
        raise InvalidBaseline(f"is missing {', '.join(missing)}")
    # A misspelt optional field ("flor") would otherwise be silently ignored.
    unknown = sorted(data.keys() - required - optional)
    if unknown:
        raise InvalidBaseline(f"has unknown field(s) {', '.join(map(repr, unknown))}")


@dataclass(frozen=True)
class RunRecord:
    """One measuring process's speedup of a case. Construction validates every field."""

    speedup: float
    ci: tuple[float, float]
    rounds: int
    median_ms: Mapping[str, float]
    recorded: str
    session: str = LEGACY_SESSION

    def __post_init__(self) -> None:
        # Frozen, so object.__setattr__; every record in memory, from a file or a run, is well-formed.
        set_ = object.__setattr__
        set_(self, "speedup", _positive("speedup", self.speedup))
        set_(self, "ci", _ci(self.ci))
        set_(self, "rounds", _rounds(self.rounds))
        set_(self, "median_ms", _median_ms(self.median_ms))
        set_(self, "recorded", _recorded(self.recorded))
        set_(self, "session", valid_session_id(self.session))

    @classmethod
    def from_json(cls, data: Any, version: int = VERSION) -> RunRecord:
        keys = _RUN_KEYS_V4 if version >= 4 else _RUN_KEYS
        _check_keys(data, keys)
        return cls(**{k: data[k] for k in keys})

    def to_json(self) -> dict[str, Any]:
        return {"speedup": self.speedup, "ci": list(self.ci), "rounds": self.rounds,
                "median_ms": dict(self.median_ms), "recorded": self.recorded, "session": self.session}


def valid_session_id(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 80:
        raise InvalidBaseline(f"session must be a non-empty id string, got {describe(value)}")
    return value


@dataclass(frozen=True)
class SessionInfo:
    """One recording session: a host boot. ``host`` is a hash, never the host name itself."""

    host: str
    kernel: str
    first: str
    last: str
    environment: Mapping[str, Any] = field(default_factory=dict)
    source: str = "recorded"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("host", "kernel", "source"):
            if not isinstance(getattr(self, name), str):
                raise InvalidBaseline(f"{name} must be a string, got {describe(getattr(self, name))}")
        set_(self, "first", _recorded(self.first, "first"))
        set_(self, "last", _recorded(self.last, "last"))
        set_(self, "environment", _environment(self.environment))

    @classmethod
    def from_json(cls, data: Any) -> SessionInfo:
        _check_keys(data, _SESSION_KEYS)
        return cls(**{k: data[k] for k in _SESSION_KEYS})

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "kernel": self.kernel, "first": self.first, "last": self.last,
                "environment": _plain(self.environment), "source": self.source}


def _runs(value: Any, version: int = VERSION) -> tuple[RunRecord, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise InvalidBaseline(f"runs must be a non-empty list, got {describe(value)}")
    if len(value) > MAX_RUNS:
        raise InvalidBaseline(f"runs has {len(value)} entries, more than the {MAX_RUNS} kept")
    out = []
    for i, run in enumerate(value):
        if isinstance(run, RunRecord):
            out.append(run)
            continue
        try:
            out.append(RunRecord.from_json(run, version))
        except InvalidBaseline as exc:
            raise InvalidBaseline(f"runs[{i}] {exc}") from None
    return tuple(out)


@dataclass(frozen=True)
class CaseBaseline:
    """One case's recorded runs. Construction validates and normalises every field."""

    runs: tuple[RunRecord, ...]
    confidence: float
    environment: Mapping[str, Any] = field(default_factory=dict)
    floor: float | None = None
    fusions: Mapping[str, int] | None = None
    estimator: str = ESTIMATOR

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "runs", _runs(self.runs))
        set_(self, "estimator", _estimator(self.estimator))
        set_(self, "confidence", _fraction("confidence", self.confidence, 0.0, 1.0, low_inclusive=False))
        set_(self, "environment", _environment(self.environment))
        if self.floor is not None:
            set_(self, "floor", _fraction("floor", self.floor, 0.0, 1.0, low_inclusive=True))
        set_(self, "fusions", _fusions(self.fusions))

    @property
    def speedups(self) -> tuple[float, ...]:
        return tuple(r.speedup for r in self.runs)

    @property
    def speedup(self) -> float:
        """Geometric mean of the runs: speedups are ratios, so they are averaged on the log scale."""
        return float(math.exp(sum(math.log(s) for s in self.speedups) / len(self.runs)))

    @property
    def level(self) -> float:
        """Geometric mean of the session means: the baseline the gate judges against
        (``session_gate.judge``), each session weighing the same however many runs it holds."""
        means = [sum(math.log(s) for s in runs) / len(runs) for runs in self.by_session().values()]
        return float(math.exp(sum(means) / len(means)))

    @property
    def span(self) -> tuple[float, float]:
        """Lowest and highest run, for people reading a table; the gate uses the pooled spread."""
        return min(self.speedups), max(self.speedups)

    @property
    def recorded(self) -> str:
        return max(r.recorded for r in self.runs)

    @property
    def variant(self) -> str:
        """The variant its speedups are of: the non-eager key of its runs' median_ms."""
        return next((v for v in self.runs[0].median_ms if v != REFERENCE), REFERENCE)

    def by_session(self) -> dict[str, tuple[float, ...]]:
        """Run speedups grouped by session, in the order sessions first appear."""
        out: dict[str, list[float]] = {}
        for r in self.runs:
            out.setdefault(r.session, []).append(r.speedup)
        return {k: tuple(v) for k, v in out.items()}

    @classmethod
    def from_json(cls, data: Any, version: int = VERSION) -> CaseBaseline:
        _check_keys(data, _CASE_REQUIRED[version], _CASE_OPTIONAL)
        extra = {k: data[k] for k in ("floor", "fusions") if k in data}
        if version == 1:  # a version 1 case is one run
            run = {k: data[k] for k in _RUN_KEYS}
            return cls(runs=(RunRecord.from_json(run, version),), confidence=data["confidence"],
                       environment=data["environment"], estimator=LEGACY_ESTIMATOR, **extra)
        estimator = data["estimator"] if version >= 3 else LEGACY_ESTIMATOR
        runs = _runs(data["runs"], version)
        return cls(runs=runs, confidence=data["confidence"], environment=data["environment"],
                   estimator=estimator, **extra)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "runs": [r.to_json() for r in self.runs],
            "confidence": self.confidence,
            "environment": _plain(self.environment),
            "estimator": self.estimator,
        }
        if self.floor is not None:
            out["floor"] = self.floor
        if self.fusions is not None:
            out["fusions"] = dict(self.fusions)
        return out


def _plain(value: Any) -> Any:
    """Read-only mappings back to dicts so json can write them."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class BaselineFile:
    machine_class: str
    lane: str
    cases: Mapping[str, CaseBaseline]
    history: tuple[str, ...] = HISTORY
    version: int = VERSION  # as read; always written as VERSION
    sessions: Mapping[str, SessionInfo] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "version": VERSION,
            "history": list(self.history),
            "machine_class": self.machine_class,
            "lane": self.lane,
            "sessions": {sid: info.to_json() for sid, info in self.sessions.items()},
            "cases": {case_id: case.to_json() for case_id, case in self.cases.items()},
        }
