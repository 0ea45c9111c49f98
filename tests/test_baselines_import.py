"""``python -m infergate baselines import``: files recorded on another machine become sessions, with their origin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infergate.commands import baseline_sessions
from infergate.commands.main import main
from infergate.core.errors import DataFileError, UsageError
from infergate.measuring import baselines as bl
from infergate.measuring import fusions
from infergate.measuring.baseline_records import CaseBaseline, RunRecord, SessionInfo

# Pure Python: the same in both lanes (same Python, numpy, pytest, hypothesis): current lane only
# in ./suite test (tests/README.md).
pytestmark = pytest.mark.lane_independent

MACHINE, LANE = "amd-epyc__avx512__2c2t", "torch-2.8.0__ipex-2.8.0__tf-4.57.6"
ORIGIN = "runner amd-epyc__avx512__2c2t, recorded 2026-12-06 from c48a9e4"
STAMP = "2026-12-06T02:02:57+00:00"
ENV = {"torch_threads": 1, "recipe": 1, "measuring": {"settings": ["none"], "env": {}, "argv_prefix": []}}


def runner_files(where: Path, session: str = "h-runner", speedups: tuple[float, ...] = (1.22, 1.23, 1.24),
                 machine: str = MACHINE, lane: str = LANE, env: dict | None = None) -> tuple[Path, Path]:
    """A baselines file and a version 1 fusion file laid out as a runner's --update-baselines writes them."""
    runs = tuple(RunRecord(s, (s - 0.01, s + 0.01), 400, {"eager": 9.0, "jit": 9.0 / s}, STAMP, session)
                 for s in speedups)
    info = SessionInfo(session, "6.18.44", STAMP, STAMP, env or ENV, "recorded")
    path = bl.baseline_path(where, machine, lane)
    bl.update(path, {"bert-jit": CaseBaseline(runs, 0.99, env or ENV)}, machine, lane, session=(session, info))
    fpath = fusions.fusions_path(where, machine, lane)
    fpath.write_text(json.dumps({
        "schema": "infergate-fusions", "version": 1, "history": [fusions.HISTORY[0]], "machine_class": machine,
        "lane": lane, "cases": {"bert-jit": {"counts": {"mha": 0, "aten::linear": 25}, "recorded": STAMP}}}))
    return path, fpath


def files_under(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.suffix != ".lock"}


def test_runner_files_import_with_their_origin_and_numbers_unchanged(tmp_path: Path) -> None:
    src, fsrc = runner_files(tmp_path / "runner")
    root = tmp_path / "baselines"
    lines = baseline_sessions.import_files([src, fsrc], root, ORIGIN, today="2026-12-06")
    assert lines[0].startswith("imported 3 run(s) of 1 case(s), session(s) h-runner, from ")
    assert lines[1].startswith("imported 1 of 1 fusion expectation(s) from ")
    f, ff = bl.load(bl.baseline_path(root, MACHINE, LANE)), fusions.load(fusions.fusions_path(root, MACHINE, LANE))
    original = bl.load(src)
    assert f.cases == original.cases  # every number as recorded there
    info, was = f.sessions["h-runner"], original.sessions["h-runner"]
    assert (info.host, info.kernel, info.first, info.last, info.environment) == (
        was.host, was.kernel, was.first, was.last, was.environment)
    assert info.source == (f"imported 2026-12-06 from {src} ({ORIGIN}); not measured on this tree; there: recorded")
    assert ff is not None and dict(ff.cases["bert-jit"].counts) == {"mha": 0, "aten::linear": 25}
    assert ff.cases["bert-jit"].recorded == STAMP and ff.cases["bert-jit"].source.startswith("imported 2026-12-06")
    # The fusion file was version 1; written as version 2, its history says what changed.
    assert json.loads(fusions.fusions_path(root, MACHINE, LANE).read_text())["version"] == 2
    assert [h[:2] for h in ff.history] == ["1:", "2:"]
    assert baseline_sessions.show(root)[0].startswith(f"{MACHINE}/{LANE}.json: 1 case(s), 1 session(s): h-runner "
                                                  "(2026-12-06, imported 2026-12-06 from ")


def test_the_same_session_imported_twice_is_kept_once_and_says_so(tmp_path: Path) -> None:
    src, fsrc = runner_files(tmp_path / "runner")
    root = tmp_path / "baselines"
    baseline_sessions.import_files([src, fsrc], root, ORIGIN)
    before = files_under(root)
    lines = baseline_sessions.import_files([src, fsrc], root, "a CI retry")
    assert "3 run(s) of session(s) h-runner" in lines[0] and "already in" in lines[0]
    assert lines[0].endswith("kept once, nothing imported")
    assert "imported 0 of 1 fusion expectation(s)" in lines[1] and "1 already there" in lines[1]
    assert files_under(root) == before  # not even rewritten


def test_a_second_session_is_appended_beside_the_first(tmp_path: Path) -> None:
    root = tmp_path / "baselines"
    src, _ = runner_files(tmp_path / "a", session="h-one")
    baseline_sessions.import_files([src], root, ORIGIN)
    src2, _ = runner_files(tmp_path / "b", session="h-two", speedups=(1.30, 1.31))
    baseline_sessions.import_files([src2], root, "another runner")
    f = bl.load(bl.baseline_path(root, MACHINE, LANE))
    assert set(f.sessions) == {"h-one", "h-two"} and len(f.cases["bert-jit"].runs) == 5
    assert "(another runner)" in f.sessions["h-two"].source and f"({ORIGIN})" in f.sessions["h-one"].source


def test_new_runs_of_a_session_already_there_keep_both_origins(tmp_path: Path) -> None:
    root = tmp_path / "baselines"
    src, _ = runner_files(tmp_path / "a", session="h-one")
    baseline_sessions.import_files([src], root, ORIGIN)
    src2, _ = runner_files(tmp_path / "b", session="h-one", speedups=(1.25,))  # the same boot, one more run
    lines = baseline_sessions.import_files([src2], root, "the runner's second artifact")
    f = bl.load(bl.baseline_path(root, MACHINE, LANE))
    assert lines[0].startswith("imported 1 run(s)") and len(f.cases["bert-jit"].runs) == 4
    assert f"({ORIGIN})" in f.sessions["h-one"].source
    assert "; then imported " in f.sessions["h-one"].source and "(the runner's second artifact)" in f.sessions[
        "h-one"].source


def test_a_hand_set_floor_in_the_target_is_kept(tmp_path: Path) -> None:
    root = tmp_path / "baselines"
    src, _ = runner_files(tmp_path / "a", session="h-one")
    baseline_sessions.import_files([src], root, ORIGIN)
    target = bl.baseline_path(root, MACHINE, LANE)
    case = bl.load(target).cases["bert-jit"]
    bl.update(target, {"bert-jit": CaseBaseline(**{**case.__dict__, "floor": 0.08})}, MACHINE, LANE, replace=True)
    src2, _ = runner_files(tmp_path / "b", session="h-two")
    baseline_sessions.import_files([src2], root, ORIGIN)
    assert bl.load(target).cases["bert-jit"].floor == 0.08


def _edited(path: Path, **changes) -> Path:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))
    return path


BAD = {
    "class of another path": (lambda src, fsrc: _edited(src, machine_class="intel-xeon__amx__2c2t"),
                              "says machine class 'intel-xeon__amx__2c2t' lane 'torch-2.8.0__ipex-2.8.0__tf-4.57.6', "
                              "but its path names 'amd-epyc__avx512__2c2t'"),
    "lane of another path": (lambda src, fsrc: _edited(fsrc, lane="torch-2.13.0__noipex__tf-5.24.0"),
                             "says machine class .* lane 'torch-2.13.0__noipex__tf-5.24.0', but its path names"),
    "renamed": (lambda src, fsrc: src.rename(src.with_name("baseline.json")),
                "its path names 'amd-epyc__avx512__2c2t' 'baseline': refusing to import it"),
    "unknown version": (lambda src, fsrc: _edited(src, version=5),
                        "has version 5; this infergate reads versions 1, 2, 3, 4 — upgrade infergate"),
    "unknown fusion version": (lambda src, fsrc: _edited(fsrc, version=3),
                               "fusion expectations file .* has version 3; this infergate reads versions 1, 2"),
    "garbage": (lambda src, fsrc: _written(src, b"\x89PNG\r\n\x1a\n\x00\xff"), "is not UTF-8 text"),
    "not json": (lambda src, fsrc: _written(src, b'{"schema": "infergate-baselines", "ver'),
                 "is not valid JSON"),
    "sessions in a version 3 file": (lambda src, fsrc: _edited(src, version=3),
                         "has unknown field\\(s\\) 'sessions'"),
    "not a data file": (lambda src, fsrc: src.rename(src.with_suffix(".txt")),
                        "is neither a baselines file"),
    "missing": (lambda src, fsrc: src.with_name("torch-9__noipex__notf.json"), "does not exist"),
    "missing fusions": (lambda src, fsrc: fsrc.with_name("x.fusions.json"),
                        "fusion expectations file .* does not exist"),
    "not a class infergate names": (lambda src, fsrc: _class_dir(src, "..."), "not a machine class and lane"),
}


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _class_dir(src: Path, name: str) -> Path:
    # A class named like a path part would put the file outside <baselines>/.
    data = json.loads(src.read_text())
    data["machine_class"] = name
    other = src.parent.parent / name / src.name
    other.parent.mkdir()
    other.write_text(json.dumps(data))
    return other


@pytest.mark.parametrize("name", BAD)
def test_a_bad_file_is_refused_with_one_message_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    src, fsrc = runner_files(tmp_path / "runner")
    good, _ = runner_files(tmp_path / "good", lane="torch-2.13.0__noipex__tf-5.24.0")
    make, message = BAD[name]
    bad = make(src, fsrc)
    runner = files_under(tmp_path / "runner")
    root = tmp_path / "baselines"
    with pytest.raises(DataFileError, match=message) as caught:
        baseline_sessions.import_files([good, bad], root, ORIGIN)  # the good file first: still nothing written
    assert "\n" not in str(caught.value)
    assert not root.exists() and files_under(tmp_path / "runner") == runner


def test_a_version_3_file_is_refused_as_it_names_no_session(tmp_path: Path) -> None:
    path = bl.baseline_path(tmp_path / "runner", MACHINE, LANE)
    path.parent.mkdir(parents=True)
    run = {"speedup": 1.2, "ci": [1.1, 1.3], "rounds": 100, "median_ms": {"eager": 9.0, "jit": 7.5},
           "recorded": STAMP}
    case = {"runs": [run], "confidence": 0.99, "environment": {}, "estimator": "median-of-round-ratios"}
    path.write_text(json.dumps({"schema": "infergate-baselines", "version": 3, "history": [],
                                "machine_class": MACHINE, "lane": LANE, "cases": {"bert-jit": case}}))
    with pytest.raises(DataFileError, match="is version 3: it names no session"):
        baseline_sessions.import_files([path], tmp_path / "baselines", ORIGIN)


def test_runs_of_the_test_only_slowdown_hook_are_refused(tmp_path: Path) -> None:
    src, _ = runner_files(tmp_path / "runner", env={**ENV, "injected_slowdown": ["jit", 0.1]})
    with pytest.raises(DataFileError, match="test-only slowdown hook"):
        baseline_sessions.import_files([src], tmp_path / "baselines", ORIGIN)
    assert not (tmp_path / "baselines").exists()


@pytest.mark.parametrize("kind", ["baselines", "fusions"])
def test_a_target_of_another_class_at_that_place_is_refused_and_left_alone(tmp_path: Path, kind: str) -> None:
    src, fsrc = runner_files(tmp_path / "runner")
    root = tmp_path / "baselines"
    # A file moved by hand to where the runner's class and lane belong.
    runner_files(tmp_path / "other", machine="intel-xeon__amx__2c2t")
    moved = {"baselines": (bl.baseline_path, src), "fusions": (fusions.fusions_path, fsrc)}[kind]
    target = moved[0](root, MACHINE, LANE)
    target.parent.mkdir(parents=True)
    target.write_bytes(moved[0](tmp_path / "other", "intel-xeon__amx__2c2t", LANE).read_bytes())
    before = files_under(root)
    with pytest.raises(DataFileError, match="is for machine class 'intel-xeon__amx__2c2t'.*refusing to import"):
        baseline_sessions.import_files([src, fsrc], root, ORIGIN)
    assert files_under(root) == before


def test_a_newer_fusion_record_in_the_target_is_kept(tmp_path: Path) -> None:
    _, fsrc = runner_files(tmp_path / "runner")
    root = tmp_path / "baselines"
    target = fusions.fusions_path(root, MACHINE, LANE)
    fusions.update(target, {"bert-jit": {"mha": 2}}, MACHINE, LANE, recorded="2026-12-07T00:00:00+00:00")
    lines = baseline_sessions.import_files([fsrc], root, ORIGIN)
    assert "imported 0 of 1" in lines[0] and "1 kept as recorded there more recently" in lines[0]
    loaded = fusions.load(target)
    assert loaded is not None and dict(loaded.cases["bert-jit"].counts) == {"mha": 2}
    assert loaded.cases["bert-jit"].source == "recorded"


@pytest.mark.parametrize("origin", ["", "  ", "two\nlines", "a\rb", "x" * 201])
def test_the_origin_is_one_line_of_text(tmp_path: Path, origin: str) -> None:
    src, _ = runner_files(tmp_path / "runner")
    with pytest.raises(UsageError, match="--origin must be one line"):
        baseline_sessions.import_files([src], tmp_path / "baselines", origin)
    assert not (tmp_path / "baselines").exists()


def test_the_command_prints_one_line_and_exits_2_on_bad_input_and_0_otherwise(tmp_path: Path, capsys) -> None:
    src, fsrc = runner_files(tmp_path / "runner")
    root = tmp_path / "baselines"
    _edited(fsrc, version=3)
    assert main(["baselines", "import", str(src), str(fsrc), "--origin", ORIGIN, "--baselines", str(root)]) == 2
    out = capsys.readouterr().err.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("infergate baselines: fusion expectations file") and not root.exists()
    assert main(["baselines", "import", str(src), "--origin", ORIGIN, "--baselines", str(root)]) == 0
    assert capsys.readouterr().out.startswith("infergate baselines: imported 3 run(s)")
    with pytest.raises(SystemExit) as caught:  # argparse: the origin is required
        main(["baselines", "import", str(src), "--baselines", str(root)])
    assert caught.value.code == 2 and "--origin" in capsys.readouterr().err


def test_a_version_1_fusion_file_loads_as_recorded(tmp_path: Path) -> None:
    _, fsrc = runner_files(tmp_path / "runner")
    loaded = fusions.load(fsrc)
    assert loaded is not None and loaded.cases["bert-jit"].source == "recorded"
    data = json.loads(fsrc.read_text())
    data["cases"]["bert-jit"]["source"] = "recorded"  # a version 1 case has no source
    fsrc.write_text(json.dumps(data))
    with pytest.raises(DataFileError, match="must be an object with exactly"):
        fusions.load(fsrc)



def test_a_runner_file_of_another_set_up_is_refused_and_the_trees_runs_are_kept(tmp_path: Path, capsys) -> None:
    """Pooling runs of another thread count keeps only the newcomers: an import must not drop this
    tree's runs the gate judges against (it did, with a note and exit 0)."""
    root = tmp_path / "baselines"
    runner_files(root, session="h-mine", speedups=(1.30, 1.31, 1.29))
    src, fsrc = runner_files(tmp_path / "runner", env={**ENV, "torch_threads": 2})
    before = files_under(root)
    assert main(["baselines", "import", str(src), str(fsrc), "--origin", ORIGIN, "--baselines", str(root)]) == 2
    out = capsys.readouterr().err.strip().splitlines()
    assert len(out) == 1 and "refusing to import" in out[0] and "bert-jit" in out[0], out
    assert "1 torch thread(s)" in out[0] and "2 torch thread(s)" in out[0], out
    assert files_under(root) == before  # nothing written, not even the fusion file


def test_a_runner_file_of_an_older_recipe_is_refused_and_one_replacing_a_stale_case_is_not(tmp_path: Path) -> None:
    root = tmp_path / "baselines"
    old_recipe = {**ENV, "recipe": 0}  # jit's current recipe is 1: 0 is an older build
    src, _ = runner_files(tmp_path / "old", env=old_recipe)
    with pytest.raises(DataFileError, match="revision 0 of the jit recipe"):
        baseline_sessions.import_files([src], root, ORIGIN)
    assert not root.exists()
    # This tree's case is the stale one: the runner's current runs replace it, as a recording would.
    path = bl.baseline_path(root, MACHINE, LANE)
    stale = RunRecord(1.5, (1.49, 1.51), 400, {"eager": 9.0, "jit": 6.0}, STAMP, "h-mine")
    bl.update(path, {"bert-jit": CaseBaseline((stale,), 0.99, old_recipe)}, MACHINE, LANE)
    src, _ = runner_files(tmp_path / "runner")
    baseline_sessions.import_files([src], root, ORIGIN)
    assert bl.load(path).cases["bert-jit"].speedups == (1.22, 1.23, 1.24)


def test_show_and_the_gate_leave_stale_cases_out_of_the_family_and_the_spreads(tmp_path: Path, monkeypatch) -> None:
    """`show` counted stale cases in its Bonferroni family, printed detectable drops for variants
    the gate never judges, and spreads() pooled a stale case's runs into the current ones'."""
    from infergate.building.variants import Jit
    from infergate.core.defaults import DEFAULT_FAMILY_ALPHA
    from infergate.measuring.speedup_gate import spreads
    from infergate.measuring.speedup_verdicts import family_confidence

    root = tmp_path / "baselines"
    path = bl.baseline_path(root, MACHINE, LANE)

    def case(variant: str, recipe: int, speedups: tuple[float, ...]) -> CaseBaseline:
        runs = tuple(RunRecord(s, (s - 0.01, s + 0.01), 400, {"eager": 9.0, variant: 9.0 / s}, STAMP, "h-a")
                     for s in speedups)
        return CaseBaseline(runs, 0.99, {**ENV, "recipe": recipe})

    bl.update(path, {"a-jit": case("jit", 1, (1.2, 1.21, 1.22)), "b-jit": case("jit", 1, (1.3, 1.31)),
                     "c-jit_ipex": case("jit_ipex", 1, (1.5, 1.6, 1.7))}, MACHINE, LANE)
    current_only = spreads(bl.load(path))
    monkeypatch.setattr(Jit, "recipe", 2)
    bl.update(path, {"a-jit": case("jit", 2, (1.2, 1.21, 1.22))}, MACHINE, LANE, replace=True)  # b-jit is stale
    f = bl.load(path)
    assert spreads(f)[("jit", "median-of-round-ratios")].within_df == 2  # a-jit's runs alone, not b-jit's
    assert spreads(f)[("jit_ipex", "median-of-round-ratios")] == current_only[("jit_ipex", "median-of-round-ratios")]
    monkeypatch.setattr(Jit, "recipe", 3)  # now every jit case is stale
    lines = baseline_sessions.show(root)
    assert "2 case(s) stale, not judged" in lines[0] or "(2 stale, not judged)" in lines[0], lines
    assert any(line.split()[:4] == ["jit", "stale,", "not", "judged:"] for line in lines), lines
    ipex = next(line for line in lines if line.split()[0] == "jit_ipex")
    assert f"at {family_confidence(DEFAULT_FAMILY_ALPHA, 1):.4f}:" in ipex, ipex  # a family of its one case
