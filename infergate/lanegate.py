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
The comparison itself is ``infergate.lane_compare``. The exit code is 0 (pass) or 1 (a regression), 2 for a usage or set-up error; each regression is one
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
from pathlib import Path
from typing import Any

from .errors import DataFileError, InfergateError, UsageError
from .lane_worker import SCHEMA as BLOCK_SCHEMA
from .lane_compare import (
    DEFAULT_ALPHA,
    DEFAULT_FLOOR,
    Correctness,
    GateResult,
    LaneRun,
    collect,
    compare,
)
from .lane_worker import VERSION as BLOCK_VERSION

DEFAULT_BLOCKS = 4
DEFAULT_ROUNDS = 10

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
