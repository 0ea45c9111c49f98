"""Results files in pytest-benchmark's JSON format (its installed version): one builder for every writer, one reader."""

from __future__ import annotations

import datetime as _dt
import json
import platform
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

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
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise DataFileError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{path}: not UTF-8 text (byte {exc.start}): not a results file, or corrupt") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise DataFileError(f"{path}: not a pytest-benchmark results file (no 'benchmarks' list)")
    info = doc.get("machine_info")
    if not isinstance(info, dict):
        raise DataFileError(f"{path}: no 'machine_info' object")
    for i, bench in enumerate(doc["benchmarks"]):
        if not isinstance(bench, dict) or not isinstance(bench.get("name"), str):
            raise DataFileError(f"{path}: benchmark #{i} has no 'name'")
        # stats is null for a case that was skipped or crashed (the perf suite writes those too).
        stats = bench.get("stats")
        if stats is not None and (not isinstance(stats, dict) or "median" not in stats):
            raise DataFileError(f"{path}: benchmark {bench['name']!r}: 'stats' has no median")
        if not isinstance(bench.get("extra_info", {}), dict):
            raise DataFileError(f"{path}: benchmark {bench['name']!r}: 'extra_info' is not an object")
    return doc


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
