"""Shape checks for parsed JSON that a reader goes on to use: each check takes (where, value) and
raises datafile.InvalidData naming the field, so a malformed field is one message naming the file
(the loader adds it), never a TypeError or IndexError deep in a report. Stdlib only."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .datafile import InvalidData, describe

Check = Callable[[str, Any], None]


def _fail(where: str, expected: str, value: Any) -> None:
    raise InvalidData(f"{where}: expected {expected}, got {describe(value)}")


def number(where: str, value: Any) -> None:
    # bool is an int subclass, and `true` is never meant as 1; NaN and inf are never a measurement
    # (parse_json refuses the NaN token, but 1e999 parses as inf).
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _fail(where, "a finite number", value)


def integer(where: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(where, "a whole number", value)


def text(where: str, value: Any) -> None:
    if not isinstance(value, str):
        _fail(where, "a string", value)


def flag(where: str, value: Any) -> None:
    if not isinstance(value, bool):
        _fail(where, "true or false", value)


def anything(where: str, value: Any) -> None:
    """A field no reader looks inside."""


def optional(check: Check) -> Check:
    def run(where: str, value: Any) -> None:
        if value is not None:
            check(where, value)

    return run


def list_of(check: Check, length: int | None = None) -> Check:
    def run(where: str, value: Any) -> None:
        if not isinstance(value, list) or (length is not None and len(value) != length):
            _fail(where, f"a list of {length}" if length is not None else "a list", value)
        for i, item in enumerate(value):
            check(f"{where}[{i}]", item)

    return run


def dict_of(check: Check) -> Check:
    def run(where: str, value: Any) -> None:
        if not isinstance(value, Mapping):
            _fail(where, "an object", value)
        for key, item in value.items():
            check(f"{where}.{key}", item)

    return run


def obj(spec: Mapping[str, Check], required: Sequence[str] = ()) -> Check:
    """An object whose listed keys, where present, pass their checks; ``required`` must be present.
    Keys not in ``spec`` are left to the reader (a dataclass refuses unknown ones)."""
    def run(where: str, value: Any) -> None:
        if not isinstance(value, Mapping):
            _fail(where, "an object", value)
        for key in required:
            if key not in value:
                raise InvalidData(f"{where}: has no {key!r}")
        for key, check in spec.items():
            if key in value:
                check(f"{where}.{key}" if where else key, value[key])

    return run
