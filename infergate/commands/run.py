"""``python -m infergate run``: the perf suite (``perf/``) with the speedup gate, a thin front to
pytest that passes on every argument it does not know (``-k bert``, ``--ig-json out.json``). Exit
codes (``core.exit_codes``): 0 every gated case passed (or no test ran: ``--collect-only``, which the
closing line calls not a pass); 1 a regression or another failure; 10 not judged
(``--ig-inconclusive fail``); 8 the floor not ruled out (``--ig-unverified fail``); 7 nothing judged
(no baselines); 2-6 pytest's own (4 also for a bad option of run's own).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from typing import TYPE_CHECKING

from ..core import exit_codes
from ..core.paths import REPO_ROOT
from ..pytest_plugin.settings import PROFILE, REPEAT, UPDATE_BASELINES, Settings, option
from .front import prog

if TYPE_CHECKING:
    import pytest  # imported when run: --help works under the bare python3

PERF_DIR = REPO_ROOT / "perf"


def pytest_args(profile: str, update_baselines: bool, repeat: int | None, extra: list[str]) -> list[str]:
    args = [str(PERF_DIR), "--rootdir", str(REPO_ROOT), "-c", str(REPO_ROOT / "pyproject.toml"), PROFILE, profile]
    if update_baselines:
        args.append(UPDATE_BASELINES)
    if repeat is not None:  # else the plugin's rule (defaults.runs_per_model), the same as pytest's
        args += [REPEAT, str(repeat)]
    return args + extra


PLUGIN_MODULES = tuple(f"infergate.pytest_plugin.{m}" for m in (
    "perf_plugin", "fusion_plugin", "isolation_plugin", "project_plugin", "params"))


class StartedTests:
    """A pytest plugin counting the tests that started: a run that started none judged nothing,
    though pytest exits 0 for ``--collect-only``."""

    def __init__(self) -> None:
        self.started = 0
        self.collect_only = False
        self.undecided: str | None = None  # perf cases passed undecided by a pass policy

    def pytest_unconfigure(self, config: pytest.Config) -> None:  # after every plugin's sessionfinish
        from ..pytest_plugin.perf_plugin import passed_undecided

        self.undecided = passed_undecided(config)

    def pytest_configure(self, config: pytest.Config) -> None:
        self.collect_only = bool(config.getoption("collectonly"))

    def pytest_runtest_logstart(self) -> None:
        self.started += 1

    def nothing_run(self) -> str | None:
        """Why no test ran, or None when one did."""
        if self.started:
            return None
        return "--collect-only" if self.collect_only else "no test started"


def parser() -> argparse.ArgumentParser:
    run = argparse.ArgumentParser(prog=prog("run"), description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    # pytest's own options (settings.OPTIONS: one type, default and help), with a short alias each;
    # the run command passes them to pytest itself, so a second copy in the pytest arguments would be ignored.
    for alias, flag in (("--profile", PROFILE), ("--update-baselines", UPDATE_BASELINES), ("--repeat", REPEAT)):
        option(flag).add_to(run.add_argument, alias)
    return run


def main(argv: list[str] | None = None) -> int:
    try:
        args, extra = parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        # argparse's usage error is 2, which pytest (whose codes run passes on) uses for an interrupted
        # session: a bad option of run's own is pytest's usage error, as a bad --ig-* option is.
        return exit_codes.PYTEST_USAGE if exc.code == 2 else int(exc.code or 0)
    settings = Settings.from_args(args, REPO_ROOT)
    import pytest

    # pytest would wrap a missing lane package in its own ImportError about the plugin (a traceback,
    # exit 1); imported here, the front names the missing module in one line (exit 2). The plugin's
    # modules, not the plugin itself: the root conftest names the plugin only while it is not loaded.
    for module in PLUGIN_MODULES:
        importlib.import_module(module)

    start, started = time.perf_counter(), StartedTests()
    code = int(pytest.main(pytest_args(settings.profile.name, settings.update_baselines, settings.repeat, extra),
                           plugins=[started]))
    elapsed = time.perf_counter() - start
    meaning = exit_codes.run_meaning(code, recording=settings.update_baselines, nothing_run=started.nothing_run(),
                                     undecided=started.undecided)
    print(f"infergate run: profile {settings.profile.name}, {elapsed:.0f} s, exit code {code}: {meaning}")
    return code
