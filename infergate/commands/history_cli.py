"""``python -m infergate history add|show|detect|promote|publish``: the nightly's memory.

``add RESULTS.json...`` appends perf results (``--ig-json``) to the history directory
(``<history>/<machine class>/<YYYY-MM>.jsonl``, measuring/history.py); a run already there is
kept once. Refused in one line, nothing written: unknown results version, the test-only slowdown
hook, a case without runs or recipe revision. Every file is checked before any is appended.
``show`` lists, per class and lane, runs, cases, lock digests and bytes on disk.
``detect`` finds change points in each case's series of session means (measuring/changepoints.py);
``detect --new-against BEFORE`` lists only those new since BEFORE, a copy of the history taken
before tonight's runs were added (the nightly's step summary).
``promote`` turns the last K sessions of a class × lane into a baselines file.
``publish --out DIR`` writes the static dashboard (reports/dashboard.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.errors import InfergateError
from . import history_actions as actions


def show(root: Path) -> list[str]:
    from ..measuring import history as hi

    history = hi.load(root)
    lines = []
    for machine_class, lane in history.classes_and_lanes():
        pairs = history.of(machine_class, lane)
        runs = {r.run_id: r for r, _ in pairs}
        locks = sorted({str(r.lock)[:12] for r in runs.values()})
        nights = sorted({r.night for r in runs.values()})
        size = sum(p.stat().st_size for p in (root / machine_class).glob("*.jsonl"))
        lines.append(f"{machine_class} {lane}: {len(runs)} run(s) over {len(nights)} night(s) "
                     f"({nights[0]} .. {nights[-1]}), {len({c.case_id for _, c in pairs})} case(s), "
                     f"lock digest(s) {', '.join(locks)}; class files {size} bytes")
    return lines or [f"no history under {root}"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infergate history", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--history", type=Path, default=Path("history"), help="the history directory. "
                        "Default: ./history")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    p_add = sub.add_parser("add", help="append perf results (--ig-json) to the history")
    p_add.add_argument("results", type=Path, nargs="+", metavar="RESULTS.json")
    sub.add_parser("show", help="runs, cases, lock digests and size per class and lane")
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
        print(f"infergate history: {exc}")
        return 2
    for line in lines:
        print(f"infergate history: {line}" if args.action in ("add", "promote") else line)
    return actions.exit_code(args, lines)
