"""``python -m infergate merge``: join results files of sharded or repeated runs into one file and report."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ..core.errors import InfergateError
from ..reports.merge import merge_docs
from ..reports.results_json import load_results, write_json
from .front import prog


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=prog("merge"),
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
            from ..reports import results_report as report

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


