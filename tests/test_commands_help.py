"""Every command's ``--help`` under a python without the lanes' packages: the bare ``python3`` that
README starts ``lanes``, ``measuring-env`` and ``gate`` with (issue 28)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import venv
from pathlib import Path

import pytest

from infergate.commands.front import prog
from infergate.commands.main import COMMANDS
from infergate.core.paths import REPO_ROOT

LANE_PACKAGES = ("torch", "numpy", "filelock", "pytest", "transformers", "matplotlib")
BARE_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONNOUSERSITE": "1"}


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty venv of this interpreter's base python: none of the lanes' packages, whatever this
    machine's system python has installed."""
    root = tmp_path_factory.mktemp("bare")
    venv.EnvBuilder(with_pip=False, system_site_packages=False).create(root)
    return root / "bin" / "python"


def _run(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), *args], cwd=REPO_ROOT, env=BARE_ENV, capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_bare_python_has_none_of_the_lanes_packages(bare_python: Path) -> None:
    present = [name for name in LANE_PACKAGES if importlib.util.find_spec(name) is not None]
    assert present, "this test runs in a lane: it has the packages the bare python must lack"
    code = "import importlib.util as u, sys; print(','.join(n for n in sys.argv[1:] if u.find_spec(n)))"
    found = _run(bare_python, "-c", code, *LANE_PACKAGES)
    assert found.returncode == 0 and found.stdout.strip() == "", found.stdout + found.stderr


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_commands_help_works_without_a_lane(bare_python: Path, command: str) -> None:
    out = _run(bare_python, "-m", "infergate", command, "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: {prog(command)}"), out.stdout[:200]
    assert out.stderr == ""


def test_a_command_that_needs_a_lane_says_so_in_one_line(bare_python: Path, tmp_path: Path) -> None:
    out = _run(bare_python, "-m", "infergate", "baselines", "show", "--baselines", str(tmp_path))
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "has no " in out.stderr and "run it under a lane's python" in out.stderr
    assert out.stdout == ""


def test_shards_without_a_lane_says_so_in_one_line(bare_python: Path) -> None:
    """The nightly profile names the packaged checkpoint, which only a lane has installed."""
    out = _run(bare_python, "-m", "infergate", "shards", "--profile", "nightly")
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("infergate shards: "), out.stderr
    assert out.stdout == ""
