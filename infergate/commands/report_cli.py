"""``python -m infergate report JSON --out DIR``: re-render a gate's or a perf run's reports from its JSON."""

from __future__ import annotations

import argparse
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
            for where in dict.fromkeys((args.out, args.input.parent)):  # the target's, and the source's own
                _keeps_bisection(gate, where, args.input)
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


def _keeps_bisection(gate: Any, where: Path, source: Path) -> None:
    """Refuse to render without a bisection that ``where``'s report.md holds and ``source`` lacks: a
    gate.json before version 7 kept ``--bisect``'s lines in report.md only, and a re-render would
    delete them there, or leave them out of a report rendered elsewhere."""
    from ..reports.report import BISECTION_HEADING

    report = where / "report.md"
    if gate.bisection or not report.is_file():
        return
    if BISECTION_HEADING in report.read_text(encoding="utf-8", errors="replace"):
        raise DataFileError(f"{report} has a bisection section that {source} does not hold (a gate.json "
                            "before version 7 kept it in report.md only): a report rendered from it would lack it; "
                            "keep that report.md as it is")
