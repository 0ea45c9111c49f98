"""How two lanes compare, case by case, from lock-step worker pairs (``lockstep.PairRecord``): latency
(t bounds across pairs on the log scale, one-sided at the family confidence), speedup, outputs,
fusions, availability, as ``lane_results`` data. The rules: docs/upgrade-gate.md, "What it does"."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..building.variants import REFERENCE, TORCH_GROUP
from ..core.defaults import DEFAULT_FLOOR, UPGRADE_ALPHA, UPGRADE_MIN_CHANGE
from ..core.errors import DataFileError
from .lane_results import CaseComparison, Correctness, GateResult

MIN_PAIRS = 2  # one pair has no spread between pairs: it cannot see the per-process offset


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedChange:
    """A ratio judged across worker pairs: > 1 means "to" is slower (latency) or lost speedup."""

    point: float
    low: float
    high: float
    pairs: tuple[float, ...]  # one ratio per pair
    sd: float  # of the log ratios between pairs
    df: int
    quantile: float = math.inf  # the t quantile that set low and high (inf: one pair, no bounds)

    @property
    def beyond(self) -> float:
        """x in "no change beyond +-x": the interval's larger distance from 1."""
        return max(self.high - 1.0, 1.0 - self.low)


def change_over_pairs(per_pair: Sequence[float], confidence: float, *, one_sided: bool) -> PairedChange:
    """The mean log ratio over pairs with t bounds (df = pairs - 1). ``one_sided``: each end is a
    one-sided bound at ``confidence``; otherwise a two-sided interval at ``confidence``."""
    from .run_spread import student_t_quantile

    logs = [math.log(r) for r in per_pair]
    n = len(logs)
    mean = sum(logs) / n
    if n < MIN_PAIRS:
        return PairedChange(math.exp(mean), 0.0, math.inf, tuple(per_pair), math.nan, 0)
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (n - 1))
    if max(logs) == min(logs):  # not sd == 0: the mean of copies can round off them
        # Timed pairs never agree to the last bit; identical ratios are copies, not evidence of a
        # zero spread, and a zero-width interval would decide anything: no bounds, as for one pair.
        return PairedChange(math.exp(mean), 0.0, math.inf, tuple(per_pair), 0.0, n - 1)
    q = student_t_quantile(confidence if one_sided else 1.0 - (1.0 - confidence) / 2.0, n - 1)
    half = q * sd / math.sqrt(n)
    return PairedChange(math.exp(mean), math.exp(mean - half), math.exp(mean + half), tuple(per_pair), sd, n - 1, q)


def change_status(change: PairedChange, floor: float, min_change: float) -> str:
    """regression | improvement | pass | inconclusive for a ratio where above 1 is worse (one-sided bounds)."""
    if change.low > 1.0 and change.point >= 1.0 + min_change:
        return "regression"
    if change.high < 1.0 and change.point <= 1.0 - min_change:
        return "improvement"
    # "pass" must mean a floor-sized slowdown was ruled out; an interval reaching past 1 + floor
    # did not rule it out, whatever its point says.
    if change.high <= 1.0 + floor:
        return "pass"
    return "inconclusive"


def round_ratio(num: Sequence[float], den: Sequence[float]) -> float:
    """Median over rounds of num/den (on the log scale), the rounds paired by index."""
    from .stats import speedup_ratio

    return speedup_ratio(num, den)


def _pct(ratio: float) -> str:
    return f"{(ratio - 1.0) * 100:+.1f}%"


def _interval(c: PairedChange) -> str:
    return f"[{_pct(c.low)}, {_pct(c.high)}]"


# --------------------------------------------------------------------------------------------
# Outputs across lanes
# --------------------------------------------------------------------------------------------


def _tolerance(dtype: Any, frm: Mapping[str, Any], to: Mapping[str, Any]) -> tuple[Any, str]:
    """The tolerance both lanes' configs set for the model at ``dtype`` (each worker sends its
    overrides with its outputs), and a note for the detail when the two configs differ: then each
    bound is the tighter of the two, so neither side's check is loosened."""
    from dataclasses import replace

    from ..matrix.dtypes import DType
    from ..matrix.tolerances import tolerance

    def of(record: Mapping[str, Any]) -> Any:
        overrides = tuple((DType(d), float(atol), float(rtol)) for d, atol, rtol in record.get("tolerances", ()))
        return tolerance(dtype, overrides)

    t_from, t_to = of(frm), of(to)
    if (t_from.atol, t_from.rtol) == (t_to.atol, t_to.rtol):
        return t_to, ""
    tight = replace(t_to, atol=min(t_from.atol, t_to.atol), rtol=min(t_from.rtol, t_to.rtol))
    return tight, (f"; the lanes' configs set different tolerances (from atol {t_from.atol:g}, rtol {t_from.rtol:g}; "
                   f"to atol {t_to.atol:g}, rtol {t_to.rtol:g}): the tighter of each applied")


def compare_outputs(variant: str, dtype: str, records: Mapping[str, Any], weights: Mapping[str, str]
                    ) -> dict[str, Any]:
    """"to" against "from" for one variant: closeness with the dtype's tolerance (the model's
    configured override where its config sets one), task answers."""
    import torch

    from ..matrix.agreement import closeness, task_agreement
    from ..matrix.dtypes import DType
    from ..matrix.zoo import Task

    missing = [s for s in ("from", "to") if weights[s] is None]
    if missing:
        return {"status": "not compared", "detail": f"the model did not build in '{missing[0]}'"}
    if weights["from"] != weights["to"]:
        return {"status": "not compared",
                "detail": f"the lanes built different seeded weights (digest {weights['from']} vs "
                          f"{weights['to']}): their outputs say nothing about the upgrade"}
    a, b = records["from"], records["to"]
    if variant not in a["outputs"] or variant not in b["outputs"]:
        return {"status": "not compared", "detail": "not built in both lanes"}
    tol, tol_note = _tolerance(DType(dtype), a, b)
    ref = [torch.tensor(x) for x in a["outputs"][variant]]
    out = [torch.tensor(x) for x in b["outputs"][variant]]
    mask = torch.tensor(a["mask"]) if a.get("mask") is not None else None
    try:
        close = closeness(ref, out, tol, mask, Task(a["task"]))
    except AssertionError as exc:  # a shape or arity change is a drift of its own
        return {"status": "drift", "detail": str(exc)}
    agree = task_agreement(Task(a["task"]), ref, out, mask if mask is not None else torch.ones(ref[0].shape[:2]), tol)
    ok = close.ok and agree.rate >= tol.min_agreement and not agree.decisive_disagreements
    detail = (f"max |to - from| {close.max_abs:.2e} (tolerance atol {tol.atol:g}, rtol {tol.rtol:g}); "
              f"answers agree {agree.agreed}/{agree.total}")
    if agree.decisive_disagreements:
        detail += f"; decisive flips: {', '.join(agree.decisive_disagreements)}"
    detail += tol_note
    if close.nan_in:  # JSON has no NaN: the detail says where it was ("reference" is 'from''s outputs)
        where = {"output": "'to' returned NaN outputs", "reference": "'from' returned NaN outputs"}
        return {"status": "drift", "detail": where.get(close.nan_in, f"NaN in the {close.nan_in}")}
    return {"status": "same" if ok else "drift", "max_abs": close.max_abs, "agreement": agree.rate,
            "detail": detail}


# --------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------


@dataclass
class _Case:
    """One case gathered over pairs."""

    model: str
    variant: str
    dtype: str
    built: dict[str, dict[str, Any]] = field(default_factory=dict)  # side -> first pair's build reply
    lat_pairs: list[float] = field(default_factory=list)
    pair_numbers: list[int] = field(default_factory=list)  # per lat_pairs entry: its worker pair, from 1
    order_first: list[dict[str, int]] = field(default_factory=list)  # per pair as lat_pairs: side -> calls first
    speed_pairs: dict[str, list[float]] = field(default_factory=lambda: {"from": [], "to": []})
    times: dict[str, list[float]] = field(default_factory=lambda: {"from": [], "to": []})  # ms, all rounds
    outputs: dict[str, Any] = field(default_factory=dict)
    fusions: dict[str, dict[str, int]] = field(default_factory=dict)
    lost_in: list[str] = field(default_factory=list)  # "pair N: why" where a later pair lost it
    to_variant: str | None = None  # what "to" timed in this variant's place (gate --replace)


def gather(pairs: Sequence[Any], case_ids: Mapping[tuple[str, str, str], str]) -> dict[str, _Case]:
    """Per case id, the per-pair ratios and everything the first pair saw (``lockstep.PairRecord``s)."""
    cases: dict[str, _Case] = {}
    for pair in pairs:
        for m in pair.models:
            for variant in m.built["from"]:
                if variant == REFERENCE and m.group != TORCH_GROUP:
                    continue  # there eager is only the reference of its worker's speedups
                cid = case_ids[(m.model, variant, m.dtype)]
                c = cases.setdefault(cid, _Case(m.model, variant, m.dtype))
                if not c.built:
                    c.built = {s: dict(m.built[s].get(variant, {"skipped": "not requested"})) for s in ("from", "to")}
                    c.to_variant = c.built["to"].get("variant")
                    if m.outputs is not None:
                        c.outputs = compare_outputs(variant, m.dtype, m.outputs, m.weights)
                    if m.fusions is not None:
                        c.fusions = {s: dict(m.fusions[s].get(variant, {})) for s in ("from", "to")}
                t = m.times_ns
                if variant not in t["from"] or variant not in t["to"] or not t["from"][variant]:
                    if "proof" in c.built["from"] and "proof" in c.built["to"]:
                        # Built in the first pair, not in this one: a flaky build is not dropped quietly.
                        why = {s: m.built[s].get(variant, {}) for s in ("from", "to")}
                        side = "to" if "proof" not in why["to"] else "from"
                        c.lost_in.append(f"pair {pair.pair + 1}: not built in '{side}' "
                                         f"({why[side].get('failed') or why[side].get('skipped')})")
                    continue
                f, g = t["from"][variant], t["to"][variant]
                c.lat_pairs.append(round_ratio(g, f))
                c.pair_numbers.append(pair.pair + 1)
                c.order_first.append(dict(m.first_by_variant.get(variant, {})))  # {}: an older pool's, not recorded
                c.times["from"] += [x / 1e6 for x in f]
                c.times["to"] += [x / 1e6 for x in g]
                if variant != REFERENCE and REFERENCE in t["from"] and REFERENCE in t["to"]:
                    c.speed_pairs["from"].append(round_ratio(t["from"][REFERENCE], f))
                    c.speed_pairs["to"].append(round_ratio(t["to"][REFERENCE], g))
    return cases


def compare_case(cid: str, c: _Case, confidence: float, floor: float, min_change: float,
                 gated: bool = True) -> tuple[CaseComparison, list[str]]:
    import statistics

    cmp = CaseComparison(cid, c.model, c.variant, c.dtype, status="pass",
                         fusions_from=c.fusions.get("from", {}), fusions_to=c.fusions.get("to", {}),
                         proofs={s: c.built[s].get("proof", "") for s in ("from", "to")}, to_variant=c.to_variant)
    cid = cmp.label  # verdict lines name a stand-in ("... (to: compile)") when one was timed
    not_measured = _availability(cid, c, cmp)
    if not_measured is not None:
        return cmp, not_measured
    cmp.from_ms = statistics.median(c.times["from"])
    cmp.to_ms = statistics.median(c.times["to"])
    cmp.latency_pairs = list(c.lat_pairs)
    cmp.latency_pair_numbers = list(c.pair_numbers)
    cmp.order_first = list(c.order_first)
    if len(c.lat_pairs) < MIN_PAIRS:
        cmp.status, cmp.latency_status = "inconclusive", "inconclusive"
        cmp.note = "measured in one worker pair only: no spread between pairs, no interval"
        return cmp, []
    lines = _judge_latency(cid, c, cmp, confidence, floor, min_change, gated)
    if c.speed_pairs["from"]:
        _judge_speedup(c, cmp, confidence, floor, min_change)

    cmp.outputs = c.outputs
    if c.outputs.get("status") == "drift":
        lines.append(f"REGRESSION {cid}: outputs drift between lanes: {c.outputs['detail']}")
    if cmp.fusions_from and c.to_variant is None:  # a replacement is another recipe: nothing to lose
        lines += _lost_fusions(cid, cmp)

    if lines:
        cmp.status = "regression"
    elif not gated:
        cmp.status = "reference"
    elif cmp.latency_status == "inconclusive" or c.outputs.get("status") == "not compared":
        cmp.status = "inconclusive"
    elif cmp.latency_status == "improvement":
        cmp.status = "improvement"
    return cmp, lines


def _availability(cid: str, c: _Case, cmp: CaseComparison) -> list[str] | None:
    """The case's verdict lines when a side did not measure it, else None."""
    a, b = c.built["from"], c.built["to"]
    if "proof" not in a:
        # A documented skip is what the "from" lane is; a failed build there decided nothing.
        cmp.status = "unavailable" if "skipped" in a else "inconclusive"
        cmp.note = (f"not measured in 'from': {a['skipped']}" if "skipped" in a
                    else f"not measured in 'from': build failed: {a.get('failed')}")
        if "proof" in b:
            cmp.note += "; available in 'to'"
        return []
    if "proof" not in b:
        cmp.status = "regression"
        why = f"skipped: {b['skipped']}" if "skipped" in b else f"build failed: {b.get('failed')}"
        cmp.note = f"ran in 'from', {why} in 'to'"
        return [f"REGRESSION {cid}: variant lost in 'to' ({why})"]
    if c.lost_in:
        side_to = any("'to'" in x for x in c.lost_in)
        cmp.note = "; ".join(c.lost_in)
        if side_to:
            # The status too, not only the line: gate.json, to.json and the report read the status.
            cmp.status = "regression"
            return [f"REGRESSION {cid}: variant lost in 'to' in some pairs ({cmp.note})"]
    return None


def _judge_latency(cid: str, c: _Case, cmp: CaseComparison, confidence: float, floor: float,
                   min_change: float, gated: bool) -> list[str]:
    lat = change_over_pairs(c.lat_pairs, confidence, one_sided=True)
    cmp.latency = (lat.point, lat.low, lat.high)
    cmp.latency_status = change_status(lat, floor, min_change)
    if not gated:
        cmp.latency_status = "reference"
    elif cmp.latency_status == "regression":
        return [f"REGRESSION {cid}: latency {_pct(lat.point)} {_interval(lat)} "
                f"({cmp.from_ms:.2f} ms -> {cmp.to_ms:.2f} ms; {len(lat.pairs)} worker pairs)"]
    return []


def _judge_speedup(c: _Case, cmp: CaseComparison, confidence: float, floor: float, min_change: float) -> None:
    import statistics

    cmp.speedup_from = statistics.median(c.speed_pairs["from"])
    cmp.speedup_to = statistics.median(c.speed_pairs["to"])
    pairs = zip(c.speed_pairs["from"], c.speed_pairs["to"], strict=True)
    lost = change_over_pairs([f / t for f, t in pairs], confidence, one_sided=True)
    cmp.speedup_change = (lost.point, lost.low, lost.high)
    # Reported, not gated: users serve the variant, so its latency is the verdict. A speedup lost
    # because eager got faster around an unchanged variant costs them nothing, and one lost
    # because the variant got slower is already a latency regression.
    cmp.speedup_status = change_status(lost, floor, min_change) if len(lost.pairs) >= MIN_PAIRS else None


def _lost_fusions(cid: str, cmp: CaseComparison) -> list[str]:
    from .fusions import compare as compare_fusions

    # The "from" lane's counts are the expectation: a count that went down is a lost fusion.
    fv = compare_fusions(cid, cmp.fusions_from, cmp.fusions_to)
    cmp.lost_fusions = [x.signal for x in fv.lost]
    if fv.lost:
        return [f"REGRESSION {cid}: lost fusion(s) in 'to': {'; '.join(map(str, fv.lost))}"]
    return []


def compare(
    pairs: Sequence[Any], case_ids: Mapping[tuple[str, str, str], str], *, from_lane: str, to_lane: str,
    correctness: Correctness, rounds: int, floor: float = DEFAULT_FLOOR,
    min_change: float = UPGRADE_MIN_CHANGE, alpha: float = UPGRADE_ALPHA, gated: set[str] | None = None,
) -> GateResult:
    """``case_ids``: (model, variant, dtype) -> case id; ``gated``: the selected cases (default all).
    Eager, always timed for the speedups, is shown as a reference when not selected."""
    from .speedup_verdicts import family_confidence

    if not pairs:
        raise ValueError("no worker pairs to compare")
    hello = pairs[0].hello
    warnings: list[str] = []
    every = [h for p in pairs for said in p.hellos for h in said.values()]
    classes = {h["machine_class"] for h in every}
    if len(classes) != 1:
        raise DataFileError(f"the lanes ran on different machine classes: {', '.join(sorted(classes))}")
    threads = {h["threads"] for h in every}
    if len(threads) != 1:
        warnings.append(f"the workers ran with different torch thread counts: {sorted(threads)}")
    gathered = gather(pairs, case_ids)
    # One latency comparison per measured case: widen each bound so the chance of any false
    # alarm over the whole gate stays <= alpha (Bonferroni; one-sided, as only slowdowns fail).
    is_gated = (lambda cid: True) if gated is None else (lambda cid: cid in gated)
    tests = sum(1 for cid, c in gathered.items() if c.lat_pairs and is_gated(cid))
    confidence = family_confidence(alpha, max(tests, 1))
    cases, regressions = [], []
    for cid, c in gathered.items():
        cmp, lines = compare_case(cid, c, confidence, floor, min_change, is_gated(cid))
        if cmp.latency and cmp.latency_status == "pass" and cmp.latency[1] > 1.0:
            point, low, high = cmp.latency
            warnings.append(f"{cmp.label}: slower by {_pct(point)} {_pct(low)}..{_pct(high)}, "
                            f"significant but below --min-change {min_change:.0%}: reported, not failed")
        cases.append(cmp)
        regressions += lines
        if cmp.status == "inconclusive" and "proof" not in c.built["from"]:
            warnings.append(f"{cmp.label}: inconclusive ({cmp.note}): nothing to compare 'to' against")
        elif cmp.status == "inconclusive":
            why = (cmp.outputs.get("detail") if cmp.outputs.get("status") == "not compared"
                   else f"latency {_pct(cmp.latency[0])} [{_pct(cmp.latency[1])}, {_pct(cmp.latency[2])}]"
                   if cmp.latency else "no interval")
            warnings.append(f"{cmp.label}: inconclusive ({why}); run more --pairs on a quieter machine")
    if correctness.checked_nothing:
        warnings.append(f"correctness under '{to_lane}': no correctness test passed (none matched --cases, or "
                        "all skipped): answers were checked only by comparing the lanes' outputs")
    if correctness.failed:
        regressions.append(
            f"REGRESSION correctness under '{to_lane}': {correctness.summary} (log: {correctness.log})"
        )
    return GateResult(from_lane, to_lane, hello["from"]["lane"], hello["to"]["lane"], classes.pop(),
                      int(hello["from"]["threads"]), len(pairs), rounds, confidence, floor, min_change,
                      cases, correctness, regressions, warnings, one_sided=True)
