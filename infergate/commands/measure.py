"""``python -m infergate measure``: measure output differences over the correctness matrix.

This is where the tolerance table's numbers come from: for every case it prints the worst absolute
difference from the FP32 eager reference, the worst difference relative to |reference|, and how
often the task answer agrees with the reference's.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..building.cases import correctness_cases
from ..building.harness import example_inputs, harness, skip_reason
from ..core.errors import BuildError, CaseUnavailable, ProofError
from ..matrix.agreement import closeness, task_agreement
from ..matrix.inputs import Shape
from ..matrix.tolerances import Tolerance
from ..pytest_plugin.settings import PROFILE, option
from .front import prog

# A tolerance that accepts everything, so we see raw numbers.
_OPEN = Tolerance(atol=0.0, rtol=0.0, decisive_margin=float("inf"), min_agreement=0.0, why="measure")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("measure"), description=__doc__)
    option(PROFILE).add_to(parser.add_argument, "--profile")
    parser.add_argument("-k", default="", help="substring a case id must contain")
    args = parser.parse_args(argv)
    h = harness()
    worst: dict[str, float] = {}
    failed = 0
    print(f"{'case':55} {'max_abs':>9} {'max_rel':>9} {'agree':>6}")
    for case in correctness_cases(args.ig_profile):
        if args.k not in case.id or skip_reason(case):
            continue
        try:
            rows = _differences(h, case)
        except CaseUnavailable as exc:  # e.g. BF16 autocast after IPEX was imported on AVX2
            print(f"{case.id:55} skipped: {exc}", flush=True)
            continue
        except (BuildError, ProofError) as exc:  # this case's failure, the others still measured
            failed += 1
            print(f"{case.id:55} FAILED: {exc}", flush=True)
            continue
        max_abs, rel, rate = max(r[0] for r in rows), max(r[1] for r in rows), min(r[2] for r in rows)
        key = f"{case.variant}-{case.dtype.value}"
        worst[key] = max(worst.get(key, 0.0), max_abs)
        print(f"{case.id:55} {max_abs:9.2e} {rel:9.2e} {rate:6.3f}", flush=True)
    print("\nworst max_abs per variant-dtype:")
    for key, value in sorted(worst.items()):
        print(f"  {key:20} {value:.3e}")
    if failed:
        print(f"{failed} case(s) FAILED to build or prove (above)")
    return 1 if failed else 0


def _differences(h: Any, case: Any) -> list[tuple[float, float, float]]:
    """(max |out - ref|, max relative difference, agreement rate) on the trace example and on two
    other shapes with their own seeds."""
    rows = []
    for inputs in (example_inputs(case.spec), example_inputs(case.spec, Shape(4, 24), 7),
                   example_inputs(case.spec, Shape(3, 40), 8)):
        ref = h.reference(case.spec, inputs)
        out = h.built(case)(inputs)
        c = closeness(ref, out, _OPEN, inputs["attention_mask"])
        rel = max(float(((o.float() - r).abs() / (r.abs() + 1.0)).max()) for r, o in zip(ref, out, strict=True))
        a = task_agreement(case.spec.task, ref, out, inputs["attention_mask"], _OPEN)
        rows.append((c.max_abs, rel, a.rate))
    return rows
