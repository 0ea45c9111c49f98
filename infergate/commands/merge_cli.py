"""``python -m infergate merge``: join results files of sharded runs into one file and report; a case
measured twice on one machine class and lane is refused (``reports.merge``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core.errors import InfergateError
from ..core.validate import directory, output_file, results_output_file
from ..reports.merge import merge_docs
from ..reports.results_json import load_results, write_json
from .front import prog


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=prog("merge"),
        description="Join pytest-benchmark JSON results from several runners into one file and one report.",
    )
    parser.add_argument("inputs", nargs="+", type=Path, metavar="RESULTS.json")
    # Checked before anything is read or written: a directory where a file goes, or a file where
    # the plots' directory goes, is refused now rather than after half the outputs are written.
    parser.add_argument("--out", type=results_output_file, required=True, metavar="PATH",
                        help="merged JSON to write (an existing file only if empty or a results file)")
    parser.add_argument("--markdown", type=output_file, default=None, metavar="PATH",
                        help="also write a Markdown report. Default: none")
    parser.add_argument("--plots", type=directory, default=None, metavar="DIR",
                        help="also write PNG plots into DIR. Default: none")
    args = parser.parse_args(argv)
    inputs = {p.resolve() for p in args.inputs}
    for flag, path in (("--out", args.out), ("--markdown", args.markdown)):
        if path is not None and path.resolve() in inputs:
            parser.error(f"{flag} {path} is one of the results files merged: it would be overwritten; name a new file")
    if args.markdown is not None and args.markdown.resolve() == args.out.resolve():
        parser.error(f"--markdown {args.markdown} is --out too: the report would replace the merged JSON")
    try:
        if args.plots:
            from ..reports.report_parts import require_plotting

            require_plotting()  # a lane without matplotlib fails here, before anything is written
        docs = [(str(p), load_results(p)) for p in args.inputs]
        merged = merge_docs(docs)
        _write_report(merged, args)
        write_json(args.out, merged)  # last: the merged file is there only when its report is
    except (InfergateError, OSError) as exc:  # OSError: e.g. no permission to write an output
        print(f"infergate: {exc}", file=sys.stderr)
        return 2
    print(f"merged {len(merged['benchmarks'])} benchmarks from {len(docs)} files into {args.out}")
    return 0


def _write_report(merged: dict[str, Any], args: argparse.Namespace) -> None:
    if not (args.markdown or args.plots):
        return
    from ..core.atomic import write_text
    from ..reports import results_report as report

    plots = report.results_plots(merged, args.plots) if args.plots else {}
    if args.markdown:
        links = {k: os.path.relpath(v, args.markdown.parent) for k, v in plots.items()}
        write_text(args.markdown, report.results_markdown(merged, links))
