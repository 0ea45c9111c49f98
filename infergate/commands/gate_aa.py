"""What the upgrade gate's A/A pools support without resampling: leans, tails, false-alarm rates, disjoint gates."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from ..core.defaults import UPGRADE_ALPHA, UPGRADE_MIN_CHANGE
from ..measuring.lane_compare import compare
from ..measuring.lane_results import Correctness


def lean_and_tails(log_ratios: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """The lean (mean, two-sided t interval) and tails (leave-one-out studentized ratios, t(n - 2) under
    the gate's model) of one case's A/A per-pair log ratios. Needs n >= 4."""
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
    """The gate's per-case false-alarm rate under its model with a systematic ``lean`` and a pair
    spread ``sd``, by simulation (a plug-in reading of the model, not a measured rate)."""
    from ..measuring.run_spread import student_t_quantile
    from ..measuring.speedup_verdicts import family_confidence

    q = student_t_quantile(family_confidence(UPGRADE_ALPHA, cases), pairs - 1)
    need = math.log1p(UPGRADE_MIN_CHANGE)
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
    """One-sided Clopper-Pearson bound on a rate seen k times in n independent trials (upper or lower)."""
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
    """The pool's pairs cut in recorded order into disjoint gates of ``pairs``, each judged as ``lanegate`` does."""
    records, ids = pool["records"], pool["ids"]
    counts: dict[tuple[str, float], dict[str, Any]] = {}
    for index, start in enumerate(range(0, len(records) - pairs + 1, pairs)):
        gate = compare(records[start:start + pairs], ids, from_lane=pool["lane"], to_lane=pool["lane"],
                       rounds=pool["rounds"], correctness=Correctness(False))
        for c in gate.cases:
            if c.latency is None:
                continue
            truth = float(pool["injected"].get(c.variant, 0.0))
            row = counts.setdefault((c.variant, truth), {"variant": c.variant, "truth": truth, "gates": 0,
                                                         "regression": 0, "by_gate": {}})
            row["gates"] += 1
            row["regression"] += c.status == "regression"
            row["by_gate"][index] = c.status == "regression"  # which gate: the gate-level counts need it
    return list(counts.values())


def gate_trials(gates: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, list[int]]:
    """One trial per disjoint gate, over all pools: ``aa`` [gates with an A/A case, gates where any
    A/A case alarmed]; ``injected`` [gates with an injected case, gates where every injected case
    was a regression]. The cases of one gate share its worker processes and machine time (their
    per-pair ratios correlate), so only whole gates are independent trials."""
    out = {"aa": [0, 0], "injected": [0, 0]}
    for rows in gates.values():
        per_gate: dict[int, dict[str, list[bool]]] = {}
        for row in rows:
            kind = "aa" if row["truth"] == 0.0 else "injected"
            for index, regression in row["by_gate"].items():
                per_gate.setdefault(index, {"aa": [], "injected": []})[kind].append(bool(regression))
        for said in per_gate.values():
            if said["aa"]:
                out["aa"] = [out["aa"][0] + 1, out["aa"][1] + any(said["aa"])]
            if said["injected"]:
                out["injected"] = [out["injected"][0] + 1, out["injected"][1] + all(said["injected"])]
    return out


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
    tails = []
    for variant, rows in by_case.items():
        if len(rows) > 1:  # every pair of the case in one sample: a lean the pools share
            pooled = lean_and_tails([x for r in rows for x in r["logs"]])
            # the tails stay each pool's own (a pool's mean is its own; pooling them would add its lean)
            pooled.update({key: sum(r[key] for r in rows) for key in ("above", "below", "beyond_99")},
                          max_abs_r=max(r["max_abs_r"] for r in rows))
            out.append(line(f"all {len(rows)} pools", variant, pooled, max(r["cases"] for r in rows)))
        # Per case only: the cases of one pair share its processes and machine time, so their ratios
        # correlate and counts summed over cases are not binomial over independent pairs.
        n, above, below, beyond = (sum(r[key] for r in rows) for key in ("n", "above", "below", "beyond_99"))
        tails.append(f"tails of {variant} over its {n} A/A pairs: {above} above and {below} below the t 97.5 % "
                     f"quantiles (expected {0.025 * n:.1f} each; P(>= that many) under the model, binomial, "
                     f"approximate: {binomial_tail(above, n, 0.025):.2f} and {binomial_tail(below, n, 0.025):.2f}); "
                     f"{beyond} beyond the two-sided 99 % (expected {0.01 * n:.2f}; "
                     f"P {binomial_tail(beyond, n, 0.01):.2f})")
    out += ["", *[x for t in tails for x in (t, "")]]
    return "\n".join(out + _gates_markdown(gates, pairs))


def _gates_markdown(gates: Mapping[str, Sequence[Mapping[str, Any]]], pairs: int) -> list[str]:
    """Independent gates per pool and case, and the A/A ones summed over pools, with their bounds."""
    out = [f"| pool | case | injected | independent gates of {pairs} pairs | regression | one-sided 95 % bound |",
           "|---|---|---:|---:|---:|---|"]
    pooled: dict[str, list[int]] = {}
    caught = [0, 0]  # injected case-gates, and how many said regression (only whether there were any is used)
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
    # Over cases, whole gates are the trials (``gate_trials``), never case-gates: the cases of one
    # gate share its processes, so counting each would claim independent trials that are not.
    trials = gate_trials(gates)
    n, k = trials["aa"]
    if len(pooled) > 1 and n:
        out.append(f"| all pools | any A/A case of a gate | +0% | {n} | {k} | "
                   f"false alarms ≤ {rate_bound(k, n, upper=True):.0%} |")
    n, k = trials["injected"]
    if caught[0] and n:
        out.append(f"| all pools | every injected case of a gate | > 0 | {n} | {k} | "
                   f"caught ≥ {rate_bound(k, n, upper=False):.0%} |")
    return out
