"""The history command's bad input: one line naming the path and the problem, exit 2, and every
input, the history and any output directory left byte for byte as they were."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infergate.commands import history_add as history_cli
from infergate.commands.main import main
from tests.test_history import results, results_data

pytestmark = pytest.mark.lane_independent  # files and their checks: no torch

CLASS, OTHER, LANE = "m__avx2__2c2t", "n__avx2__2c2t", "torch-x__noipex__notf"


def tree(*roots: Path) -> dict[str, bytes | None]:
    """Every path under ``roots`` (and the roots) with its bytes, None for a directory: what a refused
    command must leave unchanged, files and directories made included."""
    found: dict[str, bytes | None] = {}
    for root in roots:
        for path in [root, *sorted(root.rglob("*"))] if root.exists() else []:
            found[str(path)] = None if path.is_dir() else path.read_bytes()
    return found


def refused(capsys, argv: list[str], *kept: Path) -> str:
    """Runs ``argv``; asserts exit 2, one line on stderr, and ``kept`` unchanged; returns the line."""
    before = tree(*kept)
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in captured.err, captured.err
    assert tree(*kept) == before
    return err[0]


def _two_classes(tmp_path: Path) -> Path:
    root = tmp_path / "history"
    history_cli.add([results(tmp_path / "a.json"), results(tmp_path / "b.json", machine_class=OTHER)], root)
    return root


def test_promote_all_refuses_a_bad_baselines_file_before_writing_any(tmp_path, capsys) -> None:
    """The other class's file was written, then the emptied one refused: "a refused one leaves all as
    they were" held for the history's checks, not for the baselines files."""
    root, baselines = _two_classes(tmp_path), tmp_path / "baselines"
    emptied = baselines / OTHER / f"{LANE}.json"
    emptied.parent.mkdir(parents=True)
    emptied.write_bytes(b"")
    argv = ["history", "--history", str(root), "promote", "--all", "--baselines", str(baselines)]
    assert refused(capsys, argv, root, baselines, tmp_path) == f"infergate history: baselines file {emptied} is empty"
    assert not (baselines / CLASS).exists()


def test_promote_refuses_a_class_path_in_the_baselines_that_is_a_file(tmp_path, capsys) -> None:
    root, baselines = _two_classes(tmp_path), tmp_path / "baselines"
    baselines.mkdir()
    (baselines / OTHER).write_text("not a directory")
    argv = ["history", "--history", str(root), "promote", "--all", "--baselines", str(baselines)]
    line = refused(capsys, argv, tmp_path)
    assert line.endswith(f"{baselines / OTHER} is not a directory of baselines files"), line


def test_add_refuses_a_class_path_that_is_a_file_before_appending_any_run(tmp_path, capsys) -> None:
    """A (another class) was appended, then B's class directory could not be made: a FileExistsError
    traceback, exit 1."""
    root = tmp_path / "history"
    root.mkdir()
    (root / OTHER).write_text("not a directory")
    a, b = results(tmp_path / "a.json"), results(tmp_path / "b.json", machine_class=OTHER)
    line = refused(capsys, ["history", "--history", str(root), "add", str(a), str(b)], tmp_path)
    assert line == (f"infergate history: history {root}: {root / OTHER} is not a directory of month files (a file "
                    "moved or written there by hand?)")


@pytest.mark.parametrize("below", [(), ("sub",)])
def test_add_and_simulate_refuse_a_history_path_that_is_a_file_or_under_one(tmp_path, capsys, below) -> None:
    """A NotADirectoryError traceback, simulate's after writing its results files into --out."""
    afile = tmp_path / "afile"
    afile.write_text("kept")
    root = afile.joinpath(*below)
    says = "is not a directory" if not below else f"cannot be made: {afile} is not a directory"
    line = refused(capsys, ["history", "--history", str(root), "add", str(results(tmp_path / "a.json"))], tmp_path)
    assert line == f"infergate history: history directory {root} {says}"
    out = tmp_path / "out"
    line = refused(capsys, ["history", "--history", str(root), "simulate", "--out", str(out), "--nights", "2",
                            "--at", "1"], tmp_path)
    assert line == f"infergate history: history directory {root} {says}" and not out.exists()


def test_add_refuses_a_provenance_that_is_not_an_object(tmp_path, capsys) -> None:
    """An AttributeError traceback."""
    data = results_data()
    data["machine_info"]["provenance"] = "abc123"
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    root = tmp_path / "history"
    line = refused(capsys, ["history", "--history", str(root), "add", str(path)], tmp_path)
    assert line == (f"infergate history: results file {path}: machine_info.provenance must be an object (commit, "
                    "lock, packages, cpu_flags), got str 'abc123'")
    assert not root.exists()


READERS = [["show"], ["detect"], ["publish", "--out", "{tmp}/site"],
           ["promote", "--all", "--baselines", "{tmp}/baselines"],
           ["promote", "--class", CLASS, "--lane", LANE, "--baselines", "{tmp}/baselines"]]


@pytest.mark.parametrize("action", READERS)
def test_a_history_path_that_is_a_file_is_said_to_be_no_directory(tmp_path, capsys, action) -> None:
    """It said "does not exist" of a path that does."""
    afile = tmp_path / "afile"
    afile.write_text("kept")
    argv = ["history", "--history", str(afile), *(a.format(tmp=tmp_path) for a in action)]
    assert refused(capsys, argv, tmp_path) == f"infergate history: history directory {afile} is not a directory"


def _class_path_a_file(root: Path) -> str:
    (root / OTHER).write_text("")
    return f"infergate history: history {root}: {root / OTHER} is not a directory of month files (a file moved or " \
           "written there by hand?)"


def _empty_month(root: Path) -> str:
    month = root / CLASS / "2026-10.jsonl"
    month.write_bytes(b"")
    return f"infergate history: history file {month} holds no record (emptied or truncated?)"


# promote --class reads its own class only: another class's path is not its input.
@pytest.mark.parametrize(("damage", "action"), [(_class_path_a_file, a) for a in READERS if "--class" not in a]
                         + [(_empty_month, a) for a in READERS])
def test_a_class_path_that_is_a_file_or_an_empty_month_file_is_refused_by_every_reader(tmp_path, capsys, action,
                                                                                        damage) -> None:
    """Both were skipped without a word: the class's runs, or that month's, read as never measured."""
    root = tmp_path / "history"
    history_cli.add([results(tmp_path / "a.json"), results(tmp_path / "b.json", night="2026-11-28", session="h-2")],
                    root)
    says = damage(root)
    argv = ["history", "--history", str(root), *(a.format(tmp=tmp_path) for a in action)]
    assert refused(capsys, argv, tmp_path) == says


def test_detect_new_against_a_directory_that_holds_no_history_is_refused(tmp_path, capsys) -> None:
    """A baselines directory was read as an empty history: "compared with 0 case series", every change
    point new. An empty directory (the nightly's first night) is still the history before nothing."""
    root = tmp_path / "history"
    history_cli.add([results(tmp_path / "a.json"), results(tmp_path / "b.json", night="2026-11-28", session="h-2")],
                    root)
    before = tmp_path / "baselines"
    (before / CLASS).mkdir(parents=True)
    (before / CLASS / f"{LANE}.json").write_text("{}")
    argv = ["history", "--history", str(root), "detect", "--new-against", str(before)]
    assert refused(capsys, argv, tmp_path) == (
        f"infergate history: --new-against {before} holds no history (no class directory of month files) and is "
        "not empty: give the copy of the history taken before tonight's runs were added (on the first night, an "
        "empty directory)")
    (tmp_path / "empty").mkdir()
    assert main(["history", "--history", str(root), "detect", "--new-against", str(tmp_path / "empty")]) == 0
    assert "compared with 0 case series before tonight's runs" in capsys.readouterr().out


def test_simulate_says_a_missing_baselines_directory_does_not_exist(tmp_path, capsys) -> None:
    """It said "no recorded session has two runs: nothing to resample"."""
    out, root, missing = tmp_path / "out", tmp_path / "history", tmp_path / "nonexist"
    argv = ["history", "--history", str(root), "simulate", "--out", str(out), "--baselines", str(missing)]
    assert refused(capsys, argv, tmp_path) == f"infergate history: baselines directory {missing} does not exist"
    assert not out.exists() and not root.exists()


def test_simulate_refuses_a_corrupt_history_before_writing_its_results_files(tmp_path, capsys) -> None:
    """The results files were written to --out, then ``add`` refused the history."""
    root, out = tmp_path / "history", tmp_path / "out"
    argv = ["history", "--history", str(root), "simulate", "--out", str(out), "--nights", "2", "--at", "1"]
    assert main(argv) == 0
    capsys.readouterr()
    month = sorted(root.glob("*/*.jsonl"))[0]
    month.write_bytes(month.read_bytes() + b"{not json\n")
    again = tmp_path / "again"
    line = refused(capsys, [*argv[:5], str(again), *argv[6:], "--seed", "2"], tmp_path)
    assert line.startswith(f"infergate history: history file {month} line ") and "is not valid JSON" in line
    assert not again.exists()


def test_add_into_a_baselines_directory_given_as_the_history_is_refused(tmp_path, capsys) -> None:
    # The audit's repro: `history --history baselines/ add ...` wrote month files beside the baselines.
    import shutil

    from infergate.commands.main import main

    repo = Path(__file__).resolve().parent.parent
    wrong = tmp_path / "baselines"
    shutil.copytree(repo / "baselines", wrong)
    sims = tmp_path / "sims"
    assert main(["history", "--history", str(tmp_path / "h"), "simulate", "--nights", "2", "--at", "1",
                 "--out", str(sims), "--baselines", str(wrong)]) in (0, 1)
    before = {p: p.read_bytes() for p in wrong.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main(["history", "--history", str(wrong), "add", str(sorted(sims.glob("*.json"))[0])]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "a baselines directory?" in err, err
    assert {p: p.read_bytes() for p in wrong.rglob("*") if p.is_file()} == before
