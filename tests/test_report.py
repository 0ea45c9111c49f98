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


def _one_case(path: Path, name: str, speedup: float, verdict: str) -> Path:
    extra = {"case_id": CASES[0], "variant": "jit", "dtype": "fp32", "lane": "lane", "speedup": speedup,
             "ci": [speedup * 0.97, speedup * 1.03], "verdict": verdict}
    rj.write_json(path, rj.results_doc(rj.machine_info("amd-epyc__avx2__2c2t", "lane"),
                                       [rj.benchmark_entry(name, [0.01] * 5, extra)]))
    return path


def test_merge_refuses_one_case_from_the_perf_suite_and_a_gate(tmp_path, capsys):
    """The perf suite names a case test_speedup[<case>], the gate's to.json names it <case>: one case."""
    perf = _one_case(tmp_path / "perf.json", f"perf/test_speedups.py::test_speedup[{CASES[0]}]", 1.4, "pass")
    gate = _one_case(tmp_path / "to.json", CASES[0], 1.1, "regression")
    out = tmp_path / "m.json"
    assert merge_cli.main([str(perf), str(gate), "--out", str(out), "--markdown", str(tmp_path / "m.md")]) == 2
    assert f"'{CASES[0]}' on amd-epyc__avx2__2c2t / lane is in both" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "m.md").exists()


def test_results_report_refuses_one_case_twice(tmp_path):
    doc = rj.results_doc(rj.machine_info("amd-epyc__avx2__2c2t", "lane"), [
        rj.benchmark_entry(f"test_speedup[{CASES[0]}]", [0.01] * 5, {"case_id": CASES[0], "speedup": 1.4,
                                                                     "ci": [1.3, 1.5]}),
        rj.benchmark_entry(CASES[0], [0.01] * 5, {"case_id": CASES[0], "speedup": 1.1, "ci": [1.0, 1.2]})])
    from infergate.reports import results_report

    with pytest.raises(DataFileError, match="is in the results twice"):
        results_report.results_plots(doc, tmp_path / "plots")
    with pytest.raises(DataFileError, match="is in the results twice"):
        results_report.results_markdown(doc)


@pytest.mark.parametrize("content, problem", [
    ("", "is empty"),
    ("{", "is not valid JSON"),
    ('{"benchmarks": [], "machine_info": {}, "benchmarks": []}', "has the key 'benchmarks' twice"),
    ("[]", "no 'benchmarks' list"),
    ('{"benchmarks": [], "machine_info": 3}', "no 'machine_info' object"),
    ('{"benchmarks": [{"name": "x", "stats": {}}], "machine_info": {}}', "stats: has no 'median'"),
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
    assert err.startswith(f"infergate: JSON file {path} is not UTF-8") and len(err.splitlines()) == 1


def _gate() -> dict:
    from infergate.measuring.lane_results import CaseComparison, Correctness, GateResult

    case = CaseComparison(CASES[1], "bert", "compile", "fp32", "pass", 10.0, 10.1, (1.01, 0.99, 1.03), [1.0, 1.02],
                          "pass", outputs={"status": "same", "max_abs": 1e-6, "agreement": 1.0})
    return GateResult("a", "b", "ida", "idb", "amd-epyc__avx2__2c2t", 1, 2, 40, 0.99, 0.05, 0.01, [case],
                      Correctness(False), [], []).to_json()


def _edit(doc: dict, path: str, value) -> dict:
    """``doc`` with the field at the dotted ``path`` (list items by number) set to ``value``."""
    *parents, last = [int(k) if k.isdigit() else k for k in path.split(".")]
    node = doc
    for key in parents:
        node = node[key]
    node[last] = value
    return doc


@pytest.mark.parametrize("path, value, problem", [
    ("cases.0.latency", [1.0], "cases[0].latency: expected a list of 3, got list [1.0]"),
    ("pairs", "6", "pairs: expected a whole number, got str '6'"),
    ("cases.0.outputs", None, "cases[0].outputs: expected an object, got NoneType None"),
    ("cases.0.from_ms", "1e999", "cases[0].from_ms: expected a finite number, got float inf"),
    ("cases.0.latency_pairs", [1.0, "x"], "cases[0].latency_pairs[1]: expected a finite number"),
    ("timing", {"seconds": "long"}, "timing.seconds: expected a finite number"),
    ("cases.0.latency_pair_numbers", [1, 5], "latency_pair_numbers: [1, 5] are not 2 different pairs of 1 to 2"),
    ("version", 99, "not a lane gate result of version 2 or"),
    ("version", 6.0, "not a lane gate result of version 2 or"),
])
def test_a_malformed_gate_json_is_one_line_naming_it(tmp_path, capsys, path, value, problem):
    gate = tmp_path / "gate.json"
    # "1e999": JSON's way to write a number that parses as inf (json.dumps would write Infinity)
    gate.write_text(json.dumps(_edit(_gate(), path, value)).replace('"1e999"', "1e999"))
    assert report_cli.main([str(gate), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"infergate: gate file {gate}: ") and problem in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_gate_json_with_nan_is_refused(tmp_path, capsys):
    gate = tmp_path / "gate.json"
    gate.write_text(json.dumps(_edit(_gate(), "cases.0.to_ms", float("nan"))))
    assert report_cli.main([str(gate), "--out", str(tmp_path / "out")]) == 2
    assert f"JSON file {gate} contains NaN" in capsys.readouterr().err


@pytest.mark.parametrize("key, value, problem", [
    ("ci", [1.1], "extra_info.ci: expected a list of 2, got list [1.1]"),
    ("speedup", "fast", "extra_info.speedup: expected a finite number, got str 'fast'"),
    ("fusions", [1, 2], "extra_info.fusions: expected an object, got list [1, 2]"),
    ("baseline_ci", [1.0, None], "extra_info.baseline_ci[1]: expected a finite number"),
    ("speedup", float("nan"), "contains NaN, which is not valid JSON"),
])
def test_a_malformed_results_file_is_one_line_in_report_and_merge(tmp_path, capsys, key, value, problem):
    path = results_file(tmp_path / "r.json", "amd-epyc__avx2__2c2t", "lane", {CASES[0]: 1.2}, 1)
    doc = json.loads(path.read_text())
    doc["benchmarks"][0]["extra_info"][key] = value
    path.write_text(json.dumps(doc))
    other = results_file(tmp_path / "o.json", "amd-epyc__avx2__2c2t", "lane", {CASES[1]: 1.2}, 1)
    for argv in ([str(path), "--out", str(tmp_path / "out")],):
        assert report_cli.main(argv) == 2
    assert merge_cli.main([str(other), str(path), "--out", str(tmp_path / "m.json")]) == 2
    errs = capsys.readouterr().err.strip().splitlines()
    assert len(errs) == 2 and all(str(path) in e and problem in e for e in errs), errs
    assert not (tmp_path / "out").exists() and not (tmp_path / "m.json").exists()


def _with_info(path: Path, **info) -> Path:
    doc = json.loads(path.read_text())
    doc["machine_info"].update(info)
    path.write_text(json.dumps(doc))
    return path


def _measured(estimator: str = "median-of-round-ratios", version: int = 1, hook=None) -> dict:
    """What --ig-json adds to machine_info (perf_run.machine_info), as far as merge and report read it."""
    return {"environment": {"injected_slowdown": hook}, "provenance": {"commit": "abc"},
            "infergate": {"results_version": version, "estimator": estimator, "session": "s"}}


def test_a_hooked_run_says_test_only_when_reported_or_merged(tmp_path, capsys):
    hooked = _with_info(results_file(tmp_path / "h.json", "amd-epyc__avx2__2c2t", "lane", {CASES[0]: 1.2}, 1),
                        **_measured(hook=["jit", 0.1]))
    clean = _with_info(results_file(tmp_path / "c.json", "intel-xeon__avx512__4c8t", "lane", {CASES[0]: 1.3}, 2),
                       **_measured())
    assert report_cli.main([str(hooked), "--out", str(tmp_path / "r")]) == 0
    text = (tmp_path / "r/report.md").read_text()
    assert "⚠️ TEST ONLY: measured with the test-only slowdown hook: `jit` 10%;" in text
    out, md = tmp_path / "m.json", tmp_path / "m.md"
    assert merge_cli.main([str(hooked), str(clean), "--out", str(out), "--markdown", str(md)]) == 0
    sources = rj.load_results(out)["machine_info"]["sources"]
    assert sources[0]["environment"]["injected_slowdown"] == ["jit", 0.1]
    assert sources[1]["provenance"] == {"commit": "abc"} and sources[1]["infergate"]["results_version"] == 1
    assert f"TEST ONLY: measured with the test-only slowdown hook: `jit` 10% in `{hooked}`;" in md.read_text()
    # merged again, the sources stay as they were
    again = tmp_path / "m2.json"
    other = results_file(tmp_path / "o.json", "amd-epyc__avx2__2c2t", "lane", {CASES[1]: 1.2}, 3)
    assert merge_cli.main([str(out), str(other), "--out", str(again), "--markdown", str(md)]) == 0
    assert f"`jit` 10% in `{hooked}`" in md.read_text()


@pytest.mark.parametrize("second, problem", [
    (_measured(estimator="mean-of-ratios"), "were measured differently"),
    (_measured(version=2), "results version 2; this infergate reads 1"),
])
def test_merge_refuses_results_measured_differently(tmp_path, capsys, second, problem):
    a = _with_info(results_file(tmp_path / "a.json", "amd-epyc__avx2__2c2t", "lane", {CASES[0]: 1.2}, 1),
                   **_measured())
    b = _with_info(results_file(tmp_path / "b.json", "amd-epyc__avx2__2c2t", "lane", {CASES[1]: 1.2}, 2), **second)
    assert merge_cli.main([str(a), str(b), "--out", str(tmp_path / "m.json")]) == 2
    assert problem in capsys.readouterr().err and not (tmp_path / "m.json").exists()


@pytest.mark.parametrize("extra, problem", [
    (["--markdown", "adir"], "adir is a directory: name a file"),
    (["--plots", "afile"], "afile exists and is not a directory"),
])
def test_merge_refuses_bad_output_paths_before_writing(tmp_path, capsys, monkeypatch, extra, problem):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").touch()
    a = results_file(tmp_path / "a.json", "amd-epyc__avx2__2c2t", "lane", {CASES[0]: 1.2}, 1)
    with pytest.raises(SystemExit) as exit_:
        merge_cli.main([str(a), "--out", "m.json", *extra])
    assert exit_.value.code == 2 and problem in capsys.readouterr().err
    assert not (tmp_path / "m.json").exists()


def test_report_refuses_a_file_as_its_out_dir(tmp_path, capsys):
    a = results_file(tmp_path / "a.json", "amd-epyc__avx2__2c2t", "lane", {CASES[0]: 1.2}, 1)
    (tmp_path / "afile").touch()
    with pytest.raises(SystemExit) as exit_:
        report_cli.main([str(a), "--out", str(tmp_path / "afile")])
    assert exit_.value.code == 2 and "afile exists and is not a directory" in capsys.readouterr().err


def test_an_unwritable_output_is_one_line_in_report_and_merge(tmp_path, capsys, monkeypatch):
    from infergate.core import atomic

    a = results_file(tmp_path / "a.json", "amd-epyc__avx2__2c2t", "lane", {CASES[0]: 1.2}, 1)
    (tmp_path / "r" / "report.md").mkdir(parents=True)  # report.md a directory: writing it fails
    assert report_cli.main([str(a), "--out", str(tmp_path / "r")]) == 2

    def refused(path, text):  # as a read-only disk or directory would (the tests run as root)
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(atomic, "write_text", refused)
    assert merge_cli.main([str(a), "--out", str(tmp_path / "m.json"), "--markdown", str(tmp_path / "m.md")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("infergate: ") for e in err), err
    assert not (tmp_path / "m.json").exists()


def test_merge_without_matplotlib_writes_nothing(tmp_path, capsys, monkeypatch):
    from infergate.commands import main as front
    from infergate.reports import report_parts

    def no_matplotlib():
        raise ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib")

    monkeypatch.setattr(report_parts, "_plt", no_matplotlib)
    a = results_file(tmp_path / "a.json", "amd-epyc__avx2__2c2t", "lane", {CASES[0]: 1.2}, 1)
    out, plots = tmp_path / "m.json", tmp_path / "plots"
    assert front.main(["merge", str(a), "--out", str(out), "--plots", str(plots)]) == 2
    assert "has no matplotlib" in capsys.readouterr().err
    assert not out.exists() and not plots.exists()
    assert front.main(["report", str(a), "--out", str(plots)]) == 2
    assert not plots.exists()


def test_results_report_shows_a_bare_speedup_and_calls_the_baseline_a_span(tmp_path):
    """A gate's to.json has a speedup and no interval; a perf run's baseline_ci is its lowest and highest run."""
    path = results_file(tmp_path / "r.json", "amd-epyc__avx2__2c2t", "lane", {CASES[0]: 1.2, CASES[1]: 1.384}, 1)
    doc = json.loads(path.read_text())
    doc["benchmarks"][1]["extra_info"]["ci"] = None
    doc["benchmarks"][0]["extra_info"]["confidence"] = 0.99
    path.write_text(json.dumps(doc))
    assert report_cli.main([str(path), "--out", str(tmp_path / "r")]) == 0
    text = (tmp_path / "r" / "report.md").read_text()
    # The interval's level and what it spans, as the perf run's legend says.
    assert "| speedup [rounds-only interval at 0.99] | baseline [lowest, highest run] |" in text
    assert f"| `{CASES[1]}` | " in text and "| 1.38 (no interval) |" in text
    assert (tmp_path / "r" / "speedups.png").read_bytes().startswith(b"\x89PNG")


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


def test_merges_help_promises_no_repeated_runs(capsys):
    """merge refuses a case measured twice (above), so neither its help nor the front's may offer it."""
    from infergate.commands.main import COMMANDS, usage

    with pytest.raises(SystemExit):
        merge_cli.main(["--help"])
    texts = [COMMANDS["merge"].help, usage(), capsys.readouterr().out, merge_cli.__doc__ or ""]
    assert all("repeated" not in t for t in texts)
    assert "a case measured twice is refused" in COMMANDS["merge"].help


def test_a_gates_to_json_with_an_injected_slowdown_says_test_only_when_reported(tmp_path):
    """The gate wrote its test-only slowdowns into gate.json only: `report to.json` showed the injected
    regression as a measured one."""
    import dataclasses

    from infergate.gate.gate_outputs import lane_results_doc
    from infergate.measuring.lane_results import GateResult

    doc = json.loads((Path(__file__).parents[1] / "docs/reports/current-to-current-next/gate.json").read_text())
    gate = dataclasses.replace(GateResult.from_json(doc), injected={"compile": 0.05, "jit": 0.02})
    assert "environment" not in lane_results_doc(gate, "from")["machine_info"]
    to = tmp_path / "to.json"
    to.write_text(json.dumps(lane_results_doc(gate, "to")))
    assert report_cli.main([str(to), "--out", str(tmp_path / "r")]) == 0
    assert "TEST ONLY: measured with the test-only slowdown hook: `compile` 5%, `jit` 2%;" in (
        tmp_path / "r/report.md").read_text()


def test_a_confidence_that_is_not_a_number_is_refused_in_one_line(tmp_path, capsys):
    """The results report prints its intervals' level: a level no run writes raised a traceback."""
    path = results_file(tmp_path / "r.json", "amd-epyc__avx2__2c2t", "lane", {CASES[0]: 1.2}, 1)
    doc = json.loads(path.read_text())
    doc["benchmarks"][0]["extra_info"]["confidence"] = "high"
    path.write_text(json.dumps(doc))
    assert report_cli.main([str(path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "confidence" in err, err
