"""``baselines add|show|reference`` on bad input: one line naming the file and the problem, exit 2, and
every baselines file as it was (docs/bad-input.md). Each case here was a traceback, a silent drop, a
misleading message, or a write made before a later file was found bad."""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infergate.building.variants import get_variant
from infergate.commands.main import main
from infergate.core.datafile import describe
from infergate.measuring import baselines as bl

# Pure Python: the same in both lanes (same Python, numpy, pytest, hypothesis): current lane only
# in ./suite test (tests/README.md).
pytestmark = pytest.mark.lane_independent

CLASS = "amd-epyc__avx2__2c2t"
LANE, OTHER_LANE = "torch-2.13.0__noipex__tf-5.24.0", "torch-2.8.0__ipex-2.8.0__tf-4.57.6"
STAMP = "2026-11-27T12:00:00+00:00"
CASES = ("bert-qa-jit-fp32", "minilm-jit-fp32")


def results_doc(session: str = "h-runner1", lane: str = LANE, speedups: tuple[float, ...] = (1.40, 1.41),
                threads: Any = 1) -> dict[str, Any]:
    """A results file as --ig-json writes it: two jit cases of one session, and eager (never a baseline)."""
    info = {"machine_class": CLASS, "lane": lane, "environment": {},
            "infergate": {"results_version": 1, "session": session, "estimator": "median-of-round-ratios",
                          "session_info": {"host": session, "kernel": "6.1", "first": STAMP, "last": STAMP,
                                           "environment": {}, "source": "recorded"}}}
    benchmarks: list[dict[str, Any]] = [{"extra_info": {"case_id": "bert-qa-eager-fp32", "variant": "eager",
                                                        "run_records": []}}]
    for n, case_id in enumerate(CASES):
        runs = [{"speedup": s + n / 10, "ci": [s - 0.02, s + 0.02], "rounds": 300,
                 "median_ms": {"eager": 14.0, "jit": 14.0 / (s + n / 10)}, "recorded": STAMP, "session": session}
                for s in speedups]
        benchmarks.append({"extra_info": {"case_id": case_id, "variant": "jit", "threads": threads,
                                          "recipe": get_variant("jit").recipe,
                                          "estimator": "median-of-round-ratios", "run_records": runs}})
    return {"machine_info": info, "benchmarks": benchmarks}


def written(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(json.dumps(doc))
    return path


def files_under(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.suffix != ".lock"}


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The command's one line on stderr, after checking it exited 2 and printed nothing else."""
    assert main(argv) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and len(lines) == 1 and lines[0].startswith("infergate baselines: "), (out, err)
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A baselines directory holding one session of CASES."""
    root = tmp_path / "baselines"
    assert main(["baselines", "add", "--baselines", str(root), str(written(tmp_path / "first.json",
                                                                            results_doc()))]) == 0
    capsys.readouterr()
    return root


# -- add: every file checked before any is written ---------------------------------------------


@pytest.mark.parametrize("replace", [True, False], ids=["replace", "append"])
def test_a_bad_later_file_writes_nothing(tmp_path: Path, tree: Path, capsys, replace: bool) -> None:
    """add --replace GOOD BAD had replaced the tree's sessions with GOOD's before refusing BAD (and
    appended GOOD without --replace): docs/bad-input.md promises nothing is written."""
    good = written(tmp_path / "good.json", results_doc("h-runner2", speedups=(1.5, 1.51)))
    bad_doc = results_doc("h-runner3")
    bad_doc["benchmarks"][1]["extra_info"]["run_records"][0]["speedup"] = "fast"
    bad = written(tmp_path / "bad.json", bad_doc)
    before = files_under(tmp_path)
    line = refused(["baselines", "add", *(["--replace"] if replace else []), "--baselines", str(tree),
                    str(good), str(bad)], capsys)
    assert str(bad) in line and "speedup must be a number, got str 'fast'" in line
    assert files_under(tmp_path) == before


def test_a_later_file_refused_by_what_an_earlier_one_would_leave_writes_nothing(tmp_path: Path, capsys) -> None:
    """The second file's runs cannot be pooled with the first's (another thread count): the check sees
    the first file's runs as recorded, and the first is not written either."""
    root = tmp_path / "baselines"
    one = written(tmp_path / "one.json", results_doc("h-runner1"))
    two = written(tmp_path / "two.json", results_doc("h-runner2", threads=2))
    line = refused(["baselines", "add", "--baselines", str(root), str(one), str(two)], capsys)
    assert f"results file {two}: refusing to add it to {bl.baseline_path(root, CLASS, LANE)}" in line
    assert "1 torch thread(s)" in line and "2 torch thread(s)" in line
    assert not root.exists()


def test_a_broken_baselines_file_a_later_file_would_change_writes_nothing(tmp_path: Path, tree: Path,
                                                                          capsys) -> None:
    broken = bl.baseline_path(tree, CLASS, OTHER_LANE)
    broken.write_text('{"schema": "infergate-baselines", "vers')
    good = written(tmp_path / "good.json", results_doc("h-runner2"))
    other = written(tmp_path / "other.json", results_doc("h-runner2", lane=OTHER_LANE))
    before = files_under(tmp_path)
    line = refused(["baselines", "add", "--baselines", str(tree), str(good), str(other)], capsys)
    assert f"baselines file {broken} is not valid JSON" in line
    assert files_under(tmp_path) == before


# -- add: a case given twice, without a variant, or with a thread count that is none -----------


def _twice(doc: dict[str, Any]) -> None:
    again = copy.deepcopy(doc["benchmarks"][1])
    again["extra_info"]["run_records"].pop()  # another copy of the case: its runs would be lost
    doc["benchmarks"].append(again)


def _first_case(**changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["benchmarks"][1]["extra_info"].update(changes)


BAD_CASES = [
    (_twice, f"case {CASES[0]!r} is in it twice (benchmarks[1] and [3]): one case, one result"),
    (_first_case(variant=None), f"case {CASES[0]!r}: variant must be a variant name, got NoneType None"),
    *((_first_case(threads=value), f"case {CASES[0]!r}: threads must be a positive whole number, got "
                                   f"{describe(value)}") for value in ("x", [1], -4, 0, True, 2.0)),
]


@pytest.mark.parametrize("into", ["new", "existing"])
@pytest.mark.parametrize(("edit", "message"), BAD_CASES,
                         ids=["twice", "variant-null", "threads-str", "threads-list", "threads-negative",
                              "threads-zero", "threads-bool", "threads-float"])
def test_a_bad_case_is_refused_naming_file_and_case(tmp_path: Path, capsys, edit, message: str, into: str) -> None:
    """A case given twice kept its last copy (exit 0), a null variant's case was dropped without a word,
    and a bad thread count was recorded into a new file or refused as a set-up change."""
    root = tmp_path / "baselines"
    if into == "existing":
        assert main(["baselines", "add", "--baselines", str(root),
                     str(written(tmp_path / "first.json", results_doc()))]) == 0
        capsys.readouterr()
    doc = results_doc("h-runner2")
    edit(doc)
    bad = written(tmp_path / "bad.json", doc)
    before = files_under(tmp_path)
    line = refused(["baselines", "add", "--baselines", str(root), str(bad)], capsys)
    assert line == f"infergate baselines: results file {bad}: {message}"
    assert files_under(tmp_path) == before
    assert root.exists() == (into == "existing")


# -- reference: its input files ----------------------------------------------------------------


def _envprobe(rows: int = 3) -> dict[str, Any]:
    return {"model": "bert-qa", "threads": 1, "rows": [
        {"setting": "none", "rep": i, "eager_ms": 14.0 + i, "others_runnable": 0.0, "jit": [1.4 + i / 100, 1.3, 1.5]}
        for i in range(rows)]}


def test_reference_reads_a_good_envprobe_file_and_summary(tmp_path: Path, tree: Path, capsys) -> None:
    """The control for the refusals below: the same tree, with well-formed files, is a report."""
    probe = tmp_path / "probe.json.gz"
    probe.write_bytes(gzip.compress(json.dumps(_envprobe()).encode()))
    assert main(["baselines", "reference", "--baselines", str(tree), "--envprobe", str(probe)]) == 0
    assert "| jit / eager | probe.json.gz | 3 |" in capsys.readouterr().out


# (option, what the file holds: bytes, a directory, None for no file, or "" for the option's value ''), message
REFERENCE_INPUTS = [
    ("--envprobe", None, "envprobe file {path} does not exist"),
    ("--envprobe", "dir", "envprobe file {path} is a directory: name a file"),
    ("--envprobe", b"{}", "envprobe file {path}: has no 'model' or 'rows': not an envprobe --save file"),
    ("--envprobe", b"[]", "envprobe file {path}: must hold a JSON object, got list: not an envprobe --save file"),
    ("--envprobe", "baselines", "envprobe file {path}: has no 'model' or 'rows': not an envprobe --save file"),
    ("--envprobe", b"", "envprobe file {path} is empty"),
    ("--envprobe", b"\xff\xfe{", "envprobe file {path} is not UTF-8 text (byte 0): corrupt?"),
    ("--envprobe", json.dumps({**_envprobe(1), "rows": [{"eager_ms": 0, "jit": [1.2]}]}).encode(),
     "envprobe file {path}: rows[0].eager_ms: expected a finite number > 0, got int 0"),
    ("--envprobe", json.dumps({**_envprobe(1), "rows": [{"eager_ms": "14"}]}).encode(),
     "envprobe file {path}: rows[0].eager_ms: expected a finite number, got str '14'"),
    ("--envprobe", b"gz:not gzip", "envprobe file {path} is not readable gzip data"),
    ("--occasion", None, "summary file {path} does not exist"),
    ("--occasion", "", "summary file . is a directory: name a file"),
    ("--occasion", b"\xff\xfe", "summary file {path} is not UTF-8 text (byte 0): corrupt?"),
    ("--occasion", b"hello\n", "summary file {path}: not an infergate perf summary: no '= infergate perf: CLASS / "
                               "LANE' header"),
]


@pytest.mark.parametrize(("option", "holds", "message"), REFERENCE_INPUTS,
                         ids=["envprobe-missing", "envprobe-dir", "envprobe-object", "envprobe-list",
                              "envprobe-baselines", "envprobe-empty", "envprobe-binary", "envprobe-zero",
                              "envprobe-str", "envprobe-gzip", "occasion-missing", "occasion-empty-path",
                              "occasion-binary", "occasion-text"])
def test_a_bad_reference_input_is_one_line_naming_it(tmp_path: Path, tree: Path, capsys, option: str,
                                                     holds: Any, message: str) -> None:
    """Each was a traceback (FileNotFoundError, IsADirectoryError, KeyError: 'model') or a line that
    did not say which file ('Expecting value: line 1 column 1 (char 0)')."""
    path = tmp_path / "input.json"
    if isinstance(holds, bytes) and holds.startswith(b"gz:"):
        path = tmp_path / "input.json.gz"
        path.write_bytes(holds[3:])
    elif isinstance(holds, bytes):
        path.write_bytes(holds)
    elif holds == "dir":
        path.mkdir()
    elif holds == "baselines":
        path = bl.baseline_path(tree, CLASS, LANE)
    before = files_under(tmp_path)
    value = "" if holds == "" else str(path)
    line = refused(["baselines", "reference", "--baselines", str(tree), option, value], capsys)
    assert line.startswith(f"infergate baselines: {message.format(path=path)}"), line
    assert files_under(tmp_path) == before


# -- show and reference: a directory holding no baselines files ----------------------------------


@pytest.mark.parametrize("holds", ["nothing", "a history", "fusions only"])
@pytest.mark.parametrize("action", ["show", "reference"])
def test_a_directory_without_baselines_files_is_one_line(tmp_path: Path, capsys, action: str, holds: str) -> None:
    """They printed a blank line (show) or a table of zeros (reference) and exit 0, as if read."""
    root = tmp_path / "dir"
    (root / CLASS).mkdir(parents=True)
    if holds == "a history":
        (root / CLASS / "2026-11.jsonl").write_text("{}\n")
    elif holds == "fusions only":
        (root / CLASS / f"{LANE}.fusions.json").write_text("{}\n")
    before = files_under(tmp_path)
    line = refused(["baselines", action, "--baselines", str(root)], capsys)
    assert line == (f"infergate baselines: baselines directory {root} holds no baselines files "
                    "(<machine class>/<lane>.json): is it the right directory?")
    assert files_under(tmp_path) == before
