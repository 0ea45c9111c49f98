"""The results history: append-only JSONL per class and month, versioned, a re-added run kept once."""

from __future__ import annotations

import dataclasses
import json
import platform
import re
import resource
import signal
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from infergate.commands import history_add as history_cli
from infergate.commands.main import main
from infergate.core.errors import DataFileError
from infergate.measuring import history as hi

pytestmark = pytest.mark.lane_independent  # JSONL files and their versions: no torch


def results(path: Path, **kw) -> Path:
    """A results file as --ig-json writes it (the fields history add reads)."""
    path.write_text(json.dumps(results_data(**kw)))
    return path


def results_data(night: str = "2026-11-27", speedup: float = 1.4, lock: str = "lock-a", session: str = "h-runner1",
                 version: int = 1, machine_class: str = "m__avx2__2c2t", lane: str = "torch-x__noipex__notf") -> dict:
    stamp = f"{night}T02:30:00+00:00"
    run = {"speedup": speedup, "ci": [speedup * 0.99, speedup * 1.01], "rounds": 300,
           "median_ms": {"eager": 14.0, "jit": 14.0 / speedup}, "recorded": stamp, "session": session}
    info = {"machine_class": machine_class, "lane": lane, "cpu": "Some CPU", "environment": {},
            "provenance": {"commit": f"c{night}", "lock": lock, "packages": {"torch": "2.8.0"}, "cpu_flags": ["avx2"]},
            "infergate": {"results_version": version, "session": session, "estimator": "median-of-round-ratios",
                          "session_info": {"host": session, "kernel": "6.1", "first": stamp, "last": stamp,
                                           "environment": {}, "source": "recorded"}}}
    data = {"machine_info": info, "benchmarks": [
        {"extra_info": {"case_id": "bert-jit", "variant": "jit", "threads": 1, "recipe": 1,
                        "estimator": "median-of-round-ratios",
                        "run_records": [run, {**run, "speedup": speedup * 1.01}]}}]}
    return data


def test_the_night_is_the_utc_date_whatever_offset_the_file_carries(tmp_path) -> None:
    """22:30 at UTC-5 on 2026-11-30 is 03:30 UTC on 2026-12-01: read as the string's own date, the run
    was filed on the 30th, in November's file."""
    data = results_data(night="2026-11-30")
    for run in data["benchmarks"][0]["extra_info"]["run_records"]:
        run["recorded"] = "2026-11-30T22:30:00-05:00"
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    root = tmp_path / "history"
    history_cli.add([path], root)
    assert [p.name for p in (root / "m__avx2__2c2t").glob("*.jsonl")] == ["2026-12.jsonl"]
    (run, _), = hi.load(root).of("m__avx2__2c2t", "torch-x__noipex__notf")
    assert (run.night, run.recorded) == ("2026-12-01", "2026-12-01T03:30:00+00:00")


def test_a_run_is_appended_once_per_class_and_month(tmp_path) -> None:
    root = tmp_path / "history"
    first = history_cli.add([results(tmp_path / "a.json")], root)
    again = history_cli.add([results(tmp_path / "a.json")], root)
    later = history_cli.add([results(tmp_path / "b.json", night="2026-12-01", session="h-2")], root)
    assert "added run" in first[0] and "already in the history" in again[0] and "added run" in later[0]
    assert sorted(p.name for p in (root / "m__avx2__2c2t").glob("*.jsonl")) == ["2026-11.jsonl", "2026-12.jsonl"]
    h = hi.load(root)
    pairs = h.of("m__avx2__2c2t", "torch-x__noipex__notf")
    assert [r.night for r, _ in pairs] == ["2026-11-27", "2026-12-01"]
    run, case = pairs[0]
    assert (run.commit, run.lock, run.cpu_flags, case.eager_ms) == ("c2026-11-27", "lock-a", ["avx2"], 14.0)
    assert case.cost_s == pytest.approx(2 * 300 * 24.0 / 1000, rel=1e-3)


def test_a_run_id_already_in_the_history_with_other_records_is_refused_not_kept_once(tmp_path, capsys) -> None:
    """Same class, lane, session and timestamps are the same run id: other speedups under it were
    reported "already in the history: kept once" and dropped. The same file under another name is
    still the same run, kept once."""
    root = tmp_path / "history"
    history_cli.add([results(tmp_path / "a.json")], root)
    month = root / "m__avx2__2c2t" / "2026-11.jsonl"
    before = month.read_bytes()
    renamed = results(tmp_path / "renamed.json")
    assert "already in the history: kept once" in history_cli.add([renamed], root)[0]
    edited = results(tmp_path / "edited.json", speedup=1.2)
    later = results(tmp_path / "later.json", night="2026-11-28", session="h-2")
    assert main(["history", "--history", str(root), "add", str(later), str(edited)]) == 2
    rid = hi.load(root).cases[0].run_id
    assert capsys.readouterr().err.strip().splitlines() == [
        f"infergate history: results file {edited}: run {rid} (session h-runner1) is already in the history "
        f"{root} with other records; a run id is kept once, so these would be lost (a results file edited by "
        "hand?): nothing was added"]
    assert month.read_bytes() == before  # nor the good file beside it
    assert main(["history", "--history", str(tmp_path / "fresh"), "add", str(renamed), str(edited)]) == 2
    assert f"is already in results file {renamed} with other records" in capsys.readouterr().err
    assert not (tmp_path / "fresh").exists()


def test_unknown_versions_and_bad_files_are_refused_in_one_line_and_nothing_is_written(tmp_path, capsys) -> None:
    root = tmp_path / "history"
    good = results(tmp_path / "good.json")
    bad = results(tmp_path / "bad.json", version=9, night="2026-11-28")
    assert main(["history", "--history", str(root), "add", str(good), str(bad)]) == 2
    out = capsys.readouterr().err.strip().splitlines()
    assert len(out) == 1 and "results version 9" in out[0]
    assert not root.exists()  # the good file was not appended either
    history_cli.add([good], root)
    month = root / "m__avx2__2c2t" / "2026-11.jsonl"
    before = month.read_bytes()
    month.write_bytes(before + json.dumps({"schema": hi.SCHEMA, "version": 2, "kind": "run"}).encode() + b"\n")
    with pytest.raises(DataFileError, match="line 3 has history version 2"):
        hi.load(root)
    assert main(["history", "--history", str(root), "add", str(results(tmp_path / "c.json", night="2026-11-29"))]) == 2
    assert "history version 2" in capsys.readouterr().err


@pytest.mark.parametrize("version", ["true", "1.0"])
def test_a_version_that_only_equals_1_is_refused(tmp_path, version) -> None:
    root = tmp_path / "history"
    history_cli.add([results(tmp_path / "a.json")], root)
    month = root / "m__avx2__2c2t" / "2026-11.jsonl"
    month.write_text(month.read_text().replace('"version": 1', f'"version": {version}'))
    with pytest.raises(DataFileError, match=f"line 1 has history version {version.title()}"):
        hi.load(root)


def test_an_append_cut_short_leaves_the_history_as_it_was(tmp_path) -> None:
    """A write that fails part-way (here the file size limit; a full disk or a killed job alike)
    must not leave a torn last line: load would then refuse the whole class."""
    root = tmp_path / "history"
    history_cli.add([results(tmp_path / "a.json")], root)
    month = root / "m__avx2__2c2t" / "2026-11.jsonl"
    before = month.read_bytes()

    def limited() -> None:  # the child may write 200 bytes past the month file's size
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) + 200, resource.RLIM_INFINITY))

    later = results(tmp_path / "b.json", night="2026-11-28", session="h-runner2")
    cmd = [sys.executable, "-m", "infergate", "history", "--history", str(root), "add", str(later)]
    proc = subprocess.run(cmd, cwd=Path(__file__).parents[1], capture_output=True, text=True, preexec_fn=limited)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert month.read_bytes() == before and len(hi.load(root).runs) == 1
    assert [p.name for p in month.parent.iterdir() if p.name.endswith(".tmp")] == []
    history_cli.add([later], root)  # the retry appends it
    assert len(hi.load(root).runs) == 2


def test_a_month_file_without_a_final_newline_gets_the_next_run_on_a_line_of_its_own(tmp_path) -> None:
    """load reads a last line with no newline (an editor or a git merge can leave one); the next run's
    line was glued onto it, and every later load of the class refused the file."""
    root = tmp_path / "history"
    history_cli.add([results(tmp_path / "a.json")], root)
    month = root / "m__avx2__2c2t" / "2026-11.jsonl"
    month.write_bytes(month.read_bytes().rstrip(b"\n"))
    assert len(hi.load(root).runs) == 1
    history_cli.add([results(tmp_path / "b.json", night="2026-11-28", session="h-2")], root)
    assert [r.night for r, _ in hi.load(root).of("m__avx2__2c2t", "torch-x__noipex__notf")] == ["2026-11-27",
                                                                                              "2026-11-28"]


def test_a_truncated_history_is_named(tmp_path) -> None:
    root = tmp_path / "history"
    history_cli.add([results(tmp_path / "a.json")], root)
    month = root / "m__avx2__2c2t" / "2026-11.jsonl"
    month.write_bytes(month.read_bytes()[:-40])
    # Named as bad-input.md names a line (it read "history (line 2) file ..."), the position a column.
    says = (re.escape(f"history file {month} line 2 is not valid JSON (truncated or corrupt?): ")
            + ".* at column [0-9]+$")
    with pytest.raises(DataFileError, match=says):
        hi.load(root)


def test_provenance_names_the_commit_lock_packages_and_speed_flags(tmp_path) -> None:
    from infergate.building.machine import provenance
    from infergate.core.paths import REPO_ROOT

    stamp = tmp_path / "stamp"
    stamp.write_text("abc123\n")
    got = provenance(stamp, REPO_ROOT)
    assert got["lock"] == "abc123" and "pytest" in got["packages"]
    assert got["commit"] is not None and len(got["commit"]) == 40
    from infergate.building.capabilities import read_cpu_flags

    # The speed-relevant flags of this CPU, and only those (an x86-64 CPU has some: sse4 at least).
    speed = ("avx", "amx", "fma", "f16c", "sse4")
    assert got["cpu_flags"] or platform.machine() != "x86_64"
    assert all(f.startswith(speed) for f in got["cpu_flags"])
    assert set(got["cpu_flags"]) == {f for f in read_cpu_flags() if f.startswith(speed)}
    assert provenance(tmp_path / "absent", tmp_path)["lock"] is None  # recorded as unknown, shown as such


def test_promote_turns_the_last_sessions_of_the_newest_lock_into_a_baselines_file(tmp_path, capsys) -> None:
    from infergate.measuring import baselines as bl

    root = tmp_path / "history"
    for n in range(6):
        lock = "lock-a" if n < 2 else "lock-b"
        history_cli.add([results(tmp_path / f"r{n}.json", night=f"2026-11-{n + 10}", speedup=1.4 + 0.01 * n,
                                 lock=lock, session=f"h-{n}")], root)
    out_dir = tmp_path / "rolling"
    argv = ["history", "--history", str(root), "promote", "--class", "m__avx2__2c2t", "--lane",
            "torch-x__noipex__notf",
            "--sessions", "3", "--baselines", str(out_dir)]
    assert main(argv) == 0
    f = bl.load(out_dir / "m__avx2__2c2t" / "torch-x__noipex__notf.json")
    assert list(f.sessions) == ["h-3", "h-4", "h-5"]
    assert len(f.cases["bert-jit"].runs) == 6 and min(f.cases["bert-jit"].speedups) >= 1.43
    wide = tmp_path / "wide"
    assert main([*argv[:-3], "8", "--baselines", str(wide)]) == 0
    kept = bl.load(wide / "m__avx2__2c2t" / "torch-x__noipex__notf.json").sessions
    assert list(kept) == ["h-2", "h-3", "h-4", "h-5"]  # lock-b only
    capsys.readouterr()
    assert main([*argv[:7], "ipex", *argv[8:]]) == 2  # a lock's name: the history knows lanes by results' names
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and "holds no runs of machine class 'm__avx2__2c2t' lane 'ipex' (its lanes of that " \
                              "class: torch-x__noipex__notf; --lane is the name results give" in said[0], said
    assert main([*argv[:5], "other__avx2__2c2t", *argv[6:]]) == 2
    assert "lane 'torch-x__noipex__notf' (no run of that class;" in capsys.readouterr().err
    assert main([*argv[:4], "--all", *argv[6:]]) == 2  # --all with --lane: it promoted every lane, unsaid
    assert "--all takes every class x lane: --lane applies with --class only" in capsys.readouterr().err
    assert main([*argv[:4], "--class", "m__avx2__2c2t", "--baselines", str(tmp_path / "x")]) == 2
    assert "needs --lane" in capsys.readouterr().err
    every = tmp_path / "every"
    assert main([*argv[:4], "--all", "--sessions", "3", "--baselines", str(every)]) == 0
    assert list(bl.load(every / "m__avx2__2c2t" / "torch-x__noipex__notf.json").sessions) == ["h-3", "h-4", "h-5"]


def test_results_written_by_the_perf_run_become_history_with_their_provenance(tmp_path) -> None:
    from infergate.building.cases import Case
    from infergate.core.atomic import write_json
    from infergate.matrix.dtypes import DType
    from infergate.pytest_plugin.perf_plugin import PERF_TEST
    from infergate.reports.summary import results_json
    from tests.perf_fakes import FakeMeasurer
    from tests.test_gate import CASE, SPEC, make_run, synthetic

    run = make_run(tmp_path, FakeMeasurer([synthetic(7.0)]))
    run.prepare([Case(SPEC, "eager", DType.FP32), CASE])
    results = [run.run_case(Case(SPEC, "eager", DType.FP32)), run.run_case(CASE)]
    path = tmp_path / "perf-run.json"
    write_json(path, results_json(results, run.machine_info(), PERF_TEST))
    lines = history_cli.add([path], tmp_path / "history")
    assert "added run" in lines[0]
    (info, case), = hi.load(tmp_path / "history").of(run.machine_class, run.lane)
    assert case.case_id == CASE.id and info.commit is not None and info.packages and "torch" in info.packages
    assert case.verdict == results[1].verdict


@pytest.mark.parametrize("action", [["detect"], ["show"], ["publish", "--out", "site"]])
def test_a_mistyped_history_directory_is_one_line_and_exit_2(tmp_path, capsys, action) -> None:
    assert main(["history", "--history", str(tmp_path / "nope"), *action]) == 2
    out = capsys.readouterr().err.strip().splitlines()
    assert len(out) == 1 and "does not exist" in out[0]


@pytest.mark.parametrize("action", [["publish", "--out"], ["simulate", "--out"], ["promote", "--all", "--baselines"]])
@pytest.mark.parametrize("below", [(), ("sub",)])
def test_an_output_directory_that_is_a_file_is_refused_in_one_line_and_the_file_kept(tmp_path, capsys, action,
                                                                                     below) -> None:
    """It used to end in a FileExistsError or NotADirectoryError traceback once the command wrote."""
    root = tmp_path / "history"
    history_cli.add([results(tmp_path / "r.json")], root)
    afile = tmp_path / "README.md"
    afile.write_text("kept")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    with pytest.raises(SystemExit) as exit_:
        main(["history", "--history", str(root), *action, str(afile.joinpath(*below))])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and f"{afile} exists and is not a directory" in err[-1]
    assert afile.read_text() == "kept" and {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


def test_show_tells_apart_locks_that_share_their_first_12_characters(tmp_path, capsys) -> None:
    """Cut to 12 characters, simulate's two locks (--lock-at) both read "simulated-lo"."""
    root = tmp_path / "history"
    history_cli.add([results(tmp_path / "a.json", lock="simulated-lock-a"),
                     results(tmp_path / "b.json", night="2026-11-28", session="h-2", lock="simulated-lock-b"),
                     results(tmp_path / "c.json", night="2026-11-29", session="h-3", lock="f" * 64)], root)
    assert main(["history", "--history", str(root), "show"]) == 0
    assert f"lock digest(s) {'f' * 16}, simulated-lock-a, simulated-lock-b;" in capsys.readouterr().out


@pytest.mark.parametrize("action", [["detect"], ["detect", "--new-against", "{before}"], ["show"]])
def test_a_directory_that_holds_no_history_is_refused_not_reported_as_a_quiet_night(tmp_path, capsys,
                                                                                    action) -> None:
    """``--history docs`` (a directory of something else) printed "0 case series, ... 0 regression
    alert(s)" and exit 0, as a clean night reads; publish and promote refused it already."""
    root, before = tmp_path / "docs", tmp_path / "before"
    root.mkdir()
    before.mkdir()
    (root / "README.md").write_text("not a history\n")
    argv = ["history", "--history", str(root), *(a.format(before=before) for a in action)]
    assert main(argv) == 2
    out = capsys.readouterr().err.strip().splitlines()
    assert out == [f"infergate history: history {root} holds no runs: nothing to {action[0]}"]


def _shard(path: Path, night: str, session: str, cases: list[str]) -> Path:
    """One nightly shard job's results: its own session, its share of the cases."""
    data = json.loads(results(path, night=night, session=session).read_text())
    data["benchmarks"] = [{"extra_info": {**data["benchmarks"][0]["extra_info"], "case_id": c}} for c in cases]
    path.write_text(json.dumps(data))
    return path


def test_promote_keeps_each_case_its_newest_sessions_when_every_shard_is_a_session(tmp_path) -> None:
    from infergate.measuring import baselines as bl

    shards = [[f"s{k}-a", f"s{k}-b"] for k in range(9)]
    committed, root, out = tmp_path / "committed", tmp_path / "history", tmp_path / "baselines"
    history_cli.add([_shard(tmp_path / "c.json", "2026-10-01", "h-committed", sum(shards, []))], committed)
    assert main(["history", "--history", str(committed), "promote", "--all", "--baselines", str(out)]) == 0
    for night in range(5):
        history_cli.add([_shard(tmp_path / f"n{night}-{k}.json", f"2026-11-{night + 10}", f"h-{night}-{k}", cases)
                         for k, cases in enumerate(shards)], root)
    assert main(["history", "--history", str(root), "promote", "--all", "--sessions", "8",
                 "--baselines", str(out)]) == 0
    f = bl.load(out / "m__avx2__2c2t" / "torch-x__noipex__notf.json")
    assert sorted(f.cases) == sorted(sum(shards, []))
    for case_id, case in f.cases.items():  # 5 nights' shard sessions and the committed one: min(8, 6)
        k = case_id[1]
        assert set(case.by_session()) == {"h-committed", *(f"h-{n}-{k}" for n in range(5))}, case_id
    fresh = tmp_path / "three"
    assert main(["history", "--history", str(root), "promote", "--all", "--sessions", "3",
                 "--baselines", str(fresh)]) == 0
    for case_id, case in bl.load(fresh / "m__avx2__2c2t" / "torch-x__noipex__notf.json").cases.items():  # min(3,5)
        assert set(case.by_session()) == {f"h-{n}-{case_id[1]}" for n in (2, 3, 4)}, case_id


def test_promote_refuses_nights_made_by_history_simulate_and_writes_no_baselines_file(tmp_path, capsys,
                                                                                     monkeypatch) -> None:
    """Invented nights in the committed baselines/ would be what the gate judges real runs against;
    --simulated lets them into a directory of their own, saying so in each session's source."""
    from infergate.commands.history_simulate import simulate
    from infergate.core.paths import REPO_ROOT
    from infergate.measuring import baselines as bl

    one = next(p for p in sorted((REPO_ROOT / "baselines").glob("*/*.json")) if not p.name.endswith(".fusions.json"))
    recorded = tmp_path / "recorded" / one.parent.name / one.name
    recorded.parent.mkdir(parents=True)
    recorded.write_bytes(one.read_bytes())
    root, out = tmp_path / "history", tmp_path / "baselines"
    # A measured class x lane that sorts first: --all must refuse before it writes that one's file.
    history_cli.add([results(tmp_path / "r.json", machine_class="a__avx2__2c2t")], root)
    simulate(recorded.parent.parent, tmp_path / "made", root, nights=3, step=0.05, at=1, sd=0.013)
    for which in (["--all"], ["--class", one.parent.name, "--lane", one.stem]):
        assert main(["history", "--history", str(root), "promote", *which, "--baselines", str(out)]) == 2
        said = capsys.readouterr().err.strip().splitlines()
        assert len(said) == 1 and "3 of the 3 session(s)" in said[0], said
        assert re.search(r"made by history simulate \(sim-000-\w+, sim-001-\w+, sim-002-\w+; their runs record "
                         r"commit 'simulated'\)", said[0]), said
    assert not out.exists()
    import importlib

    # The module the code reads (sys.modules'), not the package attribute: pytester's in-process runs
    # restore sys.modules, and the two can differ after one.
    paths = importlib.import_module("infergate.core.paths")

    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path)  # out stands for the project's committed baselines/
    simulated = ["history", "--history", str(root), "promote", "--all", "--simulated", "--baselines"]
    assert main([*simulated, str(out)]) == 2
    assert "--simulated writes invented nights" in capsys.readouterr().err and not out.exists()
    scratch = tmp_path / "scratch"
    assert main([*simulated, str(scratch)]) == 0
    sessions = bl.load(scratch / one.parent.name / one.name).sessions
    newest, = (s for name, s in sessions.items() if name.startswith("sim-002-"))
    assert newest.source.startswith("simulated by history simulate; promoted from the history")
    assert bl.load(scratch / "a__avx2__2c2t" / "torch-x__noipex__notf.json").sessions["h-runner1"].source.startswith(
        "promoted from the history")


def test_promote_says_which_sessions_the_baselines_file_kept(tmp_path, capsys) -> None:
    """Older sessions than the file's newest eight age out as they are written: 'promoted 3' would be untrue."""
    from infergate.measuring import baselines as bl

    newer, older, out = tmp_path / "newer", tmp_path / "older", tmp_path / "baselines"
    for n in range(7):
        history_cli.add([results(tmp_path / f"n{n}.json", night=f"2026-11-{n + 10}", session=f"new-{n}")], newer)
    for n in range(3):
        history_cli.add([results(tmp_path / f"o{n}.json", night=f"2026-10-{n + 10}", session=f"old-{n}")], older)
    assert main(["history", "--history", str(newer), "promote", "--all", "--baselines", str(out)]) == 0
    capsys.readouterr()
    assert main(["history", "--history", str(older), "promote", "--all", "--baselines", str(out)]) == 0
    said = capsys.readouterr().out.strip().splitlines()[-1]
    assert said.startswith("infergate history: promoted 1 session(s) (old-2) into ")
    assert said.endswith("; 2 of the 3 aged out at once, older than the newest 8 session(s) its cases keep")
    assert "old-2" in bl.load(out / "m__avx2__2c2t" / "torch-x__noipex__notf.json").sessions


@pytest.mark.parametrize(("machine_class", "lane"), [("merged", "torch-x__noipex__notf"),
                                                     ("m__avx2__2c2t", "../../etc"), ("../m__avx2__2c2t", "x")])
@pytest.mark.parametrize("command", [["history", "--history", "{out}", "add"],
                                     ["baselines", "add", "--baselines", "{out}"]])
def test_add_refuses_a_class_or_lane_infergate_does_not_name(tmp_path, capsys, machine_class, lane, command) -> None:
    """They become a directory and a file name: a merge's output (class "merged") or a crafted one
    must not be written anywhere, history or baselines."""
    made = results(tmp_path / "r.json", machine_class=machine_class, lane=lane)
    out = tmp_path / "out"
    assert main([*(a.format(out=out) for a in command), str(made)]) == 2
    printed = capsys.readouterr().err.strip().splitlines()
    assert len(printed) == 1 and f"{machine_class!r} / {lane!r} is not a machine class and lane" in printed[0]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["r.json"]


def _with_runless(path: Path, cases: list[str], keep: bool = True, **kw) -> Path:
    """A shard whose ``cases`` had every run disturbed: the perf run writes them with no runs."""
    data = results_data(**kw)
    extra = data["benchmarks"][0]["extra_info"]
    data["benchmarks"] = [*data["benchmarks"][:keep], *({"extra_info": {**extra, "case_id": c, "run_records": []}}
                                                        for c in cases)]
    path.write_text(json.dumps(data))
    return path


def test_a_case_whose_every_run_was_disturbed_is_left_out_and_the_night_is_kept(tmp_path, capsys) -> None:
    """Before, one such case refused its file, and with it (all checked first) every shard of the night."""
    root = tmp_path / "history"
    good = results(tmp_path / "perf-job0.json")
    mixed = _with_runless(tmp_path / "perf-job1.json", ["bert-jit-b"], session="h-other")
    busy = _with_runless(tmp_path / "perf-job2.json", ["bert-jit-c", "bert-jit-d"], keep=False, session="h-busy")
    assert main(["history", "--history", str(root), "add", str(good), str(mixed), str(busy)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 3 and "added run" in out[0] and "left out" not in out[0]
    assert "added run" in out[1] and "1 case(s) left out (every run measured on a busy machine): bert-jit-b" in out[1]
    assert out[2].endswith("nothing added from perf-job2.json: 2 case(s) left out (every run measured on a busy "
                           "machine): bert-jit-c, bert-jit-d")
    h = hi.load(root)
    assert sorted(r.session for r in h.runs.values()) == ["h-other", "h-runner1"]
    assert [c.case_id for c in h.cases] == ["bert-jit", "bert-jit"]


def test_a_night_with_no_case_that_has_runs_is_one_line_and_exit_2(tmp_path, capsys) -> None:
    root = tmp_path / "history"
    busy = _with_runless(tmp_path / "perf-job0.json", ["bert-jit-b"], keep=False)
    assert main(["history", "--history", str(root), "add", str(busy)]) == 2
    out = capsys.readouterr().err.strip().splitlines()
    assert len(out) == 1 and "no run to add" in out[0] and "bert-jit-b" in out[0] and "busy machine" in out[0]
    assert not root.exists()


def _two_nights(tmp_path: Path) -> Path:
    root = tmp_path / "h"
    history_cli.add([results(tmp_path / "a.json"), results(tmp_path / "b.json", night="2026-11-28", session="h-2")],
                    root)
    return root


def _edit(root: Path, kind: str, edit) -> tuple[Path, int]:
    """Edit the newest ``kind`` line of the class's November file; its path and line number."""
    month = root / "m__avx2__2c2t" / "2026-11.jsonl"
    lines = [json.loads(line) for line in month.read_text().splitlines()]
    number = max(i for i, line in enumerate(lines, 1) if line["kind"] == kind)
    edit(lines[number - 1])
    month.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return month, number


BAD_LINES = {  # what a hand edit or another writer can leave; each crashed a command or was read as valid
    "recorded null": ("run", lambda d: d.update(recorded=None), "recorded must be a non-empty string"),
    "recorded not a time": ("run", lambda d: d.update(recorded="yesterday"), "recorded must be an ISO timestamp"),
    "night not a date": ("run", lambda d: d.update(night="2026-11-31"), "night must be a date"),
    "night of another month": ("run", lambda d: d.update(night="2026-12-28", recorded="2026-12-28T02:30:00+00:00"),
                               "is not the date of its recorded"),
    "night not its recorded date": ("run", lambda d: d.update(night="2026-11-29"), "is not the date of its recorded"),
    "packages a list": ("run", lambda d: d.update(packages=["torch"], lock="other"), "packages must be an object"),
    "a package version a number": ("run", lambda d: d.update(packages={"torch": 2.8}), "packages must be an object"),
    "cpu_flags a string": ("run", lambda d: d.update(cpu_flags="avx2"), "cpu_flags must be a list of strings"),
    "class a path": ("run", lambda d: d.update(machine_class="../../escaped"), "is not a machine class and lane"),
    "lane a path": ("run", lambda d: d.update(lane="../x"), "is not a machine class and lane"),
    "class of another directory": ("run", lambda d: d.update(machine_class="other__avx2__2c2t"),
                                   "is not its directory's 'm__avx2__2c2t'"),
    "run field missing": ("run", lambda d: d.pop("session"), "is missing session"),
    "unknown field": ("run", lambda d: d.update(sesion="x"), "unknown field(s) 'sesion'"),
    "recipe a string": ("case", lambda d: d.update(recipe="2"), "recipe must be a revision number"),
    "recipe a float": ("case", lambda d: d.update(recipe=1.9), "recipe must be a revision number"),
    "recipe true": ("case", lambda d: d.update(recipe=True), "recipe must be a revision number"),
    "threads a string": ("case", lambda d: d.update(threads="abc"), "threads must be a positive integer or null"),
    "environment a list": ("case", lambda d: d.update(environment=["x"]), "environment must be an object"),
    "verdict a number": ("case", lambda d: d.update(verdict=3), "verdict must be a non-empty string or null"),
    "no runs": ("case", lambda d: d.update(runs=[]), "runs must be a non-empty list"),
    "a run's speedup a string": ("case", lambda d: d["runs"][0].update(speedup="1.4"), "a run speedup"),
}


@pytest.mark.parametrize("bad", BAD_LINES)
def test_a_bad_field_in_a_history_line_is_one_line_naming_file_and_line_for_every_reader(tmp_path, capsys,
                                                                                          bad) -> None:
    kind, edit, says = BAD_LINES[bad]
    root = _two_nights(tmp_path)
    month, number = _edit(root, kind, edit)
    with pytest.raises(DataFileError, match=f"line {number}: a {kind} record"):
        hi.load(root)
    for action in (["show"], ["detect"], ["promote", "--all", "--baselines", str(tmp_path / "out")],
                   ["publish", "--out", str(tmp_path / "site")]):
        assert main(["history", "--history", str(root), *action]) == 2, (bad, action)
        out = capsys.readouterr().err.strip().splitlines()
        assert len(out) == 1 and f"history file {month} line {number}: a {kind} record" in out[0], out
        assert says in out[0], out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json", "h"]  # nothing written


def _write_lines(month: Path, lines: list[dict]) -> None:
    month.write_text("".join(json.dumps(line) + "\n" for line in lines))


def _repeat_case(month: Path, lines: list[dict]) -> tuple[Path, int, str]:
    _write_lines(month, [*lines, lines[1]])
    return month, len(lines) + 1, f"repeats case bert-jit of run {lines[1]['run_id']}, already on line 2:"


def _repeat_run(month: Path, lines: list[dict]) -> tuple[Path, int, str]:
    _write_lines(month, [*lines, {**lines[0], "lock": "lock-other"}])  # it replaced the first: another segment
    return month, len(lines) + 1, f"repeats run {lines[0]['run_id']}, already on line 1:"


def _repeat_run_in_another_class(month: Path, lines: list[dict]) -> tuple[Path, int, str]:
    other = month.parents[1] / "n__avx2__2c2t" / month.name
    other.parent.mkdir()
    _write_lines(other, [{**lines[0], "machine_class": "n__avx2__2c2t"}])
    return other, 1, f"repeats run {lines[0]['run_id']}, already on line 1 of history file {month}:"


@pytest.mark.parametrize("repeat", [_repeat_case, _repeat_run, _repeat_run_in_another_class])
def test_a_run_or_case_read_twice_is_refused_naming_both_lines(tmp_path, capsys, repeat) -> None:
    """The same case line twice was read as a second point of its night; a second run line of the same
    run id silently replaced the first, whatever its lock or class."""
    root = _two_nights(tmp_path)
    month = root / "m__avx2__2c2t" / "2026-11.jsonl"
    where, number, says = repeat(month, [json.loads(line) for line in month.read_text().splitlines()])
    with pytest.raises(DataFileError, match=re.escape(f"history file {where} line {number} {says}")):
        hi.load(root)
    for action in (["show"], ["detect"], ["promote", "--all", "--baselines", str(tmp_path / "out")]):
        assert main(["history", "--history", str(root), *action]) == 2, action
        out = capsys.readouterr().err.strip().splitlines()
        assert len(out) == 1 and f"history file {where} line {number} {says}" in out[0], out


@pytest.mark.parametrize("moved_to", ["n__avx2__2c2t/2026-11.jsonl", "m__avx2__2c2t/2026-12.jsonl"])
def test_a_case_line_away_from_its_run_s_file_is_refused_alike_by_every_loader(tmp_path, capsys, moved_to) -> None:
    """A run and its cases are written to one month file. Moved to another class's directory, a case
    was a point of its run's class for load(root) (detect, publish) and an orphan for load(root, class)
    (add); moved to another month of its class, it was read as if still beside its run."""
    root = _two_nights(tmp_path)
    month = root / "m__avx2__2c2t" / "2026-11.jsonl"
    lines = [json.loads(line) for line in month.read_text().splitlines()]
    _write_lines(month, [line for k, line in enumerate(lines, 1) if k != 4])
    other = root / moved_to
    other.parent.mkdir(exist_ok=True)
    _write_lines(other, [lines[3]])
    says = (f"history file {other} line(s) 1: case record(s) of run(s) {lines[3]['run_id']} whose run record is "
            "not in this file")
    for load in (lambda: hi.load(root), lambda: hi.load(root, other.parent.name)):
        with pytest.raises(DataFileError, match=re.escape(says)):
            load()
    later = results(tmp_path / "c.json", night="2026-11-29", session="h-3", machine_class=other.parent.name)
    for action in (["detect"], ["publish", "--out", str(tmp_path / "site")], ["add", str(later)]):
        assert main(["history", "--history", str(root), *action]) == 2, action
        out = capsys.readouterr().err.strip().splitlines()
        assert len(out) == 1 and says in out[0], out


@pytest.mark.parametrize("sessions", ["none", "one run each"])
def test_simulate_from_baselines_with_no_session_of_two_runs_is_one_line_and_exit_2(tmp_path, capsys,
                                                                                  sessions) -> None:
    """It resamples within-session deviations: an empty --baselines directory, or one whose sessions hold
    one run each, gave a ValueError traceback (calibrate said it in one line)."""
    baselines = tmp_path / "baselines"
    baselines.mkdir()
    if sessions == "one run each":
        data = results_data()
        data["benchmarks"][0]["extra_info"]["run_records"] = data["benchmarks"][0]["extra_info"]["run_records"][:1]
        (tmp_path / "r.json").write_text(json.dumps(data))
        history_cli.add([tmp_path / "r.json"], tmp_path / "recorded")
        assert main(["history", "--history", str(tmp_path / "recorded"), "promote", "--all",
                     "--baselines", str(baselines)]) == 0
        capsys.readouterr()
    out, root = tmp_path / "out", tmp_path / "history"
    assert main(["history", "--history", str(root), "simulate", "--out", str(out), "--baselines", str(baselines)]) == 2
    printed = capsys.readouterr().err.strip().splitlines()
    assert printed == [f"infergate history: baselines under {baselines}: no recorded session has two runs: "
                       "nothing to resample"]
    assert not out.exists() and not root.exists()


@pytest.mark.parametrize(("given", "says"), [
    (["--nights", "10", "--at", "20"], "--at 20 is not one of the 10 simulated nights: give 0 to 9"),
    (["--nights", "10", "--at", "10"], "--at 10 is not one of the 10 simulated nights: give 0 to 9"),
    (["--lock-at", "100"], "--lock-at 100 is not one of the 30 simulated nights after the first: give 1 to 29")])
def test_simulate_refuses_a_drop_or_lock_change_outside_the_simulated_nights(tmp_path, capsys, given, says) -> None:
    """``--nights 10 --at 20`` said "a 5% drop ... from night 20" and exit 0: no night had it."""
    out, root = tmp_path / "out", tmp_path / "history"
    assert main(["history", "--history", str(root), "simulate", "--out", str(out), *given]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"infergate history: {says}"]
    assert not out.exists() and not root.exists()


def test_another_draw_simulated_into_a_history_is_added_and_a_repeated_one_said_so(tmp_path, capsys) -> None:
    """A second simulate with another seed printed "simulated 2 night(s) ... into" and added nothing:
    its run ids were the first draw's (same sessions and timestamps), each dropped as already there."""
    root = tmp_path / "history"
    argv = ["history", "--history", str(root), "simulate", "--out", str(tmp_path / "out"), "--nights", "2",
            "--at", "1"]
    assert main([*argv, "--seed", "1"]) == 0
    first = capsys.readouterr().out
    runs = len(hi.load(root).runs)
    assert first.strip().endswith(f"added {runs} of {runs} run(s)"), first
    assert main([*argv, "--seed", "2"]) == 0
    assert capsys.readouterr().out.strip().endswith(f"added {runs} of {runs} run(s)")
    assert len(hi.load(root).runs) == 2 * runs
    assert main([*argv, "--seed", "2"]) == 0
    again = capsys.readouterr().out.strip()
    assert again.endswith(f"added 0 of {runs} run(s); {runs} of them already in the history (draw "
                          f"{again.split('(draw ')[1][:8]} simulated into it before): kept once"), again
    assert len(hi.load(root).runs) == 2 * runs


def test_history_runs_are_read_in_the_baselines_version_history_1_embeds(tmp_path, monkeypatch) -> None:
    """A later baselines format (here a version 5 whose runs need a field history lines lack) must not
    make the existing history unreadable: its own version is unchanged."""
    from infergate.measuring.baseline_records import InvalidBaseline, RunRecord

    root = _two_nights(tmp_path)
    read = RunRecord.from_json.__func__

    def version_5(cls, data, version=5):
        if version == 5:
            raise InvalidBaseline("is missing a field of baselines version 5")
        return read(cls, data, version)

    monkeypatch.setattr(RunRecord, "from_json", classmethod(version_5))
    assert len(hi.load(root).cases) == 2


def test_publish_never_writes_outside_out(tmp_path) -> None:
    """A class named '../../escaped' made publish write escaped__<lane>.html two levels above --out."""
    from infergate.measuring.history_analysis import analyse
    from infergate.reports import dashboard

    found = analyse(hi.load(_two_nights(tmp_path)))
    crafted = [dataclasses.replace(s, machine_class="../../escaped") for s in found]
    out = tmp_path / "a" / "b" / "site"
    with pytest.raises(DataFileError, match="would name a page outside"):
        dashboard.publish(crafted, out)
    assert not (tmp_path / "a").exists() and not list(tmp_path.rglob("escaped*"))


def test_add_refuses_results_that_would_make_an_unreadable_history_line(tmp_path, capsys) -> None:
    """Provenance is written to the history as given: a list of packages was appended, and every later
    load of the class refused (or crashed on) it."""
    data = results_data()
    data["machine_info"]["provenance"]["packages"] = ["torch"]
    (tmp_path / "r.json").write_text(json.dumps(data))
    root = tmp_path / "history"
    assert main(["history", "--history", str(root), "add", str(tmp_path / "r.json")]) == 2
    out = capsys.readouterr().err.strip().splitlines()
    assert len(out) == 1 and "would give the history a run record packages must be an object" in out[0], out
    assert not root.exists()


@pytest.mark.parametrize("field", ["first", "last"])
@pytest.mark.parametrize("command", [["history", "--history", "{out}", "add"],
                                     ["baselines", "add", "--baselines", "{out}"]])
def test_a_bad_session_time_is_named_as_the_field_read(tmp_path, capsys, field, command) -> None:
    """A session_info.first of 'yesterday' was reported as "recorded must be an ISO timestamp": the runs'
    field, which was fine."""
    data = results_data()
    data["machine_info"]["infergate"]["session_info"][field] = "yesterday"
    made = tmp_path / "r.json"
    made.write_text(json.dumps(data))
    out = tmp_path / "out"
    assert main([*(a.format(out=out) for a in command), str(made)]) == 2
    printed = capsys.readouterr().err.strip().splitlines()
    assert len(printed) == 1 and printed[0].endswith(
        f"results file {made}: machine_info.infergate session or session_info is not valid: {field} must be an "
        "ISO timestamp, got 'yesterday'"), printed
    assert not out.exists()


@pytest.mark.parametrize("version", ["true", "1.0"])
@pytest.mark.parametrize("command", [["history", "--history", "{out}", "add"],
                                     ["baselines", "add", "--baselines", "{out}"]])
def test_a_results_version_that_only_equals_1_is_refused(tmp_path, capsys, version, command) -> None:
    made = tmp_path / "r.json"
    made.write_text(json.dumps(results_data()).replace('"results_version": 1', f'"results_version": {version}'))
    out = tmp_path / "out"
    assert main([*(a.format(out=out) for a in command), str(made)]) == 2
    printed = capsys.readouterr().err.strip().splitlines()
    assert len(printed) == 1 and f"has results version {version.title()}" in printed[0], printed
    assert not out.exists()


def test_show_splits_each_variants_night_to_night_spread_on_its_newest_set_up_only(tmp_path, capsys) -> None:
    """Three cases whose nights move together by a known level: all of it shared, none their own;
    the older lock's nights, 20 % apart (an upgrade, not a host's night), are left out."""
    import math
    import statistics

    root = tmp_path / "history"
    effects = [0.0, 0.02, -0.01, 0.015]
    nights = [("2026-11-20", "lock-old", 0.2), ("2026-11-21", "lock-old", 0.0)] + [
        (f"2026-11-2{2 + i}", "lock-new", e) for i, e in enumerate(effects)]
    files = []
    for i, (night, lock, effect) in enumerate(nights):
        data = results_data(night=night, lock=lock, session=f"h-{i}")
        bench = data["benchmarks"][0]["extra_info"]
        data["benchmarks"] = []
        for c, level in enumerate((1.2, 1.4, 1.6)):
            s = level * math.exp(effect)
            runs = [{**run, "speedup": s * f} for run, f in zip(bench["run_records"], (1.0, 1.01), strict=True)]
            data["benchmarks"].append({"extra_info": {**bench, "case_id": f"m{c}-jit", "run_records": runs}})
        files.append(tmp_path / f"n{i}.json")
        files[-1].write_text(json.dumps(data))
    history_cli.add(files, root)
    assert main(["history", "--history", str(root), "show"]) == 0
    split = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  jit ")]
    assert len(split) == 1, split
    assert f"share a level of sd {statistics.stdev(effects):.2%} (df 3)" in split[0], split
    # two runs a night, 1 % apart: their sd log(1.01)/sqrt(2), a night's mean carries that over sqrt(2)
    assert f"each case's own beyond it: sd 0.00% (df 6; its runs' noise alone {math.log(1.01) / 2:.2%})" in split[0]
    assert "3 cases seen in the same 4 nights (its newest set-up)" in split[0], split


def test_show_counts_a_cases_newest_run_of_a_night_and_says_when_it_splits_an_older_set_up(tmp_path, capsys) -> None:
    """A re-run on one night, 10 % off: its gap is not run noise and not a second night; and a
    newest lock seen on one night only leaves the split on the lock before it, said so."""
    import math

    root = tmp_path / "history"
    effects = [0.0, 0.02, -0.01]

    def night_file(i: int, night: str, lock: str, effect: float) -> Path:
        data = results_data(night=night, lock=lock, session=f"h-{i}")
        bench = data["benchmarks"][0]["extra_info"]
        data["benchmarks"] = []
        for c, level in enumerate((1.2, 1.4)):
            runs = [{**run, "speedup": level * math.exp(effect) * f, "recorded": f"{night}T0{i % 10}:00:00+00:00"}
                    for run, f in zip(bench["run_records"], (1.0, 1.01), strict=True)]
            data["benchmarks"].append({"extra_info": {**bench, "case_id": f"m{c}-jit", "run_records": runs}})
        path = tmp_path / f"n{i}.json"
        path.write_text(json.dumps(data))
        return path

    files = [night_file(i, f"2026-11-2{i}", "lock-a", e) for i, e in enumerate(effects)]
    files.append(night_file(5, "2026-11-20", "lock-a", 0.1))  # the first night again, later: newest counts
    history_cli.add(files, root)
    assert main(["history", "--history", str(root), "show"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("  jit "))
    shared = statistics.stdev([0.1, 0.02, -0.01])  # the re-run's level replaced the first night's
    assert f"share a level of sd {shared:.2%} (df 2)" in line, line
    assert (f"its runs' noise alone {math.log(1.01) / 2:.2%}); 2 cases seen in the same 3 nights "
            "(its newest set-up)") in line, line
    history_cli.add([night_file(6, "2026-11-29", "lock-b", 0.0)], root)
    assert main(["history", "--history", str(root), "show"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("  jit "))
    assert "2 cases seen in the same 3 nights (an older set-up: its newest lock, recipe or threads" in line, line
    history_cli.add([night_file(7, "2026-11-30", "lock-b", 0.01)], root)  # lock-b's 2nd night: its own split
    assert main(["history", "--history", str(root), "show"]) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("  jit ")]
    assert len(lines) == 1 and "2 cases seen in the same 2 nights (its newest set-up)" in lines[0], lines
