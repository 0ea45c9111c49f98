"""``python -m infergate run``: the perf suite (everything under ``perf/``) with the speedup gate.

A thin front to pytest: any argument it does not know itself is passed to pytest unchanged
(``-k bert``, ``--ig-json out.json``, ``--ig-floor 0.03``...). Exit codes: 0 every gated case
passed; 1 a regression (or another test failure); 6 nothing regressed but a case could not be
decided (``--ig-inconclusive fail``, the default); 2-5 pytest's own (interrupted, internal error,
usage error, no tests).

"""

from __future__ import annotations

import argparse
import sys
import time

from ..building.cases import PROFILES
from ..core.paths import REPO_ROOT
from ..core.validate import whole_number
from ..pytest_plugin.options import PROFILE, UPDATE_BASELINES
from ..pytest_plugin.perf_plugin import REPEAT
from ..reports.summary import DEFAULT_REPEAT, RECORD_RUNS

PERF_DIR = REPO_ROOT / "perf"


def pytest_args(profile: str, update_baselines: bool, repeat: int | None, extra: list[str]) -> list[str]:
    args = [str(PERF_DIR), "--rootdir", str(REPO_ROOT), "-c", str(REPO_ROOT / "pyproject.toml"), PROFILE, profile]
    if update_baselines:
        args.append(UPDATE_BASELINES)
    if repeat is not None:  # else the plugin's rule (summary.runs_per_model), the same as pytest's
        args += [REPEAT, str(repeat)]
    return args + extra


def parser() -> argparse.ArgumentParser:
    run = argparse.ArgumentParser(prog="python -m infergate run", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    # pytest's own spellings are the same options here (one meaning per option): the run command
    # passes them to pytest itself, so a second copy in the pytest arguments would be ignored.
    run.add_argument("--profile", PROFILE, choices=sorted(PROFILES), default="default",
                     help="which slice of the matrix to run. Default: default")
    run.add_argument("--update-baselines", UPDATE_BASELINES, action="store_true",
                     help="record this run's speedups as the baselines (merged, atomic). Default: off")
    run.add_argument("--repeat", REPEAT, type=whole_number(1, 50), default=None, metavar="N",
                     help=f"separate processes per model ({REPEAT}). Default: {DEFAULT_REPEAT}, or "
                          f"{RECORD_RUNS} with --update-baselines")
    return run


def main(argv: list[str] | None = None) -> int:
    args, extra = parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    import pytest

    start = time.perf_counter()
    code = int(pytest.main(pytest_args(args.profile, args.update_baselines, args.repeat, extra)))
    elapsed = time.perf_counter() - start
    meaning = {0: "pass", 1: "REGRESSION or a failed test",
               6: "INCONCLUSIVE (no regression, but a case could not be decided)"}.get(code, "pytest error")
    print(f"infergate run: profile {args.profile}, {elapsed:.0f} s, exit code {code}: {meaning}")
    return code


if __name__ == "__main__":
    sys.exit(main())
