"""``python -m infergate guide-recipe``: the seed guide's Trainer recipe (``--jit_mode_eval``) on each
model in its own worker: traced or fell back (and why), which guide flags this lane still has, and
its model timed against ``jit`` and ``eager``. Writes guide-recipe.md and .json to ``--out``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ..core.paths import REPO_ROOT
from ..core.validate import is_number, seconds_up_to, whole_number
from ..matrix.inputs import Shape
from ..matrix.spec import ModelSpec
from ..matrix.zoo import ARCHS, EAGER_ATTENTION, SIZES, Task
from .claims_cli import _csv
from .front import prog

SCHEMA, VERSION = "infergate-guide-recipe", 1
DEFAULT_BUDGET_S = 8.0
DEFAULT_TIMEOUT_S = 900.0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog("guide-recipe"), description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", type=_csv("architectures", list(ARCHS)), default=list(ARCHS),
                   help=f"comma-separated. Default: {','.join(ARCHS)} (the claims matrix)")
    p.add_argument("--tasks", type=_csv("tasks", [t.value for t in Task]), default=[t.value for t in Task],
                   help=f"comma-separated. Default: {','.join(t.value for t in Task)}")
    p.add_argument("--size", choices=sorted(SIZES), default="base", help="model size. Default: base")
    p.add_argument("--batch", type=whole_number(1, 64), default=1, help="batch. Default: 1")
    p.add_argument("--seq", type=whole_number(8, 512), default=128, help="sequence length. Default: 128")
    p.add_argument("--budget", type=seconds_up_to(600), default=DEFAULT_BUDGET_S, metavar="SECONDS",
                   help=f"timed rounds per model, the three forms together. Default: {DEFAULT_BUDGET_S:g}")
    p.add_argument("--threads", type=whole_number(1, 1024), default=None, metavar="N",
                   help="torch threads. Default: every CPU this process may use")
    p.add_argument("--timeout", type=seconds_up_to(7200), default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                   help=f"per-model worker limit. Default: {DEFAULT_TIMEOUT_S:g}")
    p.add_argument("--out", type=Path, default=None,
                   help="report directory. Default: results/guide-recipe/<machine class>/<lane>")
    p.add_argument("--render", type=Path, default=None, metavar="DIR",
                   help="measure nothing: re-render DIR/guide-recipe.md from DIR/guide-recipe.json, in DIR or --out")
    return p


def load(path: Path) -> tuple[dict, list]:
    """A guide-recipe.json back into rows (refusing another schema or version)."""
    from ..core.errors import DataFileError
    from ..measuring.guide_recipe import RecipeRow
    from ..measuring.sampling import ModelMeasurement

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataFileError(f"guide-recipe file {path}: cannot read it: {exc}") from None
    if not isinstance(data, dict) or (data.get("schema"), data.get("version")) != (SCHEMA, VERSION):
        raise DataFileError(f"guide-recipe file {path}: not an {SCHEMA} version {VERSION} file")
    problem = _header_problem(data) or _rows_problem(data.get("rows"))
    if problem:  # render_again reads these: a KeyError traceback otherwise
        raise DataFileError(f"guide-recipe file {path}: {problem}")
    rows = []
    try:
        for raw in data["rows"]:
            timing = raw.pop("timing")
            if timing is not None:
                timing = ModelMeasurement.from_dict(timing)
            rows.append(RecipeRow(**raw, timing=timing))
    except (KeyError, TypeError, AttributeError) as exc:
        raise DataFileError(f"guide-recipe file {path}: a malformed row ({type(exc).__name__}: {exc})") from None
    return data, rows


def _texts(x: object) -> bool:
    return isinstance(x, list) and all(isinstance(v, str) for v in x)


def _table(check):
    return lambda x: isinstance(x, dict) and all(isinstance(k, str) and check(v) for k, v in x.items())


# What each field of a row as written must be for the report to print it (RecipeRow's types).
ROW_CHECKS = {**dict.fromkeys(("model_id", "arch", "task", "shape", "status", "reason", "evaluated_with"),
                              lambda x: isinstance(x, str)),
              "script_module": lambda x: isinstance(x, bool), "ipex_imported": lambda x: isinstance(x, bool),
              "parameters": lambda x: type(x) is int, "ipex_kinds": _texts, "trainer_logs": _texts,
              "jit_compilation_s": lambda x: is_number(x, True), "max_abs_vs_eager": lambda x: is_number(x, True),
              "wall_s": is_number, "metrics": _table(is_number), "failed": _table(lambda v: isinstance(v, str)),
              "flags": _table(lambda v: isinstance(v, bool))}


def _rows_problem(rows: object) -> str | None:
    """Why the rows cannot be rendered (not a non-empty list, a field of the wrong type), or None."""
    if not isinstance(rows, list) or not rows:
        return f"its rows must be a non-empty list, got {json.dumps(rows)[:60]}"
    for i, raw in enumerate(rows, 1):
        if not isinstance(raw, dict):
            return f"row {i} is {json.dumps(raw)[:60]}, not an object"
        bad = next((k for k, check in ROW_CHECKS.items() if k in raw and not check(raw[k])), None)
        if bad:
            return f"row {i} ({raw.get('model_id', '?')}): {bad} is {json.dumps(raw[bad])[:60]}, not what it records"
    return None


def _header_problem(data: dict) -> str | None:
    """What is wrong with the report's facts and flags (which re-rendering reads), or None."""
    for key in ("facts", "flags"):
        if not isinstance(data.get(key), dict):
            return f"{key} must be an object, got {json.dumps(data.get(key))}"
    if not isinstance(data["facts"].get("lane"), str):
        return f"facts.lane must be a string, got {json.dumps(data['facts'].get('lane'))}"
    if not all(isinstance(v, bool) for v in data["flags"].values()):
        return "flags must map each flag to true or false"
    return None


def _write(out_dir: Path, rows: Sequence, facts: dict, flags: dict[str, bool], lane: str) -> None:
    from ..core.validate import refuse_non_files
    from ..reports.guide_recipe_report import render
    from ..reports.summary import write_json

    refuse_non_files(out_dir, ("guide-recipe.json", "guide-recipe.md"))
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "guide-recipe.json", {"schema": SCHEMA, "version": VERSION, "facts": facts, "flags": flags,
                                               "rows": [dataclasses.asdict(r) for r in rows]})
    (out_dir / "guide-recipe.md").write_text(render(rows, facts, {lane: flags}), encoding="utf-8")


def specs(archs: Sequence[str], tasks: Sequence[str], size: str) -> list[ModelSpec]:
    """The claims matrix's models (eager attention, which every architecture has)."""
    return [ModelSpec(ARCHS[a], Task(t), SIZES[size], EAGER_ATTENTION) for a in archs for t in tasks]


def measure_rows(models: Sequence[ModelSpec], shape: Shape, plan, timeout: float, flags: dict[str, bool],
                 out=print) -> list:
    """Each model in a fresh worker (IPEX, once imported, stays); a crash or hang is that row's failure."""
    from ..core.errors import CaseCrashed, CaseTimeout
    from ..measuring.guide_recipe import FAILED, RECIPE_FLAG, RecipeRow, measure_recipe
    from ..measuring.isolation import run_in_worker
    from ..measuring.measuring_env import suite_env
    from ..reports.guide_recipe_report import line

    menv = suite_env()
    rows = []
    for i, spec in enumerate(models, 1):
        if not flags[RECIPE_FLAG]:  # nothing to build or time: the row says why, no worker needed
            rows.append(measure_recipe(spec, shape, plan))
            out(f"[{i}/{len(models)}] {line(rows[-1])}", flush=True)
            continue
        try:
            row = run_in_worker(measure_recipe, spec, shape, plan, timeout=timeout, env=menv.worker_env(),
                                argv_prefix=menv.argv_prefix)
        except Exception as exc:  # noqa: BLE001 - a crash, hang or error loses this row, not the run
            first = (str(exc).splitlines() or [""])[0]
            reason = first if isinstance(exc, (CaseCrashed, CaseTimeout)) else f"{type(exc).__name__}: {first}"
            row = RecipeRow(spec.id, spec.arch.name, spec.task.value, str(shape), flags, status=FAILED,
                            reason=f"worker: {reason}")
        rows.append(row)
        out(f"[{i}/{len(models)}] {line(row)}", flush=True)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    from ..core.errors import InfergateError

    args = parser().parse_args(argv)
    try:
        return render_again(args.render, args.out) if args.render is not None else measure(args, argv)
    except InfergateError as exc:  # a bad or foreign report file: one line, the file untouched
        print(f"infergate guide-recipe: {exc}", file=sys.stderr)
        return 2


def render_again(directory: Path, out: Path | None = None) -> int:
    """DIR's report again, in DIR or in ``out`` (never over another report there)."""
    from ..core.errors import UsageError

    data, rows = load(directory / "guide-recipe.json")
    target = out or directory
    if target.resolve() != directory.resolve() and (target / "guide-recipe.json").exists():
        raise UsageError(f"--out {target} already holds a guide-recipe report: its rows would be replaced by "
                         "these; render into a new directory")
    _write(target, rows, data["facts"], data["flags"], data["facts"]["lane"])
    print(f"infergate guide-recipe: re-rendered {target / 'guide-recipe.md'} from the {len(rows)} rows of "
          f"{directory / 'guide-recipe.json'}")
    return 0


def measure(args: argparse.Namespace, argv: Sequence[str] | None) -> int:
    from importlib.metadata import PackageNotFoundError, version

    from ..building.machine import lane_id, lane_versions, machine_class
    from ..measuring.guide_recipe import FAILED, guide_flags
    from ..measuring.sampling import SamplingPlan
    from ..reports.guide_recipe_report import flags_text

    cls, lane = machine_class(), lane_id(lane_versions())
    out_dir = args.out or REPO_ROOT / "results" / "guide-recipe" / cls / lane
    flags = guide_flags()
    models = specs(args.archs, args.tasks, args.size)
    shape = Shape(args.batch, args.seq)
    plan = SamplingPlan(budget_s=args.budget, threads=args.threads)
    print(f"infergate guide-recipe: lane {lane}: {flags_text(flags)}", flush=True)
    print(f"infergate guide-recipe: {len(models)} {args.size} models at {shape} on {cls}; writing {out_dir}",
          flush=True)
    started = time.perf_counter()
    rows = measure_rows(models, shape, plan, args.timeout, flags)

    def installed(dist: str) -> str:
        try:
            return version(dist)
        except PackageNotFoundError:
            return "not installed"

    command = "python -m infergate guide-recipe " + " ".join(sys.argv[2:] if argv is None else argv)
    threads = next((r.timing.threads for r in rows if r.timing), None)
    facts = {
        "command": f"`{command.strip()}`",
        "wall time": f"{(time.perf_counter() - started) / 60:.1f} min",
        "machine class": cls, "lane": lane,
        "packages": ", ".join(f"{d} {installed(d)}" for d in
                              ("torch", "transformers", "accelerate", "intel_extension_for_pytorch")),
        "models": f"{len(models)} ({args.size} size, {EAGER_ATTENTION} attention, FP32, {shape}, "
                  f"budget {args.budget:g} s of rounds each)",
        "torch threads": str(threads or "—"),
    }
    _write(out_dir, rows, facts, flags, lane)
    failed = [r.model_id for r in rows if r.status == FAILED or r.failed]
    print(f"infergate guide-recipe: {facts['wall time']}; report {out_dir / 'guide-recipe.md'}"
          + (f"; {len(failed)} row(s) FAILED" if failed else ""))
    return 1 if failed else 0
