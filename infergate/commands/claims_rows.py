"""What a claims.json row and its file-level fields must be for the report to read them: each
problem one line naming the field (the renderer would raise a traceback, or print Python's words)."""

from __future__ import annotations

import json
import math

from ..core.validate import is_number
from ..measuring.claims_measure import ClaimMeasurement


def table_problem(name: str, value: object, check, what: str) -> str | None:
    """``name`` must be an object whose every value passes ``check``."""
    if not isinstance(value, dict):
        return f"{name} is {json.dumps(value)[:60]}, not an object"
    bad = next((k for k, v in value.items() if not check(v)), None)
    return None if bad is None else f"{name}.{bad} is {json.dumps(value[bad])[:60]}, not {what}"


ANSWER_CHECKS = {"max_abs": lambda x: is_number(x, True), "within_tolerance": lambda x: isinstance(x, bool),
                 "agreed": lambda x: type(x) is int, "total": lambda x: type(x) is int,
                 "min_agreement": is_number,
                 "disagreements": lambda x: isinstance(x, list) and all(isinstance(d, str) for d in x)}
SOURCE_KEYS = ("path", "version", "rows", "origin", "command", "wall time")  # what the Sources table prints
COST_FIELDS = ("build_s", "first_call_s", "peak_rise_mib", "held_mib")


def raw_row_problem(raw: object) -> str | None:
    """What in a row as written would reach the report as a type it cannot use, or None."""
    if not isinstance(raw, dict):
        return f"{json.dumps(raw)[:60]} is not an object"
    for key in ("skipped", "proofs", "failed"):
        problem = table_problem(key, raw.get(key, {}), lambda v: isinstance(v, str), "text")
        if problem:
            return problem
    for key, fields, checks in (("answers", tuple(ANSWER_CHECKS), ANSWER_CHECKS),
                                ("costs", COST_FIELDS, dict.fromkeys(COST_FIELDS, lambda x: is_number(x, True)))):
        table = raw.get(key)
        problem = table_problem(key, table, lambda v, want=set(fields): isinstance(v, dict) and set(v) == want,
                                 f"an object of {', '.join(fields)}")
        if problem:
            return problem
        for variant, entry in table.items():  # type: ignore[union-attr]
            bad = next((f for f in fields if not checks[f](entry[f])), None)
            if bad:
                return f"{key}.{variant}.{bad} is {json.dumps(entry[bad])[:60]}, not what it records"
    return table_problem("fusions", raw.get("fusions", {}), lambda v: isinstance(v, dict) and all(
        isinstance(k, str) and type(n) is int for k, n in v.items()), "an object of counts")


def header_problem(data: dict) -> str | None:
    """The file-level fields the report prints: facts (text by name), dtypes and sources."""
    problem = table_problem("facts", data.get("facts"), lambda v: isinstance(v, str), "text")
    if problem:
        return problem
    dtypes = data.get("dtypes", [])
    if not isinstance(dtypes, list) or not all(isinstance(d, str) for d in dtypes):
        return f"dtypes is {json.dumps(dtypes)[:60]}, not a list of names"
    sources = data.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(x, dict) and set(SOURCE_KEYS) <= set(x) for x in sources):
        return f"sources is {json.dumps(sources)[:60]}, not a list of objects of {', '.join(SOURCE_KEYS)}"
    return None


def row_problem(m: ClaimMeasurement) -> str | None:
    """What no measurement writes: a name that is not text, a time that no timer yields."""
    for name in ("model_id", "arch", "task", "shape", "dtype"):
        if not isinstance(getattr(m, name), str):
            return f"{name} is {getattr(m, name)!r}, not text"
    if isinstance(m.wall_s, bool) or not isinstance(m.wall_s, (int, float)):
        return f"wall_s is {m.wall_s!r}, not a number"
    for timing in [t.timing for t in m.trials] + ([m.timing] if m.timing else []):
        for variant, times in timing.times_ns.items():
            if not isinstance(times, list) or not all(
                    isinstance(t, (int, float)) and not isinstance(t, bool) and 0 < t < math.inf for t in times):
                return f"{variant}'s times must be a list of positive numbers"
    return None


LOCKSTEP_SINCE = 3  # the claims.json version that added a trial's ``lockstep``


def lockstep_flag(trial: dict, version: int) -> bool:
    """A trial's ``lockstep`` flag: a boolean, and only in files of the version that has it."""
    flag = trial.get("lockstep", False)
    if type(flag) is not bool:
        raise ValueError(f"a trial's lockstep is {flag!r}, not true or false")
    if flag and version < LOCKSTEP_SINCE:
        raise ValueError(f"a lockstep trial in a version {version} file (lockstep rows are version {LOCKSTEP_SINCE})")
    return flag


def unpaired_lockstep(m: ClaimMeasurement) -> str | None:
    """Why a row's lockstep trials cannot be one lockstep pair per process (round counts differ, or a
    process's workers are not all lockstep), or None: checked on load, so the ratio never meets it."""
    counts: dict[int, set[int]] = {}
    flags: dict[int, set[bool]] = {}
    for t in m.trials:
        flags.setdefault(t.process, set()).add(t.lockstep)
        if t.lockstep:
            counts.setdefault(t.process, set()).update(len(ns) for ns in t.timing.times_ns.values())
    problems = [f"process {p}'s lockstep trials have {sorted(c)} rounds" for p, c in sorted(counts.items())
                if len(c) > 1]
    problems += [f"process {p} has lockstep and unpaired trials" for p, f in sorted(flags.items()) if len(f) > 1]
    return "; ".join(problems) or None
