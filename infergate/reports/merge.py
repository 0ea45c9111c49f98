"""Results in pytest-benchmark's JSON form, and ``python -m infergate merge``: many runners, one report.

Why pytest-benchmark's form: ``pytest-benchmark compare``, github-action-benchmark and Bencher
already read it, so our results plug into them without an exporter. Our own fields ride along in
each benchmark's ``extra_info`` (variant, dtype, lane, threads, speedup, ci, baseline, verdict) and
in ``machine_info`` (machine_class, lane), which those tools carry through untouched.

Merging: CI shards run on several machine classes; each uploads its file. ``merge`` joins them into
one file (each benchmark keeps its machine class and lane in ``extra_info``) and writes one
Markdown report. The same case measured twice on the same machine class and lane is refused: it
means two shards overlapped, and keeping either silently would hide it.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..core.errors import DataFileError, InfergateError

# pytest-benchmark's own format version; its loaders check the keys below, not this number.
PYTEST_BENCHMARK_VERSION = "5.3.1"
_STAT_FIELDS = (
    "min", "max", "mean", "stddev", "rounds", "median", "iqr", "q1", "q3", "iqr_outliers",
    "stddev_outliers", "outliers", "ld15iqr", "hd15iqr", "ops", "total",
)
MERGED_CLASS = "merged"


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def bench_stats(times_s: Sequence[float]) -> dict[str, Any]:
    """pytest-benchmark's stats block for timings in seconds, computed by its own Stats class so
    every field means exactly what its readers expect."""
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
        "version": PYTEST_BENCHMARK_VERSION,
    }


def write_json(path: Path, doc: Mapping[str, Any]) -> None:
    from ..core.atomic import write_json as write

    write(path, doc)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def load_results(path: Path) -> dict[str, Any]:
    """A pytest-benchmark JSON file, checked for what merging and reporting rely on."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise DataFileError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
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


def merge_docs(docs: Sequence[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """One results document from several; ``docs`` is (source name, document) pairs."""
    seen: dict[tuple[str, str, str], str] = {}
    benchmarks = []
    sources = []
    for source, doc in docs:
        info = doc.get("machine_info") or {}
        sources.append({"source": source, "machine_class": info.get("machine_class"),
                        "lane": info.get("lane")})
        for bench in doc["benchmarks"]:
            machine_class, lane = benchmark_origin(doc, bench)
            key = (machine_class, lane, bench.get("fullname") or bench["name"])
            if key in seen:
                raise DataFileError(
                    f"{bench['name']!r} on {machine_class} / {lane} is in both {seen[key]} and {source}: "
                    "two shards measured the same case; merge one of them"
                )
            seen[key] = source
            merged = dict(bench)
            merged["extra_info"] = {**(bench.get("extra_info") or {}),
                                    "machine_class": machine_class, "lane": lane}
            benchmarks.append(merged)
    info = {"machine_class": MERGED_CLASS, "lane": MERGED_CLASS, "sources": sources}
    return results_doc(info, benchmarks)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infergate merge",
        description="Join pytest-benchmark JSON results from several runners into one file and one report.",
    )
    parser.add_argument("inputs", nargs="+", type=Path, metavar="RESULTS.json")
    parser.add_argument("--out", type=Path, required=True, metavar="PATH", help="merged JSON to write")
    parser.add_argument("--markdown", type=Path, default=None, metavar="PATH",
                        help="also write a Markdown report. Default: none")
    parser.add_argument("--plots", type=Path, default=None, metavar="DIR",
                        help="also write PNG plots into DIR. Default: none")
    args = parser.parse_args(argv)
    try:
        docs = [(str(p), load_results(p)) for p in args.inputs]
        merged = merge_docs(docs)
        write_json(args.out, merged)
        if args.markdown or args.plots:
            from . import report

            plots = report.results_plots(merged, args.plots) if args.plots else {}
            if args.markdown:
                base = args.markdown.parent
                links = {k: os.path.relpath(v, base) for k, v in plots.items()}
                args.markdown.parent.mkdir(parents=True, exist_ok=True)
                args.markdown.write_text(report.results_markdown(merged, links), encoding="utf-8")
    except InfergateError as exc:
        print(f"infergate: {exc}", file=sys.stderr)
        return 2
    print(f"merged {len(merged['benchmarks'])} benchmarks from {len(docs)} files into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
