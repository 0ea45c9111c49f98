"""``python -m infergate gate --from LANE --to LANE``: gate an upgrade of torch / IPEX / transformers;
``--from-ref REF --to-ref REF --lane LANE``: gate your change, two commits of your code in one lane.

Both lanes are measured now, on the same machine, in lockstep (``gate.lanegate``); per case the
latency to/from, speedups in each lane, outputs, fusions, availability and the correctness suite
under "to" are compared (``measuring.lane_compare``). Exit codes (``core.exit_codes``): 0 pass,
1 a regression, 2 a usage or set-up error, 9 the run could not complete, 10 inconclusive (a case
could not rule out a slowdown of ``--floor``; with ``--inconclusive pass`` it exits 0 and says so while
another case was decided), 7 nothing judged (no case decided).
With ``--bisect``, a regression between lanes that differ in more than one top-level pin is traced
to the package that carries it. With ``--from-ref REF --to-ref REF --lane LANE`` the two sides are
two commits of the git repository it runs in, each in a temporary worktree, in one lane
(``gate.revisions``); the rest is the same. Configured models (``--config FILE``, else the
working directory's pyproject.toml ``[tool.infergate]`` table) replace the profile's cases.
Starts under the bare ``python3`` (it sets the lanes up), then hands over to the "to" lane's python.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..gate.lanes import EnsureResult

from ..core import exit_codes
from ..core.defaults import UPGRADE_ALPHA, UPGRADE_MIN_CHANGE
from ..core.errors import DataFileError, InfergateError, PackageMissing, UsageError
from ..core.validate import alpha_type, fraction_type, whole_number
from ..gate.gate_outputs import write_outputs
from ..gate.lane_venvs import LaneError
from ..gate.lanegate import (
    DEFAULT_PAIRS,
    DEFAULT_ROUNDS,
    correctness_cases,
    injection_arg,
    replacement_arg,
    run_correctness,
    run_gate,
    selection,
)
from ..gate.lockstep import Starter
from ..measuring.lane_results import Correctness, GateResult
from ..pytest_plugin.settings import FLOOR, ON_INCONCLUSIVE, option
from .front import prog


def _bisect_options(o: argparse._ArgumentGroup) -> None:
    o.add_argument("--bisect", action="store_true",
                   help="on a regression between lanes that differ in more than one top-level pin, build the lanes "
                        "in between (one pin moved at a time) and name the package that carries it. Default: off")
    o.add_argument("--keep-bisect-venvs", action="store_true", help="with --bisect: keep each intermediate "
                   "lane's venv (gigabytes each). Default: removed after its gate")


def _parser() -> argparse.ArgumentParser:
    from ..building.cases import PROFILES

    p = argparse.ArgumentParser(prog=prog("gate"), description=__doc__.split("\n\n")[0])
    g = p.add_argument_group("lanes and cases")
    g.add_argument("--from", dest="from_lane", metavar="LANE", help="lane name or .lock path")
    g.add_argument("--to", dest="to_lane", metavar="LANE", help="lane name or .lock path")
    r = p.add_argument_group("or two revisions of your code in one lane (instead of --from/--to)")
    r.add_argument("--from-ref", metavar="REF", help="git ref of the repository you run in, e.g. main")
    r.add_argument("--to-ref", metavar="REF",
                   help="git ref, e.g. HEAD (commits are compared: HEAD with uncommitted changes is refused)")
    r.add_argument("--lane", metavar="LANE", help="the one lane both revisions run in")
    g.add_argument("--config", type=Path, metavar="FILE",
                   help="[tool.infergate] models to gate instead of --profile's (two revisions: relative to the "
                        "repository, each revision's own copy). Default: the working directory's (each revision's) "
                        "pyproject.toml if it has the table, else --profile")
    g.add_argument("--profile", choices=tuple(PROFILES), default="smoke",
                   help="the built-in preset's cases. Default: smoke; with configured models, none")
    g.add_argument("--cases", default=None, metavar="EXPR",
                   help="pytest -k expression on case ids. Default: all perf cases of the models gated")
    m = p.add_argument_group("measuring")
    m.add_argument("--pairs", type=whole_number(2, 100), default=DEFAULT_PAIRS, metavar="N",
                   help="pairs of fresh workers (one per lane, driven in lockstep); the interval comes "
                        f"from the spread between pairs, t with N - 1 df. Default: {DEFAULT_PAIRS}")
    m.add_argument("--rounds", type=whole_number(1, 100_000), default=DEFAULT_ROUNDS, metavar="N",
                   help=f"lockstep rounds per pair and model. Default: {DEFAULT_ROUNDS}")
    v = p.add_argument_group("verdicts")
    floor = option(FLOOR).kwargs  # --ig-floor's type and default: one floor for both gates
    v.add_argument("--floor", **floor,
                   help="a case passes only if its one-sided upper bound rules out a slowdown this large. "
                        f"Default: {floor['default']}")
    v.add_argument("--min-change", type=fraction_type, default=UPGRADE_MIN_CHANGE, metavar="FRACTION",
                   help="a significant slowdown at least this large is a regression; a smaller one is "
                        f"reported. Default: {UPGRADE_MIN_CHANGE}")
    v.add_argument("--alpha", type=alpha_type, default=UPGRADE_ALPHA, metavar="P",
                   help="family-wise false-alarm rate over all comparisons, under the model (one-sided t "
                        f"across pairs, no systematic lean; docs/upgrade-gate.md). Default: {UPGRADE_ALPHA}")
    v.add_argument("--inconclusive", **option(ON_INCONCLUSIVE).kwargs,
                   help=f"a case that cannot rule out a --floor slowdown: fail (exit {exit_codes.INCONCLUSIVE}) or "
                        f"pass (0, reported; {exit_codes.NOTHING_JUDGED} if none was decided). Default: fail")
    o = p.add_argument_group("other")
    g.add_argument("--replace", type=replacement_arg, action="append", default=[], metavar="VARIANT=VARIANT",
                   help="time the second variant in the 'to' lane where 'from' times the first, e.g. "
                        "jit_ipex=compile: does torch.compile in the new lane keep IPEX's speed and answers in "
                        "the old? The case keeps the first variant's id; fusions are not compared. "
                        "Repeatable. Default: none")
    _bisect_options(o)
    o.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="where reports go. Default: results/gate-FROM-to-TO")
    o.add_argument("--no-correctness", action="store_true", help="skip the correctness run. Default: run it")
    o.add_argument("--no-ensure", action="store_true", help="lanes are already set up. Default: ensure them")
    o.add_argument("--inject-slowdown", type=injection_arg, action="append", default=[],
                   metavar="VARIANT=FRACTION[@PKG>=VERSION]",
                   help="TEST ONLY: build VARIANT in the 'to' lane with extra in-graph work of FRACTION "
                        "(inject.py), optionally only where the lane has PKG>=VERSION; for calibrating the "
                        "gate and demonstrating --bisect. Default: none")
    return p


def _lacks_report_deps() -> str | None:
    for module in ("numpy", "matplotlib", "torch"):
        try:
            __import__(module)
        except ImportError:
            return module
    return None


# Set in the "to" lane's python that the gate hands over to, so that it never hands over again.
HANDED_OVER = "INFERGATE_GATE_HANDED_OVER"


def _check_selection_early(args: argparse.Namespace, can_defer: bool) -> str | None:
    """A bad --cases or --replace is one line before set-up and correctness. Returns the module this
    python lacks to list the profile's cases, when the check is left to the python the gate hands
    over to (the bare python3 that sets the lanes up has no packaged checkpoint; every lane has it).
    Configured models' keys were checked already (``find_config``); resolving their sources is left
    to that python too, which has their packages."""
    if can_defer and args.models_config is not None and _lacks_report_deps():
        return _lacks_report_deps()
    try:
        selection(args)
    except PackageMissing as exc:
        if not can_defer:
            raise
        return exc.module
    return None


def _hand_over(argv: Sequence[str], to_python: Path, missing: str) -> None:
    """Go on under the "to" lane's python, which checks the selection again before anything runs."""
    if os.environ.get(HANDED_OVER):
        raise UsageError(f"{to_python}, the 'to' lane's python, has no {missing}: its lock must pin it")
    print(f"infergate: this python has no {missing}; continuing under {to_python}", file=sys.stderr, flush=True)
    os.environ[HANDED_OVER] = "1"
    os.execv(str(to_python), [str(to_python), "-m", "infergate", "gate", *argv, "--no-ensure"])


def _check_mode(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Two lanes (--from/--to), or two revisions in one lane (--from-ref/--to-ref/--lane): never a mix."""
    refs = (args.from_ref, args.to_ref, args.lane)
    if any(refs):
        if not all(refs):
            parser.error("two revisions need all of --from-ref, --to-ref and --lane")
        if args.from_lane or args.to_lane:
            parser.error("--from/--to compare two lanes; with --from-ref/--to-ref name the one lane with --lane")
        if args.bisect:
            parser.error("--bisect moves lane pins; two revisions of your code have none to move")
        return
    if not (args.from_lane and args.to_lane):
        parser.error("give --from LANE --to LANE (two lanes), or --from-ref REF --to-ref REF --lane LANE")


def _models_config(args: argparse.Namespace, argv: Sequence[str]) -> Path | None:
    """The configured models of a gate between two lanes (``lanegate.find_config``); a named
    ``--profile`` beside them is refused, since the gate would time only one of the two."""
    from ..gate.lanegate import find_config

    config = find_config(args.config, Path.cwd())
    named = any(len(a.split("=")[0]) > 3 and "--profile".startswith(a.split("=")[0]) for a in argv)
    if config is not None and named:
        raise UsageError(f"--profile selects the built-in preset's cases, and the gate times the configured models "
                         f"of {config} instead: leave out --profile, or gate the preset where no config is given "
                         "or found")
    return config


def _said(result: EnsureResult) -> None:
    """An ensured lane's line, and its warning (an unhashed lock) on stderr."""
    print(result.message, flush=True)
    if result.warning:
        print(f"infergate: {result.warning}", file=sys.stderr, flush=True)


def exit_code(gate: GateResult, inconclusive: str) -> int:
    if gate.regressions:
        return exit_codes.REGRESSION
    if gate.inconclusive and inconclusive == "fail":
        return exit_codes.INCONCLUSIVE
    if gate.nothing_judged:  # "--inconclusive pass" passes undecided cases, never a run that decided none
        return exit_codes.NOTHING_JUDGED
    return 0


def _revisions_main(args: argparse.Namespace, argv: Sequence[str], start: Starter | None,
                    lane_python: Callable[[str], Path] | None) -> int:
    """Two revisions of the repository the command runs in, each in a temporary worktree, in one lane.
    Refs, a dirty HEAD and a directory outside git are refused before anything is set up or run."""
    from ..gate import lanes as lanes_mod
    from ..gate.revisions import check_clean_head, check_config_arg, checked_out, repository, resolve

    refs = {"from": args.from_ref, "to": args.to_ref}
    try:
        repo = repository(Path.cwd())
        commits = {side: resolve(repo, ref)[:10] for side, ref in refs.items()}
        check_clean_head(repo, refs)
        check_config_arg(args.config)
        if not args.no_ensure:
            _said(lanes_mod.ensure(args.lane, on_install=lambda m: print(m, flush=True)))
        python = (lane_python or lanes_mod.lane_python)(args.lane)
        missing = _lacks_report_deps()
        if missing and start is None:
            _hand_over(argv, python, missing)
        args.from_lane = args.to_lane = args.lane
        out = args.out or Path("results") / f"gate-{Path(args.lane).stem}-{commits['from']}-to-{commits['to']}"
        with checked_out(Path.cwd(), refs, args.config) as revisions:
            print(f"two revisions in lane '{args.lane}': " + ", ".join(
                f"{side} {r.ref} = {r.commit[:10]} ({r.config.name if r.config else 'profile ' + args.profile})"
                for side, r in revisions.items()), flush=True)
            correctness = Correctness(False, summary="not run: two revisions of your code are compared by their "
                                                     "outputs on the same inputs and weights; run your tests at each")
            gate, _ = run_gate(args, {"from": python, "to": python}, out, start=start, correctness=correctness,
                               progress=lambda m: print(m, flush=True), revisions=revisions)
        paths = write_outputs(gate, out)
        from ..reports.report import gate_terminal

        print(gate_terminal(gate))
    except (UsageError, DataFileError, LaneError) as exc:
        print(f"infergate: {exc}", file=sys.stderr)
        return exit_codes.USAGE
    except (InfergateError, ValueError, OSError) as exc:
        print(f"infergate: {exc}", file=sys.stderr)
        return exit_codes.ERROR
    print(f"reports: {paths['markdown']}")
    return _final_code(gate, args)


def _final_code(gate: GateResult, args: argparse.Namespace) -> int:
    if gate.inconclusive and args.inconclusive == "pass" and exit_code(gate, args.inconclusive) == 0:
        print(f"exit 0 although {len(gate.inconclusive)} case(s) were inconclusive (--inconclusive pass)")
    return exit_code(gate, args.inconclusive)


def main(argv: Sequence[str] | None = None, *, start: Starter | None = None,
         lane_python: Callable[[str], Path] | None = None) -> int:
    from ..gate import lanes as lanes_mod

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    args = parser.parse_args(argv)
    if args.bisect and args.replace:
        parser.error("--bisect traces a change to the package that carries it; with --replace a case compares "
                     "two different variants, so every move would carry their gap: bisect without --replace")
    if args.keep_bisect_venvs and not args.bisect:
        parser.error("--keep-bisect-venvs goes with --bisect: without it no intermediate lane is made")
    _check_mode(parser, args)
    if args.min_change > args.floor:
        parser.error(f"--min-change {args.min_change} is above --floor {args.floor}: a change between "
                     "them could be neither a regression nor ruled out, whatever the number of pairs")
    if args.from_ref:
        return _revisions_main(args, argv, start, lane_python)
    try:
        args.models_config = _models_config(args, argv)
        unlisted = _check_selection_early(args, can_defer=start is None and not os.environ.get(HANDED_OVER))
        if not args.no_ensure:
            for lane in (args.from_lane, args.to_lane):
                _said(lanes_mod.ensure(lane, on_install=lambda m: print(m, flush=True)))
        find_python = lane_python or (lambda lane: lanes_mod.lane_python(lane))
        pythons = {"from": find_python(args.from_lane), "to": find_python(args.to_lane)}
        missing = _lacks_report_deps() or unlisted  # the system python3 may lack them; every lane has them
        if missing and start is None:
            _hand_over(argv, pythons["to"], missing)
        out = args.out or Path("results") / f"gate-{Path(args.from_lane).stem}-to-{Path(args.to_lane).stem}"
        if args.no_correctness:
            correctness = Correctness(False, summary="not run (--no-correctness)")
        else:
            what = f"configured models of {args.models_config}" if args.models_config else f"{args.profile} profile"
            print(f"correctness under '{args.to_lane}' ({what})...", flush=True)
            correctness = run_correctness(pythons["to"], args.profile, correctness_cases(args),
                                          out / "correctness-to.log", args.models_config)
        gate, _ = run_gate(args, pythons, out, start=start, correctness=correctness,
                        progress=lambda m: print(m, flush=True))
        paths = write_outputs(gate, out)
        from ..reports.report import gate_terminal

        print(gate_terminal(gate))
    except (UsageError, DataFileError, LaneError) as exc:  # bad input or set-up: nothing was measured
        print(f"infergate: {exc}", file=sys.stderr)
        return exit_codes.USAGE
    except (InfergateError, ValueError, OSError) as exc:  # e.g. a worker died mid-run
        print(f"infergate: {exc}", file=sys.stderr)
        return exit_codes.ERROR
    if args.bisect:
        from ..gate.lane_bisect import bisect_after

        # The gate's own verdict stands whatever happens while bisecting.
        for line in bisect_after(gate, args, out, run=run_gate, write=write_outputs, start=start,
                                 lane_python=find_python):
            print(line, flush=True)
    others = ", ".join(p.name for k, p in paths.items() if k != "markdown")
    print(f"reports: {paths['markdown']} (and {others})")
    return _final_code(gate, args)
