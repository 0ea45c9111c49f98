"""``python -m infergate measure``: output differences over the correctness matrix, the source of the
tolerance table: per case the worst absolute and relative difference from FP32 eager and how often
the task answer agrees. Configured models (``--config``, else ``[tool.infergate]``) are measured at
three shapes, the profile's zoo only with ``--profile``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..building.case_expr import case_matcher
from ..building.cases import Case, correctness_cases
from ..building.harness import example_inputs, harness, skip_reason
from ..core.errors import BuildError, CaseUnavailable, InfergateError, ProofError
from ..matrix.agreement import closeness, task_agreement
from ..matrix.inputs import Shape
from ..matrix.tolerances import Tolerance
from ..pytest_plugin.settings import CONFIG, PROFILE, option
from .front import prog

# A tolerance that accepts everything, so we see raw numbers.
_OPEN = Tolerance(atol=0.0, rtol=0.0, decisive_margin=float("inf"), min_agreement=0.0, why="measure")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("measure"), description=__doc__)
    option(PROFILE).add_to(parser.add_argument, "--profile", default_help="default; with configured models, none")
    option(CONFIG).add_to(parser.add_argument, "--config",
                          default_help="the working directory's pyproject.toml, when it has that table")
    parser.add_argument("-k", default="", metavar="EXPR",
                        help="pytest -k expression on case ids (as gate --cases). Default: every case")
    args = parser.parse_args(argv)
    try:
        match = case_matcher(args.k)
        cases = _cases(args, sys.argv[1:] if argv is None else argv)
    except InfergateError as exc:  # a bad config or expression: one line naming the file and the key
        print(f"infergate: {exc}", file=sys.stderr)
        return 2
    chosen = [c for c in cases if match(c.id)]
    if not chosen:  # a typo would otherwise measure nothing and exit 0
        print(f"infergate: -k {args.k}: no case matches (of {len(cases)})", file=sys.stderr)
        return 2
    h = harness()
    worst: dict[str, float] = {}
    failed = 0
    print(f"{'case':55} {'max_abs':>9} {'max_rel':>9} {'agree':>6}")
    for case in chosen:
        reason = skip_reason(case)
        if reason:
            print(f"{case.id:55} skipped: {reason}", flush=True)
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
        except Exception as exc:  # unforeseen, e.g. the model's forward at a shape: still this case's alone
            failed += 1
            print(f"{case.id:55} FAILED: {type(exc).__name__}: {exc}", flush=True)
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


def _cases(args: argparse.Namespace, argv: list[str]) -> list[Case]:
    """The configured models' correctness cases, with the profile's when it is named; else the profile's."""
    from ..building.user_cases import configured, user_cases
    from ..pytest_plugin.session import user_config

    models = configured(user_config(args.ig_config, Path.cwd()))
    named = any(a == "--profile" or a.startswith(("--profile=", PROFILE)) for a in argv)
    zoo = correctness_cases(args.ig_profile) if named or not models else []
    return zoo + user_cases(models, perf=False)


def _differences(h: Any, case: Any) -> list[tuple[float, float, float]]:
    """(max abs difference, max relative difference, agreement) on the trace example and other shapes."""
    import torch

    rows = []
    for inputs in _probe_inputs(case.spec):
        ref = h.reference(case.spec, inputs)
        out = h.built(case)(inputs)
        mask = inputs.get("attention_mask")  # a factory's module may take none: every position counts
        c = closeness(ref, out, _OPEN, mask, case.spec.task)
        rel = max(float(((o.float() - r).abs() / (r.abs() + 1.0)).max()) for r, o in zip(ref, out, strict=True))
        a = task_agreement(case.spec.task, ref, out, torch.ones(ref[0].shape[:2], dtype=torch.long)
                           if mask is None else mask, _OPEN)
        rows.append((c.max_abs, rel, a.rate))
    return rows


# Two shapes besides the traced one, so a tolerance is not fitted to one shape alone.
_OTHER_SHAPES = ((Shape(4, 24), 7), (Shape(3, 40), 8))


def _probe_inputs(spec: Any) -> list[Mapping[str, Any]]:
    """The inputs the differences are taken on: a factory's model at the shapes it was configured for
    (it may take no other, as the correctness suite assumes), any other model at two extra shapes."""
    if spec.factory_shapes:
        return [example_inputs(spec, shape) for shape in spec.factory_shapes]
    return [example_inputs(spec), *(example_inputs(spec, shape, seed) for shape, seed in _OTHER_SHAPES)]
