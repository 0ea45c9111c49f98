"""``python3 -m infergate lanes``: set up, lock, hash and locate the lanes (stdlib only: it runs under
the system Python before any lane exists)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..core.errors import InfergateError
from ..gate.lane_pip import FreezeRunner, PipRunner, VenvCreator, create_venv, pip_freeze, run_pip
from ..gate.lane_venvs import LaneError, atomic_write_text, resolve_lane
from ..gate.lanes import ensure, lane_python, lock
from .front import prog


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog("lanes"),
        description="Set up and lock the pinned virtualenvs (lanes) the suite runs in.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ensure", help="create/install lanes from their lock files (idempotent)")
    p.add_argument("lanes", nargs="+", metavar="LANE", help="lane name or path to a .lock file")
    p = sub.add_parser("lock", help="regenerate lanes/LANE.lock from the lane venv's pip freeze")
    p.add_argument("lane", metavar="LANE")
    p = sub.add_parser("hash", help="add (or refresh) the sha256 hashes of every pin in lanes/LANE.lock")
    p.add_argument("lane", metavar="LANE")
    p = sub.add_parser("newest", help="make lane NAME from the newest torch and transformers releases on the "
                       "indexes: NAME.in, its venv, its lock hashed (the upstream canary)")
    p.add_argument("lane", metavar="NAME")
    p.add_argument("--index", action="append", required=True, metavar="URL",
                   help="where to look: https://pypi.org/simple, or a file:// local index or directory of wheels; "
                        "repeatable")
    p.add_argument("--base", default="current", help="the lane whose .in the pins replace. Default: current")
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
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "ensure":
            # Announce a long install only to a person watching; logs and scripts get one line.
            on_install = (lambda msg: print(msg, flush=True)) if sys.stdout.isatty() else None
            for lane in args.lanes:
                result = ensure(
                    lane, lanes_dir=lanes_dir, venvs=venvs, pip_runner=pip_runner,
                    venv_creator=venv_creator, on_install=on_install, sleep=sleep,
                )
                print(result.message, flush=True)
                if result.warning:
                    print(f"infergate: {result.warning}", file=sys.stderr, flush=True)
        elif args.command == "lock":
            path = lock(args.lane, lanes_dir=lanes_dir, venvs=venvs, freeze_runner=freeze_runner)
            print(f"lane {Path(path).stem}: wrote {path}")
        elif args.command == "hash":
            from ..gate.lock_hashes import HashError, hash_lock, pins

            lock_path = resolve_lane(args.lane, lanes_dir=lanes_dir, venvs=venvs).lock  # a missing lock: one line
            try:
                text = hash_lock(lock_path.read_text(encoding="utf-8"))
            except HashError as exc:
                raise LaneError(str(exc)) from None
            atomic_write_text(lock_path, text)
            print(f"lane {lock_path.stem}: {len(pins(text))} pins hashed in {lock_path}")
        elif args.command == "newest":
            from ..gate.lane_newest import make_lane

            made = make_lane(args.lane, args.index, base=args.base, lanes_dir=lanes_dir, venvs=venvs,
                             pip_runner=pip_runner, venv_creator=venv_creator, freeze_runner=freeze_runner)
            resolved = ", ".join(f"{pkg} {version}" for pkg, version in made.pins.items())
            print(f"lane {made.name}: {resolved} (newest final releases); wrote {made.in_file} and {made.lock}")
        else:
            print(lane_python(args.lane, lanes_dir=lanes_dir, venvs=venvs))
    except InfergateError as exc:
        print(f"infergate: {exc}", file=sys.stderr)
        return 2
    return 0


