"""Strict reading of the project's versioned JSON data files, with one message style naming the kind
of file: NaN/Infinity, duplicate keys, empty, non-UTF-8 and truncated files are refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import DataFileError


class InvalidData(ValueError):
    """A field that is not what its format says; the loaders turn it into a DataFileError naming the file."""


def describe(value: Any) -> str:
    """A value as an error message shows it: its type and a short repr."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _reject_constant(token: str) -> Any:
    # json accepts NaN/Infinity by default; they are not JSON and never a valid measurement.
    raise InvalidData(f"contains {token}, which is not valid JSON")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A botched merge conflict resolution can leave a case twice; json would keep the last.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidData(f"has the key {key!r} twice (a merge leftover?)")
        out[key] = value
    return out


def parse_json(path: Path, raw: bytes, kind: str, line: int | None = None) -> Any:
    """The JSON in ``raw`` (read from ``path``), or one DataFileError beginning '<kind> file <path>';
    ``line``: ``raw`` is that line of a JSON-lines file, named as '<kind> file <path> line <line>', as
    its other errors are (the position inside it is then a column alone)."""
    where = f"{kind} file {path}" if line is None else f"{kind} file {path} line {line}"
    if not raw.strip():
        raise DataFileError(f"{where} is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{where} is not UTF-8 text (byte {exc.start}): corrupt?") from None
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys)
    except InvalidData as exc:
        raise DataFileError(f"{where} {exc}") from None
    except json.JSONDecodeError as exc:
        at = f"line {exc.lineno} column {exc.colno}" if line is None else f"column {exc.colno}"
        raise DataFileError(f"{where} is not valid JSON (truncated or corrupt?): {exc.msg} at {at}") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer too long to convert, absurd nesting
        raise DataFileError(f"{where} could not be parsed: {exc}") from None
