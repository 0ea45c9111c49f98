"""``python -m infergate report JSON --out DIR``: re-render a gate's or a perf run's reports from its JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ..core.errors import DataFileError, InfergateError
from ..reports.report import gate_markdown, gate_plots, gate_terminal
from .front import prog


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("report"), description=__doc__)
    parser.add_argument("input", type=Path, metavar="JSON",
                        help="a gate.json or a pytest-benchmark results file")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="where report.md and PNGs go")
    args = parser.parse_args(argv)
    try:
        try:
            doc = json.loads(args.input.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:  # ValueError: not JSON, or not UTF-8 text at all
            raise DataFileError(f"{args.input}: cannot read JSON: {exc}") from None
        if isinstance(doc, dict) and doc.get("schema") == "infergate-lane-gate":
            from ..measuring.lane_results import GateResult

            gate = GateResult.from_json(doc)
            plots = gate_plots(gate, args.out)
            text = gate_markdown(gate, {k: p.name for k, p in plots.items()})
            print(gate_terminal(gate))
        else:
            from ..reports.results_json import load_results

            results = load_results(args.input)
            from ..reports.results_report import results_markdown, results_plots

            plots = results_plots(results, args.out)
            text = results_markdown(results, {k: p.name for k, p in plots.items()})
        (args.out / "report.md").write_text(text, encoding="utf-8")
    except InfergateError as exc:
        print(f"infergate: {exc}", file=sys.stderr)
        return 2
    return 0


