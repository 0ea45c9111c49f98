"""Processes or rounds? How a claims row's interval would narrow for other ``--processes`` and
``--budget`` settings, from committed claims.json files whose rows ran in several processes
(docs/claims.md, "Processes or rounds"). Run from the repository root with a lane's python:
``.venvs/current/bin/python tools/claims_budget.py [--dtype fp32|bf16] [claims.json ...]``.

Per ratio, each process's log ratio is taken again on the first half and the first third of its
rounds (the two workers of a lockstep pair keep their round alignment); pooled over rows, the
across-process variance at a fraction f of the rounds is modelled as ``between + within / f`` and
fitted by least squares. A design (P processes, budget B) then has a 99 % half-width of
``t(0.995, P - 1) * sqrt((between + within * B0 / B) / P)``, B0 the budget the rows ran at, and
takes ``P * (fixed + warm-up + measuring * B / B0)`` per row, each row's per-process fixed part
(start, model, builds, checks) being its wall time per process less its timed rounds.
"""

from __future__ import annotations

import copy
import math
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from infergate.commands.claims_files import load_rows  # noqa: E402
from infergate.measuring.claims import per_process_logs, speedup, two_sided_t  # noqa: E402
from infergate.measuring.claims_measure import ClaimMeasurement  # noqa: E402
from infergate.measuring.sampling import SamplingPlan  # noqa: E402

RATIOS = (("jit", "eager"), ("jit_ipex", "jit"), ("compile", "eager"), ("compile", "jit_ipex"))
FRACTIONS = (1.0, 1 / 2, 1 / 3)
MIN_ROUNDS = 5
DESIGNS = ((3, 15.0), (3, 5.0), (4, 5.0), (4, 10.0), (5, 5.0))
# The committed rows timed in 3 processes under the current design (claims.json version 3: BF16,
# the two workers in lockstep). A version 2 file's cross-worker ratios are ratios of medians taken
# minutes apart, not this design's.
# (the two runs' own files: the merged report's facts no longer say the budget)
DEFAULT_FILES = tuple(ROOT / f"docs/claims/amd-epyc__avx512__2c2t/bf16-lockstep/runs/{run}/claims.json"
                      for run in ("seqcls", "qa-tokcls"))


def said_budget(data: dict) -> float | None:
    """The budget a claims.json's rows ran at, as its facts say it (``claims_cli`` writes it into the
    "rows" fact only; a merged report's facts do not say it): seconds, or None."""
    said = re.search(r"budget (\d+(?:\.\d+)?) s", str(data["facts"].get("rows", "")))
    return None if said is None else float(said.group(1))


def process_count(m: ClaimMeasurement) -> int:
    """The worker processes (replicates) a row ran in."""
    return len({t.process for t in m.trials})


def truncated(m: ClaimMeasurement, fraction: float) -> ClaimMeasurement:
    """The row with each trial's first ``fraction`` of its rounds (at least MIN_ROUNDS)."""
    out = copy.deepcopy(m)
    for t in out.trials:
        n = len(next(iter(t.timing.times_ns.values())))
        k = max(MIN_ROUNDS, int(n * fraction))
        t.timing.times_ns = {v: ns[:k] for v, ns in t.timing.times_ns.items()}
    return out


def pooled_variance(rows: list[ClaimMeasurement], faster: str, slower: str) -> tuple[float, int]:
    """The across-process variance of log(slower/faster), pooled over rows, and its df."""
    ss, df = 0.0, 0
    for m in rows:
        logs = per_process_logs(m, faster, slower)
        if len(logs) >= 2:
            ss += statistics.variance(logs) * (len(logs) - 1)
            df += len(logs) - 1
    return (ss / df if df else math.nan), df


def observed_half(rows: list[ClaimMeasurement], faster: str, slower: str) -> float:
    """The median over rows of their own 99 % half-width (log scale), as the report prints them."""
    halves = [math.log(est.high / est.point) for m in rows if (est := speedup(m, faster, slower)) is not None
              and math.isfinite(est.high)]
    return statistics.median(halves) if halves else math.nan


def row_minutes(rows: list[ClaimMeasurement], processes: int, budget: float, budget0: float) -> float:
    """The rows' wall time under (processes, budget), from their own fixed and timed parts."""
    total = 0.0
    for m in rows:
        reps = {t.process: t.timing for t in m.trials}  # a lockstep pair's workers share one timing's rounds
        warm = statistics.fmean(t.warmup_s for t in reps.values())
        measure = statistics.fmean(t.measure_s for t in reps.values())
        fixed = m.wall_s / len(reps) - warm - measure
        # Rounds scale with the budget down to the sampling plan's floor (a slow row already sits on it).
        rounds = statistics.fmean(t.rounds for t in reps.values())
        scaled = max(SamplingPlan().min_rounds, rounds * budget / budget0)
        total += processes * (fixed + warm + measure * scaled / rounds)
    return total / 60


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(between, within) >= 0 minimising the squared error of ``var = between + within / f``: the
    unconstrained least squares, else the better of its two edges (within 0: the mean; between 0:
    through the origin). The shares are nested (a third of the rounds within the half within all),
    so the split is a rough one; the rows' own widths are printed beside it."""
    xs, ys = [1 / f for f, _ in points], [v for _, v in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    if slope >= 0 and my - slope * mx >= 0:
        return my - slope * mx, slope
    if slope < 0:
        return my, 0.0
    return 0.0, sum(x * y for x, y in zip(xs, ys, strict=True)) / sum(x * x for x in xs)


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="tools/claims_budget.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtype", choices=("fp32", "bf16"), default=None,
                        help="only the rows of this dtype (their spreads differ). Default: every row")
    parser.add_argument("files", nargs="*", type=Path, help="claims.json files. Default: the committed lockstep runs")
    args = parser.parse_args(argv)
    files = args.files or list(DEFAULT_FILES)
    rows, budgets = [], set()
    for path in files:
        data, loaded = load_rows(path)
        kept = [m for m in loaded if process_count(m) >= 3 and (args.dtype is None or m.dtype == args.dtype)]
        rows += kept
        said = said_budget(data)
        if said is None:
            print(f"{path}: its facts do not say the budget its rows ran at (a merged report? give the runs' "
                  "own files)", file=sys.stderr)
            return 2
        budgets.add(said)
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {len(kept)} "
              f"{args.dtype or ''} row(s) in 3 or more processes ({data['facts'].get('rows', '?')})")
    if len(budgets) != 1:
        print(f"the files' rows ran at different budgets ({sorted(budgets)} s): give files of one", file=sys.stderr)
        return 2
    budget = budgets.pop()
    print(f"\nacross-process sd of the log ratio, pooled over {len(rows)} rows, by the share of each process's "
          f"rounds kept; the fit var = between + within / share; 99 % half-widths at that pooled variance "
          f"(t * sd / sqrt(P): a row's own sd scatters around it, mostly below) for (processes, budget s), "
          f"the rows' budget taken as {budget:g} s\n")
    head = " | ".join(f"P={p}, {b:g} s" for p, b in DESIGNS)
    print(f"| ratio | the rows' own median ± | sd at 1, 1/2, 1/3 of the rounds (df) | between sd | "
          f"within sd at {budget:g} s | {head} |")
    print("|---|---|---|---|---|" + "---|" * len(DESIGNS))
    shares = {f: [truncated(m, f) for m in rows] for f in FRACTIONS}  # once, for every ratio
    for faster, slower in RATIOS:
        points, dfs = [], set()
        for f in FRACTIONS:
            var, df = pooled_variance(shares[f], faster, slower)
            if math.isfinite(var):
                points.append((f, var))
                dfs.add(df)
        if len(points) < 2:
            continue
        between, within = fit(points)
        sds = ", ".join(f"{math.sqrt(v):.2%}" for _, v in points)
        halves = " | ".join(
            f"±{two_sided_t(0.99, p - 1) * math.sqrt((between + within * budget / b) / p):.1%}" for p, b in DESIGNS)
        print(f"| {faster} / {slower} | ±{observed_half(rows, faster, slower):.1%} | {sds} "
              f"({'/'.join(map(str, sorted(dfs)))}) | {math.sqrt(between):.2%} | "
              f"{math.sqrt(within):.2%} | {halves} |")
    times = " | ".join(f"{row_minutes(rows, p, b, budget):.0f} min" for p, b in DESIGNS)
    print(f"| these {len(rows)} rows' wall time | {sum(m.wall_s for m in rows) / 60:.0f} min | | | | {times} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
