"""``python -m infergate history add|show|detect|promote|publish|simulate|calibrate``: the nightly's
memory, perf results kept per machine class and month (docs/calibration.md, "The nightly history"). ``add``
appends ``--ig-json`` results (every file checked first; a refused one writes nothing); ``show``
lists runs, cases, lock digests and bytes per class and lane, and per variant how much of its cases'
night-to-night spread they share (on its newest set-up's nights); ``detect`` finds change points in
each case's session means (``--new-against BEFORE``: only those new since that copy); ``promote``
turns a class × lane's last sessions into a baselines file; ``publish`` writes the dashboard.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.errors import InfergateError
from . import history_actions as actions


def show(root: Path) -> list[str]:
    from ..measuring import changepoints as cp
    from ..measuring import history as hi
    from ..measuring.history_analysis import night_split

    history = hi.load_runs(root, "show")
    lines = []
    for machine_class, lane in history.classes_and_lanes():
        pairs = history.of(machine_class, lane)
        runs = {r.run_id: r for r, _ in pairs}
        locks = {str(r.lock) for r in runs.values()}
        width = cp.lock_width(locks)
        shown = sorted({lock[:width] for lock in locks})
        nights = sorted({r.night for r in runs.values()})
        size = sum(p.stat().st_size for p in (root / machine_class).glob("*.jsonl"))
        lines.append(f"{machine_class} {lane}: {len(runs)} run(s) over {len(nights)} night(s) "
                     f"({nights[0]} .. {nights[-1]}), {len({c.case_id for _, c in pairs})} case(s), "
                     f"lock digest(s) {', '.join(shown)}; class files {size} bytes")
        for variant, _, newest, split in night_split(history, machine_class, lane):
            which = ("its newest set-up" if newest else
                     "an older set-up: its newest lock, recipe or threads has no 2 cases on 2 nights yet")
            lines.append(f"  {variant:9} {split.describe('nights')} ({which})")
    return lines


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infergate history", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--history", type=Path, default=Path("history"), help="the history directory. "
                        "Default: ./history")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    p_add = sub.add_parser("add", help="append perf results (--ig-json) to the history")
    p_add.add_argument("results", type=Path, nargs="+", metavar="RESULTS.json")
    sub.add_parser("show", help="runs, cases, lock digests and size per class and lane; per variant, the "
                   "night-to-night spread its cases share and each case's own")
    actions.add_parsers(sub)
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.action == "add":
            from .history_add import add

            lines = add(args.results, args.history)
        elif args.action == "show":
            lines = show(args.history)
        else:
            lines = actions.run(args)
    except InfergateError as exc:
        # stderr: the nightly redirects detect's lines into a file; its error must reach the log
        print(f"infergate history: {exc}", file=sys.stderr)
        return 2
    for line in lines:
        print(f"infergate history: {line}" if args.action in ("add", "promote") else line)
    return actions.exit_code(args, lines)
