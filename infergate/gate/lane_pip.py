"""Running pip and venv for a lane (the side effects ``lanes`` takes as arguments, so tests pass fakes),
and ``classify_pip_failure``: a failed install's reason in one line. Stdlib only."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .lane_venvs import LaneError

# (command, log file) -> pip's exit status. Injected so tests never install anything.
PipRunner = Callable[[Sequence[str], Path], int]
# venv directory -> None; raises LaneError on failure. Injected so tests need no real venv.
VenvCreator = Callable[[Path], None]
# venv python -> ``pip freeze`` output.
FreezeRunner = Callable[[Path], str]


# --------------------------------------------------------------------------------------------
# Default side effects (replaced by fakes in tests)


def create_venv(venv: Path) -> None:
    """``python3 -m venv`` with the interpreter running this module (the system python3)."""
    venv.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "venv", str(venv)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True,
    )
    if proc.returncode != 0:
        # venv's own explanation (e.g. "ensurepip is not available") is on its last line.
        lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        detail = lines[-1] if lines else f"exit status {proc.returncode}"
        raise LaneError(f"cannot create venv {venv}: {_trim(detail)}")


# A silent terminal during a two-minute install looks like a hang: after this long, and as often,
# say what pip is doing (its latest Collecting / Downloading / Installing line) and for how long.
PROGRESS_EVERY_S = 15.0
_PIP_STEPS = ("Collecting ", "Downloading ", "Installing collected packages", "Successfully installed")


def pip_progress(log_text: str, elapsed_s: float) -> str:
    """One line on how far an install got, read from its log."""
    lines = [ln.strip() for ln in log_text.splitlines()]
    collected = sum(1 for ln in lines if ln.startswith("Collecting "))
    step = next((ln for ln in reversed(lines) if ln.startswith(_PIP_STEPS)), "starting")
    if step.startswith("Installing collected packages"):
        step = "installing the downloaded packages"
    return f"infergate: pip, {elapsed_s:.0f} s: {collected} package(s) collected; now: {_trim(step, 120)}"


def run_pip(cmd: Sequence[str], log: Path, every_s: float = PROGRESS_EVERY_S,
            say: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)) -> int:
    """Run pip with all output in ``log``; the terminal gets a progress line every ``every_s``."""
    with open(log, "w", encoding="utf-8") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        try:
            proc = subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT)
        except OSError as exc:  # e.g. the venv's python vanished
            fh.write(f"ERROR: cannot run pip: {exc}\n")
            return 127
        start = time.monotonic()
        try:
            while True:
                try:
                    return proc.wait(timeout=every_s)
                except subprocess.TimeoutExpired:
                    say(pip_progress(log.read_text(encoding="utf-8", errors="replace"), time.monotonic() - start))
        except BaseException:  # Ctrl-C: pip must not go on writing into the venv behind our back
            proc.kill()
            proc.wait()
            raise


def pip_freeze(python: Path) -> str:
    proc = subprocess.run(
        # --all: setuptools too. Plain freeze leaves it out, and torch 2.13 requires setuptools>=77,
        # newer than the one a fresh venv has; in --require-hashes mode pip refuses to fetch an
        # unpinned dependency, so the lock must pin it (measured: a fresh clone's current lane failed so).
        [str(python), "-m", "pip", "freeze", "--all", "--disable-pip-version-check"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True,
    )
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        raise LaneError(f"pip freeze failed in {python}: {_trim(lines[-1] if lines else '?')}")
    return proc.stdout


# --------------------------------------------------------------------------------------------
# Classifying pip failures into one line

# Substrings pip/urllib3 print when an index or download host cannot be reached.
_NETWORK_MARKERS = (
    "NewConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "Connection refused",
    "ConnectTimeout",
    "ReadTimeout",
    "Read timed out",
    "Failed to establish a new connection",
)
# A download cut off half-way (pip raises these through its unhandled-exception path).
_CUT_OFF_MARKERS = ("Connection broken", "IncompleteRead", "Connection reset by peer", "RemoteDisconnected")
# A full disk, wherever pip was writing (its temp directory, its cache, the venv).
_DISK_FULL_MARKERS = ("[Errno 28]", "No space left on device")
_NO_MATCH = re.compile(r"No matching distribution found for\s+(\S+)")
_NO_VERSION = re.compile(r"Could not find a version that satisfies the requirement\s+(\S+)")


DISK_FULL = "the disk is full"
NETWORK = "package registry unreachable"
CUT_OFF = "a download was cut off"


def is_transient(reason: str) -> bool:
    """A failure another attempt may not repeat: the registry unreachable or a download cut off."""
    return reason.startswith((NETWORK, CUT_OFF))


def _trim(line: str, limit: int = 200) -> str:
    """One readable line: drop object reprs and retry bookkeeping, cap the length."""
    line = " ".join(line.split())
    line = re.sub(r"<[^<>]* object at 0x[0-9a-fA-F]+>:?\s*", "", line)
    line = re.sub(r"\s*\(Retry\([^)]*\)\)", "", line)
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _conflict_lines(lines: list[str]) -> list[str]:
    """The 'The conflict is caused by:' block of a ResolutionImpossible failure."""
    out: list[str] = []
    collecting = False
    for line in lines:
        text = line.strip()
        if text.startswith("The conflict is caused by"):
            collecting = True
            continue
        if collecting:
            if not text or text.startswith("To fix this"):
                break
            out.append(text)
    return out


def _unhandled_exception(lines: list[str]) -> str | None:
    """pip's "ERROR: Exception:" is followed by a traceback whose last line is the cause (seen in CI:
    the bare "Exception:" was all the one-line reason said)."""
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].strip() == "ERROR: Exception:":
            tail = [ln.strip() for ln in lines[i + 1:] if ln.strip()]
            return tail[-1] if tail else None
    return None


def classify_pip_failure(log_text: str, returncode: int | None = None) -> str:
    """The reason a ``pip install`` failed, as one line. A full disk first (a download cut short by
    it can look like a network fault), then network markers: an unreachable registry also ends in
    "No matching distribution"."""
    lines = log_text.splitlines()

    disk = [ln for ln in lines if any(m in ln for m in _DISK_FULL_MARKERS)]
    if disk:
        return f"{DISK_FULL} ({_trim(disk[-1])})"

    network = [ln for ln in lines if any(m in ln for m in _NETWORK_MARKERS)]
    if network:
        return f"{NETWORK} ({_trim(network[-1])})"
    cut = [ln for ln in lines if any(m in ln for m in _CUT_OFF_MARKERS)]
    if cut:
        return f"{CUT_OFF} ({_trim(cut[-1])})"

    for pattern in (_NO_MATCH, _NO_VERSION):
        for line in reversed(lines):
            m = pattern.search(line)
            if m:
                return f"{m.group(1)} is not available from the configured registries"

    errors = [ln.strip() for ln in lines if ln.lstrip().startswith("ERROR:")]
    # ResolutionImpossible's last ERROR line is only a help link; the cause is the block above.
    if errors and "ResolutionImpossible" in errors[-1]:
        conflict = _conflict_lines(lines)
        if conflict:
            return _trim("conflicting pins: " + "; ".join(conflict), limit=300)
    cause = _unhandled_exception(lines)
    if cause:
        return "pip failed: " + _trim(cause)
    if errors:
        return "pip failed: " + _trim(errors[-1][len("ERROR:"):].strip())

    status = f" with exit status {returncode}" if returncode is not None else ""
    return f"pip failed{status} without an ERROR line"
