"""Isolation: a case that crashes, exits or hangs is that case's failure, with its cause, and the
session, the other cases' results and the baselines survive it."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from infergate.building.variants import Compile, Eager
from infergate.core.errors import CaseCrashed, CaseError, CaseTimeout, UsageError, WorkerOutcome
from infergate.measuring import baselines
from infergate.measuring.baseline_records import CaseBaseline
from infergate.measuring.isolation import STACK_DUMP_GRACE_S, run_in_worker
from infergate.pytest_plugin.isolation_plugin import IsolationSettings, raise_as_pytest
from infergate.pytest_plugin.settings import ISOLATE, TIMEOUT_SECONDS, Mode, _mode

REPO = Path(__file__).resolve().parent.parent


# -- worker functions: top level, so the worker can import them by name -------------------------


def add(a: int, b: int, *, scale: int = 1) -> int:
    return (a + b) * scale


def raise_value_error(text: str) -> None:
    raise ValueError(text)


class _Unpicklable(Exception):
    def __init__(self, text: str, code: int) -> None:  # two required args: pickle cannot rebuild it
        super().__init__(f"{text} ({code})")


def raise_unpicklable() -> None:
    raise _Unpicklable("odd", 7)


def pytest_outcome(kind: str, message: str) -> None:
    {"skip": pytest.skip, "xfail": pytest.xfail, "fail": pytest.fail}[kind](message)


def abort_after_printing(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
    os.abort()


def exit_with(code: int) -> None:
    os._exit(code)


def sys_exit_with(code: int) -> None:
    sys.exit(code)


def hang_with_a_child(pid_file: str) -> None:
    # A child in the worker's process group, as inductor's compile workers are: it must die too.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    Path(pid_file).write_text(str(child.pid))
    while True:
        time.sleep(60)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A killed child of the (dead) worker is reparented and reaped by init; a zombie is dead too.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


# -- run_in_worker ---------------------------------------------------------------------------------


def test_returns_the_result_and_passes_keyword_arguments() -> None:
    assert run_in_worker(add, 2, 3, scale=10, timeout=30) == 50


def test_runs_in_another_process() -> None:
    assert run_in_worker(os.getpid, timeout=30) != os.getpid()


def test_an_exception_comes_back_as_itself_with_the_worker_traceback() -> None:
    with pytest.raises(ValueError, match="^bad input 42$") as info:
        run_in_worker(raise_value_error, "bad input 42", timeout=30)
    assert "raise_value_error" in str(info.value.__cause__)  # where it was raised, in the worker


def test_an_unpicklable_exception_keeps_its_type_and_message() -> None:
    with pytest.raises(CaseError, match=r"test_isolation\._Unpicklable: odd \(7\)"):
        run_in_worker(raise_unpicklable, timeout=30)


def test_abort_is_a_crash_with_the_signal_and_the_stderr_tail() -> None:
    with pytest.raises(CaseCrashed) as info:
        run_in_worker(abort_after_printing, "last words before abort", timeout=30)
    message = str(info.value)
    assert "killed by signal SIGABRT (6)" in message
    assert "last words before abort" in message
    assert "abort_after_printing" in message  # faulthandler's Python stack, from the worker's stderr


@pytest.mark.parametrize("fn", [exit_with, sys_exit_with], ids=["os._exit", "sys.exit"])
def test_exit_code_is_a_crash_with_the_code(fn) -> None:
    # A native library that exits at import (os._exit) or a sys.exit both reach the case as its code.
    with pytest.raises(CaseCrashed, match="exited with code 127"):
        run_in_worker(fn, 127, timeout=30)


def test_exit_0_without_a_result_is_a_crash() -> None:
    with pytest.raises(CaseCrashed, match="exited with code 0 without returning a result"):
        run_in_worker(exit_with, 0, timeout=30)


def test_hang_is_a_timeout_that_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    start = time.monotonic()
    with pytest.raises(CaseTimeout) as info:
        run_in_worker(hang_with_a_child, str(pid_file), timeout=3)
    elapsed = time.monotonic() - start
    assert "exceeded its timeout of 3s" in str(info.value)
    assert "hang_with_a_child" in str(info.value)  # the stack dumped before the kill says where
    assert elapsed < 3 + STACK_DUMP_GRACE_S + 5
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child), f"the worker's child {child} survived the timeout kill"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
def test_a_worker_and_its_children_end_when_their_driver_is_killed(tmp_path: Path, how: str) -> None:
    # A cancelled nightly kills the driver; nothing of its own cleanup runs. Its worker (in a session
    # of its own, out of reach of a kill of the driver's group) must not go on beside the next job.
    import signal

    pid_file = tmp_path / "child.pid"
    driver = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(REPO)!r}, {str(Path(__file__).parent)!r}]
        from infergate.measuring.isolation import run_in_worker
        import test_isolation
        run_in_worker(test_isolation.hang_with_a_child, {str(pid_file)!r}, timeout=600)
    """)])
    worker = 0
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline and driver.poll() is None, "the worker never started its child"
            time.sleep(0.05)
        child = int(pid_file.read_text())
        worker = int(Path(f"/proc/{child}/stat").read_text().split(")")[-1].split()[1])  # the child's parent
        assert worker != driver.pid and _alive(worker)
        os.kill(driver.pid, getattr(signal, how))
        driver.wait(timeout=30)
        deadline = time.monotonic() + 10
        while (_alive(worker) or _alive(child)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(worker), f"the worker {worker} outlived its driver"
        assert not _alive(child), f"the worker's child {child} outlived the driver"
    finally:
        driver.kill()
        if worker:  # a failed run must not leave them behind either
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_lane_worker_whose_driver_is_already_gone_ends_at_once() -> None:
    # The lane gate's workers take the same guard (--driver); a driver that died before the worker
    # asked for the signal is caught by the worker itself, which ends its group instead of serving.
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    worker = subprocess.run([sys.executable, "-m", "infergate.gate.lane_worker", "--driver", str(gone.pid)],
                            cwd=REPO, stdin=subprocess.PIPE, capture_output=True, timeout=120, start_new_session=True)
    assert worker.returncode == -9, worker.stderr.decode(errors="replace")[-500:]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_worker_in_its_callers_process_group_never_arms_the_group_kill() -> None:
    # Started without a session of its own (by hand, a script), a dead --driver must not end the
    # caller's group: here the caller is a shell that reports it survived.
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    shell = subprocess.run(["sh", "-c", f"{sys.executable} -m infergate.gate.lane_worker --driver {gone.pid} "
                                        "< /dev/null; echo survived"],
                           cwd=REPO, capture_output=True, text=True, timeout=120, start_new_session=True)
    assert "survived" in shell.stdout, shell.stderr[-500:]


def test_a_local_function_is_refused_before_starting_a_worker() -> None:
    def local() -> None: ...

    with pytest.raises(UsageError, match="top-level function"):
        run_in_worker(local, timeout=30)


@pytest.mark.parametrize("timeout", [0, -3, None])
def test_timeout_must_be_positive(timeout) -> None:
    with pytest.raises(UsageError, match="timeout > 0"):
        run_in_worker(add, 1, 2, timeout=timeout)


# -- settings and options --------------------------------------------------------------------------


def test_auto_isolates_ipex_and_perf_only() -> None:
    auto = IsolationSettings(Mode.AUTO, None)
    assert auto.isolates("jit_ipex")
    assert auto.isolates("eager", perf=True)
    assert not auto.isolates("eager") and not auto.isolates("compile")
    assert IsolationSettings(Mode.ALWAYS, None).isolates("eager")
    assert not IsolationSettings(Mode.NEVER, None).isolates("jit_ipex", perf=True)


def test_timeouts_default_per_variant_and_the_option_overrides_all() -> None:
    default = IsolationSettings(Mode.AUTO, None)
    assert default.timeout_for("compile") == Compile.timeout_s
    assert default.timeout_for("eager") == Eager.timeout_s
    assert Compile.timeout_s > Eager.timeout_s
    assert IsolationSettings(Mode.AUTO, 7.5).timeout_for("compile") == 7.5


@pytest.mark.parametrize("value", ["-3", "0", "nan", "inf", "soon"])
def test_bad_timeout_values_are_refused(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        TIMEOUT_SECONDS(value)


def test_bad_mode_lists_the_valid_ones() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="valid: auto, always, never"):
        _mode("sometimes")


# -- a test body run in a worker, as the plugin does it --------------------------------------------


def body_using_the_harness(case_id: str, harness, pid_file: str | None = None) -> str:
    from infergate.building.harness import Harness

    assert isinstance(harness, Harness)  # rebuilt in the worker, not pickled from here
    if pid_file is not None:  # where it ran: the worker's return value is not passed back
        Path(pid_file).write_text(str(os.getpid()), encoding="utf-8")
    return f"{case_id} in {os.getpid()}"


def test_a_test_body_runs_in_a_worker_with_its_own_harness(tmp_path) -> None:
    from infergate.pytest_plugin.isolation_plugin import _LocalFixture, call_test_function

    pid_file = tmp_path / "pid"
    kwargs = {"case_id": "x", "harness": _LocalFixture("harness"), "pid_file": str(pid_file)}
    # A test function's return value is not used (call_test_function returns None): that the body ran,
    # in another process, with a harness rebuilt there, is what its assertion and the pid it wrote say.
    run_in_worker(call_test_function, __name__, None, "body_using_the_harness", kwargs, None, timeout=60)
    assert int(pid_file.read_text()) != os.getpid()
    with pytest.raises(AssertionError):
        kwargs = {"case_id": "x", "harness": "not a harness"}
        run_in_worker(call_test_function, __name__, None, "body_using_the_harness", kwargs, None,
                      timeout=60)


# -- a whole run with a crashing and a hanging test-only variant -----------------------------------

# Registered only in this generated module (and again in each worker, which re-imports it).
DEMO_TEST = textwrap.dedent('''
    import os
    import time

    import pytest

    from infergate.measuring import baselines
    from infergate.measuring.baseline_records import CaseBaseline
    from infergate.matrix.dtypes import DType
    from infergate.building.harness import example_inputs
    from infergate.building.variants import VARIANTS, Variant


    class Crash(Variant):
        # Risky like IPEX, so auto mode runs it in a worker (eager stays in-process).
        name = "crash"
        crash_prone = True

        def _build(self, model, example, dtype):
            os.abort()


    class Hang(Variant):
        name = "hang"
        crash_prone = True
        timeout_s = HANG_TIMEOUT_S

        def _build(self, model, example, dtype):
            while True:
                time.sleep(60)


    VARIANTS.setdefault("crash", Crash())
    VARIANTS.setdefault("hang", Hang())


    @pytest.mark.infergate_matrix(suite="correctness", variants=("eager", "crash", "hang"),
                                  dtypes=(DType.FP32,))
    def test_case(case, harness):
        outputs = harness.built(case)(example_inputs(case.spec))
        assert outputs[0].isfinite().all()
        # What a perf run would do after measuring a case: record it in the baselines.
        entry = CaseBaseline.from_json(version=1, data=dict(
            speedup=1.0, ci=[0.9, 1.1], confidence=0.99, rounds=1, median_ms={"eager": 1.0},
            recorded="2025-11-25T12:00:00+00:00", environment={}))
        baselines.update(os.environ["DEMO_BASELINES"], {case.id: entry}, "demo-machine", "demo-lane")
''')


PRE_EXISTING = {
    "speedup": 1.5, "ci": [1.4, 1.6], "confidence": 0.99, "rounds": 50, "median_ms": {"eager": 2.0},
    "recorded": "2025-11-24T12:00:00+00:00", "environment": {},
}
# A few seconds: whether the hang is reached or the worker is still importing torch when it fires,
# the case is a CaseTimeout (where a hang is caught, with its stack, is asserted on hang_with_a_child).
HANG_TIMEOUT_S = 8


def test_a_run_with_crashing_and_hanging_cases_completes_and_keeps_the_rest(tmp_path: Path) -> None:
    # The hang variant's own timeout is short: a few seconds are enough to see it caught.
    (tmp_path / "test_demo.py").write_text(f"HANG_TIMEOUT_S = {HANG_TIMEOUT_S}\n" + DEMO_TEST)
    baseline_file = tmp_path / "baselines.json"
    baselines.update(baseline_file, {"pre-existing": CaseBaseline.from_json(PRE_EXISTING, version=1)},
                     "demo-machine", "demo-lane")
    junit = tmp_path / "junit.xml"
    env = {**os.environ, "DEMO_BASELINES": str(baseline_file), "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "infergate.pytest_plugin.plugin", "-p", "no:cacheprovider",
         "-p", "no:xdist",
         "--ig-profile", "smoke", ISOLATE, "auto", "-k", "eager_attn", f"--junitxml={junit}", "test_demo.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=20 * HANG_TIMEOUT_S,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # 1: tests failed, the session itself did not
    results = {tc.get("name"): tc for tc in ET.parse(junit).getroot().iter("testcase")}
    expected = [f"test_case[bert-qa-tiny-eager_attn-{v}-fp32]" for v in ("crash", "eager", "hang")]
    assert sorted(results) == expected

    def failure(variant: str) -> str:
        node = results[f"test_case[bert-qa-tiny-eager_attn-{variant}-fp32]"].find("failure")
        assert node is not None, f"{variant} did not fail"
        return node.get("message", "") + (node.text or "")

    assert results["test_case[bert-qa-tiny-eager_attn-eager-fp32]"].find("failure") is None
    crash = failure("crash")
    assert "CaseCrashed" in crash and "killed by signal SIGABRT (6)" in crash
    assert "in _build" in crash  # the stack from the worker's stderr points at the variant's build
    hang = failure("hang")
    assert "CaseTimeout" in hang and f"exceeded its timeout of {HANG_TIMEOUT_S}s" in hang

    recorded = baselines.load(baseline_file)
    assert sorted(recorded.cases) == ["bert-qa-tiny-eager_attn-eager-fp32", "pre-existing"]
    before = CaseBaseline.from_json(PRE_EXISTING, version=1).to_json()
    assert recorded.cases["pre-existing"].to_json() == before
    json.loads(baseline_file.read_text())  # still plain JSON


def test_an_in_process_timeout_off_the_main_thread_still_stops_the_case() -> None:
    """A signal cannot reach a case off the main thread; the timeout must not silently vanish."""
    code = textwrap.dedent("""
        import threading, time
        from infergate.pytest_plugin.isolation_plugin import alarm
        def case():
            with alarm(0.5, "slow-case"):
                time.sleep(30)
        t = threading.Thread(target=case); t.start(); t.join()
        print("the case ran to its end")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parent.parent, check=False)
    assert proc.returncode != 0 and "the case ran to its end" not in proc.stdout
    assert "slow-case runs off the main thread" in proc.stderr and "Timeout" in proc.stderr


@pytest.mark.parametrize("kind, outcome", [("skip", pytest.skip.Exception), ("xfail", pytest.xfail.Exception),
                                           ("fail", pytest.fail.Exception)])
def test_a_pytest_outcome_in_the_worker_is_the_same_outcome_here(kind: str, outcome: type) -> None:
    # pytest's outcome classes do not pickle: a skip used to come back as a CaseError, i.e. a failure.
    # The worker side names it as plain data, and the plugin raises it again as pytest's.
    with pytest.raises(WorkerOutcome) as brought:
        run_in_worker(pytest_outcome, kind, f"{kind}: because of a test reason", timeout=30)
    with pytest.raises(outcome, match=f"^{kind}: because of a test reason$"):
        raise_as_pytest(brought.value)
