"""The report commands' files under bad input (found by an audit, 2026-12-08): one line, exit 2, and
nothing the user had is overwritten: another report, an input, a file that is not a results file."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from infergate.commands import guide_recipe_cli, merge_cli
from infergate.commands.claims_cli import main as claims
from infergate.core.validate import results_output_file

pytestmark = pytest.mark.lane_independent  # file handling only; the lanes pin the same matplotlib
DOCS = Path(__file__).resolve().parent.parent / "docs"
CLAIMS = DOCS / "claims" / "amd-epyc__avx512__2c2t" / "bf16-plain-torch-seqcls"
RECIPE = DOCS / "claims" / "guide-recipe" / "amd-epyc__avx512__2c2t" / "torch-2.8.0__ipex-2.8.0__tf-4.57.6"


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _corrupted(src: Path, dst: Path, name: str, corrupt) -> Path:
    """A copy of the report directory ``src`` whose ``name`` file ``corrupt`` changed in place."""
    _copy(src, dst)
    data = json.loads((dst / name).read_text())
    corrupt(data)
    (dst / name).write_text(json.dumps(data))
    return dst


def _snapshot(*dirs: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for d in dirs for p in sorted(d.rglob("*")) if p.is_file()}


def _one_line(capsys, *said: str) -> None:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(s in err for s in said), err


def test_claims_render_never_replaces_another_report_in_out(tmp_path, capsys) -> None:
    a, b = _copy(CLAIMS, tmp_path / "a"), _copy(CLAIMS, tmp_path / "b")
    other = json.loads((b / "claims.json").read_text())
    (b / "claims.json").write_text(json.dumps({**other, "rows": other["rows"][:1]}))
    before = _snapshot(a, b)
    assert claims(["--render", str(a), "--out", str(b)]) == 2
    _one_line(capsys, "already holds a claims report")
    assert _snapshot(a, b) == before
    assert claims(["--render", str(a), "--out", str(tmp_path / "new")]) == 0  # a new directory is fine
    assert claims(["--render", str(a)]) == 0  # and in place


@pytest.mark.parametrize("corrupt, said", [
    (lambda d: d["rows"][0]["costs"]["eager"].update(build_s="x"), "costs.eager.build_s is \"x\""),
    (lambda d: d.update(facts="a string"), "facts is \"a string\", not an object"),
    (lambda d: d["facts"].update(rows=3), "facts.rows is 3, not text"),
    (lambda d: d["rows"][0].update(answers={"jit": "x"}), "answers.jit is \"x\""),
    (lambda d: d["rows"][0].update(fusions={"jit_ipex": {"a": "b"}}), "fusions.jit_ipex"),
    (lambda d: d.update(sources=[{"path": "p"}]), "sources is"),
])
def test_a_claims_file_with_a_field_of_the_wrong_type_is_one_line_naming_it(tmp_path, capsys, corrupt, said) -> None:
    # Each of these reached the renderer: a ValueError or TypeError traceback, or "a malformed row
    # (AttributeError: 'str' object has no attribute 'items')".
    a = _corrupted(CLAIMS, tmp_path / "a", "claims.json", corrupt)
    before = _snapshot(a)
    assert claims(["--render", str(a)]) == 2
    _one_line(capsys, said)
    assert _snapshot(a) == before


def test_claims_report_files_that_are_directories_and_option_pairs_are_refused(tmp_path, capsys) -> None:
    a = _copy(CLAIMS, tmp_path / "a")
    out = tmp_path / "out"
    (out / "claims.md").mkdir(parents=True)
    assert claims(["--render", str(a), "--out", str(out)]) == 2
    _one_line(capsys, "claims.md is not a file")
    assert not (out / "claims.json").exists()
    for argv, said in ((["--render", str(a), "--summary"], "give one of them"),
                       (["--render", str(a), "--out", str(out), "--origin", " "], "one line of text"),
                       (["--render", str(a), "--out", str(out), "--origin", "a\nb"], "one line of text")):
        with pytest.raises(SystemExit) as exited:
            claims(argv)
        assert exited.value.code == 2 and said in capsys.readouterr().err


def test_guide_recipe_render_honours_out_and_never_replaces_another_report(tmp_path, capsys) -> None:
    src = _copy(RECIPE, tmp_path / "src")
    before = _snapshot(src)
    out = tmp_path / "out"
    assert guide_recipe_cli.main(["--render", str(src), "--out", str(out)]) == 0  # --out was ignored: src rewritten
    assert _snapshot(src) == before
    assert (out / "guide-recipe.md").read_text() == (src / "guide-recipe.md").read_text()
    assert guide_recipe_cli.main(["--render", str(src), "--out", str(out)]) == 2
    _one_line(capsys, "already holds a guide-recipe report")


@pytest.mark.parametrize("corrupt, said", [
    (lambda d: d.update(rows=[]), "rows must be a non-empty list"),
    (lambda d: d["rows"][0].update(failed="x"), "row 1 ("),
    (lambda d: d["rows"][0].update(jit_compilation_s="x"), "jit_compilation_s is \"x\""),
    (lambda d: d["rows"][0].update(max_abs_vs_eager="x"), "max_abs_vs_eager is \"x\""),
])
def test_a_guide_recipe_file_with_bad_rows_is_one_line(tmp_path, capsys, corrupt, said) -> None:
    src = _corrupted(RECIPE, tmp_path / "src", "guide-recipe.json", corrupt)
    before = _snapshot(src)
    assert guide_recipe_cli.main(["--render", str(src)]) == 2  # rows [] replaced the report with an empty one
    _one_line(capsys, said)
    assert _snapshot(src) == before


def _results(path: Path) -> Path:
    path.write_text(json.dumps({"benchmarks": [], "machine_info": {}, "commit_info": {}, "datetime": "x",
                                "version": "5.1.0"}))
    return path


def test_merge_never_writes_over_one_of_its_inputs(tmp_path, capsys) -> None:
    a, b = _results(tmp_path / "a.json"), _results(tmp_path / "b.json")
    before = _snapshot(tmp_path)
    for extra, said in ((["--out", str(a)], "--out"), (["--out", str(tmp_path / "m.json"), "--markdown", str(b)],
                                                       "--markdown"),
                        (["--out", str(tmp_path / "m.json"), "--markdown", str(tmp_path / "m.json")], "is --out too")):
        with pytest.raises(SystemExit) as exited:
            merge_cli.main([str(a), str(b), *extra])
        assert exited.value.code == 2 and said in capsys.readouterr().err
    assert _snapshot(tmp_path) == before
    other = tmp_path / "baselines.json"
    other.write_text(json.dumps({"schema": "infergate-baselines", "version": 4}))
    with pytest.raises(SystemExit):
        merge_cli.main([str(a), str(b), "--out", str(other)])
    assert "is not a results file" in capsys.readouterr().err and "baselines" in other.read_text()


def test_results_json_replaces_only_a_results_file(tmp_path) -> None:
    baselines = tmp_path / "baselines.json"
    baselines.write_text(json.dumps({"schema": "infergate-baselines", "version": 4, "cases": {}}))
    with pytest.raises(argparse.ArgumentTypeError, match="an infergate-baselines file"):
        results_output_file(str(baselines))
    (tmp_path / "notes.txt").write_text("my notes")
    with pytest.raises(argparse.ArgumentTypeError, match="not a results file"):
        results_output_file(str(tmp_path / "notes.txt"))
    (tmp_path / "empty.json").write_text("")
    for ok in (_results(tmp_path / "old.json"), tmp_path / "empty.json", tmp_path / "new.json"):
        assert results_output_file(str(ok)) == ok


def test_a_merged_claims_report_is_rendered_again_over_itself_from_the_same_rows(tmp_path, capsys) -> None:
    # The docs' commands that rebuild a committed merged report render its runs into its own directory:
    # the same rows, nothing lost. Other rows there are refused (above).
    base = DOCS / "claims" / "amd-epyc__avx2__2c2t" / "fp32-3proc"
    merged = _copy(base, tmp_path / "amd-epyc__avx2__2c2t" / "fp32-3proc")
    runs = [str(merged / "runs" / "seqcls-tokcls"), str(merged / "runs" / "qa")]
    assert claims(["--render", *runs, "--out", str(merged)]) == 0
    assert claims(["--render", runs[1], "--out", str(merged)]) == 2
    _one_line(capsys, "already holds a claims report")


def test_a_gate_json_case_without_its_id_is_one_line_without_pythons_words(tmp_path, capsys) -> None:
    from infergate.commands.main import main

    src = sorted((DOCS / "reports").rglob("gate.json"))[0]
    data = json.loads(src.read_text())
    del data["cases"][0]["case"]
    (tmp_path / "gate.json").write_text(json.dumps(data))
    assert main(["report", str(tmp_path / "gate.json"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "missing field: missing 1 required positional argument: 'case'" in err
    assert "TypeError" not in err and "__init__" not in err
