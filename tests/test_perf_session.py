"""The perf suite as a pytest session: what the run says and exits with, driven end to end through
pytest (collection, hooks, summary) with an instant measurer in place of the model workers."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infergate.measuring.sampling import ModelMeasurement
from infergate.pytest_plugin import perf_plugin
from infergate.pytest_plugin.settings import EXIT_NOTHING_JUDGED

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent


def fake_worker_measurer(settings: Any, isolation: Any, menv: Any) -> Callable[..., ModelMeasurement]:
    """Synthetic paired timings (jit 1.2x eager) at once; each call logged as "pid model seed" to
    $FAKE_MEASURER_LOG, so a test sees who measured what; $FAKE_SKIP: the variant the worker skips."""
    def measure(case: Any, variants: tuple[str, ...], plan: Any) -> ModelMeasurement:
        rng = random.Random(plan.seed)
        times = {v: [int(1e6 * (1 + 0.01 * rng.random()) / (1.0 if v == "eager" else 1.2)) for _ in range(50)]
                 for v in variants}
        with open(os.environ["FAKE_MEASURER_LOG"], "a") as log:
            log.write(f"{os.getpid()} {case.model_id} {plan.seed}\n")
        skip = os.environ.get("FAKE_SKIP", "")
        return ModelMeasurement(case.model_id, case.dtype.value, list(variants), times, threads=plan.threads or 1,
                                rounds=50, measure_s=0.01, skipped={skip: "the worker cannot build it"} if skip else {})
    return measure


# The same measurer as a plugin (-p) for a pytest subprocess.
FAKE_PLUGIN = """
import infergate.pytest_plugin.perf_plugin as perf_plugin
from tests.test_perf_session import fake_worker_measurer

perf_plugin.worker_measurer = fake_worker_measurer
"""

PLUGIN = ("-p", "infergate.pytest_plugin.plugin", "-p", "no:cacheprovider", "-q", "-rs")
RUN = ("-p", "fake_measurer", *PLUGIN, "--ig-profile", "smoke", "--ig-baselines", "bl", "--ig-repeat", "1")


@pytest.fixture
def perf_dir(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", f"{REPO}:{pytester.path}")
    monkeypatch.setenv("FAKE_MEASURER_LOG", str(pytester.path / "calls.log"))
    pytester.makepyfile(fake_measurer=FAKE_PLUGIN)
    pytester.makepyfile(test_speedups=(REPO / "perf" / "test_speedups.py").read_text())
    pytester.mkdir("bl")  # RUN's --ig-baselines: a directory that does not exist is refused
    return pytester


def _calls(pytester: pytest.Pytester) -> list[str]:
    log = pytester.path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.slow
def test_perf_under_xdist_is_refused_in_one_line_before_anything_is_measured(perf_dir: pytest.Pytester) -> None:
    """Each xdist worker measured the same model at once, and the controller, holding no PerfRun,
    printed no summary and exited 0 whatever the cases' verdicts."""
    result = perf_dir.runpytest_subprocess(*RUN, "-k", "jit-fp32", "-n", "2")
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, out
    assert "perf cases cannot run under pytest-xdist (-n)" in out and "Traceback" not in out, out
    assert _calls(perf_dir) == [], "a model was measured before the refusal"


@pytest.fixture
def inprocess(perf_dir: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """perf_dir for runs in this process (seconds faster than a subprocess)."""
    monkeypatch.setattr(perf_plugin, "worker_measurer", fake_worker_measurer)
    return perf_dir


def _run(pytester: pytest.Pytester, *args: str) -> tuple[str, int]:
    result = pytester.runpytest_inprocess(*PLUGIN, *RUN[2 + len(PLUGIN):], *args)
    return "\n".join(result.outlines + result.errlines), int(result.ret)


SKIP_ALL = """
import pytest

def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.skip(reason="not on this machine"))
"""


@pytest.mark.parametrize("how", ["at collection", "by the worker"])
def test_a_perf_run_whose_every_case_was_skipped_judged_nothing_and_says_why(
        inprocess: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """It exited 0 ('1 skipped'; the run command: 'exit code 0: pass') and printed no summary."""
    if how == "at collection":
        inprocess.makeconftest(SKIP_ALL)
        reason = "not on this machine"
    else:
        monkeypatch.setenv("FAKE_SKIP", "jit")
        reason = "the worker cannot build it"
    out, status = _run(inprocess, "-k", "jit-fp32", "--ig-json", "out.json")
    assert status == EXIT_NOTHING_JUDGED, out
    assert "NOTHING JUDGED on machine class" in out and f"1 skipped: {reason}" in out, out
    assert json.loads((inprocess.path / "out.json").read_text())["benchmarks"] == []


def test_a_slowdown_injected_into_a_variant_no_selected_case_has_is_refused(inprocess: pytest.Pytester) -> None:
    """It was silently not applied while the summary's banner said the variant had been slowed."""
    out, status = _run(inprocess, "-k", "jit-fp32", "--ig-inject-slowdown", "compile=0.5")
    assert status == pytest.ExitCode.USAGE_ERROR, out
    assert "--ig-inject-slowdown compile=0.5: no selected perf case is of variant compile" in out, out
    assert "Traceback" not in out and _calls(inprocess) == [], out
    out, status = _run(inprocess, "-k", "jit-fp32", "--ig-inject-slowdown", "jit=0.5")
    assert "TEST HOOK --ig-inject-slowdown jit=0.5" in out and len(_calls(inprocess)) == 1, out
