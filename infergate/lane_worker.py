"""``<lane python> -m infergate.lane_worker``: one block of timings in one lane, printed as JSON.

The lane gate (``infergate.lanegate``) starts this in the "from" and the "to" lane alternately
(A, B, B, A, ...). Each start is a fresh process that builds the selected cases' variants and times
a block of rounds: one round calls every built variant of one model once, in a shuffled order, so
the variants of a round share the machine state (see ``infergate.stats``). Only the JSON document
goes to stdout; anything the libraries print goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .cases import Case, Profile, get_profile, perf_cases
from .errors import InfergateError, UsageError

SCHEMA = "infergate-lane-block"
VERSION = 1



def case_matcher(expr: str | None) -> Callable[[str], bool]:
    """A predicate on case ids that follows pytest's ``-k`` rules, so one expression selects the
    same cases in the correctness run and here: each name is a case-insensitive substring test."""
    if not expr:
        return lambda case_id: True
    # pytest's own parser: the grammar (and, or, not, parentheses) is then exactly pytest's.
    from _pytest.mark.expression import Expression

    try:
        compiled = Expression.compile(expr)
    except Exception as exc:  # pytest raises its own ParseError type
        raise UsageError(f"invalid case expression {expr!r}: {exc}") from None

    def matches(case_id: str) -> bool:
        low = case_id.lower()
        return compiled.evaluate(lambda name, **_: name.lower() in low)

    return matches


def select_cases(profile: Profile, expr: str | None) -> list[Case]:
    match = case_matcher(expr)
    return [c for c in perf_cases(profile) if match(c.id)]


def measure_block(cases: Sequence[Case], rounds: int, seed: int, fusions: bool) -> dict[str, Any]:
    """Time every case's model in ``rounds`` shuffled rounds with the perf suite's own sampler
    (``sampling.measure_model``: same warm-up, thread pinning and GC handling as perf/), and, if
    ``fusions``, count each TorchScript case's fusion signals (``fusions.signals``)."""
    from .harness import harness
    from .machine import lane_id, lane_versions, machine_class
    from .sampling import SamplingPlan, measure_model

    # The round count is fixed (min = max) so both lanes' blocks have the same size, which the
    # gate's block bootstrap needs; the budget then plays no part.
    plan = SamplingPlan(min_rounds=rounds, max_rounds=rounds, seed=seed)
    groups: dict[tuple[str, str], list[Case]] = {}
    for case in cases:
        groups.setdefault((case.spec.id, case.dtype.value), []).append(case)

    models, threads = [], 0
    for group in groups.values():
        spec, dtype = group[0].spec, group[0].dtype
        # Eager is always timed: every speedup is against the same rounds' eager time.
        variants = list(dict.fromkeys(["eager", *(c.variant for c in group)]))
        ids = {v: f"{spec.id}-{v}-{dtype.value}" for v in variants}
        entry: dict[str, Any] = {
            "model": spec.id, "times_ms": {}, "variants": {ids[v]: v for v in variants},
            "dtypes": {ids[v]: dtype.value for v in variants}, "skipped": {}, "failed": {}, "fusions": {},
        }
        try:
            m = measure_model(spec, dtype, variants, plan)
        except InfergateError as exc:
            # measure_model builds the variants together, so one build error loses the group.
            entry["failed"] = {ids[v]: str(exc) for v in variants}
            models.append(entry)
            continue
        threads = m.threads
        entry["times_ms"] = {ids[v]: [t / 1e6 for t in m.times_ns[v]] for v in m.variants}
        entry["skipped"] = {ids[v]: reason for v, reason in m.skipped.items()}
        if fusions:
            timed = [c for c in group if ids[c.variant] in entry["times_ms"]]
            entry["fusions"] = _fusion_signals(timed, harness())
        models.append(entry)
    versions = lane_versions()
    return {
        "schema": SCHEMA, "version": VERSION, "lane": lane_id(versions), "versions": versions,
        "machine_class": machine_class(), "threads": threads, "rounds": rounds, "seed": seed,
        "models": models,
    }


def _fusion_signals(cases: Sequence[Case], h: Any) -> dict[str, dict[str, int]]:
    from .fusions import FUSION_VARIANTS, count_linear_calls, signals
    from .harness import example_inputs

    out = {}
    for case in cases:
        if case.variant in FUSION_VARIANTS:
            inputs = example_inputs(case.spec)
            linear_calls = count_linear_calls(h.model(case.spec), inputs)
            out[case.id] = signals(h.built(case).kinds, linear_calls)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infergate.lane_worker", description=__doc__)
    parser.add_argument("--profile", default="smoke", help="perf profile. Default: smoke")
    parser.add_argument("--cases", default=None, help="pytest -k style expression on case ids. Default: all")
    parser.add_argument("--rounds", type=int, default=10, help="rounds per model. Default: 10")
    parser.add_argument("--seed", type=int, default=0, help="seed of the round order. Default: 0")
    parser.add_argument("--fusions", action="store_true",
                        help="also count fusion signals of the TorchScript cases (deterministic, so the gate "
                             "asks for them in one block per lane). Default: off")
    args = parser.parse_args(argv)
    try:
        if args.rounds < 1:
            raise UsageError(f"--rounds must be >= 1, got {args.rounds}")
        cases = select_cases(get_profile(args.profile), args.cases)
        if not cases:
            raise UsageError(f"no perf case of profile {args.profile!r} matches {args.cases!r}")
        # Libraries print warnings and banners; stdout must hold only the JSON document.
        with contextlib.redirect_stdout(sys.stderr):
            doc = measure_block(cases, args.rounds, args.seed, args.fusions)
    except InfergateError as exc:
        print(f"infergate: {exc}", file=sys.stderr)
        return 2
    json.dump(doc, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
