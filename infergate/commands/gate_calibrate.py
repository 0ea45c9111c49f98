"""``python -m infergate gate-calibrate``: the upgrade gate checked on recorded pools of pairs.

Recording is the slow part, so it runs once:

``record LANE --pairs M [--inject-slowdown VARIANT=FRACTION ...] --out POOL.json.gz``
    M lockstep pairs of the lane against itself (two fresh processes of one lane per pair), the
    "to" worker optionally built with the TEST-ONLY in-graph slowdowns of ``infergate.building.inject``.
    Without an injection every case is an A/A comparison; with one, the injected variant's truth
    is its fraction and the other variants stay A/A.

``table POOL.json.gz [...] --pairs 4,6,8 [--subsets N]``
    Trials are gates over P pairs drawn without replacement from a pool; per true change and P:
    how often the gate said regression, inconclusive, pass, and the interval's half-width. The
    trials share pairs (a pool of M pairs holds only M / P disjoint gates), so a rate is only as
    certain as ~M / P independent gates: the table prints that number beside every rate. Then
    the ``aa`` report below.

``aa POOL.json.gz [...] --pairs 6``
    What the pools support without resampling. Per case and pool, over all its A/A pairs: the
    lean (mean log ratio, two-sided t interval) and the tails (each pair's leave-one-out
    studentized log ratio against t(n - 2), which it follows exactly under the gate's model).
    And the independent trials: each pool's pairs cut into disjoint gates of P pairs, with
    the one-sided 95 % Clopper-Pearson bound on the rate that count supports.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..building.cases import PROFILES
from ..core.errors import DataFileError, InfergateError
from ..gate.lockstep import ModelRecord, PairRecord
from ..measuring.lane_compare import DEFAULT_ALPHA, DEFAULT_FLOOR, DEFAULT_MIN_CHANGE, compare
from ..measuring.lane_results import Correctness

POOL_SCHEMA = "infergate-gate-pool"
# 2: a pair's models carry their process group (lockstep.ModelRecord.group); 3: and which side went
# first per variant (ModelRecord.first_by_variant, the order alternating by round)
POOL_VERSION = 3
READABLE_POOL_VERSIONS = (1, 2, 3)  # a version-1 pool is all torch group; 1 and 2 drew the order at random


def save_pool(path: Path, lane: str, profile: str, rounds: int, injected: Mapping[str, float],
              records: Sequence[PairRecord], case_ids: Mapping[tuple[str, str, str], str], seconds: float) -> None:
    doc = {"schema": POOL_SCHEMA, "version": POOL_VERSION, "lane": lane, "profile": profile, "rounds": rounds,
           "injected": dict(injected), "seconds": round(seconds, 1),
           "case_ids": [[*k, v] for k, v in case_ids.items()], "pairs": [asdict(r) for r in records]}
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        json.dump(doc, f)


def load_pool(path: Path) -> dict[str, Any]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, json.JSONDecodeError, EOFError) as exc:
        raise DataFileError(f"{path}: not a readable gate pool ({exc})") from None
    if doc.get("schema") != POOL_SCHEMA or doc.get("version") not in READABLE_POOL_VERSIONS:
        raise DataFileError(f"{path}: not a gate pool of version {' or '.join(map(str, READABLE_POOL_VERSIONS))} "
                            f"(schema {doc.get('schema')!r}, version {doc.get('version')!r})")
    try:
        doc["records"] = [PairRecord(p["pair"], p["hello"], [ModelRecord(**m) for m in p["models"]], p["seconds"],
                                     p.get("more_hellos", []))  # version 1 pools: one worker pair each
                          for p in doc["pairs"]]
        doc["ids"] = {(m, v, d): cid for m, v, d, cid in doc["case_ids"]}
    except (KeyError, TypeError, ValueError) as exc:
        raise DataFileError(f"{path}: a gate pool with a malformed pair ({type(exc).__name__}: {exc})") from None
    return doc


def aa_gate_args(args: argparse.Namespace) -> argparse.Namespace:
    """The gate's arguments for an A/A pool: the lane against itself, every variant against itself."""
    return argparse.Namespace(
        from_lane=args.lane, to_lane=args.lane, profile=args.profile, cases=args.cases, pairs=args.pairs,
        rounds=args.rounds, floor=DEFAULT_FLOOR, min_change=DEFAULT_MIN_CHANGE, alpha=DEFAULT_ALPHA,
        inject_slowdown=args.inject_slowdown, replace=[])


def record(args: argparse.Namespace) -> int:
    from ..gate import lanegate
    from ..gate.lanes import lane_python

    python = lane_python(args.lane)
    t0 = time.perf_counter()
    gate, captured = lanegate.run_gate(aa_gate_args(args), {"from": python, "to": python}, args.out.parent,
                                       progress=lambda m: print(m, flush=True))
    ids = {(c.model, c.variant, c.dtype): c.case for c in gate.cases}
    injected = dict(gate.injected)  # what the workers built slowed, in their own word
    save_pool(args.out, args.lane, args.profile, args.rounds, injected, captured, ids, time.perf_counter() - t0)
    print(f"pool of {len(captured)} pairs written to {args.out} ({time.perf_counter() - t0:.0f} s)")
    return 0


def trials(pool: Mapping[str, Any], pairs: int, subsets: int, seed: int = 0) -> list[dict[str, Any]]:
    """One row per (variant, truth): the gate's answers over ``subsets`` draws of ``pairs`` pairs."""
    records, ids = pool["records"], pool["ids"]
    if pairs > len(records):
        raise InfergateError(f"a pool of {len(records)} pairs cannot give trials of {pairs}")
    rng = random.Random(seed)
    counts: dict[tuple[str, float], dict[str, Any]] = {}
    for _ in range(subsets):
        chosen = rng.sample(records, pairs)
        gate = compare(chosen, ids, from_lane=pool["lane"], to_lane=pool["lane"], rounds=pool["rounds"],
                       correctness=Correctness(False))
        for c in gate.cases:
            if c.latency is None:
                continue
            truth = float(pool["injected"].get(c.variant, 0.0))
            row = counts.setdefault((c.variant, truth), {"variant": c.variant, "truth": truth, "trials": 0,
                                                         "regression": 0, "inconclusive": 0, "pass": 0,
                                                         "improvement": 0, "beyond": [], "change": []})
            row["trials"] += 1
            row[c.status if c.status in ("regression", "pass", "improvement") else "inconclusive"] += 1
            row["beyond"].append((c.latency[2] - c.latency[1]) / 2.0)  # the interval's half-width
            row["change"].append(c.latency[0] - 1.0)
    rows = []
    for row in counts.values():
        row["median_beyond"] = statistics.median(row.pop("beyond"))
        row["median_change"] = statistics.median(row.pop("change"))
        row["pairs"], row["pool"] = pairs, len(records)
        rows.append(row)
    return rows


def table_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    out = ["| variant | injected | measured (median) | pairs | trials (≈ independent gates) | regression | "
           "inconclusive | pass | improvement | median half-width |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: (r["truth"], r["variant"], r["pairs"])):
        n = r["trials"]
        out.append(f"| {r['variant']} | {r['truth']:+.0%} | {r['median_change'] * 100:+.1f}% | {r['pairs']} | "
                   f"{n} (≈{r['pool'] // r['pairs']}) | "
                   f"{r['regression'] / n:.1%} | {r['inconclusive'] / n:.1%} | {r['pass'] / n:.1%} | "
                   f"{r['improvement'] / n:.1%} | ±{r['median_beyond'] * 100:.1f}% |")
    return "\n".join(out)


def whole_pool_lines(pool: Mapping[str, Any], name: str) -> list[str]:
    """Each case over all the pool's pairs at 95 %: for an A/A case, an interval that misses 0 is a
    lean one way (a bias the subsets would all inherit); for an injected one, what it really cost."""
    from ..measuring.lane_compare import change_over_pairs, gather

    out = []
    for c in gather(pool["records"], pool["ids"]).values():
        if len(c.lat_pairs) < 2:
            continue
        ch = change_over_pairs(c.lat_pairs, 0.95, one_sided=False)  # a lean either way
        truth = float(pool["injected"].get(c.variant, 0.0))
        out.append(f"| {name} | {c.variant} | {truth:+.0%} | {len(c.lat_pairs)} | {(ch.point - 1) * 100:+.2f}% "
                   f"[{(ch.low - 1) * 100:+.2f}%, {(ch.high - 1) * 100:+.2f}%] | {ch.sd * 100:.2f}% |")
    return out


# --------------------------------------------------------------------------------------------
# What the A/A pairs support: lean, tails, independent gates
# --------------------------------------------------------------------------------------------


def lean_and_tails(log_ratios: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """The lean and tails of one case's A/A per-pair log ratios (to/from; the truth is 0).

    lean: the mean with a two-sided t interval (df n - 1); the gate's false-alarm bound assumes 0.
    tails: r_i = (x_i - mean without i) / (sd without i * sqrt(1 + 1/(n - 1))) is t(n - 2) exactly
    for independent normal x; counted beyond its one-sided 2.5 % quantile above and below (skew
    shows as one side's excess) and beyond the two-sided 1 %. The r_i of one case share their
    data, so a binomial reading of the counts is approximate. Needs n >= 4."""
    from ..measuring.run_spread import student_t_quantile

    x = list(log_ratios)
    n = len(x)
    if n < 4:
        raise ValueError(f"lean and tails need at least 4 pairs, got {n}")
    mean = sum(x) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in x) / (n - 1))
    half = student_t_quantile(1.0 - (1.0 - confidence) / 2.0, n - 1) * sd / math.sqrt(n)
    r = []
    for i, v in enumerate(x):
        rest = x[:i] + x[i + 1:]
        m = sum(rest) / (n - 1)
        s = math.sqrt(sum((w - m) ** 2 for w in rest) / (n - 2))
        r.append((v - m) / (s * math.sqrt(1.0 + 1.0 / (n - 1))))
    q975, q995 = student_t_quantile(0.975, n - 2), student_t_quantile(0.995, n - 2)
    return {"n": n, "mean": mean, "low": mean - half, "high": mean + half, "sd": sd,
            "t": mean / (sd / math.sqrt(n)), "q": half / (sd / math.sqrt(n)),
            "above": sum(v > q975 for v in r), "below": sum(v < -q975 for v in r),
            "beyond_99": sum(abs(v) > q995 for v in r), "max_abs_r": max(abs(v) for v in r)}


def alarm_rate_at_lean(lean: float, sd: float, pairs: int, cases: int, draws: int = 20000, seed: int = 0) -> float:
    """The gate's per-case false-alarm rate under its model with a systematic ``lean`` (log ratio)
    and a spread ``sd`` between pairs, by simulation: a regression needs the one-sided t bound
    above 1 at the family confidence over ``cases`` and a change of at least the default min-change.
    Plug-in: ``sd`` is an estimate, so this is a reading of the model, not a measured rate."""
    from ..measuring.run_spread import student_t_quantile
    from ..measuring.speedup_verdicts import family_confidence

    q = student_t_quantile(family_confidence(DEFAULT_ALPHA, cases), pairs - 1)
    need = math.log1p(DEFAULT_MIN_CHANGE)
    rng = random.Random(seed)
    alarms = 0
    for _ in range(draws):
        x = [rng.gauss(lean, sd) for _ in range(pairs)]
        m = sum(x) / pairs
        s = math.sqrt(sum((v - m) ** 2 for v in x) / (pairs - 1))
        alarms += m >= need and m > q * s / math.sqrt(pairs)
    return alarms / draws


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    return sum(math.comb(n, j) * p ** j * (1.0 - p) ** (n - j) for j in range(k, n + 1))


def rate_bound(k: int, n: int, upper: bool, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson bound on a rate seen k times in n independent trials: the upper
    bound (for k = 0, 1 - (1 - confidence) ** (1 / n)) or the lower one."""
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"k must be in 0..n and n >= 1, got k={k}, n={n}")
    a = 1.0 - confidence
    if upper and k == n or not upper and k == 0:
        return 1.0 if upper else 0.0
    lo, hi = 0.0, 1.0
    for _ in range(100):  # the tail probability is monotonic in p: bisect
        mid = (lo + hi) / 2
        if upper:  # the largest p with P(X <= k) >= a
            lo, hi = (mid, hi) if 1.0 - binomial_tail(k + 1, n, mid) >= a else (lo, mid)
        else:  # the smallest p with P(X >= k) >= a
            lo, hi = (lo, mid) if binomial_tail(k, n, mid) >= a else (mid, hi)
    return (lo + hi) / 2


def aa_lean_rows(pool: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    """``lean_and_tails`` of every A/A case of a pool (no slowdown injected), over all its pairs."""
    from ..measuring.lane_compare import gather

    rows = []
    for c in gather(pool["records"], pool["ids"]).values():
        if float(pool["injected"].get(c.variant, 0.0)) == 0.0 and len(c.lat_pairs) >= 4:
            rows.append({"pool": name, "variant": c.variant, "cases": len(pool["ids"]),
                         **lean_and_tails([math.log(r) for r in c.lat_pairs]),
                         "logs": [math.log(r) for r in c.lat_pairs]})
    return rows


def disjoint_gates(pool: Mapping[str, Any], pairs: int) -> list[dict[str, Any]]:
    """The pool's pairs cut in recorded order into disjoint gates of ``pairs`` (the rest unused),
    each judged as ``lanegate`` judges: per (variant, truth), how many gates and what they said."""
    records, ids = pool["records"], pool["ids"]
    counts: dict[tuple[str, float], dict[str, Any]] = {}
    for start in range(0, len(records) - pairs + 1, pairs):
        gate = compare(records[start:start + pairs], ids, from_lane=pool["lane"], to_lane=pool["lane"],
                       rounds=pool["rounds"], correctness=Correctness(False))
        for c in gate.cases:
            if c.latency is None:
                continue
            truth = float(pool["injected"].get(c.variant, 0.0))
            row = counts.setdefault((c.variant, truth), {"variant": c.variant, "truth": truth, "gates": 0,
                                                         "regression": 0})
            row["gates"] += 1
            row["regression"] += c.status == "regression"
    return list(counts.values())


def aa_markdown(leans: Sequence[Mapping[str, Any]], gates: Mapping[str, Sequence[Mapping[str, Any]]],
                pairs: int) -> str:
    """The ``aa`` report: lean and tails per pool and case, pooled per case, and independent gates."""
    out = ["| pool | case | pairs | lean: to/from [95 % t] | t (df) | sd | r above / below t 97.5 % "
           "(expected) | abs r beyond t 99.5 % (expected) | largest abs r | "
           f"model false alarms at {pairs} pairs, lean 0 / lean at its upper end |",
           "|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]

    def line(name: str, variant: str, r: Mapping[str, Any], cases: int) -> str:
        n = r["n"]
        at = [alarm_rate_at_lean(lean, r["sd"], pairs, cases) for lean in (0.0, max(r["high"], 0.0))]
        return (f"| {name} | {variant} | {n} | {math.expm1(r['mean']) * 100:+.2f}% "
                f"[{math.expm1(r['low']) * 100:+.2f}%, {math.expm1(r['high']) * 100:+.2f}%] | "
                f"{r['t']:+.2f} ({n - 1}) | {r['sd'] * 100:.2f}% | {r['above']} / {r['below']} "
                f"({0.025 * n:.1f} each) | {r['beyond_99']} ({0.01 * n:.2f}) | {r['max_abs_r']:.2f} | "
                f"{at[0]:.2%} / {at[1]:.1%} |")

    for r in leans:
        out.append(line(r["pool"], r["variant"], r, r["cases"]))
    by_case: dict[str, list[Mapping[str, Any]]] = {}
    for r in leans:
        by_case.setdefault(r["variant"], []).append(r)
    total = {"n": 0, "above": 0, "below": 0, "beyond_99": 0}
    for variant, rows in by_case.items():
        if len(rows) > 1:  # every pair of the case in one sample: a lean the pools share
            pooled = lean_and_tails([x for r in rows for x in r["logs"]])
            # the tails stay each pool's own (a pool's mean is its own; pooling them would add its lean)
            pooled.update({key: sum(r[key] for r in rows) for key in ("above", "below", "beyond_99")},
                          max_abs_r=max(r["max_abs_r"] for r in rows))
            out.append(line(f"all {len(rows)} pools", variant, pooled, max(r["cases"] for r in rows)))
        for key in total:
            total[key] += sum(r[key] for r in rows)
    n = total["n"]
    out += ["", f"tails over all {n} A/A pairs: {total['above']} above and {total['below']} below the t 97.5 % "
            f"quantiles (expected {0.025 * n:.1f} each; P(>= that many) under the model, binomial, approximate: "
            f"{binomial_tail(total['above'], n, 0.025):.2f} and {binomial_tail(total['below'], n, 0.025):.2f}); "
            f"{total['beyond_99']} beyond the two-sided 99 % (expected {0.01 * n:.1f}; "
            f"P {binomial_tail(total['beyond_99'], n, 0.01):.2f})", ""]
    return "\n".join(out + _gates_markdown(gates, pairs))


def _gates_markdown(gates: Mapping[str, Sequence[Mapping[str, Any]]], pairs: int) -> list[str]:
    """Independent gates per pool and case, and the A/A ones summed over pools, with their bounds."""
    out = [f"| pool | case | injected | independent gates of {pairs} pairs | regression | one-sided 95 % bound |",
           "|---|---|---:|---:|---:|---|"]
    pooled: dict[str, list[int]] = {}
    caught = [0, 0]  # injected case-gates, and how many said regression
    for name, rows in gates.items():
        for g in sorted(rows, key=lambda g: (g["truth"], g["variant"])):
            n, k, aa = int(g["gates"]), int(g["regression"]), g["truth"] == 0.0
            bound = (f"false alarms ≤ {rate_bound(k, n, upper=True):.0%}" if aa
                     else f"caught ≥ {rate_bound(k, n, upper=False):.0%}")
            out.append(f"| {name} | {g['variant']} | {g['truth']:+.0%} | {n} | {k} | {bound} |")
            if aa:
                pooled.setdefault(g["variant"], [0, 0])
                pooled[g["variant"]][0] += n
                pooled[g["variant"]][1] += k
            else:
                caught = [caught[0] + n, caught[1] + k]
    for variant, (n, k) in pooled.items():
        out.append(f"| all pools | {variant} | +0% | {n} | {k} | false alarms ≤ {rate_bound(k, n, upper=True):.0%} |")
    if len(pooled) > 1:  # as if every case had the same rate: one count over all A/A case-gates
        n, k = (sum(x[i] for x in pooled.values()) for i in (0, 1))
        out.append(f"| all pools | every A/A case | +0% | {n} | {k} | "
                   f"false alarms ≤ {rate_bound(k, n, upper=True):.0%} |")
    if caught[0]:  # as if every injected change were caught at the same rate
        out.append(f"| all pools | every injected case | > 0 | {caught[0]} | {caught[1]} | "
                   f"caught ≥ {rate_bound(caught[1], caught[0], upper=False):.0%} |")
    return out


def aa(args: argparse.Namespace) -> int:
    leans, gates = [], {}
    for path in args.pools:
        pool = load_pool(path)
        leans += aa_lean_rows(pool, path.name)
        gates[path.name] = disjoint_gates(pool, args.gate_pairs)
    print(aa_markdown(leans, gates, args.gate_pairs))
    return 0


def table(args: argparse.Namespace) -> int:
    rows, whole = [], []
    for path in args.pools:
        pool = load_pool(path)
        whole += whole_pool_lines(pool, path.name)
        for p in args.pairs:
            rows += trials(pool, p, args.subsets)
    print(table_markdown(rows))
    print()
    print("| pool | variant | injected | pairs | to/from over all pairs [95 %] | sd between pairs |")
    print("|---|---|---:|---:|---|---:|")
    print("\n".join(whole))
    print()
    return aa(argparse.Namespace(pools=args.pools, gate_pairs=6))


def _pairs_list(value: str) -> list[int]:
    try:
        out = [int(x) for x in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} must be whole numbers separated by commas") from None
    if any(p < 2 for p in out):
        raise argparse.ArgumentTypeError("every pair count must be >= 2")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from ..core.validate import whole_number
    from ..gate.lanegate import injection_arg

    p = argparse.ArgumentParser(prog="python -m infergate gate-calibrate", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record", help="record a pool of lockstep pairs of a lane against itself")
    r.add_argument("lane")
    r.add_argument("--profile", choices=tuple(PROFILES), default="smoke", help="Default: smoke")
    r.add_argument("--cases", default=None, help="pytest -k expression on case ids. Default: all")
    r.add_argument("--pairs", type=whole_number(2, 1000), default=16, help="Default: 16")
    r.add_argument("--rounds", type=whole_number(1, 100_000), default=40, help="Default: 40")
    r.add_argument("--inject-slowdown", type=injection_arg, action="append", default=[],
                   metavar="VARIANT=FRACTION", help="TEST ONLY: slow VARIANT in the 'to' worker. Default: none")
    r.add_argument("--out", type=Path, required=True, help="pool file (.json.gz)")
    t = sub.add_parser("table", help="rates of the gate's answers over trials drawn from pools")
    t.add_argument("pools", type=Path, nargs="+")
    t.add_argument("--pairs", type=_pairs_list, default=[4, 6, 8], help="pairs per trial. Default: 4,6,8")
    t.add_argument("--subsets", type=whole_number(1, 100_000), default=300, help="trials per pool. Default: 300")
    a = sub.add_parser("aa", help="what the pools support without resampling: A/A lean and tails, independent gates")
    a.add_argument("pools", type=Path, nargs="+")
    a.add_argument("--pairs", dest="gate_pairs", type=whole_number(2, 1000), default=6,
                   help="pairs per independent gate. Default: 6 (the gate's default)")
    args = p.parse_args(argv)
    try:
        return {"record": record, "table": table, "aa": aa}[args.cmd](args)
    except (InfergateError, OSError) as exc:
        print(f"infergate: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
