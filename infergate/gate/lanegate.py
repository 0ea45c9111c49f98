"""The upgrade gate's run: both lanes set up, correctness under "to", the lanes measured in lockstep
and compared (``measuring.lane_compare``). The command is ``commands/gate_cli.py``.

An upgrade changes everything at once, eager included, so a speedup over eager cannot see it; and
absolute times measured hours apart are noise. So both lanes are measured *now*, on the same
machine: one live worker per lane, both driven call by call in a shuffled order every round
(``gate.lockstep``), several fresh pairs of workers to see the per-process offset.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..building.inject import injection_type
from ..core.errors import InfergateError, UsageError
from ..core.paths import REPO_ROOT
from ..measuring.lane_compare import compare
from ..measuring.lane_results import Correctness, GateResult
from .gate_outputs import attach_run_facts
from .lockstep import PairRecord, Starter
from .lockstep_plan import case_ids, plan_models
from .revisions import Revision

DEFAULT_PAIRS = 6
DEFAULT_ROUNDS = 100

# --------------------------------------------------------------------------------------------
# Correctness under "to"
# --------------------------------------------------------------------------------------------

_SUMMARY = re.compile(r"^=+ (.*) =+$")


# The installed plugin's own correctness module: run for configured models, it collects them alone.
PACKAGED_SUITE = Path(__file__).resolve().parents[1] / "pytest_plugin" / "suite"


def correctness_command(python: Path, profile: str, cases: str | None, config: Path | None = None) -> list[str]:
    """The pytest command of the correctness run under "to": this repository's ``correctness/`` at
    ``profile``, or, for configured models, the plugin's packaged suite on ``config``'s models only
    (run from the command's directory, as the lane workers are)."""
    if config is None:
        cmd = [str(python), "-m", "pytest", "correctness", "-q", "-p", "no:cacheprovider", "--ig-profile", profile]
    else:
        # The plugin is this checkout's (its root conftest) or the installed wheel's (its entry point).
        cmd = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--ig-suite", "correctness",
               "--ig-config", str(config), str(PACKAGED_SUITE)]
    return cmd + (["-k", cases] if cases else [])


def run_correctness(python: Path, profile: str, cases: str | None, log: Path,
                    config: Path | None = None) -> Correctness:
    import os

    from .revisions import project_workers

    cmd = correctness_command(python, profile, cases, config)
    cwd, env = (REPO_ROOT, {}) if config is None else project_workers(Path.cwd(), os.environ)["to"]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              cwd=cwd, env={**os.environ, **env})
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
            configs: Mapping[str, str] | None = None,
            progress: Callable[[str], None] = lambda msg: None) -> list[PairRecord]:
    from .lockstep import run_pair

    inject = {i.variant: i.fraction for i in injections if i.applies(to_versions)}
    records = []
    for p in range(pairs):
        progress(f"[pair {p + 1}/{pairs}] fresh workers: '{lanes['from']}' (from) and '{lanes['to']}' (to)")
        rec = run_pair(p, lanes, plans, profile=profile, rounds=rounds, start=start, inject_to=inject,
                       first=(p == 0), seed=p, configs=configs, progress=progress)
        records.append(rec)
    return records


def find_config(given: Path | None, cwd: Path) -> Path | None:
    """The configured models' file of a gate between two lanes, as ``measure`` and ``claims`` find
    it: ``--config FILE`` (relative to ``cwd``), else ``cwd``'s pyproject.toml when it has a
    ``[tool.infergate]`` table, else None (the profile's cases). Its keys are checked here (stdlib
    only); resolving its models needs the lane's packages (``selection``)."""
    from ..matrix.user_config import load_config

    if given is not None:
        path = (cwd / given).resolve()
        load_config(path, required=True)  # a missing file or a bad key: one line naming it
        return path
    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file() and load_config(pyproject, required=False) is not None:
        return pyproject.resolve()
    return None


def selection(args: argparse.Namespace, cases: list[Any] | None = None,
              source: str | None = None) -> tuple[list[Any], dict[str, str]]:
    """The selected perf cases and the replacements, refused in one line before anything is set up
    or measured: no case, a variant given two stand-ins, or a replacement no selected case uses.
    ``cases``: already selected elsewhere (two revisions' own), from ``source``; else the configured
    models of ``args.models_config`` when set (``find_config``), else the profile's."""
    from ..building.case_expr import case_matcher
    from ..building.cases import get_profile
    from .lane_worker import gate_cases, select_cases

    config = getattr(args, "models_config", None)
    if cases is None and config is not None:
        match = case_matcher(args.cases)
        # The lanes' workers build them: a pkg: checkpoint this python lacks is theirs to resolve.
        cases = [c for c in gate_cases(args.profile, str(config), elsewhere=True) if match(c.id)]
        source = f"the configured models of {config}"
    elif cases is None:
        cases = select_cases(get_profile(args.profile), args.cases)
    exact = getattr(args, "exact_cases", None)  # set by bisection: these ids and no other
    if exact is not None:
        cases = [c for c in cases if c.id in set(exact)]
    source = source or f"profile {args.profile!r}"
    if not cases:
        raise UsageError(f"no perf case of {source} matches {args.cases!r}")
    replaced = replacements(args.replace)
    idle = sorted(set(replaced) - {c.variant for c in cases})
    if idle:
        raise UsageError(f"--replace {', '.join(idle)}: no selected case of {source} times "
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
             progress: Callable[[str], None] = print,
             revisions: Mapping[str, Revision] | None = None) -> tuple[GateResult, list[PairRecord]]:
    """Measure and compare two set-up lanes, or two ``revisions`` of the user's code in one lane;
    ``start`` replaces the real workers in tests."""
    from ..building.machine import lane_versions
    from .lockstep import measuring_cpus, process_starter
    from .revisions import describe
    from .worker_checks import worker_env

    config = getattr(args, "models_config", None)
    cases, replaced, only_one, configs, trees = _sources(args, revisions, config)
    plans = plan_models(cases, replaced)
    env, prefix, env_desc = worker_env()
    if start is None:
        worker_cpus = measuring_cpus()
        env_desc = {**env_desc, "worker_cpus": sorted(worker_cpus)}
        start = process_starter(pythons, out / "logs", env, prefix, worker_cpus, trees=trees)
    lanes = {"from": args.from_lane, "to": args.to_lane}
    to_versions = _versions_of(pythons["to"]) if pythons.get("to") else lane_versions()
    t0 = time.perf_counter()
    records = measure(lanes, plans, profile=args.profile, pairs=args.pairs, rounds=args.rounds, start=start,
                      to_versions=to_versions, injections=args.inject_slowdown,
                      configs=configs,
                      progress=lambda msg: progress(msg))
    seconds = time.perf_counter() - t0
    ids = case_ids(plans)
    gate = compare(records, ids, from_lane=args.from_lane, to_lane=args.to_lane,
                   correctness=correctness or Correctness(False, summary="not run (--no-correctness)"),
                   rounds=args.rounds, floor=args.floor, min_change=args.min_change, alpha=args.alpha,
                   gated={c.id for c in cases})
    attach_run_facts(gate, records, env_desc, plans, seconds)
    gate.replaced = replaced
    gate.warnings += only_one
    if revisions:
        gate.revisions = describe(revisions, args.from_lane)
    elif config:
        gate.config = str(config)
        gate.warnings += _head_notes(config, {c.spec.label for c in cases})
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


def _sources(args: argparse.Namespace, revisions: Mapping[str, Revision] | None, config: Path | None) -> tuple[
        list[Any], dict[str, str], list[str], dict[str, str], Mapping[str, tuple[Path, Mapping[str, str]]] | None]:
    """(cases, replacements, warnings on cases only one revision has, side -> config file, side ->
    the workers' cwd and environment or None for the repository's): two revisions' own trees, or
    two lanes building configured models from the command's directory, or the profile's."""
    import os

    from .revisions import project_workers, revision_cases, worker_trees

    if revisions:
        both, only_one = revision_cases(args, revisions)
        cases, replaced = selection(args, both, source="both revisions")
        configs = {s: str(r.config) for s, r in revisions.items() if r.config}
        return cases, replaced, only_one, configs, worker_trees(revisions, os.environ)
    cases, replaced = selection(args)
    if config is None:
        return cases, replaced, [], {}, None
    return cases, replaced, [], {s: str(config) for s in ("from", "to")}, project_workers(Path.cwd(), os.environ)


def _head_notes(config: Path, models: set[str | None]) -> list[str]:
    """The gated checkpoints' random heads, as a pytest run's header says them: their outputs are
    compared across the lanes on the same seeded head, not a trained one."""
    from ..building.user_cases import configured, notes
    from ..matrix.user_config import load_config

    specs = configured(load_config(config, required=True), elsewhere=True)
    return [n for n in notes(specs) if n.split(":")[0] in models]


def _versions_of(python: Path) -> dict[str, str | None]:
    """The lane's package versions, read by its own python (metadata only, nothing imported)."""
    import json

    code = "import json; from infergate.building.machine import lane_versions; print(json.dumps(lane_versions()))"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                          cwd=REPO_ROOT, check=False)
    if proc.returncode != 0:
        raise InfergateError(f"cannot read the package versions of {python}: {proc.stderr.strip()[-200:]}")
    return json.loads(proc.stdout)
