"""Lanes: one pinned venv per torch/transformers pairing (``lanes/<lane>.lock`` into ``.venvs/<lane>``),
set up idempotently: ``ensure``, ``lock``, ``lane_python``. Stdlib only (docs/lanes.md)."""

from __future__ import annotations

import fcntl
import re
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .lane_pip import (
    DISK_FULL,
    FreezeRunner,
    PipRunner,
    VenvCreator,
    classify_pip_failure,
    create_venv,
    is_transient,
    pip_freeze,
    run_pip,
)
from .lane_venvs import (
    DEFAULT_LANES_DIR,
    INSTALL_LOG_NAME,
    STAMP_NAME,
    Lane,
    LaneError,
    atomic_write_text,
    count_pins,
    lock_digest,
    name_and_lock,
    read_stamp,
    resolve_lane,
    venv_of,
    venv_python,
    venv_python_version,
)

# How bisection's intermediate locks begin (lane_bisect.intermediate_lock): unhashed by design.
BISECTION_HEADER = "# Bisection lane '"


# A registry that drops a connection or cuts a download off (a several-GB CUDA build of torch is ~20
# files) would otherwise fail a whole CI run: pip is run again, saying so, this many times in all,
# with these pauses between; pip's cache keeps the files it finished.
PIP_ATTEMPTS = 3
PIP_RETRY_PAUSES_S = (10.0, 30.0)


def _say(line: str) -> None:
    print(f"infergate: {line}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class EnsureResult:
    lane: str
    venv: Path
    installed: bool  # False: the stamp matched and pip was not called
    packages: int
    seconds: float
    # A user's lock without hashes: installed without --require-hashes, which must not pass unsaid
    unhashed: Path | None = None

    @property
    def warning(self) -> str | None:
        if self.unhashed is None:
            return None
        return (f"WARNING: lane {self.lane}: {self.unhashed} has no --hash lines, so pip installed it without "
                f"--require-hashes: a file changed on an index is not refused; add them with: python3 -m "
                f"infergate lanes hash {shlex.quote(str(self.unhashed))}")

    @property
    def message(self) -> str:
        if self.installed:
            return f"lane {self.lane}: installed {self.packages} pinned packages in {self.seconds:.1f}s"
        return f"lane {self.lane}: up to date ({self.venv})"


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
    sleep: Callable[[float], None] = time.sleep,
    say: Callable[[str], None] = _say,
) -> EnsureResult:
    """Create the lane's venv if needed and install its lock unless the stamp says it's done. One
    ensure of a venv at a time (a file lock beside it): two pips in one venv (a re-run beside a
    ``./suite`` whose background install is still going) left it half of each, stamped by the first
    to finish."""
    spec = resolve_lane(lane, lanes_dir=lanes_dir, venvs=venvs)
    spec.venv.parent.mkdir(parents=True, exist_ok=True)
    with open(spec.venv.parent / f".{spec.venv.name}.ensure.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        return _ensure(spec, pip_runner, venv_creator, clock, on_install, sleep, say)


def _ensure(spec: Lane, pip_runner: PipRunner, venv_creator: VenvCreator, clock: Callable[[], float],
            on_install: Callable[[str], None] | None, sleep: Callable[[float], None],
            say: Callable[[str], None]) -> EnsureResult:
    # A venv whose creation failed or was interrupted (no ensurepip, a full disk, Ctrl-C) can leave
    # its python without pip: reused, every later ensure failed at "No module named pip" for ever.
    made = not spec.python.exists() or not (spec.stamp.exists() or _has_pip(spec.venv))
    if made:
        shutil.rmtree(spec.venv, ignore_errors=True)
        try:
            venv_creator(spec.venv)
        except BaseException:
            shutil.rmtree(spec.venv, ignore_errors=True)
            raise
        if not spec.python.exists():
            raise LaneError(f"cannot set up lane '{spec.name}': venv {spec.venv} has no python")

    lock_text = spec.lock.read_text(encoding="utf-8")
    hashed = "--hash=" in lock_text
    # Bisection's intermediate locks leave disputed dependencies to pip by design; any other lock
    # without hashes is said (EnsureResult.warning), never installed unchecked in silence.
    unhashed = None if hashed or lock_text.startswith(BISECTION_HEADER) else spec.lock
    digest = lock_digest(spec.lock, venv_python_version(spec.venv))
    if read_stamp(spec.stamp) == digest:
        return EnsureResult(spec.name, spec.venv, installed=False, packages=0, seconds=0.0, unhashed=unhashed)

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
    if hashed:
        # Every file pip fetches must match a reviewed hash (lock_hashes); a committed lane's lock
        # always has them. Bisection's intermediate locks leave disputed dependencies to pip and
        # carry none.
        cmd.append("--require-hashes")
    start = clock()
    _install(spec.name, cmd, spec.install_log, spec.venv if made else None, pip_runner, sleep, say)
    seconds = clock() - start

    atomic_write_text(spec.stamp, digest + "\n")
    return EnsureResult(spec.name, spec.venv, installed=True, packages=packages, seconds=seconds, unhashed=unhashed)


def _has_pip(venv: Path) -> bool:
    return any(venv.glob("lib/python*/site-packages/pip/__init__.py"))


def _install(name: str, cmd: list[str], install_log: Path, made: Path | None, pip_runner: PipRunner,
             sleep: Callable[[float], None], say: Callable[[str], None]) -> None:
    """Run pip, again after a transient failure (PIP_ATTEMPTS); raise LaneError with the reason.
    ``made``: the venv this ensure created, removed on failure."""
    for attempt in range(1, PIP_ATTEMPTS + 1):
        returncode = pip_runner(cmd, install_log)
        if returncode == 0:
            return
        try:
            log_text = install_log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            log_text = ""
        reason = classify_pip_failure(log_text, returncode)
        if is_transient(reason) and attempt < PIP_ATTEMPTS:
            pause = PIP_RETRY_PAUSES_S[min(attempt, len(PIP_RETRY_PAUSES_S)) - 1]
            say(f"lane {name}: {reason}; pip again in {pause:.0f} s (attempt {attempt + 1} of {PIP_ATTEMPTS})")
            sleep(pause)
            continue
        if reason.startswith(DISK_FULL):
            reason += _free_space_note(install_log.parent)  # the venv
        tries = f" (after {attempt} attempts)" if attempt > 1 else ""
        log, removed = _remove_venv(made, install_log) if made else (install_log, "")
        raise LaneError(f"cannot set up lane '{name}'{tries}: {reason}{removed}; full log: {log}")


def _free_space_note(venv: Path) -> str:
    """Where pip writes (the venv, the temp directory) and how much is free there now, after pip
    removed its own temp files: a lane of torch's CUDA build needs several GB (docs/lanes.md)."""
    places: dict[str, str] = {}
    for where in (venv.parent, Path(tempfile.gettempdir())):
        try:
            free = shutil.disk_usage(where).free
        except OSError:
            continue
        places.setdefault(str(where), f"{free / 1e9:.1f} GB free at {where}")
    return f"; now {', '.join(places.values())}" if places else ""


def _remove_venv(venv: Path, install_log: Path) -> tuple[Path, str]:
    """Removes a venv this ensure made and pip failed to fill (a half-installed venv stayed behind,
    tens of MB); its install log is kept beside it. The log's path, and what the message adds."""
    kept = venv.with_name(venv.name + INSTALL_LOG_NAME)
    try:
        install_log.replace(kept)
    except OSError:
        kept = install_log  # still in the venv: the venv stays too, so the log it names is there
        return kept, f"; the venv {venv} it made is left (its install log could not be moved out)"
    shutil.rmtree(venv, ignore_errors=True)
    if venv.exists():
        return kept, f"; the venv {venv} it made could not be removed whole: remove it by hand"
    return kept, f"; removed the venv {venv} it had made"


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
    name, lock_path = name_and_lock(lane, lanes_dir or DEFAULT_LANES_DIR)
    venv = venv_of(name, lock_path, lanes_dir or DEFAULT_LANES_DIR, venvs)
    python = venv_python(venv)
    if not python.exists():
        raise LaneError(
            f"lane '{name}' has no venv at {venv}; run: python3 -m infergate lanes ensure {shlex.quote(lane)}"
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
    # What the user typed: for a lock given by path, the bare name would set up the committed lane.
    hint = f"run: python3 -m infergate lanes ensure {shlex.quote(lane)}"
    if not spec.python.exists():
        raise LaneError(f"lane '{spec.name}' is not set up (no venv at {spec.venv}); {hint}")
    stamp = read_stamp(spec.stamp)
    if stamp is None:
        raise LaneError(f"lane '{spec.name}' is not set up (never installed completely); {hint}")
    if stamp != lock_digest(spec.lock, venv_python_version(spec.venv)):
        raise LaneError(f"lane '{spec.name}' is out of date with {spec.lock}; {hint}")
    return spec.python
