"""The installed plugin in a user's project: the packaged perf and correctness tests
(``suite/``) for the configured models alone, collected as if named on the command line
(``--ig-suite``; ``auto``: when ``[tool.infergate]`` configures models and pytest got no paths).
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

from .session import RunContext
from .session import session as run_session
from .settings import CONFIG, SUITE, UPDATE_BASELINES

SUITE_DIR = Path(__file__).resolve().parent / "suite"
SUITE_FILES = {"perf": SUITE_DIR / "test_perf.py", "correctness": SUITE_DIR / "test_correctness.py"}

_CHOSEN = pytest.StashKey[tuple[Path, ...]]()


def chosen_suites(run: RunContext, paths_given: bool) -> tuple[Path, ...]:
    """The packaged test modules this run collects (``--ig-suite``); a suite named in a run without
    configured models is refused: it would collect nothing."""
    choice = run.settings.suite
    if choice == "auto":
        from_pyproject = run.settings.config is None and bool(run.models)
        return tuple(SUITE_FILES.values()) if from_pyproject and not paths_given else ()
    if choice == "none":
        return ()
    if not run.models and not run.settings.checkpoints:
        raise pytest.UsageError(
            f"infergate: {SUITE} {choice}: no models configured: add a [tool.infergate] table to the rootdir's "
            f"pyproject.toml or give {CONFIG}=FILE.toml (python -m infergate init writes a starter)")
    return tuple(SUITE_FILES.values()) if choice == "all" else (SUITE_FILES[choice],)


def naming_problem(python_files: list[str], python_functions: list[str]) -> str | None:
    """Why pytest would silently collect none of the packaged tests under the project's naming rules, or None."""
    name = SUITE_FILES["perf"].name
    if not any(fnmatch.fnmatch(name, pattern) for pattern in python_files):
        return (f"python_files = {' '.join(python_files)} does not match the plugin's test modules ({name}): "
                "add test_*.py")
    if not any(fnmatch.fnmatch("test_speedup", p) if "*" in p else "test_speedup".startswith(p)
               for p in python_functions):
        return f"python_functions = {' '.join(python_functions)} does not match the plugin's tests: add test"
    return None


def record_command() -> str:
    """The command that records this run's baselines: ``run`` in this repository, else pytest itself."""
    import sys

    from ..core.paths import REPO_ROOT

    if (REPO_ROOT / "perf" / "test_speedups.py").is_file():
        return f"{sys.executable} -m infergate run --update-baselines"
    return f"{sys.executable} -m pytest {UPDATE_BASELINES}"


def pytest_configure(config: pytest.Config) -> None:
    # Runs after the root plugin's pytest_configure (tryfirst), which built the session. config.args
    # is what the session collects; an xdist worker parses the same command line and decides alike.
    chosen = chosen_suites(run_session(config), config.args_source is pytest.Config.ArgsSource.ARGS)
    config.stash[_CHOSEN] = chosen
    if not chosen:
        return
    problem = naming_problem(config.getini("python_files"), config.getini("python_functions"))
    if problem:
        raise pytest.UsageError(f"infergate: {SUITE}: {problem}")
    if str(SUITE_DIR) not in config.args:
        config.args.append(str(SUITE_DIR))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The directory holds both modules; a run that chose one drops the other's items.
    chosen = config.stash.get(_CHOSEN, ())
    left_out = set(SUITE_FILES.values()) - set(chosen)
    if not chosen or not left_out:
        return
    dropped = [item for item in items if Path(item.path).resolve() in left_out]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]
