"""``python -m infergate envprobe``: which process-level settings (``measuring_env.SETTINGS``) narrow
the between-process spread: fresh workers per setting in shuffled order, and per setting and variant
the mean speedup, the between-process sd of the log-speedup, one run's interval and the eager time.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from datetime import datetime, timezone

from ..building.variants import REFERENCE
from ..core.defaults import DEFAULT_CONFIDENCE, DEFAULT_THREADS
from ..core.errors import InfergateError
from ..core.validate import seconds_up_to
from ..matrix.dtypes import DType
from ..measuring.measuring_env import SETTINGS, check_applied, resolve
from .front import prog

WORKER_TIMEOUT_S = 900.0
# The workers need a lane's torch: main imports them once the arguments are read (--help needs none).


def sd_of_logs(values: list[float]) -> float:
    logs = [math.log(v) for v in values]
    return statistics.stdev(logs) if len(logs) > 1 else float("nan")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog=prog("envprobe"), description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", default="none,passive-omp,jemalloc,tcmalloc,thp,no-aslr",
                        help="comma-separated settings, '+' combines (e.g. jemalloc+no-aslr). "
                             f"Known: {', '.join(SETTINGS)}. Default: %(default)s")
    parser.add_argument("--reps", type=int, default=5, help="fresh workers per setting. Default: 5")
    parser.add_argument("--model", default="bert-qa-small-eager_attn", help="model id. Default: %(default)s")
    parser.add_argument("--variants", default="jit,jit_ipex,compile", help="Default: %(default)s")
    parser.add_argument("--budget", type=seconds_up_to(600), default=12.0, help="timed seconds per worker. Default: 12")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help=f"Default: {DEFAULT_THREADS}")
    parser.add_argument("--save", metavar="FILE", help="write every worker's speedups and settings (JSON)")
    args = parser.parse_args(argv)
    if args.reps < 2:
        parser.error("--reps must be >= 2: a spread needs two processes")
    try:
        from ..measuring.isolation import run_in_worker
        from ..measuring.sampling import SamplingPlan, measure_model
        from .calibration_trials import find_spec

        spec = find_spec(args.model)
        settings = {name: resolve(name.split("+")) for name in args.settings.split(",")}
        variants = (REFERENCE, *args.variants.split(","))
        rows: list[dict[str, object]] = []
        rng = random.Random(0)
        t0 = time.perf_counter()
        for rep in range(args.reps):
            order = list(settings)
            rng.shuffle(order)
            for name in order:
                menv = settings[name]
                plan = SamplingPlan(budget_s=args.budget, seed=rep, threads=args.threads)
                m = run_in_worker(measure_model, spec, DType.FP32, variants, plan, timeout=WORKER_TIMEOUT_S,
                                  env=menv.worker_env(), argv_prefix=menv.argv_prefix)
                problem = check_applied(menv, m.observed_env)
                if problem:
                    raise InfergateError(f"setting {name}: {problem}")
                built = [v for v in variants[1:] if v not in m.skipped]
                s = m.samples([REFERENCE, *built])
                row = {"setting": name, "rep": rep, "eager_ms": m.median_ms(REFERENCE), "rounds": m.rounds,
                       "observed": m.observed_env, "others_runnable": m.noise.others_runnable,
                       "steal": m.noise.steal_share}
                for v in built:
                    est = s.speedup_estimate(v, confidence=DEFAULT_CONFIDENCE)
                    row[v] = [est.point, est.low, est.high]
                rows.append(row)
                print(f"rep {rep + 1}/{args.reps} {name:24} eager {row['eager_ms']:.2f} ms "
                      + " ".join(f"{v} {row[v][0]:.3f}" for v in built)
                      + f"  others {m.noise.others_runnable:.2f} ({time.perf_counter() - t0:.0f} s)",
                      file=sys.stderr, flush=True)
    except (InfergateError, ValueError) as exc:
        print(f"infergate envprobe: {exc}", file=sys.stderr)
        return 2
    if args.save:
        with open(args.save, "w") as fh:
            json.dump({"argv": argv, "model": spec.id, "threads": args.threads, "rows": rows,
                       "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}, fh, indent=1)
    print("\n".join(table(rows, [v for v in variants[1:]], list(settings), argv)))
    return 0


def table(rows: list[dict[str, object]], variants: list[str], settings: list[str], argv: list[str]) -> list[str]:
    lines = [f"Command: `python -m infergate envprobe {' '.join(argv)}`", "",
             "| setting | eager ms | " + " | ".join(f"{v}: speedup, between-process sd, run CI ±" for v in variants)
             + " |", "|---|---|" + "---|" * len(variants)]
    for name in settings:
        mine = [r for r in rows if r["setting"] == name]
        cells = []
        for v in variants:
            ests = [r[v] for r in mine if v in r]
            if len(ests) < 2:
                cells.append("-")
                continue
            points = [e[0] for e in ests]  # type: ignore[index]
            half = statistics.mean((math.log(e[2]) - math.log(e[1])) / 2 for e in ests)  # type: ignore[index]
            cells.append(f"{math.exp(statistics.mean(map(math.log, points))):.3f}, "
                         f"**{sd_of_logs(points):.2%}**, {half:.2%}")
        eager = statistics.median(float(r["eager_ms"]) for r in mine)  # type: ignore[arg-type]
        lines.append(f"| {name} (n={len(mine)}) | {eager:.2f} | " + " | ".join(cells) + " |")
    return lines
