"""Run one case in a fresh worker process (never a fork), so a crash or hang fails that case only. ``fn``
must be top-level, its arguments and result picklable; a pytest outcome comes back as ``WorkerOutcome``."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from ..core.errors import CaseCrashed, CaseError, CaseTimeout, UsageError, WorkerOutcome
from .measuring_env import child_environ

T = TypeVar("T")

STDERR_TAIL_LINES = 20
# After a timeout the worker gets this long to dump its Python stacks (SIGUSR1, faulthandler
# writes them from its C signal handler at once) before its process group is killed: the dump
# says where it hung.
STACK_DUMP_GRACE_S = 0.5
_STACK_DUMP_SIGNAL = signal.SIGUSR1

# Runs in the worker: restore the parent's import path first, so the pickled function's module
# (a test module under a rootdir, a package run from a checkout) imports as it did in the parent.
_BOOTSTRAP = (
    "import pickle, sys\n"
    "with open(sys.argv[1], 'rb') as f:\n"
    "    sys.path[:] = pickle.load(f)\n"
    "    from infergate.measuring.isolation import _worker_main\n"
    "    _worker_main(f, sys.argv[2], int(sys.argv[3]))\n"
)
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class RemoteTraceback(Exception):
    """Carries the worker's traceback text as the cause of an exception re-raised in the parent."""

    def __str__(self) -> str:
        return str(self.args[0])


def run_in_worker(fn: Callable[..., T], *args: Any, timeout: float,
                  env: Mapping[str, str | None] | None = None, argv_prefix: Sequence[str] = (),
                  stderr_log: Path | None = None, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a worker (``env``: changes to this process's environment, None unsetting a
    variable, as ``MeasuringEnv.worker_env`` gives them; ``argv_prefix``: a prefix that must exec in
    place); CaseCrashed, CaseTimeout. The worker ends with the calling thread (``die_with_driver``)."""
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise UsageError(f"run_in_worker needs a timeout > 0 seconds, got {timeout!r}")
    name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
    if getattr(fn, "__module__", None) == "__main__" or "<locals>" in getattr(fn, "__qualname__", ""):
        raise UsageError(f"cannot run {name} in a worker: the worker imports the function by module "
                         "and name, so it must be a top-level function of an importable module")
    with tempfile.TemporaryDirectory(prefix="infergate-worker-") as tmp:
        call_path, result_path, stderr_path = (Path(tmp) / n for n in ("call.pickle", "result.pickle", "err"))
        try:
            with open(call_path, "wb") as fh:
                pickle.dump(list(sys.path), fh)
                pickle.dump((fn, args, kwargs), fh)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise UsageError(f"cannot run {name} in a worker: {exc} (a top-level function and "
                             "picklable arguments are needed)") from None
        with open(stderr_path, "wb") as err:
            proc = subprocess.Popen(
                [*argv_prefix, sys.executable, "-c", _BOOTSTRAP, str(call_path), str(result_path), str(os.getpid())],
                stdin=subprocess.DEVNULL, stderr=err, start_new_session=True,
                env=None if not env else child_environ(env),
            )
            try:
                _wait(proc, timeout, name, stderr_path)
            finally:
                _kill_group(proc)
        stderr_text = stderr_path.read_text(encoding="utf-8", errors="replace")
        if stderr_text and stderr_log is not None:  # a console for progress only, the warnings kept
            with open(stderr_log, "a", encoding="utf-8") as log:
                log.write(f"--- {name} (pid {proc.pid}, exit {proc.returncode}) ---\n{stderr_text}")
        elif stderr_text:  # a passing case's warnings are not lost: pytest captures them as the test's
            sys.stderr.write(stderr_text)
        if proc.returncode != 0:
            raise CaseCrashed(f"worker running {name} {describe_exit(proc.returncode)}" + tail(stderr_text))
        if not result_path.is_file():
            raise CaseCrashed(f"worker running {name} exited with code 0 without returning a result "
                              "(sys.exit(0) or os._exit(0) in the case?)" + tail(stderr_text))
        with open(result_path, "rb") as fh:
            outcome = pickle.load(fh)
    return _unwrap(outcome)


def _wait(proc: subprocess.Popen, timeout: float, name: str, stderr_path: Path) -> None:
    try:
        proc.wait(timeout=timeout)
        return
    except subprocess.TimeoutExpired:
        pass
    try:
        os.kill(proc.pid, _STACK_DUMP_SIGNAL)
        proc.wait(timeout=STACK_DUMP_GRACE_S)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    _kill_group(proc)
    stderr_text = stderr_path.read_text(encoding="utf-8", errors="replace")
    raise CaseTimeout(
        f"worker running {name} exceeded its timeout of {timeout:g}s; killed its process group "
        f"(pid {proc.pid})" + tail(stderr_text)
    )


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the worker's whole process group: it, and any compile workers it started, are gone."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already empty
    proc.wait()


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            sig = signal.Signals(-returncode).name
        except ValueError:
            sig = "an unknown signal"
        return f"was killed by signal {sig} ({-returncode})"
    return f"exited with code {returncode}"


def tail(stderr_text: str, lines: int = STDERR_TAIL_LINES) -> str:
    # faulthandler (3.11+) ends a crash report with one very long "Extension modules: ..." line.
    kept = [ln for ln in stderr_text.rstrip().splitlines() if not ln.startswith("Extension modules:")]
    kept = kept[-lines:]
    if not kept:
        return "; its stderr was empty"
    return f"\n--- last {len(kept)} line(s) of the worker's stderr ---\n" + "\n".join(kept)


def _unwrap(outcome: tuple) -> Any:
    if outcome[0] == "ok":
        return outcome[1]
    if outcome[0] == "pytest":  # a skip, xfail or fail inside the worker: the pytest plugin raises it again
        _, kind, message = outcome
        raise WorkerOutcome(kind, message)
    _, exc_bytes, type_name, message, tb_text = outcome
    exc: BaseException | None = None
    if exc_bytes is not None:
        try:
            exc = pickle.loads(exc_bytes)
        except Exception:  # e.g. a constructor with required keyword arguments
            exc = None
    if exc is None:
        exc = CaseError(f"{type_name}: {message}")
    raise exc from RemoteTraceback(f"in the worker:\n{tb_text}")


# --------------------------------------------------------------------------------------------
# Worker side


def die_with_driver(driver: int) -> None:
    """End this worker and its process group (its compile workers) when the thread that started it
    ends: a driver killed or cancelled (a nightly job's SIGTERM, a SIGKILL: no cleanup of its own
    runs) must not leave a worker building or timing beside the next job's measurements. The kernel
    sends SIGTERM then (PR_SET_PDEATHSIG, Linux only), so the thread that starts a worker must live
    until the worker ends (run_in_worker's waits for it; the lane gate's endpoints are started and
    closed by the driver's own thread). The handler runs when the main thread next runs Python: a C
    call in progress (an op, a compile step) finishes first. Armed only in a worker that leads its
    own process group (run_in_worker's and the lane gate's start a session each): a kill of its group
    must never reach whoever started it."""
    if not sys.platform.startswith("linux") or os.getpgrp() != os.getpid():
        return
    import ctypes

    leader = os.getpid()

    def end(*_: object) -> None:
        if os.getpid() == leader:
            os.killpg(leader, signal.SIGKILL)
        else:  # a child forked from the worker inherits the handler: it ends alone, as by default
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, end)
    try:
        ok = ctypes.CDLL(None, use_errno=True).prctl(
            ctypes.c_int(PR_SET_PDEATHSIG), ctypes.c_ulong(signal.SIGTERM), ctypes.c_ulong(0), ctypes.c_ulong(0),
            ctypes.c_ulong(0)) == 0
    except (OSError, AttributeError):
        ok = False
    if not ok:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        return
    if os.getppid() == driver:  # started by it directly (or through a wrapper that execs in place)
        return
    try:
        os.kill(driver, 0)
    except ProcessLookupError:  # it ended before the request was made: nobody will send the signal
        end()
    except PermissionError:  # that pid is another user's now: not a driver of ours, but leave it be
        pass


def _worker_main(call_file: BinaryIO, result_path: str, driver: int | None = None) -> None:
    import faulthandler

    if driver is not None:
        die_with_driver(driver)

    # A segfault/abort prints the Python stack to stderr (the tail in CaseCrashed shows it), and
    # the parent's SIGUSR1 before a timeout kill prints where the case hung.
    faulthandler.enable(all_threads=True)
    faulthandler.register(_STACK_DUMP_SIGNAL, all_threads=True)
    try:
        fn, args, kwargs = pickle.load(call_file)
        outcome: tuple = ("ok", fn(*args, **kwargs))
        payload = pickle.dumps(outcome)
    except (SystemExit, KeyboardInterrupt):
        raise  # an exit() is the worker's exit code, as it would be for the whole session
    except BaseException as exc:  # pytest's skip/fail are BaseExceptions and are the case's outcome
        payload = pickle.dumps(_raised(exc))
    tmp = f"{result_path}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(payload)
    os.replace(tmp, result_path)  # the parent sees a whole result or none
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: torch/oneDNN atexit work can hang or crash after the result is in.
    os._exit(0)


def _raised(exc: BaseException) -> tuple:
    # pytest's outcome exceptions do not pickle (their classes claim the module "builtins"): sent as
    # their kind and message, or a skip in a worker would come back as a CaseError, a failure. Only
    # looked up, never imported: such an exception exists only if the called code loaded pytest.
    outcomes = sys.modules.get("_pytest.outcomes")
    for kind in ("XFailed", "Skipped", "Failed"):  # XFailed is a Failed: most specific first
        if outcomes is not None and isinstance(exc, getattr(outcomes, kind)):
            return ("pytest", kind, str(getattr(exc, "msg", None) or exc))
    tb_text = "".join(traceback.format_exception(exc))
    try:
        exc_bytes: bytes | None = pickle.dumps(exc)
    except Exception:
        exc_bytes = None
    return ("raised", exc_bytes, f"{type(exc).__module__}.{type(exc).__qualname__}", str(exc), tb_text)


def measure_startup(repeats: int = 3) -> list[float]:
    """Seconds to start a worker that imports torch and returns: the cost isolation adds per case."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run_in_worker(_import_torch, timeout=120)
        times.append(time.perf_counter() - start)
    return times


def _import_torch() -> str:
    import torch

    return torch.__version__


if __name__ == "__main__":
    # Through the package, so the pickled function is infergate.measuring.isolation._import_torch, not __main__'s.
    from infergate.measuring.isolation import measure_startup as _measure

    print("worker start-up incl. 'import torch' (s):", ", ".join(f"{t:.2f}" for t in _measure()))
