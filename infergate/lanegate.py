"""``python3 -m infergate.lanegate --from LANE --to LANE``: gate an upgrade of torch / IPEX / transformers.

An upgrade changes everything at once, eager included, so a speedup over eager cannot see it; and
absolute times measured hours apart are noise. So both lanes are measured *now*, on the same
machine, by alternating worker processes: blocks run in the order A B B A  B A A B ... (A = "from",
B = "to"). Block pair i is (A_i, B_i), measured back to back; the mirrored order cancels a linear
drift (thermal, a neighbour ramping up) instead of always favouring the lane that runs first.

Per case the gate compares:
- latency: median(to) / median(from) with a two-stage bootstrap interval (block pairs, then rounds
  within each block: rounds of one process are not independent, processes are);
- speedup over eager: one speedup per worker block in each lane, compared with the spread between
  blocks (``stats.runs_verdict``): one process's bootstrap cannot see how much processes differ;
- fusions: fused graph node kinds present in "from" and gone in "to";
- availability: a variant that built in "from" and is skipped or fails in "to";
- correctness: the suite's correctness tests run under "to".
The exit code is 0 (pass) or 1 (a regression), 2 for a usage or set-up error; each regression is one
line naming the case and the size of the change.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import DataFileError, InfergateError, UsageError
from .lane_worker import SCHEMA as BLOCK_SCHEMA
from .lane_worker import VERSION as BLOCK_VERSION

GATE_SCHEMA = "infergate-lane-gate"
GATE_VERSION = 1
DEFAULT_FLOOR = 0.05
DEFAULT_ALPHA = 0.05
DEFAULT_BLOCKS = 4
DEFAULT_ROUNDS = 10
RESAMPLES = 2000

# Runs one worker: (lane name, python, pair index) -> the worker's JSON document.
WorkerRunner = Callable[[str, Path, int], Mapping[str, Any]]


# --------------------------------------------------------------------------------------------
# Schedule and workers
# --------------------------------------------------------------------------------------------


def schedule(blocks: int) -> list[tuple[int, str]]:
    """[(pair index, "from"|"to")]: A B, B A, A B, ... so each lane leads half the pairs."""
    if blocks < 1:
        raise UsageError(f"--blocks must be >= 1, got {blocks}")
    order: list[tuple[int, str]] = []
    for i in range(blocks):
        first, second = ("from", "to") if i % 2 == 0 else ("to", "from")
        order += [(i, first), (i, second)]
    return order


def check_block(doc: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping) or doc.get("schema") != BLOCK_SCHEMA:
        raise DataFileError(f"{where}: not a lane worker block")
    if doc.get("version") != BLOCK_VERSION:
        raise DataFileError(f"{where}: block format version {doc.get('version')!r}, expected {BLOCK_VERSION}")
    if not isinstance(doc.get("models"), list):
        raise DataFileError(f"{where}: block has no 'models' list")
    return doc


def subprocess_worker(profile: str, cases: str | None, rounds: int, log_dir: Path) -> WorkerRunner:
    """A runner that starts ``<lane python> -m infergate.lane_worker`` and parses its stdout."""

    def run(lane: str, python: Path, pair: int) -> Mapping[str, Any]:
        cmd = [str(python), "-m", "infergate.lane_worker", "--profile", profile,
               "--rounds", str(rounds), "--seed", str(pair)]
        if cases:
            cmd += ["--cases", cases]
        if pair == 0:  # fusion counts are deterministic: one block per lane is enough
            cmd.append("--fusions")
        log = log_dir / f"worker-{lane}-{pair}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w", encoding="utf-8") as err:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True,
                                  stdin=subprocess.DEVNULL, cwd=Path(__file__).resolve().parent.parent)
        if proc.returncode != 0:
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] or [""]
            raise InfergateError(
                f"lane worker for '{lane}' exited with status {proc.returncode}: {tail[0]} (log: {log})"
            )
        try:
            return check_block(json.loads(proc.stdout), f"worker for '{lane}'")
        except json.JSONDecodeError as exc:
            raise DataFileError(f"lane worker for '{lane}' printed no JSON ({exc.msg}); log: {log}") from None

    return run


def measure_lanes(
    lanes: Mapping[str, tuple[str, Path]], blocks: int, run: WorkerRunner,
    progress: Callable[[str], None] = lambda msg: None,
) -> dict[str, list[Mapping[str, Any]]]:
    """``lanes`` maps "from"/"to" to (lane name, python). Returns each side's blocks in pair order."""
    out: dict[str, list[Any]] = {"from": [None] * blocks, "to": [None] * blocks}
    steps = schedule(blocks)
    for n, (pair, side) in enumerate(steps, 1):
        name, python = lanes[side]
        progress(f"[{n}/{len(steps)}] block {pair + 1} of lane '{name}' ({side})")
        out[side][pair] = check_block(run(name, python, pair), f"block {pair} of '{name}'")
    return out


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
    import numpy as np

    return [float(np.median(e) / np.median(v)) for e, v in zip(case.eager_blocks, case.blocks)]


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


# --------------------------------------------------------------------------------------------
# Correctness under "to"
# --------------------------------------------------------------------------------------------

_SUMMARY = re.compile(r"^=+ (.*) =+$")


def run_correctness(python: Path, profile: str, cases: str | None, log: Path) -> Correctness:
    cmd = [str(python), "-m", "pytest", "correctness", "-q", "-p", "no:cacheprovider",
           "--ig-profile", profile]
    if cases:
        cmd += ["-k", cases]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              cwd=Path(__file__).resolve().parent.parent)
    summary = ""
    for line in reversed(log.read_text(encoding="utf-8", errors="replace").splitlines()):
        m = _SUMMARY.match(line.strip())
        if m or re.search(r"\d+ (passed|failed|error)", line):
            summary = m.group(1) if m else line.strip()
            break
    return Correctness(True, proc.returncode, summary or f"pytest exit status {proc.returncode}", str(log))


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------


def lane_results_doc(run: LaneRun, side: str, gate: GateResult) -> dict[str, Any]:
    """One lane's timings in pytest-benchmark form, so ``pytest-benchmark compare from.json to.json``
    shows both lanes side by side."""
    from .merge import benchmark_entry, machine_info, results_doc

    by_case = {c.case: c for c in gate.cases}
    lane_name = gate.from_lane if side == "from" else gate.to_lane
    benches = []
    for cid, lc in run.cases.items():
        if not lc.measured:
            continue
        cmp = by_case.get(cid)
        speedup = (cmp.speedup_from if side == "from" else cmp.speedup_to) if cmp else None
        extra = {
            **run.meta[cid], "case_id": cid, "model_id": run.meta[cid]["model"], "lane": run.lane,
            "lane_name": lane_name, "threads": run.threads,
            "machine_class": run.machine_class,
            "speedup": speedup[0] if speedup else None, "ci": list(speedup[1:]) if speedup else None,
            "baseline": None, "verdict": cmp.status if (cmp and side == "to") else None,
            "fusions": lc.fusions,
        }
        times_s = [t / 1000.0 for block in lc.blocks for t in block]
        benches.append(benchmark_entry(cid, times_s, extra, group=run.meta[cid]["model"]))
    info = machine_info(run.machine_class, run.lane, lane_name=lane_name, versions=run.versions)
    return results_doc(info, benches)


def write_outputs(gate: GateResult, runs: Mapping[str, LaneRun], out_dir: Path) -> dict[str, Path]:
    from . import report
    from .merge import write_json

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"gate": out_dir / "gate.json", "from": out_dir / "from.json", "to": out_dir / "to.json",
             "markdown": out_dir / "report.md"}
    write_json(paths["gate"], gate.to_json())
    for side in ("from", "to"):
        write_json(paths[side], lane_results_doc(runs[side], side, gate))
    plots = report.gate_plots(gate, out_dir)
    paths.update(plots)
    paths["markdown"].write_text(
        report.gate_markdown(gate, {k: p.name for k, p in plots.items()}), encoding="utf-8"
    )
    return paths


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    from .cases import PROFILES

    p = argparse.ArgumentParser(prog="python3 -m infergate.lanegate", description=__doc__.split("\n\n")[0])
    p.add_argument("--from", dest="from_lane", required=True, metavar="LANE", help="lane name or .lock path")
    p.add_argument("--to", dest="to_lane", required=True, metavar="LANE", help="lane name or .lock path")
    p.add_argument("--profile", choices=tuple(PROFILES), default="smoke", help="Default: smoke")
    p.add_argument("--cases", default=None, metavar="EXPR",
                   help="pytest -k expression on case ids. Default: all")
    p.add_argument("--blocks", type=int, default=DEFAULT_BLOCKS, metavar="N",
                   help="worker blocks per lane (processes, alternated A B B A ...). "
                        f"Default: {DEFAULT_BLOCKS}")
    p.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, metavar="N",
                   help=f"timed rounds per block. Default: {DEFAULT_ROUNDS}")
    p.add_argument("--floor", type=float, default=DEFAULT_FLOOR, metavar="FRACTION",
                   help=f"smallest change that fails the gate. Default: {DEFAULT_FLOOR}")
    p.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, metavar="P",
                   help=f"family-wise false alarm rate over all cases. Default: {DEFAULT_ALPHA}")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="where reports go. Default: results/gate-FROM-to-TO")
    p.add_argument("--no-correctness", action="store_true", help="skip the correctness run. Default: run it")
    p.add_argument("--no-ensure", action="store_true", help="lanes are already set up. Default: ensure them")
    return p


def _lacks_report_deps() -> str | None:
    for module in ("numpy", "matplotlib"):
        try:
            __import__(module)
        except ImportError:
            return module
    return None


def main(argv: Sequence[str] | None = None, *, runner: WorkerRunner | None = None,
         lane_python: Callable[[str], Path] | None = None) -> int:
    from . import lanes as lanes_mod
    from .stats import noise_report, read_load

    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    try:
        if not args.no_ensure:
            for lane in (args.from_lane, args.to_lane):
                print(lanes_mod.ensure(lane).message, flush=True)
        find_python = lane_python or (lambda lane: lanes_mod.lane_python(lane))
        py_from, py_to = find_python(args.from_lane), find_python(args.to_lane)
        missing = _lacks_report_deps()
        if missing and runner is None:
            # The system python3 that set the lanes up may lack numpy/matplotlib; every lane has them.
            print(f"infergate: this python has no {missing}; continuing under {py_to}",
                  file=sys.stderr, flush=True)
            os.execv(str(py_to), [str(py_to), "-m", "infergate.lanegate", *argv, "--no-ensure"])
        out = args.out or Path("results") / f"gate-{Path(args.from_lane).stem}-to-{Path(args.to_lane).stem}"
        # Read before the correctness run: afterwards the 1-minute average still holds its threads.
        load_start = read_load()
        if args.no_correctness:
            correctness = Correctness(False, summary="not run (--no-correctness)")
        else:
            print(f"correctness under '{args.to_lane}' ({args.profile} profile)...", flush=True)
            correctness = run_correctness(py_to, args.profile, args.cases, out / "correctness-to.log")
        run = runner or subprocess_worker(args.profile, args.cases, args.rounds, out / "logs")
        blocks = measure_lanes({"from": (args.from_lane, py_from), "to": (args.to_lane, py_to)},
                               args.blocks, run, progress=lambda m: print(m, flush=True))
        gate = compare(blocks["from"], blocks["to"], from_lane=args.from_lane, to_lane=args.to_lane,
                       correctness=correctness, rounds=args.rounds, floor=args.floor, alpha=args.alpha)
        threads = gate.threads
        noise = noise_report(load_start=load_start, load_end=read_load(), own_load=threads)
        gate.warnings += [f"machine was busy: {r}" for r in noise.reasons]
        runs = {"from": collect(blocks["from"]), "to": collect(blocks["to"])}
        paths = write_outputs(gate, runs, out)
    except (InfergateError, ValueError) as exc:
        print(f"infergate: {exc}", file=sys.stderr)
        return 2
    from .report import gate_terminal

    print(gate_terminal(gate))
    others = ", ".join(p.name for k, p in paths.items() if k != "markdown")
    print(f"reports: {paths['markdown']} (and {others})")
    return 0 if gate.passed else 1


if __name__ == "__main__":
    sys.exit(main())
