"""``python -m infergate claims``: measure the claims matrix, each row in ``--processes`` worker
processes, and write the report (Markdown, PNG and raw JSON rows) under ``--out``; or ``--render``
stored rows again, several runs of one class and lane into one report. Every finished row is
printed with its headline numbers and the time left; workers' warnings go to claims.log beside the
report; a row whose worker crashes or hangs is reported as failed and the other rows still run.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..building.variants import COMPILE, JIT, JIT_IPEX, REFERENCE, TORCH_GROUP, process_group
from ..core.paths import REPO_ROOT
from ..core.validate import directory, seconds_up_to, whole_number
from ..matrix.dtypes import DType
from ..matrix.inputs import Shape
from ..matrix.spec import ModelSpec
from ..matrix.zoo import ARCHS, ATTENTIONS, EAGER_ATTENTION, SIZES, Task
from ..pytest_plugin.settings import CONFIG, option
from .front import prog

if TYPE_CHECKING:
    from ..measuring.claims_measure import ClaimMeasurement
    from ..measuring.sampling import SamplingPlan

# Measuring, rendering and the report need a lane's numpy and torch: imported where used, so that
# --help works under the bare python3.

# A row's interval is a t across its processes (t(0.995, 2) = 9.92, t(0.995, 3) = 5.84), so a model of
# the committed rows puts 4 processes of 5 s 23-48 % narrower than 3 of 15 s at the same time; two runs
# of 4 of 5 s did not show it, nor did a run interleaving the two settings row by row (docs/claims.md,
# "Processes or rounds"), so the default stays at 3 of 15 s.
DEFAULT_PROCESSES = 3
LOG_NAME = "claims.log"
SEQ, QA_LONG_SEQ = 128, 384
DEFAULT_BUDGET_S = 15.0
DEFAULT_TIMEOUT_S = 1800.0


@dataclasses.dataclass(frozen=True)
class Row:
    spec: ModelSpec
    shape: Shape
    dtype: DType

    @property
    def name(self) -> str:
        return f"{self.spec.id} {self.shape} {self.dtype.value}"


def plan_rows(archs: Sequence[str], tasks: Sequence[Task], size: str, attention: str,
              dtypes: Sequence[DType], batch: int = 1) -> list[Row]:
    """Every architecture x task at batch x 128, and QA also at 384 (the guide's SQuAD length)."""
    rows = []
    for dtype in dtypes:
        for arch in archs:
            for task in tasks:
                spec = ModelSpec(ARCHS[arch], task, SIZES[size], attention)
                if attention not in spec.arch.attentions:  # e.g. DeBERTa-v2 has eager attention only
                    continue
                seqs = (SEQ, QA_LONG_SEQ) if task is Task.QA else (SEQ,)
                rows += [Row(spec, Shape(batch, s), dtype) for s in seqs]
    return rows


def configured_rows(config: Path | None, argv: Sequence[str]) -> list[Row]:
    """The configured models' rows (``--config``, else the working directory's pyproject.toml table):
    each model's shapes and dtypes. None when nothing is configured, or when ``--archs`` names the
    zoo's architectures: a user's project asks about its own models, as the installed plugin does.
    ``--config`` given with ``--archs`` is refused: one of the two would be ignored, unread."""
    from ..building.user_cases import configured
    from ..core.errors import UsageError
    from ..pytest_plugin.session import user_config

    if any(a == "--archs" or a.startswith("--archs=") for a in argv):
        if config is not None:
            raise UsageError("--config and --archs choose the rows from different sources (your configured "
                             "models, the zoo's architectures): give one of them")
        return []
    return [Row(spec, shape, dtype) for m in configured(user_config(config, Path.cwd()))
            for spec in m.specs for shape in m.model.shapes for dtype in m.model.dtypes]


def _csv(kind, valid):
    def parse(value: str):
        items = [v.strip() for v in value.split(",") if v.strip()]
        bad = [v for v in items if v not in valid]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"{value!r}: valid {kind} are {', '.join(valid)}")
        return items
    parse.__name__ = kind
    return parse


def parser() -> argparse.ArgumentParser:
    # No abbreviations: whether --archs was given is read from argv (configured_rows), and an
    # abbreviated "--arch" would choose the zoo's rows while the config's silently won.
    p = argparse.ArgumentParser(prog=prog("claims"), description=__doc__, allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", type=_csv("architectures", list(ARCHS)), default=list(ARCHS),
                   help=f"comma-separated. Default: {','.join(ARCHS)}")
    p.add_argument("--tasks", type=_csv("tasks", [t.value for t in Task]), default=[t.value for t in Task],
                   help=f"comma-separated. Default: {','.join(t.value for t in Task)}")
    p.add_argument("--dtypes", type=_csv("dtypes", [d.value for d in DType]), default=[d.value for d in DType],
                   help="comma-separated; a dtype this CPU cannot run is measured as skipped rows with the "
                        "reason. Default: fp32,bf16")
    p.add_argument("--size", choices=sorted(SIZES), default="base", help="model size. Default: base")
    option(CONFIG).add_to(p.add_argument, "--config",
                          default_help="the working directory's pyproject.toml, when it has that table; its models "
                                       "replace the zoo's rows unless --archs is given (--config with "
                                       "--archs is refused)")
    p.add_argument("--attention", choices=ATTENTIONS, default=EAGER_ATTENTION,
                   help="attention implementation; IPEX's MHA fusion matches eager attention only. Default: eager")
    p.add_argument("--budget", type=seconds_up_to(600), default=DEFAULT_BUDGET_S, metavar="SECONDS",
                   help="timed rounds per worker, its variants together (a BF16 row's two workers, timed in "
                        f"lockstep, share twice this). Default: {DEFAULT_BUDGET_S:g}")
    p.add_argument("--threads", type=whole_number(1, 1024), default=None, metavar="N",
                   help="torch threads. Default: every CPU this process may use")
    p.add_argument("--timeout", type=seconds_up_to(7200), default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                   help=f"per-row worker limit. Default: {DEFAULT_TIMEOUT_S:g}")
    p.add_argument("--out", type=directory, default=None,
                   help="report directory; rows are written to OUT/in-progress as they finish and the report "
                        "replaces OUT's only when the run ends. Default: docs/claims/<machine class>/<lane> for "
                        "the whole matrix (every architecture, task and dtype, base size, eager attention: "
                        "the committed report), else "
                        "results/claims/<machine class>/<lane>")
    p.add_argument("--compile-options", action="store_true",
                   help="also build and time compile_cpp (inductor's C++ wrapper) and compile_autotune (C++ "
                        "wrapper + max-autotune), PyTorch's measured options for CPU inference; adds 1-2 min "
                        "per row. Default: off")
    p.add_argument("--processes", type=whole_number(3, 20), default=DEFAULT_PROCESSES, metavar="N",
                   help="worker processes per row (per worker group; a BF16 row's two groups timed in lockstep "
                        "pairs): the interval is taken across them. "
                        f"Default: {DEFAULT_PROCESSES}")
    p.add_argument("--render", type=Path, nargs="+", default=None, metavar="DIR",
                   help="measure nothing: render DIR/claims.json into claims.md and claims.png, in DIR or --out; "
                        "several DIRs (one class and lane, each row once) need --out, a directory of their own")
    p.add_argument("--refresh-hosts", action="store_true",
                   help="with --render: read the across-hosts spreads from baselines/ again and keep them in "
                        "claims.json. Default: the ones claims.json keeps (read from baselines/ when it keeps none)")
    p.add_argument("--summary", action="store_true",
                   help="measure nothing: print the cross-class table of every committed report "
                        "(docs/claims/*/*/claims.json) as Markdown")
    p.add_argument("--origin", default=None, metavar="TEXT",
                   help="with --render: where the rows come from, kept in the report "
                        "(e.g. 'recorded on a runner, 2026-12-06'). Default: the files' own")
    return p


def _progress(i: int, n: int, row: Row, m: ClaimMeasurement | None, error: str | None, started: float,
              measured: int, to_measure: int) -> str:
    """The row's headline; the time left extrapolates the rows measured so far (skipped rows cost
    nothing) over the rows still to measure."""
    from ..measuring.claims import BENEFIT_MARKS, NO_MARKS, can_leave_ipex, disturbed, shown_span, speedup

    elapsed = time.perf_counter() - started
    left = elapsed / max(measured, 1) * to_measure
    head = f"[{i}/{n}] {row.name}"
    if error:
        return f"{head}: FAILED: {error} ({elapsed / 60:.1f} min, ~{left / 60:.0f} min left)"
    assert m is not None
    parts = []
    for name, a, b, marks in ((JIT, JIT, REFERENCE, NO_MARKS), ("fusions", JIT_IPEX, JIT, BENEFIT_MARKS),
                              (COMPILE, COMPILE, REFERENCE, NO_MARKS)):
        est = speedup(m, a, b)
        parts.append(f"{name} {shown_span(est, marks)}" if est else f"{name} -")
    noisy = "; DISTURBED" if disturbed(m) else ""
    return (f"{head}: {', '.join(parts)}; leave IPEX: {can_leave_ipex(m).answer}{noisy} "
            f"(row {m.wall_s:.0f} s; {elapsed / 60:.1f} min, ~{left / 60:.0f} min left)")


def worker_groups(row: Row, variants: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The row's variants by the worker that times them (``variants.process_group``)."""
    groups: dict[str, list[str]] = {}
    for v in variants:
        groups.setdefault(process_group(v, row.dtype), []).append(v)
    return {g: tuple(names) for g, names in groups.items()}


def _merge(row: Row, parts: Sequence[tuple[int, str, ClaimMeasurement]]) -> ClaimMeasurement:
    """One row from its workers: each variant's build facts from its own group's first worker that
    has them, every worker's timing as a trial. A variant that failed in any worker failed in the row,
    each error with the processes it came from (a replicate's failure is never dropped)."""
    from ..measuring.claims_measure import ClaimMeasurement, Trial
    from ..measuring.claims_pair import SCHEDULE as LOCKSTEP

    out = ClaimMeasurement(row.spec.id, row.spec.arch.name, row.spec.task.value, str(row.shape), row.dtype.value)
    walls: dict[tuple[int, bool], list[float]] = {}
    failures: dict[str, dict[str, list[int]]] = {}  # variant -> error -> processes
    for process, group, m in parts:
        own = [v for v in (*m.costs, *m.skipped, *m.failed) if process_group(v, row.dtype) == group]
        kinds: tuple[tuple[dict[str, Any], dict[str, Any]], ...] = (
            (m.costs, out.costs), (m.proofs, out.proofs), (m.skipped, out.skipped), (m.answers, out.answers),
            (m.fusions, out.fusions))
        for facts, into in kinds:
            for v in own:
                if v in facts:
                    into.setdefault(v, facts[v])
        for v in own:
            if v in m.failed:
                failures.setdefault(v, {}).setdefault(m.failed[v], []).append(process)
        lockstep = m.timing is not None and m.timing.schedule == LOCKSTEP
        if m.timing is not None:
            # Each worker's own builds, kept with its timing (the row's costs are the first worker's):
            # what every process paid, for the report's "Where the time went".
            m.timing.costs = {v: m.costs[v] for v in own if v in m.costs}
            out.trials.append(Trial(process, group, m.timing, m.ipex_imported, lockstep))
        walls.setdefault((process, lockstep), []).append(m.wall_s)
        if group == TORCH_GROUP and row.dtype is DType.BF16 and m.ipex_imported:
            out.failed["worker"] = "IPEX was imported in a BF16 plain-torch worker: its autocast kernels were IPEX's"
    for v, errors in failures.items():
        out.failed[v] = "; ".join(f"process{'es' if len(ps) > 1 else ''} {', '.join(map(str, ps))}: {error}"
                                  for error, ps in errors.items())
    # A lockstep pair's workers live at once: the replicate took as long as the longer-lived one.
    out.wall_s = sum(max(w) if lockstep else sum(w) for (_, lockstep), w in walls.items())
    return out


def _log_header(log: Path | None, text: str) -> None:
    if log is not None:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"=== {text} ===\n")


def _measure_row(row: Row, groups: dict[str, tuple[str, ...]], plan: SamplingPlan, processes: int, timeout: float,
                 log: Path | None) -> tuple[list[tuple[int, str, ClaimMeasurement]], str | None]:
    """(process, group, part) of every worker of the row, or the first worker's error. One group:
    a worker per process, as measured since version 2. Two (BF16 with jit_ipex): per process
    (replicate) a pair of workers timed in lockstep (``claims_pair``, version 3)."""
    from ..core.errors import CaseCrashed, CaseTimeout
    from ..measuring.claims_measure import measure_claim
    from ..measuring.claims_pair import measure_pair, paired_env
    from ..measuring.isolation import run_in_worker
    from ..measuring.measuring_env import suite_env

    menv = suite_env() if len(groups) == 1 else paired_env()
    parts: list[tuple[int, str, ClaimMeasurement]] = []
    for process in range(processes):
        try:
            if len(groups) == 1:
                group = next(iter(groups))
                _log_header(log, f"{row.name}, process {process}, {group} worker")
                parts.append((process, group, run_in_worker(
                    measure_claim, row.spec, row.shape, row.dtype, plan, groups[group], timeout=timeout,
                    env=menv.worker_env(), argv_prefix=menv.argv_prefix, stderr_log=log)))
            else:
                _log_header(log, f"{row.name}, process {process}, {' and '.join(groups)} workers in lockstep")
                parts += [(process, g, m) for g, m in measure_pair(row.spec, row.shape, row.dtype, plan, groups,
                                                                   process, timeout=timeout, menv=menv, log=log)]
        except Exception as exc:  # noqa: BLE001 - a crash, hang or error loses this row, not the run
            first = (str(exc).splitlines() or [""])[0]
            return parts, first if isinstance(exc, (CaseCrashed, CaseTimeout)) else f"{type(exc).__name__}: {first}"
    return parts, None


def run_rows(rows: Sequence[Row], plan: SamplingPlan, timeout: float, out=print,
             after_row=None, variants: tuple[str, ...] | None = None, processes: int = DEFAULT_PROCESSES,
             log: Path | None = None) -> list[ClaimMeasurement]:
    results, started, skipped_rows = [], time.perf_counter(), 0
    from ..measuring.claims_measure import CLAIM_VARIANTS, ClaimMeasurement, unavailable

    variants = variants or CLAIM_VARIANTS
    plans = [{v: unavailable(row.spec, row.shape, v, row.dtype) for v in variants} for row in rows]
    to_measure = sum(1 for reasons in plans if not all(reasons.values()))
    for i, (row, reasons) in enumerate(zip(rows, plans, strict=True), 1):
        if all(reasons.values()):  # nothing to build: no worker, the reasons are the row
            m = ClaimMeasurement(row.spec.id, row.spec.arch.name, row.spec.task.value, str(row.shape),
                                 row.dtype.value, skipped={v: r for v, r in reasons.items() if r})
            results.append(m)
            skipped_rows += 1
            out(f"[{i}/{len(rows)}] {row.name}: skipped: {next(iter(m.skipped.values()))}", flush=True)
            continue
        groups = worker_groups(row, [v for v in variants if not reasons[v]])
        parts, error = _measure_row(row, groups, plan, processes, timeout, log)
        if error:
            m = ClaimMeasurement(row.spec.id, row.spec.arch.name, row.spec.task.value, str(row.shape),
                                 row.dtype.value, failed={"worker": error})
        else:
            m = _merge(row, parts)
            m.skipped.update({v: r for v, r in reasons.items() if r})
        results.append(m)
        if after_row is not None:  # the rows so far are on disk: a long run interrupted keeps them
            after_row(results)
        to_measure -= 1
        out(_progress(i, len(rows), row, m, error, started, len(results) - skipped_rows, to_measure), flush=True)
    return results


def default_out(args: argparse.Namespace, cls: str, lane: str, configured: bool = False) -> Path:
    """The committed report's directory only for a run of the zoo's whole matrix at base size: a run of
    one model, or of a user's configured models (whatever the other flags), must not replace the report
    of eighteen."""
    whole = (not configured and set(args.archs) >= set(ARCHS) and set(args.tasks) >= {t.value for t in Task}
             and args.size == "base" and args.attention == EAGER_ATTENTION
             and set(args.dtypes) >= {d.value for d in DType})
    return REPO_ROOT / ("docs" if whole else "results") / "claims" / cls / lane


def main(argv: Sequence[str] | None = None) -> int:
    from ..core.errors import InfergateError

    p = parser()
    args = p.parse_args(argv)
    if args.render is None and (args.origin is not None or args.refresh_hosts):
        p.error("--origin and --refresh-hosts go with --render: a measuring run reads the baselines as they are")
    if args.summary and args.render is not None:
        p.error("--summary prints the committed reports' table; --render renders DIR: give one of them")
    if args.origin is not None and (not args.origin.strip() or "\n" in args.origin):
        p.error(f"--origin {args.origin!r}: one line of text, e.g. 'recorded on a runner, 2026-12-06'")
    from .claims_files import print_summary, render_again

    try:
        if args.summary:
            return print_summary(REPO_ROOT / "docs" / "claims", REPO_ROOT / "baselines")
        if args.render is not None:
            command = "python -m infergate claims " + " ".join(
                shlex.quote(a) for a in (sys.argv[2:] if argv is None else argv))
            return render_again(args.render, args.out, args.origin, command, args.refresh_hosts)
        return measure_claims(args, argv)
    except InfergateError as exc:  # a bad or foreign claims file: one line, the file untouched
        print(f"infergate claims: {exc}", file=sys.stderr)
        return 2


def measure_claims(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    from datetime import datetime, timezone

    from ..building.capabilities import probe
    from ..building.machine import lane_id, lane_versions, machine_class
    from ..measuring.sampling import SamplingPlan
    from .claims_files import _write, refuse_misnamed

    dtypes = [DType(d) for d in args.dtypes]
    # Before any directory is made: a bad config stops here, in one line (main).
    users = configured_rows(args.ig_config, sys.argv[2:] if argv is None else argv)
    rows = users or plan_rows(args.archs, [Task(t) for t in args.tasks], args.size, args.attention, dtypes)
    cls, lane = machine_class(), lane_id(lane_versions())
    out_dir = args.out or default_out(args, cls, lane, configured=bool(users))
    refuse_misnamed(out_dir, cls, lane)
    partial = out_dir / "in-progress"
    partial.mkdir(parents=True, exist_ok=True)
    log = out_dir / LOG_NAME
    log.write_text("", encoding="utf-8")
    plan = SamplingPlan(budget_s=args.budget, threads=args.threads)
    print(f"infergate claims: {len(rows)} rows ({args.size} models, {args.attention} attention) on {cls}, "
          f"lane {lane}, {args.processes} processes per row; writing {out_dir} (rows so far in {partial} "
          f"until the run ends); the workers' warnings go to {log}", flush=True)
    started = time.perf_counter()
    caps = probe()
    command = "python -m infergate claims " + " ".join(sys.argv[2:] if argv is None else argv)
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d")

    def facts(results: Sequence[ClaimMeasurement], done: bool) -> dict:
        wall = time.perf_counter() - started
        threads = next((t.threads for m in results for t in timings(m)), None)
        return {
            "command": f"`{command.strip()}`", "date": date,
            "wall time": f"{wall / 60:.1f} min" + ("" if done else f" so far ({len(results)} of {len(rows)} rows)"),
            "machine class": cls, "lane": lane, "CPU": caps.cpu_model, "torch threads": str(threads or "—"),
            "rows": f"{len(rows)} ({args.size} size, batch 1, {args.attention} attention, {args.processes} "
                    f"processes each, budget {args.budget:g} s of rounds per process)",
            "variants": ", ".join(variants),
        }

    dtype_names = [d.value for d in dtypes]
    from ..building.cases import COMPILE_OPTIONS
    from ..measuring.claims_hosts import read_hosts

    hosts = read_hosts(REPO_ROOT / "baselines", cls, lane, dtype_names, date)
    from ..measuring.claims_measure import CLAIM_VARIANTS, timings
    from ..measuring.claims_time import time_summary

    variants = CLAIM_VARIANTS + (COMPILE_OPTIONS if args.compile_options else ())
    results = run_rows(rows, plan, args.timeout, variants=variants, processes=args.processes, log=log,
                       after_row=lambda so_far: _write(partial, so_far, facts(so_far, False), cls, lane, dtype_names,
                                                       hosts))
    _write(out_dir, results, facts(results, True), cls, lane, dtype_names, hosts)
    shutil.rmtree(partial, ignore_errors=True)  # the whole run is in out_dir now
    failed = [m.model_id for m in results if m.failed]
    print(f"infergate claims: {time_summary(results)}")
    print(f"infergate claims: {(time.perf_counter() - started) / 60:.1f} min; report {out_dir / 'claims.md'}; "
          f"workers' warnings in {log}" + (f"; {len(failed)} row(s) with a failed variant" if failed else ""))
    return 1 if failed else 0
