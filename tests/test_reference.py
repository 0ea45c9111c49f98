"""The steadier-reference analysis (measuring.reference_runs, reference_spread, reference_data) and
``python -m infergate baselines reference``: synthetic runs whose true spreads are known, seeded."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from infergate.commands import baselines_cli
from infergate.measuring import baselines as bl
from infergate.measuring.reference_data import from_baselines, from_envprobe, from_summary
from infergate.measuring.reference_runs import MS, AlignmentError, FormRun, align, rebase_runs, rebased_speedups
from infergate.measuring.reference_spread import Spread, cells_for, chi2_quantile, spreads

pytestmark = pytest.mark.lane_independent

# True sds of the log-speedup parts. Eager's drift (E) moves every speedup over eager alike and
# cancels over jit; each form's own part (F) does not.
E = {"boot": 0.02, "occasion": 0.015, "process": 0.01}
F = {"jit": {"boot": 0.005, "occasion": 0.004, "process": 0.006},
     "compile": {"boot": 0.01, "occasion": 0.006, "process": 0.008}}
CLASSES, BOOTS, OCCASIONS, MODELS, RUNS = 8, 3, 3, 4, 5


def _synthetic(seed: int) -> list[FormRun]:
    rng = random.Random(seed)
    out = []
    for c in range(CLASSES):
        for b in range(BOOTS):
            boot = {k: rng.gauss(0, s["boot"]) for k, s in (("eager", E), *F.items())}
            for o in range(OCCASIONS):
                occ = {k: rng.gauss(0, s["occasion"]) for k, s in (("eager", E), *F.items())}
                for m in range(MODELS):
                    for r in range(RUNS):
                        eager_ms = 10.0 * math.exp(rng.gauss(0, 0.05))
                        proc_e = rng.gauss(0, E["process"])
                        for form, parts in F.items():
                            log_s = 0.2 + boot["eager"] + occ["eager"] + proc_e + boot[form] + occ[form] + rng.gauss(
                                0, parts["process"])
                            out.append(FormRun(f"class{c}/lane", f"boot{b}", f"occ{o}", f"m{m}-fp32", r, form,
                                               math.exp(log_s), eager_ms, eager_ms / math.exp(log_s)))
    return out


def _truth(variant: str, reference: str) -> tuple[float, float, float]:
    """(within, occasion, session) sd of log(variant/reference); the session figure is the spread of
    a boot's mean over its OCCASIONS, as the gate's components() measures it."""
    def var(level: str) -> float:
        own = F[variant][level] ** 2
        return own + (F[reference][level] ** 2 if reference != "eager" else E[level] ** 2)
    return math.sqrt(var("process")), math.sqrt(var("occasion")), math.sqrt(var("boot") + var("occasion") / OCCASIONS)


def _covers(s: Spread, true: float) -> bool:
    return s.sd is not None and s.low <= true <= s.high


@pytest.mark.parametrize(("variant", "reference"), [("compile", "eager"), ("compile", "jit"), ("jit", "eager")])
def test_each_spread_is_recovered_within_its_interval(variant: str, reference: str) -> None:
    runs = align(_synthetic(seed=11))
    parts = spreads(cells_for(runs, variant, reference), 0.95)
    for part, true in zip(parts, _truth(variant, reference), strict=True):
        assert _covers(part, true), (part, true)
    within, occasion, session = parts
    assert within.df == CLASSES * BOOTS * OCCASIONS * MODELS * (RUNS - 1)
    # Cases share their occasion's and boot's host state: df counts contrasts, not cases.
    assert occasion.df == CLASSES * BOOTS * (OCCASIONS - 1)
    assert session.df == CLASSES * (BOOTS - 1)


def test_the_intervals_cover_the_truth_at_about_their_confidence() -> None:
    hits = trials = 0
    for seed in range(25):
        runs = align(_synthetic(seed))
        for variant, reference in (("compile", "eager"), ("compile", "jit")):
            parts = spreads(cells_for(runs, variant, reference), 0.95)
            hits += sum(_covers(p, t) for p, t in zip(parts, _truth(variant, reference), strict=True))
            trials += 3
    assert hits / trials >= 0.85, f"{hits}/{trials}"


def test_a_reference_sharing_the_eager_drift_cancels_it() -> None:
    """The truths differ by ~2x at both levels; averaged over 5 draws the estimates must show it."""
    var: dict[str, list[float]] = {"eager": [0.0, 0.0], "jit": [0.0, 0.0]}
    for seed in range(5):
        runs = align(_synthetic(seed))
        for reference, acc in var.items():
            _, occasion, session = spreads(cells_for(runs, "compile", reference))
            # Each draw must estimate both levels: a missing estimate counted as 0 would pass below.
            assert occasion.sd is not None and session.sd is not None, (seed, reference)
            acc[0] += occasion.sd ** 2
            acc[1] += session.sd ** 2
    assert var["jit"][0] > 0 and var["jit"][1] > 0
    assert var["jit"][0] < var["eager"][0] / 1.5 ** 2
    assert var["jit"][1] < var["eager"][1] / 1.5 ** 2


def test_records_of_one_run_with_different_eager_medians_are_refused_in_one_message() -> None:
    a = FormRun("c/l", "s", "o", "m-fp32", 0, "jit", 1.2, 10.0, 8.3)
    b = FormRun("c/l", "s", "o", "m-fp32", 0, "compile", 1.3, 10.5, 7.7)
    with pytest.raises(AlignmentError) as exc:
        align([a, b])
    message = str(exc.value)
    assert message.startswith("not run-aligned: m-fp32 run 0") and "not measured in one worker process" in message
    assert "\n" not in message
    assert len(align([a, FormRun("c/l", "s", "o", "m-fp32", 0, "compile", 1.3, 10.0, 7.7)])) == 1


def test_rebased_speedups_refuse_runs_of_different_processes() -> None:
    assert rebased_speedups([(1.3, 10.0), (1.2, 9.0)], [(1.1, 10.0), (1.2, 9.0)]) == pytest.approx([1.3 / 1.1, 1.0])
    with pytest.raises(AlignmentError, match="run 1 has eager median"):
        rebased_speedups([(1.3, 10.0), (1.2, 9.0)], [(1.1, 10.0), (1.2, 9.5)])
    with pytest.raises(AlignmentError, match="2 run"):
        rebased_speedups([(1.3, 10.0), (1.2, 9.0)], [(1.1, 10.0)])


def test_rebase_runs_pairs_each_variant_run_with_its_worker(tmp_path: Path) -> None:
    eagers1, eagers2 = [10.0, 10.4], [11.0, 11.5]
    cases = {"m-jit-fp32": [_run(e, "jit", 1.2, T1) for e in eagers1] + [_run(e, "jit", 1.25, T2) for e in eagers2],
             "m-compile-fp32": [_run(e, "compile", 1.3, T2) for e in eagers2]}
    f = bl.load(_file(tmp_path, cases))
    jit, comp = f.cases["m-jit-fp32"].runs, f.cases["m-compile-fp32"].runs
    assert rebase_runs(comp, jit) == [("h-1", pytest.approx(1.3 / 1.25))] * 2
    with pytest.raises(AlignmentError, match="has 0 run"):
        rebase_runs(jit, comp)


def test_chi2_quantile_matches_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 7, 40, 500):
        for p in (0.001, 0.025, 0.5, 0.975, 0.999):
            assert chi2_quantile(p, df) == pytest.approx(stats.chi2.ppf(p, df), rel=1e-6)


def _run(eager: float, variant: str, speedup: float, stamp: str, session: str = "h-1") -> dict[str, object]:
    return {"speedup": speedup, "ci": [speedup * 0.99, speedup * 1.01], "rounds": 100,
            "median_ms": {"eager": eager, variant: eager / speedup}, "recorded": stamp, "session": session}


def _file(root: Path, cases: dict[str, list[dict[str, object]]], recipes: dict[str, int] | None = None) -> Path:
    env = {"torch_threads": 1}
    doc = {"schema": "infergate-baselines", "version": 4, "history": [], "machine_class": "cls", "lane": "lane",
           "sessions": {"h-1": {"host": "h-1", "kernel": "k", "first": "2026-12-01T00:00:00+00:00",
                                "last": "2026-12-01T00:00:00+00:00", "environment": {}, "source": "recorded"}},
           "cases": {cid: {"confidence": 0.99, "environment": {**env, "recipe": (recipes or {}).get(cid, 1)},
                           "estimator": "median-of-round-ratios", "runs": runs} for cid, runs in cases.items()}}
    path = root / "cls" / "lane.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


T1, T2 = "2026-12-01T00:00:00+00:00", "2026-12-01T05:00:00+00:00"


def test_baselines_runs_line_up_by_occasion_and_position(tmp_path: Path) -> None:
    """jit recorded on two occasions, compile on the second only: compile's runs pair with the second's."""
    eagers1, eagers2 = [10.0, 10.4], [11.0, 11.5]
    cases = {"m-jit-fp32": [_run(e, "jit", 1.2, T1) for e in eagers1] + [_run(e, "jit", 1.25, T2) for e in eagers2],
             "m-compile-fp32": [_run(e, "compile", 1.3, T2) for e in eagers2],
             "m-jit_ipex-bf16": [_run(9.0, "jit_ipex", 1.5, T1)], "m-jit-bf16": [_run(8.0, "jit", 1.2, T1)]}
    runs = align(from_baselines(bl.load(_file(tmp_path, cases))))
    cells = cells_for(runs, "compile", "jit")
    assert [len(v) for v in cells.values()] == [2]
    assert all(v == pytest.approx(math.log(1.3 / 1.25)) for v, _ in next(iter(cells.values())))
    # BF16 jit_ipex is timed in a worker of its own: never paired with the other forms' runs.
    assert not cells_for(runs, "jit_ipex", "jit")
    assert cells_for(runs, "jit_ipex", "eager")


def test_the_command_refuses_misaligned_baselines_in_one_line(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    cases = {"m-jit-fp32": [_run(10.0, "jit", 1.2, T1), _run(10.4, "jit", 1.2, T1)],
             "m-compile-fp32": [_run(10.0, "compile", 1.3, T1), _run(10.9, "compile", 1.3, T1)]}
    _file(tmp_path, cases)
    assert baselines_cli.main(["reference", "--baselines", str(tmp_path)]) == 2
    out = capsys.readouterr().err
    assert out.count("\n") == 1 and "not run-aligned: m-fp32 run 1" in out


def test_recipes_and_summaries(tmp_path: Path) -> None:
    """Two recipe revisions are never contrasted; a summary row is one occasion of pooled processes."""
    cases = {"m-jit-fp32": [_run(10.0, "jit", 1.2, T1), _run(10.4, "jit", 1.22, T1)],
             "m-compile-fp32": [_run(10.0, "compile", 1.3, T1), _run(10.4, "compile", 1.31, T1)]}
    f = bl.load(_file(tmp_path, cases, {"m-compile-fp32": 2}))
    summary = ("= infergate perf: cls / lane ==\nx; 2 run(s) per model, up to 3\n"
               "m-eager-fp32   11.00  1.000  -  -  -  reference\n"
               "m-jit-fp32     9.00   1.230  [1.2, 1.3]  1.21 x2 [1.2, 1.22]  19.4%*  pass\n"
               "m-compile-fp32 8.40   1.320  [1.3, 1.4]  1.30 x2 [1.3, 1.31]  25.3%*  pass\n")
    later = from_summary(summary, "h-1", "later", {"m-compile-fp32": 2})
    assert {r.processes for r in later} == {2} and {r.eager_ms for r in later} == {11.0}
    runs = align(from_baselines(f) + later)
    occasion = spreads(cells_for(runs, "compile", "jit", MS))[1]
    assert occasion.df == 1
    stale = align(from_baselines(f) + from_summary(summary, "h-1", "later", {}))
    assert spreads(cells_for(stale, "compile", "jit", MS))[1].df == 0


def test_the_command_prints_the_spreads_and_refuses_an_occasion_without_its_boot(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = {"m-jit-fp32": [_run(10.0, "jit", 1.2, T1), _run(10.4, "jit", 1.22, T1)],
             "m-compile-fp32": [_run(10.0, "compile", 1.3, T1), _run(10.4, "compile", 1.33, T1)]}
    _file(tmp_path / "b", cases)
    summary = tmp_path / "later.txt"
    summary.write_text("= infergate perf: cls / lane ==\n2 run(s) per model\nm-eager-fp32 11.00 1.000 - reference\n"
                       "m-jit-fp32 9.00 1.230 x\nm-compile-fp32 8.40 1.320 x\n")
    argv = ["reference", "--baselines", str(tmp_path / "b"), "--occasion", str(summary), "--prior", "0.015:3"]
    assert baselines_cli.main(argv) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| compile / jit | speedup |"))
    assert "1 occasion contrast(s) in 1 boot(s)" in row
    assert "| compile / jit | 0." in out and "1.50% (df 3, proposed)" in out
    other = tmp_path / "other.txt"
    other.write_text(summary.read_text().replace("cls / lane", "cls / other-lane"))
    assert baselines_cli.main(argv[:3] + ["--occasion", str(other)]) == 2
    assert "needs its class and lane's baselines file" in capsys.readouterr().err


def test_envprobe_workers_are_runs_of_one_occasion_and_busy_ones_are_left_out() -> None:
    rows = [{"eager_ms": 16.0 + i, "others_runnable": 0.9 if i == 2 else 0.0, "jit": [1.15 + i / 100, 1.1, 1.2],
             "compile": [1.3, 1.2, 1.4], "observed": {"env": {}}} for i in range(4)]
    runs = align(from_envprobe({"model": "m", "rows": rows}, "probe"))
    assert sorted(r.run for r in runs) == [0, 1, 3]
    within, occasion, session = spreads(cells_for(runs, "compile", "jit"))
    assert within.df == 2 and occasion.sd is None and session.sd is None
    logs = [math.log(1.3 / (1.15 + i / 100)) for i in (0, 1, 3)]
    mean = sum(logs) / 3
    assert within.sd == pytest.approx(math.sqrt(sum((x - mean) ** 2 for x in logs) / 2))
