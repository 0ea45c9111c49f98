"""``python -m infergate report JSON --out DIR``: re-render a gate's or a perf run's reports from its JSON."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core.atomic import write_text
from ..core.errors import DataFileError, InfergateError
from ..core.validate import directory
from ..reports.report import gate_markdown, gate_plots, gate_terminal
from ..reports.report_parts import require_plotting
from .front import prog


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("report"), description=__doc__)
    parser.add_argument("input", type=Path, metavar="JSON",
                        help="a gate.json or a pytest-benchmark results file")
    parser.add_argument("--out", type=directory, required=True, metavar="DIR", help="where report.md and PNGs go")
    args = parser.parse_args(argv)
    try:
        require_plotting()  # a Python without matplotlib fails here, before --out is made
        doc = _read(args.input)
        if isinstance(doc, dict) and doc.get("schema") == "infergate-lane-gate":
            from ..measuring.lane_results import GateResult

            try:
                gate = GateResult.from_json(doc)
            except DataFileError as exc:  # its messages do not name the file
                raise DataFileError(f"gate file {args.input}: {exc}") from None
            if not gate.bisection:
                kept = _bisection_kept(args.input.parent) or _bisection_kept(args.out)
                gate = dataclasses.replace(gate, bisection=kept) if kept else gate
            plots = gate_plots(gate, args.out)
            text = gate_markdown(gate, {k: p.name for k, p in plots.items()})
            print(gate_terminal(gate))
        else:
            from ..reports.results_json import check_results

            results = check_results(args.input, doc)
            from ..reports.results_report import results_markdown, results_plots

            plots = results_plots(results, args.out)
            text = results_markdown(results, {k: p.name for k, p in plots.items()})
        write_text(args.out / "report.md", text)
    except (InfergateError, OSError) as exc:  # OSError: e.g. report.md is a directory, or not writable
        print(f"infergate: {exc}", file=sys.stderr)
        return 2
    return 0


def _read(path: Path) -> Any:
    from ..core.datafile import parse_json

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read it: {exc.strerror}") from None
    return parse_json(path, raw, "JSON")


def _bisection_kept(where: Path) -> list[str]:
    """The bisection lines of ``where``'s report.md (as ``gate_markdown`` writes them), or []: a
    gate.json before version 7 kept ``--bisect``'s lines there only, so a re-render carries them over
    instead of deleting them (in place) or leaving them out (elsewhere)."""
    from ..reports.report import BISECTION_HEADING

    report = where / "report.md"
    text = report.read_text(encoding="utf-8", errors="replace") if report.is_file() else ""
    if BISECTION_HEADING not in text:
        return []
    out: list[str] = []
    for line in text.split(BISECTION_HEADING, 1)[1].splitlines()[1:]:
        if line.startswith("- "):
            out.append(line[2:])
        elif out or line.strip():  # the first line after the bullets ends the section
            break
    return out
