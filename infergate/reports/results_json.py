"""Results files in pytest-benchmark's JSON format (its installed version): one builder for every writer, one reader."""

from __future__ import annotations

import datetime as _dt
import platform
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..core import fields
from ..core.datafile import InvalidData
from ..core.errors import DataFileError

_STAT_FIELDS = (
    "min", "max", "mean", "stddev", "rounds", "median", "iqr", "q1", "q3", "iqr_outliers",
    "stddev_outliers", "outliers", "ld15iqr", "hd15iqr", "ops", "total",
)


def pytest_benchmark_version() -> str:
    """The installed pytest-benchmark's version: the format it writes, and so the one we write."""
    from importlib.metadata import version

    return version("pytest-benchmark")


def bench_stats(times_s: Sequence[float]) -> dict[str, Any]:
    """pytest-benchmark's stats block for timings in seconds, computed by its own Stats class."""
    from pytest_benchmark.stats import Stats

    if not times_s:
        raise ValueError("a benchmark needs at least one timing")
    stats = Stats()
    for t in times_s:
        stats.update(float(t))
    out = {name: getattr(stats, name) for name in _STAT_FIELDS}
    out["iterations"] = 1
    out["data"] = [float(t) for t in times_s]
    return out


def benchmark_entry(
    name: str, times_s: Sequence[float], extra_info: Mapping[str, Any], group: str | None = None
) -> dict[str, Any]:
    return {
        "group": group,
        "name": name,
        "fullname": name,
        "params": None,
        "param": None,
        "extra_info": dict(extra_info),
        "options": {"timer": "perf_counter", "min_rounds": len(times_s), "warmup": True},
        "stats": bench_stats(times_s),
    }


def machine_info(machine_class: str, lane: str, **extra: Any) -> dict[str, Any]:
    return {
        "node": platform.node(),
        "processor": platform.processor(),
        "machine": platform.machine(),
        "python_implementation": platform.python_implementation(),
        "python_version": platform.python_version(),
        "system": platform.system(),
        "release": platform.release(),
        "machine_class": machine_class,
        "lane": lane,
        **extra,
    }


def results_doc(info: Mapping[str, Any], benchmarks: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    # commit_info is left empty on purpose: it would name the branch and remote, and reports and
    # artifacts must not carry anything a token could hide in.
    return {
        "machine_info": dict(info),
        "commit_info": {},
        "benchmarks": [dict(b) for b in benchmarks],
        "datetime": _dt.datetime.now(_dt.timezone.utc).isoformat(),
        "version": pytest_benchmark_version(),
    }


def write_json(path: Path, doc: Mapping[str, Any]) -> None:
    from ..core.atomic import write_json as write

    write(path, doc)


def load_results(path: Path) -> dict[str, Any]:
    """A pytest-benchmark JSON file, checked for what merging and reporting rely on."""
    from ..core.datafile import parse_json

    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise DataFileError(f"results file {path}: cannot read: {exc.strerror}") from None
    return check_results(path, parse_json(path, raw, "results"))


_STATS = fields.optional(fields.obj({"median": fields.number}, required=("median",)))
_PAIR = fields.optional(fields.list_of(fields.number, 2))
_EXTRA = fields.obj({
    **dict.fromkeys(("speedup", "baseline", "median_ms", "confidence"), fields.optional(fields.number)),
    "ci": _PAIR, "baseline_ci": _PAIR, "fusions": fields.optional(fields.dict_of(fields.integer)),
    **dict.fromkeys(("case_id", "verdict", "variant", "machine_class", "lane"), fields.optional(fields.text)),
})
_IG = fields.optional(fields.obj({"results_version": fields.integer, "estimator": fields.optional(fields.text)},
                                 required=("results_version",)))
_MEASURED = {"environment": fields.optional(fields.obj({})), "infergate": _IG}
_INFO = fields.obj({"machine_class": fields.optional(fields.text), "lane": fields.optional(fields.text), **_MEASURED,
                    "sources": fields.optional(fields.list_of(fields.obj({"source": fields.text, **_MEASURED},
                                                                         required=("source",))))})


def _check_versions(path: Path, info: Mapping[str, Any]) -> None:
    """Refuse --ig-json results of a version this infergate does not know (a newer one's fields may mean
    something else), in the file or in any source of a merged one."""
    for where in [info, *(info.get("sources") or [])]:
        version = (where.get("infergate") or {}).get("results_version", RESULTS_VERSION)
        if version != RESULTS_VERSION:
            raise DataFileError(f"{path}: results version {version}; this infergate reads {RESULTS_VERSION}")


def check_results(path: Path, doc: Any) -> dict[str, Any]:
    """``doc``, read from ``path``, if it has the fields merging and the report read, of their types."""
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise DataFileError(f"{path}: not a pytest-benchmark results file (no 'benchmarks' list)")
    info = doc.get("machine_info")
    if not isinstance(info, dict):
        raise DataFileError(f"{path}: no 'machine_info' object")
    try:
        _INFO("machine_info", info)
        for i, bench in enumerate(doc["benchmarks"]):
            if not isinstance(bench, dict) or not isinstance(bench.get("name"), str):
                raise InvalidData(f"benchmark #{i} has no 'name'")
            # stats is null for a case that was skipped or crashed (the perf suite writes those too).
            _STATS(f"benchmark {bench['name']!r}: stats", bench.get("stats"))
            _EXTRA(f"benchmark {bench['name']!r}: extra_info", bench.get("extra_info", {}))
    except InvalidData as exc:
        raise DataFileError(f"{path}: {exc}") from None
    _check_versions(path, info)
    seen: set[tuple[str, str, str]] = set()
    for bench in doc["benchmarks"]:
        key = (*benchmark_origin(doc, bench), case_key(bench))
        if key in seen:
            raise DataFileError(f"{path}: {key[2]!r} on {key[0]} / {key[1]} is in it twice: one case, one result")
        seen.add(key)
    return doc


def case_key(bench: Mapping[str, Any]) -> str:
    """The case a benchmark measured: its ``extra_info.case_id``, else its name. Not the name first:
    the perf suite names a case ``test_speedup[<case>]``, the gate's from.json/to.json name it
    ``<case>``, and the same case from both must be seen as one."""
    return str((bench.get("extra_info") or {}).get("case_id") or bench["name"])


def benchmark_origin(doc: Mapping[str, Any], bench: Mapping[str, Any]) -> tuple[str, str]:
    """(machine_class, lane) of a benchmark: its own extra_info first (merged files), then the file's."""
    extra = bench.get("extra_info") or {}
    info = doc.get("machine_info") or {}
    machine_class = extra.get("machine_class") or info.get("machine_class") or "unknown-machine"
    lane = extra.get("lane") or info.get("lane") or "unknown-lane"
    return str(machine_class), str(lane)


# Version of what --ig-json adds to pytest-benchmark's form (machine_info["infergate"] and each
# benchmark's extra_info), read back by `python -m infergate baselines add`.
RESULTS_VERSION = 1
