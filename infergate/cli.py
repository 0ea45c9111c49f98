"""``python -m infergate run``: the perf suite (everything under ``perf/``) with the speedup gate.

A thin front to pytest: any argument it does not know itself is passed to pytest unchanged
(``-k bert``, ``--ig-json out.json``, ``--ig-floor 0.03``...). Exit codes: 0 every gated case
passed; 1 a regression (or another test failure); 6 nothing regressed but a case could not be
decided (``--ig-inconclusive fail``, the default); 2-5 pytest's own (interrupted, internal error,
usage error, no tests).

``python -m infergate baselines add|show``: see ``infergate.baselines_cli``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .cases import PROFILES
from .options import PROFILE, UPDATE_BASELINES, whole_number
from .perf_plugin import REPEAT
from .summary import DEFAULT_REPEAT

ROOT = Path(__file__).resolve().parent.parent
PERF_DIR = ROOT / "perf"


# A baseline needs several runs for the gate to know the between-run spread (stats.RunSpread).
RECORD_RUNS = 5


def pytest_args(profile: str, update_baselines: bool, repeat: int | None, extra: list[str]) -> list[str]:
    args = [str(PERF_DIR), "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), PROFILE, profile]
    if update_baselines:
        args.append(UPDATE_BASELINES)
    if repeat is None and update_baselines:
        repeat = RECORD_RUNS
    if repeat is not None:
        args += [REPEAT, str(repeat)]
    return args + extra


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infergate", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run the perf suite and gate speedups against the baselines",
                              description=__doc__)
    # pytest's own spellings are the same options here (one meaning per option): the run command
    # passes them to pytest itself, so a second copy in the pytest arguments would be ignored.
    run.add_argument("--profile", PROFILE, choices=sorted(PROFILES), default="default",
                     help="which slice of the matrix to run. Default: default")
    run.add_argument("--update-baselines", UPDATE_BASELINES, action="store_true",
                     help="record this run's speedups as the baselines (merged, atomic). Default: off")
    run.add_argument("--repeat", REPEAT, type=whole_number(1, 50), default=None, metavar="N",
                     help=f"separate processes per model ({REPEAT}). Default: {DEFAULT_REPEAT}, or "
                          f"{RECORD_RUNS} with --update-baselines")
    commands.add_parser("baselines", help="add CI results as baseline sessions; show what baselines hold",
                        add_help=False)
    commands.add_parser("claims", help="measure the guide's fusion claim and whether compile can replace IPEX",
                        add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser_ = parser()
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["baselines"]:
        from .baselines_cli import main as baselines_main

        return baselines_main(argv[1:])
    if argv[:1] == ["claims"]:
        from .claims_cli import main as claims_main

        return claims_main(argv[1:])
    args, extra = parser_.parse_known_args(argv)
    import pytest

    start = time.perf_counter()
    code = int(pytest.main(pytest_args(args.profile, args.update_baselines, args.repeat, extra)))
    elapsed = time.perf_counter() - start
    meaning = {0: "pass", 1: "REGRESSION or a failed test", 6: "INCONCLUSIVE (no regression, but a case could not be decided)"}
    print(f"infergate run: profile {args.profile}, {elapsed:.0f} s, exit code {code}: {meaning.get(code, 'pytest error')}")
    return code


if __name__ == "__main__":
    sys.exit(main())
