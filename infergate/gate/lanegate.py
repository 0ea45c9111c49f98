"""``python -m infergate gate --from LANE --to LANE``: gate an upgrade of torch / IPEX / transformers.

An upgrade changes everything at once, eager included, so a speedup over eager cannot see it; and
absolute times measured hours apart are noise. So both lanes are measured *now*, on the same
machine, in lockstep: one live worker per lane, both driven call by call in a shuffled order every
round (``infergate.gate.lockstep``), several fresh pairs of workers to see the per-process offset.

Per case the gate compares (``infergate.measuring.lane_compare``): latency to/from with one-sided t bounds
across worker pairs; speedup over eager in each lane; outputs of "to" against "from" on the same seeded
weights; fusion signals; availability; and the correctness suite under "to". Exit codes: 0 pass,
1 a regression, 2 a usage or set-up error, 6 inconclusive (a case could not rule out a slowdown of
``--floor``; with ``--inconclusive pass`` it exits 0 and says so). With ``--bisect``, a regression
between lanes that differ in more than one top-level pin is traced to the package that carries it
(``infergate.gate.lane_bisect``).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..building.inject import injection_type
from ..core import exit_codes
from ..core.errors import InfergateError, PackageMissing, UsageError
from ..core.paths import REPO_ROOT
from ..core.validate import alpha_type, fraction_type, whole_number
from ..measuring.lane_compare import DEFAULT_ALPHA, DEFAULT_FLOOR, DEFAULT_MIN_CHANGE, compare
from ..measuring.lane_results import Correctness, GateResult
from .gate_outputs import attach_run_facts, write_outputs
from .lockstep import PairRecord, Starter
from .lockstep_plan import case_ids, plan_models

DEFAULT_PAIRS = 6
DEFAULT_ROUNDS = 100
EXIT_REGRESSION, EXIT_USAGE, EXIT_INCONCLUSIVE = exit_codes.REGRESSION, exit_codes.USAGE, exit_codes.INCONCLUSIVE

# --------------------------------------------------------------------------------------------
# Correctness under "to"
# --------------------------------------------------------------------------------------------

_SUMMARY = re.compile(r"^=+ (.*) =+$")


def run_correctness(python: Path, profile: str, cases: str | None, log: Path) -> Correctness:
    cmd = [str(python), "-m", "pytest", "correctness", "-q", "-p", "no:cacheprovider",
           "--ig-profile", profile]
    if cases:
        cmd += ["-k", cases]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              cwd=REPO_ROOT)
    summary = ""
    for line in reversed(log.read_text(encoding="utf-8", errors="replace").splitlines()):
        m = _SUMMARY.match(line.strip())
        if m or re.search(r"\d+ (passed|failed|error)", line):
            summary = m.group(1) if m else line.strip()
            break
    return Correctness(True, proc.returncode, summary or f"pytest exit status {proc.returncode}", str(log))


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Injection:
    """TEST ONLY: an in-graph slowdown (inject.py) of one variant in the "to" lane, optionally only
    when the "to" lane has a package version at or above a bound (to give bisection a culprit)."""

    variant: str
    fraction: float
    package: str | None = None
    min_version: str | None = None

    def applies(self, versions: Mapping[str, str | None]) -> bool:
        if self.package is None:
            return True
        have = versions.get(self.package)
        return have is not None and _version_key(have) >= _version_key(self.min_version or "0")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version.split("+")[0])[:3])


def injection_arg(value: str) -> Injection:
    """VARIANT=FRACTION or VARIANT=FRACTION@PACKAGE>=VERSION (PACKAGE: torch, ipex, transformers)."""
    spec, _, cond = value.partition("@")
    variant, fraction = injection_type(spec)
    if not cond:
        return Injection(variant, fraction)
    m = re.fullmatch(r"(torch|ipex|transformers)>=([0-9][0-9.]*)", cond)
    if not m:
        raise argparse.ArgumentTypeError(f"{cond!r} must be PACKAGE>=VERSION with PACKAGE torch, ipex or transformers")
    return Injection(variant, fraction, m.group(1), m.group(2))


def replacement_arg(value: str) -> tuple[str, str]:
    """VARIANT=STAND_IN, e.g. jit_ipex=compile: in the "to" lane, STAND_IN is built and timed where
    "from" times VARIANT. Eager is every speedup's reference in both lanes, so it is never replaced."""
    from ..building.variants import REFERENCE, VARIANTS

    variant, sep, stand_in = value.partition("=")
    names = ", ".join(v for v in VARIANTS if v != REFERENCE)
    if not sep or variant not in VARIANTS or stand_in not in VARIANTS or REFERENCE in (variant, stand_in):
        raise argparse.ArgumentTypeError(f"{value!r} must be VARIANT=VARIANT, each one of {names}")
    if variant == stand_in:
        raise argparse.ArgumentTypeError(f"{value!r} replaces a variant with itself; leave the option out")
    return variant, stand_in


def replacements(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for variant, stand_in in pairs:
        if out.get(variant, stand_in) != stand_in:
            raise UsageError(f"--replace names {variant} twice ({out[variant]} and {stand_in})")
        out[variant] = stand_in
    return out


def measure(lanes: Mapping[str, str], plans: Sequence[Any], *, profile: str, pairs: int, rounds: int,
            start: Starter, to_versions: Mapping[str, str | None], injections: Sequence[Injection] = (),
            progress: Callable[[str], None] = lambda msg: None) -> list[PairRecord]:
    from .lockstep import run_pair

    inject = {i.variant: i.fraction for i in injections if i.applies(to_versions)}
    records = []
    for p in range(pairs):
        progress(f"[pair {p + 1}/{pairs}] fresh workers: '{lanes['from']}' (from) and '{lanes['to']}' (to)")
        rec = run_pair(p, lanes, plans, profile=profile, rounds=rounds, start=start, inject_to=inject,
                       first=(p == 0), seed=p, progress=progress)
        records.append(rec)
    return records


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    from ..building.cases import PROFILES

    p = argparse.ArgumentParser(prog="python -m infergate gate", description=__doc__.split("\n\n")[0])
    g = p.add_argument_group("lanes and cases")
    g.add_argument("--from", dest="from_lane", required=True, metavar="LANE", help="lane name or .lock path")
    g.add_argument("--to", dest="to_lane", required=True, metavar="LANE", help="lane name or .lock path")
    g.add_argument("--profile", choices=tuple(PROFILES), default="smoke", help="Default: smoke")
    g.add_argument("--cases", default=None, metavar="EXPR",
                   help="pytest -k expression on case ids. Default: all of the profile's perf cases")
    m = p.add_argument_group("measuring")
    m.add_argument("--pairs", type=whole_number(2, 100), default=DEFAULT_PAIRS, metavar="N",
                   help="pairs of fresh workers (one per lane, driven in lockstep); the interval comes "
                        f"from the spread between pairs, t with N - 1 df. Default: {DEFAULT_PAIRS}")
    m.add_argument("--rounds", type=whole_number(1, 100_000), default=DEFAULT_ROUNDS, metavar="N",
                   help=f"lockstep rounds per pair and model. Default: {DEFAULT_ROUNDS}")
    v = p.add_argument_group("verdicts")
    v.add_argument("--floor", type=fraction_type, default=DEFAULT_FLOOR, metavar="FRACTION",
                   help="a case passes only if its one-sided upper bound rules out a slowdown this large. "
                        f"Default: {DEFAULT_FLOOR}")
    v.add_argument("--min-change", type=fraction_type, default=DEFAULT_MIN_CHANGE, metavar="FRACTION",
                   help="a significant slowdown at least this large is a regression; a smaller one is "
                        f"reported. Default: {DEFAULT_MIN_CHANGE}")
    v.add_argument("--alpha", type=alpha_type, default=DEFAULT_ALPHA, metavar="P",
                   help="family-wise false-alarm rate over all comparisons, under the model (one-sided t "
                        f"across pairs, no systematic lean; docs/upgrade-gate.md). Default: {DEFAULT_ALPHA}")
    v.add_argument("--inconclusive", choices=("fail", "pass"), default="fail",
                   help=f"what a case that cannot rule out a --floor slowdown does to the exit code: "
                        f"fail (exit {EXIT_INCONCLUSIVE}) or pass (exit 0, still reported). Default: fail")
    o = p.add_argument_group("other")
    g.add_argument("--replace", type=replacement_arg, action="append", default=[], metavar="VARIANT=VARIANT",
                   help="time the second variant in the 'to' lane where 'from' times the first, e.g. "
                        "jit_ipex=compile: does torch.compile in the new lane keep IPEX's speed and answers in "
                        "the old? The case keeps the first variant's id; fusions are not compared. "
                        "Repeatable. Default: none")
    o.add_argument("--bisect", action="store_true",
                   help="on a regression between lanes that differ in more than one top-level pin, build "
                        "the lanes in between (one pin moved at a time) and name the package that carries "
                        "it. Default: off")
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
    over to (the bare python3 that sets the lanes up has no packaged checkpoint; every lane has it)."""
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
    os.execv(str(to_python), [str(to_python), "-m", "infergate.gate.lanegate", *argv, "--no-ensure"])


def exit_code(gate: GateResult, inconclusive: str) -> int:
    if gate.regressions:
        return EXIT_REGRESSION
    if gate.inconclusive and inconclusive == "fail":
        return EXIT_INCONCLUSIVE
    return 0


def selection(args: argparse.Namespace) -> tuple[list[Any], dict[str, str]]:
    """The selected perf cases and the replacements, refused in one line before anything is set up
    or measured: no case, a variant given two stand-ins, or a replacement no selected case uses."""
    from ..building.cases import get_profile
    from .lane_worker import select_cases

    cases = select_cases(get_profile(args.profile), args.cases)
    if not cases:
        raise UsageError(f"no perf case of profile {args.profile!r} matches {args.cases!r}")
    replaced = replacements(args.replace)
    idle = sorted(set(replaced) - {c.variant for c in cases})
    if idle:
        raise UsageError(f"--replace {', '.join(idle)}: no selected case of profile {args.profile!r} times "
                         f"{' or '.join(idle)}, so it would replace nothing")
    for injection in args.inject_slowdown:
        if injection.variant in replaced:
            raise UsageError(f"--inject-slowdown {injection.variant}: the 'to' lane builds "
                             f"{replaced[injection.variant]} in its place (--replace); inject "
                             f"{replaced[injection.variant]} to slow the stand-in")
    return cases, replaced


def correctness_cases(args: argparse.Namespace) -> str | None:
    """The -k expression of the correctness run under "to": the perf selection, and the stand-ins'
    own cases, whose answers are what a replaced case depends on in "to"."""
    if args.cases is None:
        return None
    stand_ins = sorted({to for _, to in args.replace})
    return f"({args.cases}) or " + " or ".join(stand_ins) if stand_ins else args.cases


def run_gate(args: argparse.Namespace, pythons: Mapping[str, Path], out: Path, *,
             start: Starter | None = None, correctness: Correctness | None = None,
             progress: Callable[[str], None] = print) -> tuple[GateResult, list[PairRecord]]:
    """Measure and compare two set-up lanes; ``start`` replaces the real workers in tests."""
    from ..building.machine import lane_versions
    from .lockstep import measuring_cpus, process_starter
    from .worker_checks import worker_env

    cases, replaced = selection(args)
    plans = plan_models(cases, replaced)
    env, prefix, env_desc = worker_env()
    if start is None:
        worker_cpus = measuring_cpus()
        env_desc = {**env_desc, "worker_cpus": sorted(worker_cpus)}
        start = process_starter(pythons, out / "logs", env, prefix, worker_cpus)
    lanes = {"from": args.from_lane, "to": args.to_lane}
    to_versions = _versions_of(pythons["to"]) if pythons.get("to") else lane_versions()
    t0 = time.perf_counter()
    records = measure(lanes, plans, profile=args.profile, pairs=args.pairs, rounds=args.rounds, start=start,
                      to_versions=to_versions, injections=args.inject_slowdown,
                      progress=lambda msg: progress(msg))
    seconds = time.perf_counter() - t0
    ids = case_ids(plans)
    gate = compare(records, ids, from_lane=args.from_lane, to_lane=args.to_lane,
                   correctness=correctness or Correctness(False, summary="not run (--no-correctness)"),
                   rounds=args.rounds, floor=args.floor, min_change=args.min_change, alpha=args.alpha,
                   gated={c.id for c in cases})
    attach_run_facts(gate, records, env_desc, plans, seconds)
    gate.replaced = replaced
    # What the "to" workers really built slowed (their own word), not what was asked: a condition
    # on a version that this lane does not meet, or a variant not in the run, injects nothing.
    gate.injected = {b.get("variant", v): float(b["injected"]) for r in records for m in r.models
                     for v, b in m.built["to"].items() if b.get("injected")}
    asked = {i.variant for i in args.inject_slowdown}
    if asked - set(gate.injected):
        gate.warnings.append("TEST ONLY: --inject-slowdown asked for " + ", ".join(sorted(asked - set(gate.injected)))
                             + " but the 'to' lane built no such slowdown (a version condition not met, or "
                               "the variant is not in this run)")
    if gate.injected:
        gate.warnings.append("TEST ONLY: slowdowns were injected into the 'to' lane: "
                             + ", ".join(f"{k} {v:.0%}" for k, v in gate.injected.items()))
    return gate, records


def _versions_of(python: Path) -> dict[str, str | None]:
    """The lane's package versions, read by its own python (metadata only, nothing imported)."""
    import json

    code = "import json; from infergate.building.machine import lane_versions; print(json.dumps(lane_versions()))"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                          cwd=REPO_ROOT, check=False)
    if proc.returncode != 0:
        raise InfergateError(f"cannot read the package versions of {python}: {proc.stderr.strip()[-200:]}")
    return json.loads(proc.stdout)


def main(argv: Sequence[str] | None = None, *, start: Starter | None = None,
         lane_python: Callable[[str], Path] | None = None) -> int:
    from . import lanes as lanes_mod

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    args = parser.parse_args(argv)
    if args.bisect and args.replace:
        parser.error("--bisect traces a change to the package that carries it; with --replace a case compares "
                     "two different variants, so every move would carry their gap: bisect without --replace")
    if args.min_change > args.floor:
        parser.error(f"--min-change {args.min_change} is above --floor {args.floor}: a change between "
                     "them could be neither a regression nor ruled out, whatever the number of pairs")
    try:
        unlisted = _check_selection_early(args, can_defer=start is None and not os.environ.get(HANDED_OVER))
        if not args.no_ensure:
            for lane in (args.from_lane, args.to_lane):
                print(lanes_mod.ensure(lane, on_install=lambda m: print(m, flush=True)).message, flush=True)
        find_python = lane_python or (lambda lane: lanes_mod.lane_python(lane))
        pythons = {"from": find_python(args.from_lane), "to": find_python(args.to_lane)}
        missing = _lacks_report_deps() or unlisted  # the system python3 may lack them; every lane has them
        if missing and start is None:
            _hand_over(argv, pythons["to"], missing)
        out = args.out or Path("results") / f"gate-{Path(args.from_lane).stem}-to-{Path(args.to_lane).stem}"
        if args.no_correctness:
            correctness = Correctness(False, summary="not run (--no-correctness)")
        else:
            print(f"correctness under '{args.to_lane}' ({args.profile} profile)...", flush=True)
            correctness = run_correctness(pythons["to"], args.profile, correctness_cases(args),
                                          out / "correctness-to.log")
        gate, _ = run_gate(args, pythons, out, start=start, correctness=correctness,
                        progress=lambda m: print(m, flush=True))
        paths = write_outputs(gate, out)
        from ..reports.report import gate_terminal

        print(gate_terminal(gate))
    except (InfergateError, ValueError, OSError) as exc:
        print(f"infergate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.bisect:
        from .lane_bisect import bisect_after

        # The gate's own verdict stands whatever happens while bisecting.
        for line in bisect_after(gate, args, out, run=run_gate, write=write_outputs, start=start,
                                 lane_python=find_python):
            print(line, flush=True)
    others = ", ".join(p.name for k, p in paths.items() if k != "markdown")
    print(f"reports: {paths['markdown']} (and {others})")
    code = exit_code(gate, args.inconclusive)
    if gate.inconclusive and args.inconclusive == "pass":
        print(f"exit 0 although {len(gate.inconclusive)} case(s) were inconclusive (--inconclusive pass)")
    return code


if __name__ == "__main__":
    sys.exit(main())
