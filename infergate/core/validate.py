"""Argument types shared by pytest options and the commands, one message per kind of bad value."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def directory(value: str) -> Path:
    """A directory to write into (made when missing): refused now, before anything is measured or
    written, when it cannot be one (an existing file, or a path under one), where creating it later
    ended in a FileExistsError or NotADirectoryError traceback."""
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} exists and is not a directory")
    _refuse_a_file_above(value, path)
    return path


def output_file(value: str) -> Path:
    """A file to write at the end of a run: refused now, not after the run, when it cannot be one
    (a directory, or a path under an existing file; missing directories are created on writing)."""
    path = Path(value)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is a directory: name a file")
    _refuse_a_file_above(value, path)
    return path


def results_output_file(value: str) -> Path:
    """``output_file`` for a run's results JSON: an existing file is replaced only when it is empty or
    a results file itself (pytest-benchmark's form: a "benchmarks" list), so a path mistyped onto a
    baselines, claims, gate or history file does not overwrite it."""
    import json

    path = output_file(value)
    if path.is_file() and path.stat().st_size:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
        if not (isinstance(data, dict) and isinstance(data.get("benchmarks"), list)):
            kind = data.get("schema") if isinstance(data, dict) and isinstance(data.get("schema"), str) else None
            raise argparse.ArgumentTypeError(
                f"{value} exists and is not a results file ({f'an {kind} file' if kind else 'no benchmarks list'}"
                "): it would be overwritten; name a new file")
    return path


def _refuse_a_file_above(value: str, path: Path) -> None:
    """The nearest existing ancestor must be a directory: the missing ones cannot be made under a file."""
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise argparse.ArgumentTypeError(f"{value}: {parent} exists and is not a directory")
            break


def fraction_type(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0.0 <= number < 1.0:
        raise argparse.ArgumentTypeError(f"{value} must be a fraction in [0, 1), e.g. 0.05 for 5%")
    return number


def alpha_type(value: str) -> float:
    number = fraction_type(value)
    if number == 0.0:
        raise argparse.ArgumentTypeError("the family-wise false-alarm rate must be > 0")
    return number


def seconds_up_to(high: float) -> Any:
    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
        if not 0.0 < number <= high:
            raise argparse.ArgumentTypeError(f"{value} must be in (0, {high:g}] seconds")
        return number

    parse.__name__ = "seconds"
    return parse



def whole_number(low: int, high: int) -> Any:
    """An argparse type: an int in [low, high], with one message for anything else."""
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{value} must be in [{low}, {high}]")
        return number

    parse.__name__ = "whole number"  # argparse names the type in its error message
    return parse


def is_number(x: object, none_too: bool = False) -> bool:
    """A JSON number (not a boolean), or null where ``none_too`` (a NaN written as null)."""
    return (x is None and none_too) or (isinstance(x, (int, float)) and not isinstance(x, bool))


def refuse_non_files(out_dir: Path, names: tuple[str, ...]) -> None:
    """A report's files must be files where they exist: found before any of them is written."""
    from .errors import UsageError

    taken = [n for n in names if (out_dir / n).exists() and not (out_dir / n).is_file()]
    if taken:
        raise UsageError(f"{out_dir / taken[0]} is not a file: the report cannot be written there")
