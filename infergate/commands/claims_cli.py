"""``python -m infergate claims``: measure the claims matrix, one worker per row, and write the
report (Markdown, PNG and the raw rows as JSON) under ``--out``.

Long (about a minute or two per base-size row on 2 cores), so every finished row is printed with
its headline numbers and the time left. A row whose worker crashes or hangs is reported in the
table as failed; the other rows still run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ..building.variants import COMPILE, JIT, JIT_IPEX, REFERENCE
from ..core.paths import REPO_ROOT
from ..core.validate import seconds_up_to, whole_number
from ..matrix.dtypes import DType
from ..matrix.inputs import Shape
from ..matrix.spec import ModelSpec
from ..matrix.zoo import ARCHS, ATTENTIONS, EAGER_ATTENTION, SIZES, Task
from ..measuring.claims import can_leave_ipex, speedup
from ..measuring.claims_measure import ClaimMeasurement, measure_claim
from ..measuring.sampling import SamplingPlan

SCHEMA, VERSION = "infergate-claims", 1
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
    p = argparse.ArgumentParser(prog="python -m infergate claims", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", type=_csv("architectures", list(ARCHS)), default=list(ARCHS),
                   help=f"comma-separated. Default: {','.join(ARCHS)}")
    p.add_argument("--tasks", type=_csv("tasks", [t.value for t in Task]), default=[t.value for t in Task],
                   help=f"comma-separated. Default: {','.join(t.value for t in Task)}")
    p.add_argument("--dtypes", type=_csv("dtypes", [d.value for d in DType]), default=[d.value for d in DType],
                   help="comma-separated; a dtype this CPU cannot run is measured as skipped rows with the "
                        "reason. Default: fp32,bf16")
    p.add_argument("--size", choices=sorted(SIZES), default="base", help="model size. Default: base")
    p.add_argument("--attention", choices=ATTENTIONS, default=EAGER_ATTENTION,
                   help="attention implementation; IPEX's MHA fusion matches eager attention only. Default: eager")
    p.add_argument("--budget", type=seconds_up_to(600), default=DEFAULT_BUDGET_S, metavar="SECONDS",
                   help=f"timed rounds per row, all variants together. Default: {DEFAULT_BUDGET_S:g}")
    p.add_argument("--threads", type=whole_number(1, 1024), default=None, metavar="N",
                   help="torch threads. Default: every CPU this process may use")
    p.add_argument("--timeout", type=seconds_up_to(7200), default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                   help=f"per-row worker limit. Default: {DEFAULT_TIMEOUT_S:g}")
    p.add_argument("--out", type=Path, default=None,
                   help="report directory; rows are written to OUT/in-progress as they finish and the report "
                        "replaces OUT's only when the run ends. Default: docs/claims/<machine class>/<lane> for "
                        "the whole matrix (every architecture, task and dtype, base size, eager attention: "
                        "the committed report), else "
                        "results/claims/<machine class>/<lane>")
    p.add_argument("--compile-options", action="store_true",
                   help="also build and time compile_cpp (inductor's C++ wrapper) and compile_autotune (C++ "
                        "wrapper + max-autotune), PyTorch's measured options for CPU inference; adds 1-2 min "
                        "per row. Default: off")
    p.add_argument("--render", type=Path, default=None, metavar="DIR",
                   help="measure nothing: re-render DIR/claims.md and claims.png from DIR/claims.json")
    return p


def _progress(i: int, n: int, row: Row, m: ClaimMeasurement | None, error: str | None, started: float,
              measured: int, to_measure: int) -> str:
    """The row's headline; the time left extrapolates the rows measured so far (skipped rows cost
    nothing) over the rows still to measure."""
    elapsed = time.perf_counter() - started
    left = elapsed / max(measured, 1) * to_measure
    head = f"[{i}/{n}] {row.name}"
    if error:
        return f"{head}: FAILED: {error} ({elapsed / 60:.1f} min, ~{left / 60:.0f} min left)"
    assert m is not None
    parts = []
    for name, a, b in ((JIT, JIT, REFERENCE), ("fusions", JIT_IPEX, JIT), (COMPILE, COMPILE, REFERENCE)):
        est = speedup(m, a, b)
        parts.append(f"{name} {est.point:.2f}x" if est else f"{name} -")
    return (f"{head}: {', '.join(parts)}; leave IPEX: {can_leave_ipex(m).answer} "
            f"(row {m.wall_s:.0f} s; {elapsed / 60:.1f} min, ~{left / 60:.0f} min left)")


def run_rows(rows: Sequence[Row], plan: SamplingPlan, timeout: float, out=print,
             after_row=None, variants: tuple[str, ...] | None = None) -> list[ClaimMeasurement]:
    from ..core.errors import CaseCrashed, CaseTimeout
    from ..measuring.isolation import run_in_worker
    from ..measuring.measuring_env import suite_env

    menv = suite_env()
    results, started, skipped_rows = [], time.perf_counter(), 0
    from ..measuring.claims_measure import CLAIM_VARIANTS, unavailable

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
        try:
            m = run_in_worker(measure_claim, row.spec, row.shape, row.dtype, plan, variants, timeout=timeout,
                              env=dict(menv.env), argv_prefix=menv.argv_prefix)
            error = None
        except Exception as exc:  # noqa: BLE001 - a crash, hang or error loses this row, not the run
            first = (str(exc).splitlines() or [""])[0]
            error = first if isinstance(exc, (CaseCrashed, CaseTimeout)) else f"{type(exc).__name__}: {first}"
            m = ClaimMeasurement(row.spec.id, row.spec.arch.name, row.spec.task.value, str(row.shape),
                                 row.dtype.value, failed={"worker": error})
        results.append(m)
        if after_row is not None:  # the rows so far are on disk: a long run interrupted keeps them
            after_row(results)
        to_measure -= 1
        out(_progress(i, len(rows), row, m, error, started, len(results) - skipped_rows, to_measure), flush=True)
    return results


def _finite(value):
    """JSON has no NaN or infinity: a NaN output difference is written as null."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _write(out_dir: Path, results: Sequence[ClaimMeasurement], facts: dict, cls: str, lane: str,
           dtypes: Sequence[str]) -> None:
    from ..reports.claims_report import plot, render
    from ..reports.summary import write_json

    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "claims.json", {"schema": SCHEMA, "version": VERSION, "facts": facts, "dtypes": list(dtypes),
                                         "machine_class": cls, "lane": lane,
                                         "rows": [_finite(dataclasses.asdict(m)) for m in results]})
    (out_dir / "claims.md").write_text(render(results, facts, cls, dtypes), encoding="utf-8")
    plot(results, out_dir / "claims.png", f"{cls}, {lane}")


def load_rows(path: Path) -> tuple[dict, list[ClaimMeasurement]]:
    """A claims.json back into rows (refusing another schema or version)."""
    from ..core.errors import DataFileError
    from ..measuring.claims_measure import Answers
    from ..measuring.inrun_noise import InRunNoise
    from ..measuring.sampling import Cost, ModelMeasurement

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataFileError(f"claims file {path}: cannot read it: {exc}") from None
    if not isinstance(data, dict) or (data.get("schema"), data.get("version")) != (SCHEMA, VERSION):
        raise DataFileError(f"claims file {path}: not an {SCHEMA} version {VERSION} file")
    rows = []
    try:
        for raw in data["rows"]:
            timing = raw.pop("timing")
            if timing is not None:
                timing = ModelMeasurement(**{**timing, "noise": InRunNoise(**timing["noise"]),
                                             "costs": {k: Cost(**v) for k, v in timing.get("costs", {}).items()}})
            answers = {k: Answers(**{**v, "max_abs": float("nan") if v["max_abs"] is None else v["max_abs"],
                                     "disagreements": tuple(v["disagreements"])})
                       for k, v in raw.pop("answers").items()}
            costs = {k: Cost(**{f: float("nan") if x is None else x for f, x in v.items()})
                     for k, v in raw.pop("costs").items()}
            rows.append(ClaimMeasurement(**raw, timing=timing, answers=answers, costs=costs))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DataFileError(f"claims file {path}: a malformed row ({type(exc).__name__}: {exc})") from None
    return data, rows


def default_out(args: argparse.Namespace, cls: str, lane: str) -> Path:
    """The committed report's directory only for a run of the whole matrix at base size: a run of
    one model must not replace the report of eighteen."""
    whole = (set(args.archs) >= set(ARCHS) and set(args.tasks) >= {t.value for t in Task} and args.size == "base"
             and args.attention == EAGER_ATTENTION and set(args.dtypes) >= {d.value for d in DType})
    return REPO_ROOT / ("docs" if whole else "results") / "claims" / cls / lane


def render_again(directory: Path) -> int:
    from ..core.errors import DataFileError

    data, results = load_rows(directory / "claims.json")
    try:
        stored = data["facts"]  # the first reports named class, lane and dtypes only among their facts
        cls = data.get("machine_class") or stored["machine class"]
        lane = data.get("lane") or stored["lane"]
    except (KeyError, TypeError) as exc:
        raise DataFileError(f"claims file {directory / 'claims.json'}: no {exc} among its facts") from None
    dtypes = data.get("dtypes") or list(dict.fromkeys(m.dtype for m in results))
    _write(directory, results, stored, cls, lane, dtypes)
    print(f"infergate claims: re-rendered {directory / 'claims.md'} from its {len(results)} rows")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from ..core.errors import InfergateError

    args = parser().parse_args(argv)
    try:
        return render_again(args.render) if args.render is not None else measure_claims(args, argv)
    except InfergateError as exc:  # a bad or foreign claims file: one line, the file untouched
        print(f"infergate claims: {exc}", file=sys.stderr)
        return 2


def measure_claims(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    from ..building.capabilities import probe
    from ..building.machine import lane_id, lane_versions, machine_class

    cls, lane = machine_class(), lane_id(lane_versions())
    out_dir = args.out or default_out(args, cls, lane)
    partial = out_dir / "in-progress"
    dtypes = [DType(d) for d in args.dtypes]
    rows = plan_rows(args.archs, [Task(t) for t in args.tasks], args.size, args.attention, dtypes)
    plan = SamplingPlan(budget_s=args.budget, threads=args.threads)
    print(f"infergate claims: {len(rows)} rows ({args.size} models, {args.attention} attention) on {cls}, "
          f"lane {lane}; writing {out_dir} (rows so far in {partial} until the run ends)", flush=True)
    started = time.perf_counter()
    caps = probe()
    command = "python -m infergate claims " + " ".join(sys.argv[2:] if argv is None else argv)

    def facts(results: Sequence[ClaimMeasurement], done: bool) -> dict:
        wall = time.perf_counter() - started
        threads = next((m.timing.threads for m in results if m.timing), None)
        return {
            "command": f"`{command.strip()}`",
            "wall time": f"{wall / 60:.1f} min" + ("" if done else f" so far ({len(results)} of {len(rows)} rows)"),
            "machine class": cls, "lane": lane, "CPU": caps.cpu_model, "torch threads": str(threads or "—"),
            "rows": f"{len(rows)} ({args.size} size, batch 1, {args.attention} attention, "
                    f"budget {args.budget:g} s of rounds each)",
            "variants": ", ".join(variants),
        }

    dtype_names = [d.value for d in dtypes]
    from ..building.cases import COMPILE_OPTIONS
    from ..measuring.claims_measure import CLAIM_VARIANTS

    variants = CLAIM_VARIANTS + (COMPILE_OPTIONS if args.compile_options else ())
    results = run_rows(rows, plan, args.timeout, variants=variants,
                       after_row=lambda so_far: _write(partial, so_far, facts(so_far, False), cls, lane, dtype_names))
    _write(out_dir, results, facts(results, True), cls, lane, dtype_names)
    shutil.rmtree(partial, ignore_errors=True)  # the whole run is in out_dir now
    failed = [m.model_id for m in results if m.failed]
    print(f"infergate claims: {(time.perf_counter() - started) / 60:.1f} min; report {out_dir / 'claims.md'}"
          + (f"; {len(failed)} row(s) with a failed variant" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
