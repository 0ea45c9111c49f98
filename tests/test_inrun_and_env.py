"""Noise seen while measuring, the measuring environment, the in-graph slowdown, CI results as sessions."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infergate.commands import baseline_sessions, baselines_cli
from infergate.core.errors import DataFileError, UsageError
from infergate.measuring import baselines as bl
from infergate.measuring import inrun_noise, measuring_env
from infergate.measuring.baseline_records import CaseBaseline, RunRecord
from infergate.measuring.baseline_rules import recipe_of

STAT = "cpu  {user} 0 {system} {idle} 0 0 0 {steal} 0 0\nprocs_running {running}\nprocs_blocked 0\n"


def _stat(path: Path, user: int, idle: int, steal: int, running: int) -> None:
    path.write_text(STAT.format(user=user, system=0, idle=idle, steal=steal, running=running))


def test_a_busy_neighbour_while_measuring_is_noise(tmp_path) -> None:
    stat = tmp_path / "stat"
    _stat(stat, 0, 0, 0, 3)
    sampler = inrun_noise.NoiseSampler(stat, every_s=0.0)
    for i in range(1, 6):
        _stat(stat, 100 * i, 100 * i, 0, 3)  # the measuring thread + 2 others, all the time
        sampler.sample()
    result = sampler.result()
    assert result.others_runnable == 2.0 and result.reasons() and "other runnable" in result.reasons()[0]


def test_a_run_after_a_set_up_step_is_not_noise(tmp_path) -> None:
    # The set-up step has pushed the 1-minute load average to ~1, but it is over: while measuring
    # only the measuring thread runs. Nothing here reads the load average.
    stat = tmp_path / "stat"
    _stat(stat, 0, 0, 0, 1)
    sampler = inrun_noise.NoiseSampler(stat, every_s=0.0)
    for i in range(1, 6):
        _stat(stat, 100 * i, 100 * i, 0, 1)
        sampler.sample()
    assert sampler.result().reasons() == () and sampler.result().samples == 5


def test_stolen_time_is_noise(tmp_path) -> None:
    stat = tmp_path / "stat"
    _stat(stat, 0, 0, 0, 1)
    sampler = inrun_noise.NoiseSampler(stat, every_s=0.0)
    _stat(stat, 900, 0, 100, 1)
    sampler.sample()
    assert sampler.result().steal_share == pytest.approx(0.1) and "stolen" in sampler.result().reasons()[0]


def _tasks(root: Path, states: str) -> Path:
    for i, state in enumerate(states):
        (root / str(i)).mkdir(parents=True)
        (root / str(i) / "stat").write_text(f"{i} (python3 (worker)) {state} 1 2 3")
    return root


def test_a_lockstep_partners_running_threads_are_not_others(tmp_path) -> None:
    # A BF16 claims pair: the worker just called may still spin for a moment; it is the measurement.
    stat = tmp_path / "stat"
    _stat(stat, 0, 0, 0, 4)
    partner = _tasks(tmp_path / "partner", "RRS")
    sampler = inrun_noise.NoiseSampler(stat, every_s=0.0, partners=[partner])
    alone = inrun_noise.NoiseSampler(stat, every_s=0.0)
    for i in range(1, 4):
        _stat(stat, 100 * i, 100 * i, 0, 4)  # the reader, the partner's 2 running threads, 1 other
        sampler.sample()
        alone.sample()
    assert sampler.result().others_runnable == 1.0 and alone.result().others_runnable == 3.0
    assert inrun_noise.running_threads(tmp_path / "gone") == 0 and inrun_noise.own_running(tmp_path / "gone") == 1


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="needs Linux's /proc/stat")
def test_a_real_busy_process_is_seen_by_the_sampler() -> None:
    spinner = subprocess.Popen([sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<3: pass"])
    try:
        time.sleep(0.3)
        sampler = inrun_noise.NoiseSampler(every_s=0.01)
        end = time.perf_counter() + 1.0
        while time.perf_counter() < end:
            sum(range(10_000))  # this thread is "measuring"
            sampler.sample()
        result = sampler.result()
    finally:
        spinner.kill()
        spinner.wait()
    assert result.samples > 20 and result.others_runnable >= 0.6, result


def test_no_proc_stat_means_no_evidence_and_no_claim(tmp_path) -> None:
    sampler = inrun_noise.NoiseSampler(tmp_path / "missing")
    sampler.sample()
    assert sampler.result().samples == 0 and sampler.result().reasons() == ()


# -- measuring environment ---------------------------------------------------------------------


def test_a_missing_allocator_is_one_usage_error_naming_the_package(tmp_path) -> None:
    with pytest.raises(UsageError, match="libjemalloc2"):
        measuring_env.resolve(["jemalloc"], dirs=(tmp_path,))
    with pytest.raises(UsageError, match="unknown measuring setting 'turbo'"):
        measuring_env.resolve(["turbo"])


def test_an_allocator_the_worker_did_not_load_is_caught(tmp_path) -> None:
    (tmp_path / measuring_env.JEMALLOC).write_bytes(b"")
    menv = measuring_env.resolve(["jemalloc"], dirs=(tmp_path,))
    assert menv.env["LD_PRELOAD"].endswith(measuring_env.JEMALLOC)
    seen = {"allocator": "glibc", "aslr": True, "env": dict(menv.env)}
    assert "the worker runs glibc" in measuring_env.check_applied(menv, seen)
    assert measuring_env.check_applied(menv, {**seen, "allocator": "jemalloc"}) is None


def test_a_worker_runs_as_its_settings_ask_whatever_the_shell_exports_and_the_check_catches_otherwise(
        monkeypatch) -> None:
    """With the suite's settings ("none") any observation passed, and a worker inherited the shell's
    OpenMP variables and LD_PRELOAD: it was measured and recorded as "none". Now a worker's
    environment drops every watched variable its settings do not set, and the check catches one
    that is there all the same."""
    from infergate.measuring.isolation import run_in_worker

    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # in the environment perf is started from
    monkeypatch.setenv("MALLOC_CONF", "background_thread:true")
    menv = measuring_env.suite_env()
    seen = run_in_worker(measuring_env.observed, timeout=60, env=menv.worker_env(), argv_prefix=menv.argv_prefix)
    assert seen["env"] == {} and measuring_env.check_applied(menv, seen) is None, seen
    threads = measuring_env.resolve(["omp-threads"])  # a setting's own variables are still set
    seen = run_in_worker(measuring_env.observed, timeout=60, env=threads.worker_env(), argv_prefix=threads.argv_prefix)
    assert seen["env"] == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}, seen
    problem = measuring_env.check_applied(menv, {"allocator": "glibc", "aslr": True, "env": {"OMP_NUM_THREADS": "3"}})
    assert problem is not None and "asked for OMP_NUM_THREADS unset" in problem and "'3'" in problem
    none = measuring_env.resolve(["none"])
    assert "asked for glibc, the worker runs jemalloc" in measuring_env.check_applied(
        none, {"allocator": "jemalloc", "aslr": True, "env": {}})


def test_child_environ_sets_and_unsets() -> None:
    base = {"A": "1", "LD_PRELOAD": "/x/libjemalloc.so.2", "PATH": "/bin"}
    assert measuring_env.child_environ({"A": None, "LD_PRELOAD": None, "B": "2"}, base) == {"PATH": "/bin", "B": "2"}
    assert base["A"] == "1"  # the driver's own environment is left as it was


# -- the in-graph slowdown ---------------------------------------------------------------------


@pytest.mark.slow
def test_the_injected_slowdown_keeps_outputs_and_adds_work_in_the_graph() -> None:
    import torch

    from infergate.building.harness import example_inputs
    from infergate.building.inject import slowed_copy
    from infergate.matrix.models import build_model
    from infergate.matrix.spec import ModelSpec
    from infergate.matrix.zoo import ARCHS, SIZES, Task

    spec = ModelSpec(ARCHS["bert"], Task.QA, SIZES["tiny"], "eager")
    model = build_model(spec)
    slow = slowed_copy(model, 0.5)
    inputs = example_inputs(spec)
    with torch.no_grad():
        ref, out = model(**inputs), slow(**inputs)
        traced = torch.jit.trace(slow, example_kwarg_inputs=dict(inputs), strict=False)
    assert all(torch.equal(a, b) for a, b in zip(ref, out, strict=True))
    matmuls = sum(1 for n in traced.inlined_graph.nodes() if n.kind() == "aten::linear")
    plain = sum(1 for n in torch.jit.trace(model, example_kwarg_inputs=dict(inputs), strict=False)
                .inlined_graph.nodes() if n.kind() == "aten::linear")
    assert matmuls == plain + 2 * spec.size.layers
    assert not hasattr(model.bert.encoder.layer[0], "infergate_extra_work")  # the original is untouched


# -- CI results become baseline sessions -------------------------------------------------------


def _results(tmp_path: Path, recipe: int | None = 1, **machine) -> Path:
    run = {"speedup": 1.4, "ci": [1.38, 1.42], "rounds": 300, "median_ms": {"eager": 14.0, "jit": 10.0},
           "recorded": "2026-11-27T12:00:00+00:00", "session": "h-runner1"}
    info = {"machine_class": "m__avx2__2c2t", "lane": "torch-x__noipex__notf", "environment": {"torch_threads": 1},
            "infergate": {"results_version": 1, "session": "h-runner1", "estimator": "median-of-round-ratios",
                          "session_info": {"host": "h-runner1", "kernel": "6.1", "first": run["recorded"],
                                           "last": run["recorded"], "environment": {}, "source": "recorded"}}}
    info.update(machine)
    data = {"machine_info": info, "benchmarks": [
        {"extra_info": {"case_id": "bert-jit", "variant": "jit", "threads": 1, "estimator": "median-of-round-ratios",
                        "run_records": [run, {**run, "speedup": 1.41}],
                        **({} if recipe is None else {"recipe": recipe})}},
        {"extra_info": {"case_id": "bert-eager", "variant": "eager", "run_records": []}}]}
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    return path


def test_ci_results_are_added_as_a_session(tmp_path) -> None:
    root = tmp_path / "baselines"
    lines = baseline_sessions.add(_results(tmp_path), root)
    f = bl.load(root / "m__avx2__2c2t" / "torch-x__noipex__notf.json")
    assert "added 2 run(s) of 1 case(s) as session h-runner1" in lines[0]
    assert set(f.sessions) == {"h-runner1"} and f.sessions["h-runner1"].source == "added from results.json"
    assert f.cases["bert-jit"].speedups == (1.4, 1.41)
    assert recipe_of(f.cases["bert-jit"].environment) == 1


def test_added_results_keep_their_recipe_revision_and_results_without_one_are_refused(tmp_path, monkeypatch) -> None:
    from infergate.building.variants import Jit

    monkeypatch.setattr(Jit, "recipe", 2)  # a variant past its first revision (results of another are refused)
    root = tmp_path / "baselines"
    baseline_sessions.add(_results(tmp_path, recipe=2), root)
    case = bl.load(root / "m__avx2__2c2t" / "torch-x__noipex__notf.json").cases["bert-jit"]
    assert recipe_of(case.environment) == 2
    with pytest.raises(DataFileError, match="does not say which recipe revision"):
        baseline_sessions.add(_results(tmp_path, recipe=None), tmp_path / "other")


def test_results_of_an_unknown_version_or_the_test_hook_are_refused(tmp_path) -> None:
    root = tmp_path / "baselines"
    bad = _results(tmp_path, infergate={"results_version": 9})
    with pytest.raises(DataFileError, match="results version 9"):
        baseline_sessions.add(bad, root)
    hooked = _results(tmp_path, environment={"injected_slowdown": ["jit", 0.1]})
    with pytest.raises(DataFileError, match="test-only slowdown hook"):
        baseline_sessions.add(hooked, root)
    assert not root.exists()  # nothing written


def test_the_baselines_command_exits_2_with_one_line(tmp_path, capsys) -> None:
    from infergate.commands.main import main

    assert main(["baselines", "add", str(tmp_path / "nope.json")]) == 2
    out = capsys.readouterr().err.strip().splitlines()
    assert len(out) == 1 and "does not exist" in out[0]


def _edited(path: Path, edit) -> Path:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return path


def _first_extra(d: dict) -> dict:
    return d["benchmarks"][0]["extra_info"]


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d.update(benchmarks=None), "benchmarks must be a list, got NoneType None"),
    (lambda d: d.update(benchmarks=[None]), "benchmarks[0] must be an object"),
    (lambda d: d["benchmarks"][0].update(extra_info=None), "benchmarks[0].extra_info must be an object"),
    (lambda d: _first_extra(d).update(case_id=5), "benchmarks[0].extra_info.case_id must be a case id string"),
    (lambda d: _first_extra(d).update(run_records={"a": 1}), "run_records must be a list"),
    (lambda d: d["machine_info"].update(environment=[]), "machine_info.environment must be an object"),
    (lambda d: d["machine_info"]["infergate"].update(session=None), "session must be a non-empty id string"),
    (lambda d: _first_extra(d)["run_records"][0].update(session="h-other"),
     "holds runs of session(s) h-other, not of the results' session h-runner1"),
], ids=["benchmarks-null", "bench-null", "extra-null", "caseid-int", "records-object", "env-list", "session-null",
        "run-other-session"])
def test_a_malformed_results_file_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, edit, message) -> None:
    """These crashed with a traceback (exit 1, read as a regression) or were kept silently: a null
    session became the session 'None', a run of another session lost its origin."""
    from infergate.commands.main import main

    results = _edited(_results(tmp_path), edit)
    root = tmp_path / "baselines"
    assert main(["baselines", "add", str(results), "--baselines", str(root)]) == 2
    out = capsys.readouterr().err.strip().splitlines()
    assert len(out) == 1 and str(results) in out[0] and message in out[0], out
    assert not root.exists()


@pytest.mark.parametrize("action", ["show", "reference"])  # reference printed an empty report and exit 0
def test_show_or_reference_of_a_missing_baselines_directory_is_one_line_exit_2(tmp_path, capsys, action) -> None:
    from infergate.commands.main import main

    assert main(["baselines", action, "--baselines", str(tmp_path / "nope")]) == 2
    out = capsys.readouterr().err.strip().splitlines()
    assert out == [f"infergate baselines: baselines directory {tmp_path / 'nope'} does not exist"], out


def test_adding_the_same_results_twice_counts_each_run_once(tmp_path) -> None:
    root = tmp_path / "baselines"
    baseline_sessions.add(_results(tmp_path), root)
    lines = baseline_sessions.add(_results(tmp_path), root)
    f = bl.load(root / "m__avx2__2c2t" / "torch-x__noipex__notf.json")
    assert f.cases["bert-jit"].speedups == (1.4, 1.41) and any("already recorded" in line for line in lines)


def test_results_that_cannot_be_pooled_are_refused_and_the_trees_runs_kept(tmp_path) -> None:
    """``add`` dropped the tree's runs when the results' set-up differed (exit 0, a note): an older
    recipe's results added onto a current baseline left only runs the gate never judges."""
    root = tmp_path / "baselines"
    baseline_sessions.add(_results(tmp_path), root)
    path = root / "m__avx2__2c2t" / "torch-x__noipex__notf.json"
    before = path.read_bytes()
    with pytest.raises(DataFileError, match="revision 0 of the jit recipe"):
        baseline_sessions.add(_results(tmp_path, recipe=0), root)
    two = _results(tmp_path, environment={"torch_threads": 2})
    data = json.loads(two.read_text())
    data["benchmarks"][0]["extra_info"]["threads"] = 2
    two.write_text(json.dumps(data))
    with pytest.raises(DataFileError, match=r"refusing to add it .*1 torch thread\(s\).*2 torch thread\(s\)"):
        baseline_sessions.add(two, root)
    assert path.read_bytes() == before
    # Accepting a change of set-up is said so: --replace keeps only the new runs.
    baseline_sessions.add(two, root, replace=True)
    assert bl.load(path).cases["bert-jit"].environment["torch_threads"] == 2
    with pytest.raises(DataFileError, match="revision 0"):  # never another build, replacing or not
        baseline_sessions.add(_results(tmp_path, recipe=0), root, replace=True)


def test_runs_of_another_thread_count_are_not_pooled_on_update(tmp_path) -> None:
    path = tmp_path / "b.json"
    run = RunRecord(1.4, (1.38, 1.42), 100, {"eager": 14.0, "jit": 10.0}, "2026-11-27T12:00:00+00:00", "h-a")
    bl.update(path, {"c": CaseBaseline((run,), 0.99, {"torch_threads": 2})}, "m", "l")
    later = RunRecord(1.3, (1.28, 1.32), 100, {"eager": 14.0, "jit": 10.8}, "2026-11-28T12:00:00+00:00", "h-b")
    notes = bl.update(path, {"c": CaseBaseline((later,), 0.99, {"torch_threads": 1})}, "m", "l")
    assert bl.load(path).cases["c"].speedups == (1.3,) and "cannot be pooled" in notes[0]


def test_replace_over_several_results_files_replaces_every_case_once(tmp_path) -> None:
    root = tmp_path / "baselines"
    old_dir, a_dir, b_dir = (tmp_path / n for n in ("old", "a", "b"))
    for d in (old_dir, a_dir, b_dir):
        d.mkdir()
    old = json.loads(_results(old_dir).read_text())
    old["benchmarks"].append({"extra_info": {**old["benchmarks"][0]["extra_info"], "case_id": "bert-compile"}})
    (old_dir / "results.json").write_text(json.dumps(old))
    baseline_sessions.add(old_dir / "results.json", root)  # the old session holds both cases
    a = json.loads(_results(a_dir).read_text())  # only bert-jit
    b = json.loads(_results(b_dir).read_text())  # only bert-compile, from another runner
    b["benchmarks"][0]["extra_info"]["case_id"] = "bert-compile"
    for doc, host, speedup in ((a, "h-runner2", 1.5), (b, "h-runner3", 1.6)):
        doc["machine_info"]["infergate"]["session"] = host
        doc["machine_info"]["infergate"]["session_info"]["host"] = host
        for r in doc["benchmarks"][0]["extra_info"]["run_records"]:
            r.update(session=host, speedup=speedup)
    (a_dir / "results.json").write_text(json.dumps(a))
    (b_dir / "results.json").write_text(json.dumps(b))
    assert baselines_cli.main(["add", "--replace", str(a_dir / "results.json"), str(b_dir / "results.json"),
                               "--baselines", str(root)]) == 0
    f = bl.load(root / "m__avx2__2c2t" / "torch-x__noipex__notf.json")
    # A case found only in the second file is replaced too, not appended to the old session's runs.
    assert f.cases["bert-jit"].speedups == (1.5, 1.5) and f.cases["bert-compile"].speedups == (1.6, 1.6)
