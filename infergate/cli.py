"""``python -m infergate run``: the perf suite (everything under ``perf/``) with the speedup gate.

A thin front to pytest: the exit code is pytest's, and any argument it does not know itself is
passed to pytest unchanged (``-k bert``, ``--ig-json out.json``, ``--ig-floor 0.03``...).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .cases import PROFILES
from .options import PROFILE, UPDATE_BASELINES

ROOT = Path(__file__).resolve().parent.parent
PERF_DIR = ROOT / "perf"


def pytest_args(profile: str, update_baselines: bool, extra: list[str]) -> list[str]:
    args = [str(PERF_DIR), "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), PROFILE, profile]
    if update_baselines:
        args.append(UPDATE_BASELINES)
    return args + extra


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infergate", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run the perf suite and gate speedups against the baselines",
                              description=__doc__)
    run.add_argument("--profile", choices=sorted(PROFILES), default="default",
                     help="which slice of the matrix to run. Default: default")
    run.add_argument("--update-baselines", action="store_true",
                     help="record this run's speedups as the baselines (merged, atomic). Default: off")
    args, extra = parser.parse_known_args(argv)
    import pytest

    start = time.perf_counter()
    code = int(pytest.main(pytest_args(args.profile, args.update_baselines, extra)))
    elapsed = time.perf_counter() - start
    print(f"infergate run: profile {args.profile}, {elapsed:.0f} s, pytest exit code {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
