"""How two lanes compare, case by case, from their worker blocks: latency, speedup, fusions.

Plain data in, plain data out (no processes, no venvs), so the statistics are tested on synthetic
blocks (tests/test_lanegate.py). ``infergate.lanegate`` runs the workers and writes the reports.

- latency: median(to) / median(from) with a two-stage bootstrap interval (block pairs, then rounds
  within each block: rounds of one process are not independent, processes are);
- speedup over eager: one speedup per worker block in each lane, compared with the spread between
  blocks (``stats.runs_verdict``): one process's bootstrap cannot see how much processes differ;
- fusions: fused graph node kinds present in "from" and gone in "to";
- availability: a variant that built in "from" and is skipped or fails in "to".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import DataFileError

GATE_SCHEMA = "infergate-lane-gate"
GATE_VERSION = 1
DEFAULT_FLOOR = 0.05
DEFAULT_ALPHA = 0.05
RESAMPLES = 2000

# --------------------------------------------------------------------------------------------
# Collecting blocks into per-case data
# --------------------------------------------------------------------------------------------


@dataclass
class LaneCase:
    """One case in one lane: its times per block (ms), and how it fared."""

    blocks: list[list[float]] = field(default_factory=list)
    eager_blocks: list[list[float]] = field(default_factory=list)  # the same rounds' eager times
    skipped: str | None = None
    failed: str | None = None
    fusions: dict[str, int] = field(default_factory=dict)

    @property
    def measured(self) -> bool:
        return bool(self.blocks) and self.skipped is None and self.failed is None


@dataclass
class LaneRun:
    lane: str
    machine_class: str
    threads: int
    versions: dict[str, Any]
    cases: dict[str, LaneCase]
    meta: dict[str, dict[str, str]]  # case id -> {model, variant, dtype}


def collect(blocks: Sequence[Mapping[str, Any]]) -> LaneRun:
    first = blocks[0]
    cases: dict[str, LaneCase] = {}
    meta: dict[str, dict[str, str]] = {}
    for block in blocks:
        for model in block["models"]:
            times = model["times_ms"]
            eager_id = next((cid for cid, v in model["variants"].items() if v == "eager"), None)
            for cid, variant in model["variants"].items():
                meta[cid] = {"model": model["model"], "variant": variant, "dtype": model["dtypes"][cid]}
                lc = cases.setdefault(cid, LaneCase())
                if cid in model.get("skipped", {}):
                    lc.skipped = model["skipped"][cid]
                elif cid in model.get("failed", {}):
                    lc.failed = model["failed"][cid]
                elif cid in times:
                    lc.blocks.append([float(t) for t in times[cid]])
                    if eager_id in times:
                        lc.eager_blocks.append([float(t) for t in times[eager_id]])
                lc.fusions = dict(model.get("fusions", {}).get(cid, lc.fusions))
    return LaneRun(first["lane"], first["machine_class"], int(first["threads"]),
                   dict(first.get("versions") or {}), cases, meta)


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def paired_block_ratio(
    from_blocks: Sequence[Sequence[float]], to_blocks: Sequence[Sequence[float]],
    confidence: float, resamples: int = RESAMPLES, seed: int = 0,
):
    """median(to) / median(from) with a two-stage percentile bootstrap interval.

    Stage 1 draws block *pairs* (the same index for both lanes: the pair shared the machine state);
    stage 2 draws rounds within each drawn block. Resampling rounds alone would treat the rounds of
    one process as independent, and a process-level difference (memory layout, a JIT decision)
    would then pass for a lane difference.
    """
    import numpy as np

    from .stats import Estimate, percentile_bounds

    if len(from_blocks) != len(to_blocks) or not from_blocks:
        raise ValueError(
            f"need the same number (>0) of blocks per lane, got {len(from_blocks)} and {len(to_blocks)}"
        )
    sizes = {len(b) for b in (*from_blocks, *to_blocks)}
    if len(sizes) != 1 or 0 in sizes:
        raise ValueError(f"every block must have the same number (>0) of rounds, got sizes {sorted(sizes)}")
    fb = np.asarray(from_blocks, dtype=float)  # (blocks, rounds)
    tb = np.asarray(to_blocks, dtype=float)
    point = float(np.median(tb) / np.median(fb))
    lo_pct, hi_pct = percentile_bounds(confidence)
    rng = np.random.default_rng(seed)
    n, r = fb.shape
    pick = rng.integers(0, n, size=(resamples, n, 1))  # stage 1: the same pairs for both lanes
    a = fb[pick, rng.integers(0, r, size=(resamples, n, r))].reshape(resamples, -1)
    b = tb[pick, rng.integers(0, r, size=(resamples, n, r))].reshape(resamples, -1)
    ratios = np.median(b, axis=1) / np.median(a, axis=1)
    low, high = np.percentile(ratios, [lo_pct, hi_pct])
    return Estimate(point, float(low), float(high))


def block_speedups(case: LaneCase) -> list[float]:
    """One speedup per worker block (process): the units the between-run spread is measured on."""
    from .stats import speedup_ratio

    return [speedup_ratio(e, v) for e, v in zip(case.eager_blocks, case.blocks)]


def lane_speedup(case: LaneCase, confidence: float, seed: int = 0):
    """The variant's speedup over eager within one lane, from its paired rounds (for the report;
    the verdict compares the lanes' per-block speedups, see ``compare_case``)."""
    from .stats import Samples

    samples = Samples()
    for eager, variant in zip(case.eager_blocks, case.blocks):
        for e, v in zip(eager, variant):
            samples.add_round({"eager": e, "variant": v})
    return samples.speedup_estimate("variant", "eager", confidence=confidence, seed=seed)


# --------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------


@dataclass
class CaseComparison:
    case: str
    model: str
    variant: str
    dtype: str
    status: str  # pass | regression | improvement | noisy | unavailable
    from_ms: float | None = None
    to_ms: float | None = None
    latency: tuple[float, float, float] | None = None  # to/from (point, low, high)
    latency_status: str | None = None
    speedup_from: tuple[float, float, float] | None = None
    speedup_to: tuple[float, float, float] | None = None
    speedup_status: str | None = None
    fusions_from: dict[str, int] = field(default_factory=dict)
    fusions_to: dict[str, int] = field(default_factory=dict)
    lost_fusions: list[str] = field(default_factory=list)
    note: str | None = None


@dataclass
class Correctness:
    ran: bool
    returncode: int | None = None
    summary: str = ""
    log: str | None = None

    @property
    def failed(self) -> bool:
        # pytest: 0 all passed, 5 nothing collected (the -k expression matched no correctness case).
        return self.ran and self.returncode not in (0, 5)


@dataclass
class GateResult:
    from_lane: str
    to_lane: str
    from_id: str
    to_id: str
    machine_class: str
    threads: int
    blocks: int
    rounds: int
    confidence: float
    floor: float
    cases: list[CaseComparison]
    correctness: Correctness
    regressions: list[str]
    warnings: list[str]

    @property
    def passed(self) -> bool:
        return not self.regressions

    @property
    def noisy(self) -> list[str]:
        return [c.case for c in self.cases if c.status == "noisy"]

    def headline(self) -> str:
        """PASS, FAIL, or a pass that says how much of it could not be decided: a gate whose every
        interval straddles both floors proved nothing, and a bare PASS would hide that."""
        if self.regressions:
            return f"FAIL ({len(self.regressions)} regression(s))"
        if self.noisy:
            return f"NO REGRESSION FOUND, but {len(self.noisy)} case(s) too noisy to decide"
        return "PASS"

    def to_json(self) -> dict[str, Any]:
        return {"schema": GATE_SCHEMA, "version": GATE_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "GateResult":
        if doc.get("schema") != GATE_SCHEMA or doc.get("version") != GATE_VERSION:
            raise DataFileError(
                f"not a lane gate result of version {GATE_VERSION} "
                f"(schema {doc.get('schema')!r}, version {doc.get('version')!r})"
            )
        fields = {k: v for k, v in doc.items() if k not in ("schema", "version")}
        fields["cases"] = [CaseComparison(**c) for c in fields["cases"]]
        fields["correctness"] = Correctness(**fields["correctness"])
        return cls(**fields)


def _pct(ratio: float) -> str:
    return f"{(ratio - 1.0) * 100:+.1f}%"


def compare_case(cid: str, meta: Mapping[str, str], a: LaneCase, b: LaneCase,
                 confidence: float, floor: float) -> tuple[CaseComparison, list[str]]:
    from .stats import Estimate, ratio_status

    cmp = CaseComparison(cid, meta["model"], meta["variant"], meta["dtype"], status="pass",
                         fusions_from=dict(a.fusions), fusions_to=dict(b.fusions))
    lines: list[str] = []
    if not a.measured:
        cmp.status = "unavailable"
        cmp.note = f"not measured in 'from': {a.skipped or a.failed}"
        if b.measured:
            cmp.note += "; available in 'to'"
        return cmp, lines
    if not b.measured:
        cmp.status = "regression"
        why = f"skipped: {b.skipped}" if b.skipped else f"build failed: {b.failed}"
        cmp.note = f"ran in 'from', {why} in 'to'"
        lines.append(f"REGRESSION {cid}: variant lost in 'to' ({why})")
        return cmp, lines

    import numpy as np

    cmp.from_ms = float(np.median(np.concatenate(a.blocks)))
    cmp.to_ms = float(np.median(np.concatenate(b.blocks)))
    lat = paired_block_ratio(a.blocks, b.blocks, confidence)
    cmp.latency = tuple(lat)  # type: ignore[assignment]
    # Speed is the inverse of latency; the suite's floor rule (significant, and at least half the
    # floor) then applies as is.
    speed = Estimate(1.0 / lat.point, 1.0 / lat.high, 1.0 / lat.low)
    cmp.latency_status = ratio_status(speed, floor)
    if cmp.latency_status == "regression":
        lines.append(
            f"REGRESSION {cid}: latency {_pct(lat.point)} ({cmp.from_ms:.2f} ms -> {cmp.to_ms:.2f} ms; "
            f"to/from {lat.point:.3f} [{lat.low:.3f}, {lat.high:.3f}])"
        )

    if meta["variant"] != "eager" and a.eager_blocks and b.eager_blocks:
        sa, sb = lane_speedup(a, confidence), lane_speedup(b, confidence)
        cmp.speedup_from, cmp.speedup_to = tuple(sa), tuple(sb)  # type: ignore[assignment]
        # Per-block speedups, compared with the spread between blocks (processes) of both lanes: the
        # rounds' bootstrap alone would miss how much a speedup moves from one process to the next.
        from .stats import pooled_spread, runs_verdict

        ka, kb = block_speedups(a), block_speedups(b)
        spread = pooled_spread([ka, kb])
        cmp.speedup_status = (runs_verdict(kb, ka, spread, floor, confidence).status if spread.df >= 1
                              else "noisy")
        # A smaller speedup only hurts if the variant itself got slower; if eager merely got faster
        # around an unchanged variant, users lose nothing.
        if cmp.speedup_status == "regression" and cmp.latency_status != "improvement":
            lines.append(
                f"REGRESSION {cid}: speedup over eager {sa.point:.2f}x -> {sb.point:.2f}x "
                f"({_pct(sb.point / sa.point)})"
            )

    if a.fusions:
        from .fusions import compare as compare_fusions

        # The "from" lane's counts are the expectation: a count that went down is a lost fusion.
        fv = compare_fusions(cid, a.fusions, b.fusions)
        cmp.lost_fusions = [c.signal for c in fv.lost]
        if fv.lost:
            lines.append(f"REGRESSION {cid}: lost fusion(s) in 'to': {'; '.join(map(str, fv.lost))}")

    if lines:
        cmp.status = "regression"
    elif "noisy" in (cmp.latency_status, cmp.speedup_status):
        cmp.status = "noisy"
    elif cmp.latency_status == "improvement":
        cmp.status = "improvement"
    return cmp, lines


def compare(
    from_blocks: Sequence[Mapping[str, Any]], to_blocks: Sequence[Mapping[str, Any]],
    *, from_lane: str, to_lane: str, correctness: Correctness, rounds: int,
    floor: float = DEFAULT_FLOOR, alpha: float = DEFAULT_ALPHA,
) -> GateResult:
    from .stats import family_confidence

    a, b = collect(from_blocks), collect(to_blocks)
    warnings: list[str] = []
    if a.machine_class != b.machine_class:
        raise DataFileError(
            f"the lanes ran on different machine classes: {a.machine_class} vs {b.machine_class}"
        )
    if a.threads != b.threads:
        warnings.append(f"the lanes ran with different torch thread counts: {a.threads} vs {b.threads}")
    ids = list(dict.fromkeys([*a.meta, *b.meta]))
    # One latency and (for non-eager variants) one speedup comparison per measured case: widen each
    # interval so the chance of any false alarm over the whole gate stays <= alpha.
    tests = sum(1 + (a.meta[c]["variant"] != "eager") for c in ids if c in a.cases and a.cases[c].measured)
    confidence = family_confidence(alpha, max(tests, 1))
    cases, regressions = [], []
    for cid in ids:
        meta = a.meta.get(cid) or b.meta[cid]
        cmp, lines = compare_case(cid, meta, a.cases.get(cid, LaneCase(skipped="not selected")),
                                  b.cases.get(cid, LaneCase(skipped="not in this lane's profile")),
                                  confidence, floor)
        cases.append(cmp)
        regressions += lines
        if cmp.status == "noisy":
            warnings.append(
                f"{cid}: too noisy to decide (run more --blocks or --rounds on a quieter machine)"
            )
    if correctness.failed:
        regressions.append(
            f"REGRESSION correctness under '{to_lane}': {correctness.summary} (log: {correctness.log})"
        )
    return GateResult(from_lane, to_lane, a.lane, b.lane, a.machine_class, a.threads, len(from_blocks),
                      rounds,
                      confidence, floor, cases, correctness, regressions, warnings)
