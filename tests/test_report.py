"""Reports and interop: pytest-benchmark reads our files, merging joins machine classes into one report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from infergate.commands import merge_cli, report_cli
from infergate.core.errors import DataFileError
from infergate.reports import merge, report
from infergate.reports import results_json as rj

# Pure Python: the same in both lanes (same Python, numpy, pytest, hypothesis): current lane only
# in ./suite test (tests/README.md).
pytestmark = pytest.mark.lane_independent

CASES = ("bert-qa-small-eager_attn-jit-fp32", "bert-qa-small-eager_attn-compile-fp32")


def results_file(path: Path, machine_class: str, lane: str, speedups: dict[str, float], seed: int) -> Path:
    """A results file shaped like the perf suite's (``summary.results_json``)."""
    rng = np.random.default_rng(seed)
    benches = []
    for case, speedup in speedups.items():
        times_s = list(0.010 / speedup * rng.lognormal(0, 0.02, 20))
        extra = {"case_id": case, "variant": case.split("-")[-2], "dtype": "fp32", "lane": lane, "threads": 2,
                 "speedup": speedup, "ci": [speedup * 0.97, speedup * 1.03], "baseline": speedup * 1.01,
                 "baseline_ci": [speedup * 0.98, speedup * 1.04], "verdict": "pass"}
        benches.append(rj.benchmark_entry(f"test_speedup[{case}]", times_s, extra, group="bert"))
    rj.write_json(path, rj.results_doc(rj.machine_info(machine_class, lane), benches))
    return path


def test_pytest_benchmark_compare_reads_our_files(tmp_path):
    a = results_file(tmp_path / "0001_a.json", "intel-xeon__avx512__4c8t", "torch-2.8.0", {CASES[0]: 1.4}, 1)
    b = results_file(tmp_path / "0002_b.json", "intel-xeon__avx512__4c8t", "torch-2.8.0", {CASES[0]: 1.3}, 2)
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "pytest-benchmark"), "compare", str(a), str(b),
         "--columns", "min,median,rounds"],
        # A guard against a hang, not a speed limit: on a loaded 2-core machine the CLI's start-up
        # (it imports pytest and its plugins) measured over 60 s.
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    # pytest-benchmark logs and skips a file it cannot load; it must have shown both.
    assert "Failed to load" not in proc.stdout + proc.stderr
    assert proc.stdout.count(f"test_speedup[{CASES[0]}]") == 2, proc.stdout
    assert "0001_a" in proc.stdout and "0002_b" in proc.stdout


def test_merged_report_of_two_machine_classes(tmp_path):
    x86 = results_file(tmp_path / "x86.json", "intel-xeon__avx512__4c8t", "torch-2.8.0__ipex-2.8.0",
                       {CASES[0]: 1.4, CASES[1]: 2.1}, 1)
    amd = results_file(tmp_path / "amd.json", "amd-epyc__avx2__2c2t", "torch-2.8.0__ipex-2.8.0",
                       {CASES[0]: 1.2, CASES[1]: 1.7}, 2)
    out, md = tmp_path / "merged.json", tmp_path / "report.md"
    args = [str(x86), str(amd), "--out", str(out), "--markdown", str(md), "--plots", str(tmp_path)]
    assert merge_cli.main(args) == 0
    merged = rj.load_results(out)
    assert len(merged["benchmarks"]) == 4
    assert {b["extra_info"]["machine_class"] for b in merged["benchmarks"]} == {
        "intel-xeon__avx512__4c8t", "amd-epyc__avx2__2c2t"}
    text = md.read_text()
    assert "### `amd-epyc__avx2__2c2t` · `torch-2.8.0__ipex-2.8.0`" in text
    assert "### `intel-xeon__avx512__4c8t` · `torch-2.8.0__ipex-2.8.0`" in text
    assert f"| `{CASES[1]}` | " in text and "2.10 [2.04, 2.16]" in text and "1.70 [1.65, 1.75]" in text
    assert "![Speedups](speedups.png)" in text
    assert (tmp_path / "speedups.png").read_bytes().startswith(b"\x89PNG")


def test_merge_refuses_overlapping_shards(tmp_path):
    a = results_file(tmp_path / "a.json", "amd-epyc__avx2__2c2t", "lane", {CASES[0]: 1.2}, 1)
    b = results_file(tmp_path / "b.json", "amd-epyc__avx2__2c2t", "lane", {CASES[0]: 1.3}, 2)
    docs = [(str(p), rj.load_results(p)) for p in (a, b)]
    with pytest.raises(DataFileError, match="two shards measured the same case"):
        merge.merge_docs(docs)


@pytest.mark.parametrize("content, problem", [
    ("", "not JSON"),
    ("[]", "no 'benchmarks' list"),
    ('{"benchmarks": [], "machine_info": 3}', "no 'machine_info' object"),
    ('{"benchmarks": [{"name": "x", "stats": {}}], "machine_info": {}}', "'stats' has no median"),
])
def test_bad_results_files_are_named(tmp_path, content, problem):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DataFileError, match=problem):
        rj.load_results(path)


def test_a_binary_file_is_one_message_in_merge_and_report(tmp_path, capsys):

    path = tmp_path / "bad.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    with pytest.raises(DataFileError, match="not UTF-8 text"):
        rj.load_results(path)
    assert report_cli.main([str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"infergate: {path}: cannot read JSON") and len(err.splitlines()) == 1


def test_results_carry_no_commit_or_token_information(tmp_path):
    doc = json.loads(results_file(tmp_path / "r.json", "m", "l", {CASES[0]: 1.2}, 1).read_text())
    assert doc["commit_info"] == {}
    assert "token" not in json.dumps(doc).lower()


def test_gate_reports_from_json(tmp_path):
    """Markdown, PNGs and the terminal summary re-rendered from a gate.json by the report CLI."""
    from infergate.measuring.lane_results import CaseComparison, Correctness, GateResult

    gate = GateResult(
        "ipex27", "ipex", "torch-2.7.1__ipex-2.7.0__tf-4.57.6", "torch-2.8.0__ipex-2.8.0__tf-4.57.6",
        "amd-epyc__avx2__2c2t", 1, 6, 40, 0.99, 0.05, 0.01,
        [CaseComparison(CASES[1], "bert", "compile", "fp32", "regression", 10.0, 12.5, (1.25, 1.2, 1.3),
                        [1.22, 1.28], "regression", 2.0, 1.6, (1.25, 1.2, 1.3), "regression",
                        {"status": "same", "max_abs": 1e-6, "agreement": 1.0, "detail": "max 1e-6"},
                        {"linear_gelu": 4}, {"linear_gelu": 0}, ["linear_gelu"])],
        Correctness(True, 0, "12 passed"), [f"REGRESSION {CASES[1]}: latency +25.0%"], [],
    )
    path = tmp_path / "gate.json"
    path.write_text(json.dumps(gate.to_json()))
    assert report_cli.main([str(path), "--out", str(tmp_path / "r")]) == 0
    text = (tmp_path / "r" / "report.md").read_text()
    assert "`ipex27` → `ipex`: ❌ FAIL (1 regression(s))" in text
    assert "+25.0% [+20.0%, +30.0%]" in text
    assert f"| `{CASES[1]}` | `linear_gelu` | 4 | 0 ❌ |" in text
    for png in ("latency.png", "speedups.png"):
        assert (tmp_path / "r" / png).read_bytes().startswith(b"\x89PNG")
    terminal = report.gate_terminal(gate)
    first = "upgrade gate ipex27 -> ipex on amd-epyc__avx2__2c2t: FAIL (1 regression(s))"
    assert terminal.splitlines()[0] == first
    assert terminal.splitlines()[-1].startswith(f"REGRESSION {CASES[1]}")
