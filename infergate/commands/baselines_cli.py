"""``python -m infergate baselines add|import|show|reference``: CI results and files recorded elsewhere
become baseline sessions; what the files hold. ``add`` appends ``--ig-json`` results as a session of
the runner's host boot; ``import`` takes baselines and fusion expectation files recorded on another
machine with their ``--origin`` (docs/runner-data.md); a refused file writes nothing (docs/bad-input.md).
``show``: sessions, variance components, detectable drops; ``reference``: spreads over eager and ``jit``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.defaults import DEFAULT_REPEAT
from ..core.errors import InfergateError
from ..core.validate import whole_number
from ..pytest_plugin.settings import BASELINES_DIR, option
from .front import BASELINES_DEFAULT_HELP, default_baselines, prog


def _prior(text: str) -> tuple[float, int]:
    try:
        sd, df = text.split(":")
        value = (float(sd), int(df))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SD:DF such as 0.015:3, got {text!r}") from None
    if not (0 < value[0] < 1 and value[1] >= 1):
        raise argparse.ArgumentTypeError(f"need 0 < SD < 1 and DF >= 1, got {text!r}")
    return value


def _reference_parser(p: argparse.ArgumentParser) -> None:
    option(BASELINES_DIR).add_to(p.add_argument, "--baselines", default_help=BASELINES_DEFAULT_HELP)
    p.add_argument("--other-boot", type=Path, action="append", default=[], metavar="FILE",
                   help="a baselines file recorded on another host boot (e.g. an older version from git); "
                        "repeatable")
    p.add_argument("--occasion", type=Path, action="append", default=[], metavar="SUMMARY",
                   help="a summary ./suite main printed on the boot of its class and lane's one recorded "
                        "session, at another time; repeatable")
    p.add_argument("--confidence", type=float, default=0.95, help="of each sd's interval. Default: 0.95")
    p.add_argument("--runs", type=whole_number(1, 100), default=DEFAULT_REPEAT,
                   help=f"runs today, for the detectable drop. Default: {DEFAULT_REPEAT}")
    p.add_argument("--gated-cases", type=whole_number(1, 10_000), default=15,
                   help="cases in the family (Bonferroni). Default: 15, the default profile on the ipex lane "
                        "of a native-BF16 class (12 on AVX2, where BF16 is not timed)")
    p.add_argument("--envprobe", type=Path, action="append", default=[], metavar="FILE",
                   help="an envprobe --save file: its between-process spreads on their own; repeatable")
    p.add_argument("--prior", type=_prior, action="append", default=[], metavar="SD:DF",
                   help="also the detectable drops with this prior (e.g. 0.015:3), for every ratio; repeatable")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=prog("baselines"), description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    p_add = sub.add_parser("add", help="append a results file's runs as a baseline session")
    p_add.add_argument("results", type=Path, nargs="+", metavar="RESULTS.json")
    # --baselines is --ig-baselines (one type, one default: the project's baselines/).
    option(BASELINES_DIR).add_to(p_add.add_argument, "--baselines", default_help=BASELINES_DEFAULT_HELP)
    p_add.add_argument("--replace", action="store_true",
                   help="the cases keep only these runs (accepting an intended change). Default: append")
    p_import = sub.add_parser("import", help="baselines and fusion expectation files recorded on another machine")
    p_import.add_argument("files", type=Path, nargs="+", metavar="PATH",
                          help="<class>/<lane>.json or <class>/<lane>.fusions.json, as --update-baselines wrote them")
    p_import.add_argument("--origin", required=True, metavar="TEXT",
                          help="where they were recorded, kept with every imported session and expectation")
    option(BASELINES_DIR).add_to(p_import.add_argument, "--baselines", default_help=BASELINES_DEFAULT_HELP)
    p_show = sub.add_parser("show", help="sessions, variance components and detectable drops per file")
    option(BASELINES_DIR).add_to(p_show.add_argument, "--baselines", default_help=BASELINES_DEFAULT_HELP)
    p_show.add_argument("--runs", type=whole_number(1, 100), default=DEFAULT_REPEAT,
                        help=f"runs today. Default: {DEFAULT_REPEAT}")
    _reference_parser(sub.add_parser("reference", help="each variant's spreads over eager and over jit"))
    args = parser.parse_args(argv)
    root = getattr(args, option(BASELINES_DIR).dest) or default_baselines()
    # The files' formats and statistics need a lane's numpy and filelock: imported once the
    # arguments are read, so that --help works under the bare python3.
    from .baseline_sessions import add_files, import_files, show

    try:
        if args.action == "add":
            for line in add_files(args.results, root, args.replace):
                print(f"infergate baselines: {line}")
        elif args.action == "reference":
            from .reference_report import report

            print("\n".join(report(root, args.other_boot, args.occasion, args.confidence, args.runs,
                                   args.gated_cases, args.prior, args.envprobe)))
        elif args.action == "import":
            for line in import_files(args.files, root, args.origin):
                print(f"infergate baselines: {line}")
        else:
            print("\n".join(show(root, args.runs)))
    except (InfergateError, ValueError) as exc:  # ValueError: reference_runs.AlignmentError, a bad summary
        print(f"infergate baselines: {exc}", file=sys.stderr)  # an error: never into a redirected report
        return 2
    return 0
