"""Lanes: one pinned virtualenv per torch/transformers pairing, set up idempotently.

A lane is a fully pinned requirement file ``lanes/<lane>.lock`` plus a venv at
``<repo>/.venvs/<lane>`` (root overridable with ``INFERGATE_VENVS``). ``ensure`` installs the
lock into the venv once and leaves a stamp; while the lock and the venv's Python are unchanged,
later runs never call pip.

This module owns the commands (``ensure``, ``lock``, ``lane_python``, the CLI); where a lane lives
and its stamp are ``lane_venvs``, running pip and reading its failures ``lane_pip``.

This module must stay stdlib-only: it runs under the system ``python3`` before any lane exists.
Usage (from the repository root)::

    python3 -m infergate lanes ensure ipex current
    python3 -m infergate lanes lock current
    python3 -m infergate lanes python ipex
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import InfergateError
from .lane_pip import FreezeRunner, PipRunner, VenvCreator, classify_pip_failure, create_venv, pip_freeze, run_pip
from .lane_venvs import (
    DEFAULT_LANES_DIR,
    STAMP_NAME,
    LaneError,
    atomic_write_text,
    count_pins,
    lock_digest,
    name_and_lock,
    read_stamp,
    resolve_lane,
    venv_python,
    venv_python_version,
    venvs_root,
)


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
    name, lock_path = name_and_lock(lane, lanes_dir or DEFAULT_LANES_DIR)
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

            _, lock_path = name_and_lock(args.lane, lanes_dir or DEFAULT_LANES_DIR)
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
