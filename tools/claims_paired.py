"""Two claims designs measured on the same rows (``tools/claims_interleave.sh``): which one gives the
narrower interval, with the uncertainty of that answer (docs/claims.md, "Processes or rounds").
Run from the repository root with a lane's python:
``.venvs/current/bin/python tools/claims_paired.py OUT/3x15 OUT/4x5``.

A row's interval is ``t(0.995, P - 1) * sd / sqrt(P)``, sd the across-process sd of the log ratio at
that design's budget. A row's own sd has P - 1 df, too few to compare designs row by row, so per
ratio the variance is pooled over the rows (df: rows * (P - 1)) and the designs compared at their
pooled sd: the ratio of their half-widths at it, with a 95 % interval from the F distribution of
the two pooled variances (independent processes; rows assumed to share one variance per design).
"Narrower" is said only when that interval excludes 1. (A row's expected width is smaller by c4(P), the
bias of its sd estimate: 0.886 at 3 processes, 0.921 at 4, so B / A at the pooled sd reads ~4 % low
for 4 against 3 processes.) The interval assumes normal per-process log ratios.
"""

from __future__ import annotations

import functools
import math
import random
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

from claims_budget import RATIOS, observed_half, pooled_variance, process_count, said_budget  # noqa: E402

from infergate.commands.claims_files import load_rows  # noqa: E402
from infergate.measuring.claims import two_sided_t  # noqa: E402
from infergate.measuring.claims_measure import ClaimMeasurement  # noqa: E402

F_DRAWS = 200_000  # Monte Carlo draws of the F distribution: its 2.5 % and 97.5 % points to ~0.01


def design_rows(directory: Path) -> tuple[list[ClaimMeasurement], float]:
    """The rows of one design's per-row reports (DIR/<arch>/claims.json) and the budget they ran at."""
    rows, budgets = [], set()
    for path in sorted(directory.glob("*/claims.json")):
        data, loaded = load_rows(path)
        said = said_budget(data)
        if said is None:
            raise SystemExit(f"{path}: its facts do not say the budget its rows ran at")
        budgets.add(said)
        rows += loaded
    if not rows:
        raise SystemExit(f"{directory}: no */claims.json (tools/claims_interleave.sh writes one per row)")
    if len(budgets) != 1:
        raise SystemExit(f"{directory}: rows at different budgets ({sorted(budgets)} s)")
    return rows, budgets.pop()


def processes(rows: list[ClaimMeasurement]) -> int:
    counts = {process_count(m) for m in rows}
    if len(counts) != 1:
        raise SystemExit(f"rows ran in different numbers of processes ({sorted(counts)})")
    return counts.pop()


@functools.cache  # every ratio of one comparison asks for the same (df_b, df_a)
def f_interval(df_num: int, df_den: int, seed: int = 1) -> tuple[float, float]:
    """The 2.5 % and 97.5 % points of F(df_num, df_den), by simulation (no scipy in every lane)."""
    rng = random.Random(seed)
    draws = sorted((rng.gammavariate(df_num / 2, 2) / df_num) / (rng.gammavariate(df_den / 2, 2) / df_den)
                   for _ in range(F_DRAWS))
    return draws[int(0.025 * F_DRAWS)], draws[int(0.975 * F_DRAWS)]


def half_width(var: float, p: int) -> float:
    """A design's 99 % half-width (log scale) at the pooled across-process variance."""
    return two_sided_t(0.99, p - 1) * math.sqrt(var / p)


def compare(var_a: float, df_a: int, p_a: int, var_b: float, df_b: int, p_b: int) -> tuple[float, float, float, str]:
    """B's 99 % half-width over A's at the pooled variances, its 95 % interval, the verdict."""
    ratio = half_width(var_b, p_b) / half_width(var_a, p_a)
    lo_f, hi_f = f_interval(df_b, df_a)
    # var_b / var_a over the true ratio is F(df_b, df_a): the true ratio lies in [obs / hi_f, obs / lo_f].
    lo, hi = ratio / math.sqrt(hi_f), ratio / math.sqrt(lo_f)
    return ratio, lo, hi, ("B narrower" if hi < 1 else "A narrower" if lo > 1 else "could not decide")


def key(m: ClaimMeasurement) -> tuple[str, str, str, str]:
    return m.arch, m.task, m.shape, m.dtype


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="tools/claims_paired.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path, help="one design's directory (e.g. OUT/3x15)")
    parser.add_argument("b", type=Path, help="the other design's directory (e.g. OUT/4x5)")
    args = parser.parse_args(argv)
    (rows_a, budget_a), (rows_b, budget_b) = design_rows(args.a), design_rows(args.b)
    both = sorted({key(m) for m in rows_a} & {key(m) for m in rows_b})
    rows_a = [m for m in rows_a if key(m) in both]
    rows_b = [m for m in rows_b if key(m) in both]
    p_a, p_b = processes(rows_a), processes(rows_b)
    name_a, name_b = f"{p_a} of {budget_a:g} s", f"{p_b} of {budget_b:g} s"
    print(f"{len(both)} row(s) measured under both designs: A = {name_a} ({args.a}), B = {name_b} ({args.b})\n")
    print("| ratio | A: pooled sd (df) | B: pooled sd (df) | A: ± at it | B: ± at it | B / A half-width, 95 % | "
          "rows' own median ±, A / B | verdict |")
    print("|---|---|---|---|---|---|---|---|")
    for faster, slower in RATIOS:
        var_a, df_a = pooled_variance(rows_a, faster, slower)
        var_b, df_b = pooled_variance(rows_b, faster, slower)
        if not (df_a and df_b):
            continue
        ratio, lo, hi, verdict = compare(var_a, df_a, p_a, var_b, df_b, p_b)
        half_a, half_b = half_width(var_a, p_a), half_width(var_b, p_b)
        print(f"| {faster} / {slower} | {math.sqrt(var_a):.2%} ({df_a}) | {math.sqrt(var_b):.2%} ({df_b}) | "
              f"±{half_a:.1%} | ±{half_b:.1%} | {ratio:.2f} [{lo:.2f}, {hi:.2f}] | "
              f"±{observed_half(rows_a, faster, slower):.1%} / ±{observed_half(rows_b, faster, slower):.1%} | "
              f"{verdict} |")
    wall_a = sum(m.wall_s for m in rows_a) / 60
    wall_b = sum(m.wall_s for m in rows_b) / 60
    print(f"\nwall time of these rows: A {wall_a:.1f} min, B {wall_b:.1f} min "
          f"(per row A {statistics.fmean(m.wall_s for m in rows_a) / 60:.2f}, "
          f"B {statistics.fmean(m.wall_s for m in rows_b) / 60:.2f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
