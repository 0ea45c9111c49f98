"""Run-aligned records from baselines files, summaries and envprobe files; *occasions*: runs close in time."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from ..building.variants import EAGER, process_group
from ..core import fields
from ..core.datafile import InvalidData, describe
from ..matrix.dtypes import DType
from .baseline_records import BaselineFile
from .baseline_rules import recipe_of
from .reference_runs import FormRun

OCCASION_GAP_S: Final = 1800.0  # a recording's runs are stamped seconds apart; two recordings, hours
_HEADER = re.compile(r"^= infergate perf: (\S+) / (\S+) =")
_RUNS = re.compile(r"(\d+) run\(s\) per model")
_ROW = re.compile(r"^(\S+)\s+([0-9.]+)\s+([0-9.]+)\s")


def split_case(case_id: str) -> tuple[str, str, str]:
    """(model, variant, dtype) of a case id ``<model>-<variant>-<dtype>``."""
    model, variant, dtype = case_id.rsplit("-", 2)
    return model, variant, dtype


def _model_key(model: str, variant: str, dtype: str) -> str:
    group = process_group(variant, DType(dtype))
    return f"{model}-{dtype}" + ("" if group == process_group(EAGER, DType(dtype)) else f"@{group}")


def _occasions(stamps: list[str]) -> dict[str, str]:
    """Each stamp's occasion label: the first stamp of its cluster."""
    label: dict[str, str] = {}
    last: datetime | None = None
    current = ""
    for stamp in sorted(set(stamps)):
        t = datetime.fromisoformat(stamp)
        if last is None or (t - last).total_seconds() > OCCASION_GAP_S:
            current = stamp[:16]
        label[stamp] = current
        last = t
    return label


def from_baselines(bf: BaselineFile, session_prefix: str = "") -> list[FormRun]:
    """Every run of every case of one file, as eager's and the variant's ``FormRun``."""
    unit = f"{bf.machine_class}/{bf.lane}"
    by_session: dict[str, list[str]] = defaultdict(list)
    for case in bf.cases.values():
        for r in case.runs:
            by_session[r.session].append(r.recorded)
    labels = {s: _occasions(stamps) for s, stamps in by_session.items()}
    out = []
    for case_id, case in sorted(bf.cases.items()):
        model, variant, dtype = split_case(case_id)
        key = _model_key(model, variant, dtype)
        # The suite's estimator only: a ratio of medians (format 1-2) is not a median of round ratios.
        exact = case.estimator == "median-of-round-ratios"
        position: dict[tuple[str, str], int] = defaultdict(int)
        for r in case.runs:
            occasion = labels[r.session][r.recorded]
            i = position[(r.session, occasion)]
            position[(r.session, occasion)] += 1
            eager = r.median_ms[EAGER]
            where = (unit, session_prefix + r.session, occasion, key, i)
            out.append(FormRun(*where, EAGER, 1.0, eager, eager, source=case_id))
            out.append(FormRun(*where, variant, r.speedup if exact else None, eager, r.median_ms[variant],
                               recipe=recipe_of(case.environment), source=case_id))
    return out


def recipes(bf: BaselineFile) -> dict[str, int]:
    """Each case's recipe revision: a summary printed by the tree that recorded ``bf`` used the same."""
    return {case_id: recipe_of(case.environment) for case_id, case in bf.cases.items()}


def summary_unit(text: str) -> str:
    """``class/lane`` of a printed perf summary."""
    header = next((m for m in map(_HEADER.match, text.splitlines()) if m), None)
    if header is None:
        raise ValueError("not an infergate perf summary: no '= infergate perf: CLASS / LANE' header")
    return f"{header.group(1)}/{header.group(2)}"


def from_summary(text: str, session: str, occasion: str, case_recipes: dict[str, int]) -> list[FormRun]:
    """The cases of one printed perf summary as one occasion of ``session``, at ``case_recipes``' recipes."""
    lines = text.splitlines()
    unit = summary_unit(text)
    runs = next((m for m in map(_RUNS.search, lines) if m), None)
    if runs is None:
        raise ValueError("not an infergate perf summary: no 'N run(s) per model'")
    processes = int(runs.group(1))
    rows: list[tuple[str, str, str, float, float]] = []
    eager_ms: dict[str, float] = {}
    for line in lines:
        m = _ROW.match(line)
        if not m or m.group(1) == "case":
            continue
        try:
            model, variant, dtype = split_case(m.group(1))
            DType(dtype)
        except ValueError:
            continue  # the cost table's rows and other text
        if variant == EAGER:
            eager_ms[f"{model}-{dtype}"] = float(m.group(2))
        else:
            rows.append((model, variant, dtype, float(m.group(2)), float(m.group(3))))
    out = []
    for model, variant, dtype, ms, speedup in rows:
        if process_group(variant, DType(dtype)) != process_group(EAGER, DType(dtype)):
            continue  # timed beside an eager of its own worker, which the summary does not print
        eager = eager_ms.get(f"{model}-{dtype}")
        if eager is None:
            raise ValueError(f"{model}-{variant}-{dtype}: the summary has no eager row for its model")
        out.append(FormRun(unit, session, occasion, _model_key(model, variant, dtype), 0, variant, speedup,
                           eager, ms, processes, case_recipes.get(f"{model}-{variant}-{dtype}", 1)))
    return out


QUIET_OTHERS_RUNNABLE: Final = 0.3  # docs/calibration.md's envprobe tables keep workers below this
# What from_envprobe reads of an envprobe --save file; the forms' [point, low, high] lists are found by shape.
_ENVPROBE = fields.obj({"model": fields.text, "rows": fields.list_of(fields.obj(
    {"eager_ms": fields.number, "others_runnable": fields.number}, required=("eager_ms",)))})


def from_envprobe(data: Any, name: str) -> list[FormRun]:
    """The quiet workers of one ``envprobe --save`` file, each one occasion of its own session; a field
    that is not what envprobe writes is an InvalidData naming it (it was a KeyError or a TypeError)."""
    if not isinstance(data, Mapping):
        raise InvalidData(f"must hold a JSON object, got {type(data).__name__}: not an envprobe --save file")
    missing = [key for key in ("model", "rows") if key not in data]
    if missing:  # a baselines or results file named by mistake
        raise InvalidData(f"has no {' or '.join(map(repr, missing))}: not an envprobe --save file")
    _ENVPROBE("", data)
    model, out = data["model"], []
    for i, row in enumerate(data["rows"]):
        if row.get("others_runnable", 0.0) >= QUIET_OTHERS_RUNNABLE:
            continue
        eager = _positive(f"rows[{i}].eager_ms", row["eager_ms"])
        forms = [k for k, v in row.items() if isinstance(v, list) and v and isinstance(v[0], (int, float))]
        out.append(FormRun(f"envprobe/{name}", name, name, f"{model}-fp32", i, EAGER, 1.0, eager, eager))
        for form in forms:
            speedup = _positive(f"rows[{i}].{form}[0]", row[form][0])
            out.append(FormRun(f"envprobe/{name}", name, name, f"{model}-fp32", i, form, speedup, eager,
                               eager / speedup))
    return out


def _positive(where: str, value: Any) -> float:
    # A ratio's log and eager / speedup: zero, a negative or a bool is no time or speedup.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise InvalidData(f"{where}: expected a finite number > 0, got {describe(value)}")
    return float(value)
