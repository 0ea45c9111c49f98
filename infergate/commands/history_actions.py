"""The history command's analysis actions (detect, promote, publish): parsers and dispatch."""

from __future__ import annotations

import argparse
from typing import Any


def add_parsers(sub: Any) -> None:
    """No analysis actions yet."""


def run(args: argparse.Namespace) -> list[str]:
    raise AssertionError(f"unknown history action {args.action}")


def exit_code(args: argparse.Namespace, lines: list[str]) -> int:
    return 0
