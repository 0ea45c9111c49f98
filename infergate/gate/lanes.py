"""Lanes: one pinned virtualenv per torch/transformers pairing, set up idempotently.

A lane is a fully pinned requirement file ``lanes/<lane>.lock`` plus a venv at
``<repo>/.venvs/<lane>`` (root overridable with ``INFERGATE_VENVS``). ``ensure`` installs the
lock into the venv once and leaves a stamp; while the lock and the venv's Python are unchanged,
later runs never call pip.

This module must stay stdlib-only: it runs under the system ``python3`` before any lane exists.
Usage (from the repository root)::

    python3 -m infergate lanes ensure ipex current
    python3 -m infergate lanes lock current
    python3 -m infergate lanes python ipex
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import InfergateError
from ..core.paths import REPO_ROOT

DEFAULT_LANES_DIR = REPO_ROOT / "lanes"
DEFAULT_VENVS_ROOT = REPO_ROOT / ".venvs"
VENVS_ENV_VAR = "INFERGATE_VENVS"

STAMP_NAME = ".infergate-lock.sha256"
INSTALL_LOG_NAME = ".infergate-install.log"

# Lane names become directory names: keep them to a safe alphabet (no '/', no '..').
_LANE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

# (command, log file) -> pip's exit status. Injected so tests never install anything.
PipRunner = Callable[[Sequence[str], Path], int]
# venv directory -> None; raises LaneError on failure. Injected so tests need no real venv.
VenvCreator = Callable[[Path], None]
# venv python -> ``pip freeze`` output.
FreezeRunner = Callable[[Path], str]


class LaneError(InfergateError):
    """A lane could not be resolved, created, installed or locked. The message is one line."""


@dataclass(frozen=True)
class Lane:
    name: str
    lock: Path
    venv: Path

    @property
    def python(self) -> Path:
        return venv_python(self.venv)

    @property
    def stamp(self) -> Path:
        return self.venv / STAMP_NAME

    @property
    def install_log(self) -> Path:
        return self.venv / INSTALL_LOG_NAME


@dataclass(frozen=True)
class EnsureResult:
    lane: str
    venv: Path
    installed: bool  # False: the stamp matched and pip was not called
    packages: int
    seconds: float

    @property
    def message(self) -> str:
        if self.installed:
            return f"lane {self.lane}: installed {self.packages} pinned packages in {self.seconds:.1f}s"
        return f"lane {self.lane}: up to date ({self.venv})"


# --------------------------------------------------------------------------------------------
# Locating lanes


def venvs_root(override: Path | None = None) -> Path:
    if override is not None:
        return override
    env = os.environ.get(VENVS_ENV_VAR)
    return Path(env) if env else DEFAULT_VENVS_ROOT


def venv_python(venv: Path) -> Path:
    if os.name == "nt":  # pragma: no cover - the suite targets Linux, but keep the layout right
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def available_lanes(lanes_dir: Path) -> list[str]:
    """Lanes that can be set up: those with a lock file."""
    return sorted(p.stem for p in lanes_dir.glob("*.lock"))


def _name_and_lock(spec: str, lanes_dir: Path) -> tuple[str, Path]:
    if spec.endswith(".lock") or os.sep in spec:
        lock = Path(spec)
        name = lock.stem
    else:
        name = spec
        lock = lanes_dir / f"{spec}.lock"
    if not _LANE_NAME.match(name):
        raise LaneError(f"invalid lane name {name!r}: use letters, digits, '_', '-', '.'")
    return name, lock


def resolve_lane(
    spec: str, *, lanes_dir: Path | None = None, venvs: Path | None = None
) -> Lane:
    """A lane name (``ipex``) or a path to a ``.lock`` file (lane name = file stem)."""
    lanes_dir = lanes_dir or DEFAULT_LANES_DIR
    name, lock = _name_and_lock(spec, lanes_dir)
    if not lock.is_file():
        valid = ", ".join(available_lanes(lanes_dir)) or "none"
        raise LaneError(f"no lock file for lane '{name}' at {lock}; valid lanes: {valid}")
    return Lane(name=name, lock=lock, venv=venvs_root(venvs) / name)


# --------------------------------------------------------------------------------------------
# Digest and stamp


def venv_python_version(venv: Path) -> str:
    """The venv interpreter's version, read from ``pyvenv.cfg`` (no subprocess needed).

    Part of the digest so that a venv rebuilt on another Python reinstalls its wheels.
    """
    cfg = venv / "pyvenv.cfg"
    values: dict[str, str] = {}
    if cfg.is_file():
        for line in cfg.read_text(encoding="utf-8", errors="replace").splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip()
    # 'version_info' is what newer venv/virtualenv write; 'version' is what 3.11's venv writes.
    version = values.get("version_info") or values.get("version")
    if version:
        return version
    # No usable pyvenv.cfg: ask the interpreter itself rather than guess.
    return _query_python_version(venv_python(venv))


def _query_python_version(python: Path) -> str:
    try:
        out = subprocess.run(
            [str(python), "-c", "import sys; print(sys.version)"],
            capture_output=True, text=True, check=True, timeout=60,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise LaneError(f"cannot run the venv's python {python}: {exc}") from None
    return out.stdout.strip()


def lock_digest(lock: Path, python_version: str) -> str:
    """sha256 of the lock's bytes plus the Python version: what a stamp must equal."""
    h = hashlib.sha256()
    h.update(lock.read_bytes())
    h.update(b"\0python=")
    h.update(python_version.encode("utf-8"))
    return h.hexdigest()


def read_stamp(stamp: Path) -> str | None:
    try:
        return stamp.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def atomic_write_text(path: Path, text: str) -> None:
    from ..core.atomic import write_text

    write_text(path, text)


def count_pins(lock: Path) -> int:
    """Requirement lines in a lock (comments, blanks and pip options like ``-r`` excluded)."""
    count = 0
    for line in lock.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "-")):
            count += 1
    return count


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
_NO_MATCH = re.compile(r"No matching distribution found for\s+(\S+)")
_NO_VERSION = re.compile(r"Could not find a version that satisfies the requirement\s+(\S+)")


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


def classify_pip_failure(log_text: str, returncode: int | None = None) -> str:
    """The reason a ``pip install`` failed, as one line (without lane name or log path).

    Order matters: an unreachable registry also ends in "No matching distribution", so the
    network markers are checked first.
    """
    lines = log_text.splitlines()

    network = [ln for ln in lines if any(m in ln for m in _NETWORK_MARKERS)]
    if network:
        return f"package registry unreachable ({_trim(network[-1])})"

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
    if errors:
        return "pip failed: " + _trim(errors[-1][len("ERROR:"):].strip())

    status = f" with exit status {returncode}" if returncode is not None else ""
    return f"pip failed{status} without an ERROR line"


# --------------------------------------------------------------------------------------------
# Commands


def ensure(
    lane: str,
    *,
    lanes_dir: Path | None = None,
    venvs: Path | None = None,
    pip_runner: PipRunner = run_pip,
    venv_creator: VenvCreator = create_venv,
    clock: Callable[[], float] = time.monotonic,
    on_install: Callable[[str], None] | None = None,
) -> EnsureResult:
    """Create the lane's venv if needed and install its lock unless the stamp says it's done."""
    spec = resolve_lane(lane, lanes_dir=lanes_dir, venvs=venvs)
    if not spec.python.exists():
        venv_creator(spec.venv)
        if not spec.python.exists():
            raise LaneError(f"cannot set up lane '{spec.name}': venv {spec.venv} has no python")

    digest = lock_digest(spec.lock, venv_python_version(spec.venv))
    if read_stamp(spec.stamp) == digest:
        return EnsureResult(spec.name, spec.venv, installed=False, packages=0, seconds=0.0)

    # Drop any old stamp before touching the venv: if this install fails half-way and the lock
    # is later reverted, a surviving old stamp would vouch for a venv that no longer matches it.
    spec.stamp.unlink(missing_ok=True)
    packages = count_pins(spec.lock)
    if on_install is not None:
        on_install(
            f"lane {spec.name}: installing {packages} pinned packages (log: {spec.install_log})"
        )
    cmd = [
        str(spec.python), "-m", "pip", "install", "--disable-pip-version-check",
        "-r", str(spec.lock),
    ]
    if "--hash=" in spec.lock.read_text(encoding="utf-8"):
        # Every file pip fetches must match a reviewed hash (lock_hashes); a committed lane's lock
        # always has them. Bisection's intermediate locks leave disputed dependencies to pip and
        # carry none.
        cmd.append("--require-hashes")
    start = clock()
    returncode = pip_runner(cmd, spec.install_log)
    seconds = clock() - start
    if returncode != 0:
        try:
            log_text = spec.install_log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            log_text = ""
        reason = classify_pip_failure(log_text, returncode)
        raise LaneError(
            f"cannot set up lane '{spec.name}': {reason}; full log: {spec.install_log}"
        )

    atomic_write_text(spec.stamp, digest + "\n")
    return EnsureResult(spec.name, spec.venv, installed=True, packages=packages, seconds=seconds)


# PyTorch's compute-platform local labels (2.8.0+cpu, 2.8.0+cu128, ...). Stripped so the lock
# pins the plain version, which the CPU and the CUDA builds both satisfy.
_PLATFORM_LOCAL = re.compile(r"^(?P<req>[A-Za-z0-9_.-]+==[^+\s;]+)\+(?:cpu|cu\d+|rocm[\d.]+|xpu)\b")


def _normalize_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(line: str) -> str:
    return _normalize_name(re.split(r"[\s=<>!~;@\[]", line, maxsplit=1)[0])


def lock_text_from_freeze(lane: str, freeze: str) -> str:
    """Turn ``pip freeze`` output into a lock: header, no editables, no infergate, no +cpu."""
    header = (
        f"# Lane '{lane}': every package pinned (generated by 'pip freeze' from lanes/{lane}.in;"
        f" regenerate with: python3 -m infergate lanes lock {lane})"
    )
    out = [header]
    for raw in freeze.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # pip freeze's own comments (e.g. about editables) are not pins
        if line.startswith("-e ") or line.startswith("--editable"):
            continue  # a checkout on this machine, not something another machine can install
        if _requirement_name(line) in ("infergate", "pip"):
            continue  # the project is not a dependency of its lanes; pip is the venv's own installer
        out.append(_PLATFORM_LOCAL.sub(r"\g<req>", line))
    return "\n".join(out) + "\n"


def lock(
    lane: str,
    *,
    lanes_dir: Path | None = None,
    venvs: Path | None = None,
    freeze_runner: FreezeRunner = pip_freeze,
    hasher: Callable[[str], str] | None = None,
) -> Path:
    """Regenerate ``lanes/<lane>.lock`` from the lane venv's ``pip freeze``, with hashes."""
    if hasher is None:
        from .lock_hashes import hash_lock

        hasher = hash_lock
    # The lock may not exist yet (a new lane), so no resolve_lane() here.
    name, lock_path = _name_and_lock(lane, lanes_dir or DEFAULT_LANES_DIR)
    venv = venvs_root(venvs) / name
    python = venv_python(venv)
    if not python.exists():
        raise LaneError(
            f"lane '{name}' has no venv at {venv}; run: python3 -m infergate lanes ensure {name}"
        )
    from .lock_hashes import HashError

    try:
        text = hasher(lock_text_from_freeze(name, freeze_runner(python)))
    except HashError as exc:
        raise LaneError(f"cannot lock lane '{name}': {exc}") from None
    atomic_write_text(lock_path, text)
    # The venv is, by construction, exactly what the new lock describes: stamp it so the next
    # 'ensure' does not reinstall for nothing.
    atomic_write_text(venv / STAMP_NAME, lock_digest(lock_path, venv_python_version(venv)) + "\n")
    return lock_path


def lane_python(
    lane: str, *, lanes_dir: Path | None = None, venvs: Path | None = None
) -> Path:
    """The python of a lane that 'ensure' has completed for its current lock."""
    spec = resolve_lane(lane, lanes_dir=lanes_dir, venvs=venvs)
    hint = f"run: python3 -m infergate lanes ensure {spec.name}"
    if not spec.python.exists():
        raise LaneError(f"lane '{spec.name}' is not set up (no venv at {spec.venv}); {hint}")
    stamp = read_stamp(spec.stamp)
    if stamp is None:
        raise LaneError(f"lane '{spec.name}' is not set up (never installed completely); {hint}")
    if stamp != lock_digest(spec.lock, venv_python_version(spec.venv)):
        raise LaneError(f"lane '{spec.name}' is out of date with {spec.lock}; {hint}")
    return spec.python


# --------------------------------------------------------------------------------------------
# CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m infergate lanes",
        description="Set up and lock the pinned virtualenvs (lanes) the suite runs in.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ensure", help="create/install lanes from their lock files (idempotent)")
    p.add_argument("lanes", nargs="+", metavar="LANE", help="lane name or path to a .lock file")
    p = sub.add_parser("lock", help="regenerate lanes/LANE.lock from the lane venv's pip freeze")
    p.add_argument("lane", metavar="LANE")
    p = sub.add_parser("hash", help="add (or refresh) the sha256 hashes of every pin in lanes/LANE.lock")
    p.add_argument("lane", metavar="LANE")
    p = sub.add_parser("python", help="print the lane venv's python path")
    p.add_argument("lane", metavar="LANE")
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    lanes_dir: Path | None = None,
    venvs: Path | None = None,
    pip_runner: PipRunner = run_pip,
    venv_creator: VenvCreator = create_venv,
    freeze_runner: FreezeRunner = pip_freeze,
) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "ensure":
            # Announce a long install only to a person watching; logs and scripts get one line.
            on_install = (lambda msg: print(msg, flush=True)) if sys.stdout.isatty() else None
            for lane in args.lanes:
                result = ensure(
                    lane, lanes_dir=lanes_dir, venvs=venvs, pip_runner=pip_runner,
                    venv_creator=venv_creator, on_install=on_install,
                )
                print(result.message, flush=True)
        elif args.command == "lock":
            path = lock(args.lane, lanes_dir=lanes_dir, venvs=venvs, freeze_runner=freeze_runner)
            print(f"lane {Path(path).stem}: wrote {path}")
        elif args.command == "hash":
            from .lock_hashes import HashError, hash_lock, pins

            _, lock_path = _name_and_lock(args.lane, lanes_dir or DEFAULT_LANES_DIR)
            try:
                text = hash_lock(lock_path.read_text(encoding="utf-8"))
            except HashError as exc:
                raise LaneError(str(exc)) from None
            atomic_write_text(lock_path, text)
            print(f"lane {lock_path.stem}: {len(pins(text))} pins hashed in {lock_path}")
        else:
            print(lane_python(args.lane, lanes_dir=lanes_dir, venvs=venvs))
    except InfergateError as exc:
        print(f"infergate: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
