"""``python -m infergate gate-calibrate``: the upgrade gate checked on recorded pools of lock-step pairs.

``record`` pairs of a lane against itself (optionally slowed, TEST-ONLY); ``table`` the verdict
rates over subsets of P pairs; ``aa`` what the pools support without resampling (docs/upgrade-gate.md).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..building.cases import PROFILES
from ..core.defaults import DEFAULT_FLOOR, UPGRADE_ALPHA, UPGRADE_MIN_CHANGE
from ..core.errors import DataFileError, InfergateError
from ..gate.lockstep import ModelRecord, PairRecord
from ..measuring.lane_compare import compare
from ..measuring.lane_results import Correctness
from .front import prog

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
        rounds=args.rounds, floor=DEFAULT_FLOOR, min_change=UPGRADE_MIN_CHANGE, alpha=UPGRADE_ALPHA,
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
    """Each case over all the pool's pairs at 95 %: an A/A lean, or what an injection really cost."""
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


def aa(args: argparse.Namespace) -> int:
    from .gate_aa import aa_lean_rows, aa_markdown, disjoint_gates

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

    p = argparse.ArgumentParser(prog=prog("gate-calibrate"), description=__doc__.split("\n\n")[0])
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
