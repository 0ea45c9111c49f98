"""``python -m infergate calibrate``: measure the speedup gate itself on this machine: each trial
times one model's eager, ``--variant`` and copies of it slowed by 0 % and by each injected slowdown,
and prints each rule's regression rate per slowdown, the A/A position bias and the between-run
spread (docs/calibration.md).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ..building.variants import JIT
from ..core.defaults import (
    DEFAULT_CONFIRM_RUNS,
    DEFAULT_FAMILY_ALPHA,
    DEFAULT_FLOOR,
    DEFAULT_REPEAT,
    DEFAULT_THREADS,
    RECORD_RUNS,
)
from ..core.errors import InfergateError, UsageError
from ..core.validate import seconds_up_to, whole_number
from ..measuring.measuring_env import SUITE_SETTINGS
from .front import prog

if TYPE_CHECKING:
    from .calibration_rules import GateShape
    from .calibration_trials import Trial

# The trials, rules and report need a lane's numpy and torch: imported once the arguments are read,
# so that --help works under the bare python3.

DEFAULT_SLOWDOWNS = (1, 2, 3, 5, 10)
DEFAULT_FLOORS = (DEFAULT_FLOOR,)
# The default profile's gated cases on the ipex lane on the AVX2 class: 4 measured models x jit,
# jit_ipex, compile in FP32 (its BF16 cases are timed only where BF16 is native).
DEFAULT_GATED_CASES = 12


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog("calibrate"), description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=whole_number(1, 10_000), default=15,
                        help="trials (separate builds). Default: 15")
    parser.add_argument("--model", default="bert-qa-small-eager_attn", help="model id. Default: %(default)s")
    parser.add_argument("--variant", default=JIT, help=f"variant slowed and compared. Default: {JIT}")
    parser.add_argument("--budget", type=seconds_up_to(600.0), default=12.0,
                        help="seconds of shuffled rounds per trial, all entries together. Default: 12")
    parser.add_argument("--block-s", type=seconds_up_to(60.0), default=1.0, help="seconds per block. Default: 1")
    parser.add_argument("--threads", type=whole_number(1, 1024), default=DEFAULT_THREADS,
                        help=f"torch threads (--ig-threads). Default: {DEFAULT_THREADS}")
    parser.add_argument("--slowdowns", default=",".join(map(str, DEFAULT_SLOWDOWNS)),
                        help="injected slowdowns in percent. Default: %(default)s")
    parser.add_argument("--floors", default=",".join(map(str, DEFAULT_FLOORS)),
                        help="effect floors judged against the stored baseline. Default: %(default)s")
    parser.add_argument("--save", metavar="FILE", help="also write every trial's raw times to FILE (JSON)")
    parser.add_argument("--load", metavar="FILE",
                        help="judge the trials saved in FILE instead of measuring (--model/--variant/"
                             "--slowdowns come from the file)")
    parser.add_argument("--settings", default=",".join(SUITE_SETTINGS) or "none",
                        help="measuring settings of the trial workers (infergate.measuring.measuring_env), "
                             "comma-separated. "
                             "Default: the suite's, %(default)s")
    parser.add_argument("--sessions", metavar="FILE[,FILE...]",
                        help="judge saved trial files against each other, each file one session (another "
                             "host or boot): the cross-session table")
    parser.add_argument("--first-runs", type=whole_number(1, 100), default=DEFAULT_REPEAT,
                        help=f"runs of 'today' in the emulated gate (--ig-repeat). Default: {DEFAULT_REPEAT}")
    parser.add_argument("--baseline-runs", type=whole_number(1, 100), default=RECORD_RUNS,
                        help=f"recorded runs in the emulated baseline. Default: {RECORD_RUNS}")
    parser.add_argument("--confirm-runs", type=whole_number(0, 100), default=DEFAULT_CONFIRM_RUNS,
                        help=f"re-measures of a flagged case (--ig-confirm-runs). Default: {DEFAULT_CONFIRM_RUNS}")
    parser.add_argument("--gated-cases", type=whole_number(1, 10_000), default=DEFAULT_GATED_CASES,
                        help="cases the suite gates at once, for its family confidence (Bonferroni over "
                             f"alpha {DEFAULT_FAMILY_ALPHA:g}). Default: {DEFAULT_GATED_CASES}, the "
                             "default profile on the ipex lane of an AVX2 class (15 where BF16 is timed)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser()
    args = parser.parse_args(argv)
    from .calibration_rules import GateShape, min_trials

    if min(args.first_runs, args.baseline_runs, args.gated_cases) < 1 or args.confirm_runs < 0:
        parser.error("--first-runs, --baseline-runs and --gated-cases must be >= 1, --confirm-runs >= 0")
    shape = GateShape(args.first_runs, args.baseline_runs, args.confirm_runs, args.gated_cases)
    if args.trials < min_trials(shape) and not args.load:
        parser.error(f"--trials must be >= {min_trials(shape)}: each trial needs {shape.baseline} baseline "
                     f"trials, {shape.first} of today and {shape.confirm} re-measures, all different")
    try:
        slowdowns = tuple(float(x) for x in args.slowdowns.split(","))
        floors = tuple(float(x) for x in args.floors.split(","))
        if args.sessions:
            _print_sessions(args.sessions.split(","), floors, shape, argv)
            return 0
        if args.load:
            _print_loaded(args.load, floors, shape)
            return 0
        lines = _measure(args, slowdowns, floors, shape, argv)
    except (InfergateError, ValueError) as exc:
        print(f"infergate calibrate: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


def _print_sessions(files: list[str], floors: tuple[float, ...], shape: GateShape, argv: list[str]) -> None:
    """--sessions: the saved trial files judged against each other, each file one session."""
    from .calibration_report import session_markdown
    from .calibration_rules import judge_sessions
    from .calibration_trials import load_trials

    loaded = [(f.rsplit("/", 1)[-1].split(".")[0], *load_trials(f)) for f in files]
    metas = {(str(m["model"]), str(m["variant"])) for _, _, m in loaded}
    if len(metas) != 1:
        raise UsageError(f"the sessions must be trials of one model and variant, got {sorted(metas)}")
    model, variant = metas.pop()
    common = sorted(set.intersection(*(set(float(x) for x in m["slowdowns"]) for _, _, m in loaded)))
    tallies, notes = judge_sessions([(name, trials) for name, trials, _ in loaded], variant, common,
                                    floors[0], shape)
    print(f"Command: `python -m infergate calibrate {' '.join(argv)}`\n\nModel {model}, variant `{variant}`.\n")
    print("\n".join(session_markdown(tallies, common, shape, floors[0]) + [""] + notes))


def _print_loaded(path: str, floors: tuple[float, ...], shape: GateShape) -> None:
    """--load: the report of trials saved earlier, with the model, variant and slowdowns they hold."""
    from .calibration_report import report
    from .calibration_rules import min_trials
    from .calibration_trials import find_spec, load_trials

    trials, meta = load_trials(path)
    spec, variant = find_spec(str(meta["model"])), str(meta["variant"])
    slowdowns = tuple(float(x) for x in meta["slowdowns"])
    load = (float(meta["load_start"]), float(meta["load_end"]))
    if len(trials) < min_trials(shape):
        raise UsageError(f"{path} holds {len(trials)} trials; this gate shape needs {min_trials(shape)}")
    print("\n".join(report(trials, spec, variant, slowdowns, floors, load, list(meta["argv"]), shape)))


def _measure(args: argparse.Namespace, slowdowns: tuple[float, ...], floors: tuple[float, ...],
             shape: GateShape, argv: list[str]) -> list[str]:
    """The trials measured now (and saved with --save), as the report's lines."""
    from ..measuring.host_session import host_identity
    from ..measuring.load import read_load
    from .calibration_report import report
    from .calibration_trials import find_spec, run_trial, save_trials

    spec = find_spec(args.model)
    load_start = read_load()
    trials: list[Trial] = []
    for seed in range(args.trials):
        trial = run_trial(spec, args.variant, slowdowns, args.budget, args.block_s, seed, args.threads,
                          args.settings.split(","))
        trials.append(trial)
        print(f"trial {seed + 1}/{args.trials}: {trial.seconds:.0f} s, {trial.shuffled.rounds} rounds, "
              f"load {read_load():.2f}", file=sys.stderr, flush=True)
    load_end = read_load()
    if args.save:
        save_trials(args.save, trials, {"model": spec.id, "variant": args.variant, "slowdowns": slowdowns,
                                        "load_start": load_start, "load_end": load_end, "argv": argv,
                                        "settings": args.settings, "session": host_identity()})
    return report(trials, spec, args.variant, slowdowns, floors, (load_start, load_end), argv, shape)
