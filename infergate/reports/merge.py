"""``python -m infergate merge``: many runners' results files (``results_json``), one report.

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
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..core.errors import DataFileError, InfergateError
from .results_json import benchmark_origin, load_results, results_doc, write_json

MERGED_CLASS = "merged"


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
            from . import results_report as report

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
