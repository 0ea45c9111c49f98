"""The package's static checks as tests: ruff over the repository and mypy over the package.

They run where the checkers are pinned (the current lane, lanes/current.in); mypy is pointed at this
interpreter, so the types it checks against are the lane's torch, transformers and pytest.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from infergate.core.paths import REPO_ROOT

# Pure Python: the same in both lanes (same Python, numpy, pytest, hypothesis): current lane only
# in ./suite test (tests/README.md).
pytestmark = pytest.mark.lane_independent


def _needs(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is pinned in the current lane only (lanes/current.in); this lane has no {module}")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=600)


def test_ruff_finds_nothing_in_the_repository() -> None:
    _needs("ruff")
    proc = _run("ruff", "check", "--no-cache", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_finds_nothing_in_the_package() -> None:
    _needs("mypy")
    proc = _run("mypy", "--python-executable", sys.executable)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_checkers_fail_on_a_broken_module(tmp_path: Path) -> None:
    """The two tests above can fail: the same commands reject a module with an unused import and a
    wrong return type."""
    _needs("ruff")
    _needs("mypy")
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n\n\ndef f() -> int:\n    return 'x'\n", encoding="utf-8")
    ruff = _run("ruff", "check", "--no-cache", "--config", str(REPO_ROOT / "pyproject.toml"), str(bad))
    assert ruff.returncode == 1 and "F401" in ruff.stdout, ruff.stdout + ruff.stderr
    mypy = _run("mypy", "--no-incremental", "--config-file", str(REPO_ROOT / "pyproject.toml"), str(bad))
    assert mypy.returncode == 1 and "Incompatible return value type" in mypy.stdout, mypy.stdout + mypy.stderr


# Modules are split by concept; past WARN_MODULE_LINES the test says so (a hint to look for a
# concept to split out, never a reason to cut a module in two), past MAX_MODULE_LINES it fails.
WARN_MODULE_LINES = 400
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60


def oversized(package: Path, module_limit: int = MAX_MODULE_LINES) -> list[str]:
    """Modules over ``module_limit`` and functions over MAX_FUNCTION_LINES, as 'path[:name] lines'."""
    import ast

    found = []
    for path in sorted(package.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(package).as_posix()
        if len(text.splitlines()) > module_limit:
            found.append(f"{rel} {len(text.splitlines())}")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    found.append(f"{rel}:{node.name} {lines}")
    return found


def test_modules_and_functions_stay_small() -> None:
    """Small modules with names that explain themselves: split by concept rather than grow."""
    import warnings

    assert oversized(REPO_ROOT / "infergate") == []
    large = [f for f in oversized(REPO_ROOT / "infergate", WARN_MODULE_LINES) if ":" not in f.split(" ")[0]]
    if large:
        warnings.warn(f"modules over {WARN_MODULE_LINES} lines (is a concept hiding in them?): {', '.join(large)}",
                      stacklevel=1)


def test_an_oversized_module_is_found(tmp_path: Path) -> None:
    (tmp_path / "big.py").write_text("x = 1\n" * (MAX_MODULE_LINES + 1), encoding="utf-8")
    assert oversized(tmp_path) == [f"big.py {MAX_MODULE_LINES + 1}"]
    assert oversized(tmp_path, WARN_MODULE_LINES) == [f"big.py {MAX_MODULE_LINES + 1}"]


def test_an_oversized_function_is_found(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "long.py").write_text(f"def long():\n{body}\n", encoding="utf-8")
    assert oversized(tmp_path) == [f"long.py:long {MAX_FUNCTION_LINES + 1}"]
