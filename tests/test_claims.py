"""The claims report: its verdicts on synthetic timings, the memory sampler, one tiny real run."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from infergate.measuring.claims import (
    NOT_ASSESSABLE,
    HostSpread,
    benefit_counts,
    can_leave_ipex,
    fusion_share,
    host_spread,
    speedup,
)
from infergate.measuring.claims_measure import Answers, ClaimMeasurement, Trial
from infergate.measuring.memory import MIB, PeakResident
from infergate.measuring.sampling import ModelMeasurement
from infergate.reports.claims_report import render

SAME = Answers(max_abs=1e-6, within_tolerance=True, agreed=2, total=2, min_agreement=1.0)


def row(ms: dict[str, float], model: str = "bert-qa-base-eager_attn", shape: str = "b1s128", dtype: str = "fp32",
        rounds: int = 120, seed: int = 0, **kw) -> ClaimMeasurement:
    """Shuffled-round timings: a per-round machine factor shared by the variants, per-call noise."""
    rng = np.random.default_rng(seed)
    machine = rng.lognormal(0.0, 0.03, rounds)
    times = {v: [int(t * 1e6 * f * g) for f, g in zip(machine, rng.lognormal(0.0, 0.01, rounds), strict=True)]
             for v, t in ms.items()}
    timing = ModelMeasurement(f"{model}-{shape}", dtype, list(ms), times, threads=2, rounds=rounds)
    answers = kw.pop("answers", {v: SAME for v in ms})
    return ClaimMeasurement(model, model.split("-")[0], "qa", shape, dtype, timing=timing, answers=answers, **kw)


def models_with_benefits(benefits: list[float]) -> list[ClaimMeasurement]:
    return [row({"eager": 100.0, "jit": 80.0, "jit_ipex": 80.0 / b, "compile": 70.0}, model=f"m{i}-qa-base-eager_attn",
                seed=i) for i, b in enumerate(benefits)]


def test_a_fusion_benefit_counts_only_when_significant_and_at_least_five_percent() -> None:
    assert benefit_counts(speedup(row({"jit": 80.0, "jit_ipex": 80.0 / 1.10}), "jit_ipex", "jit"))
    assert not benefit_counts(speedup(row({"jit": 80.0, "jit_ipex": 80.0 / 1.02}), "jit_ipex", "jit"))
    assert not benefit_counts(speedup(row({"jit": 80.0, "jit_ipex": 80.0 / 0.9}), "jit_ipex", "jit"))
    assert not benefit_counts(None)


def test_the_share_comes_out_below_the_guides_seventy_percent_when_the_models_say_so() -> None:
    # 6 of 10 models gain >= 5 %, two gain 2 % (significant but small), two lose.
    rows = models_with_benefits([1.3, 1.2, 1.12, 1.08, 1.07, 1.06, 1.02, 1.02, 0.95, 0.9])
    share = fusion_share(rows, "fp32")
    assert (share.counted, share.measured) == (6, 10)
    assert "in 6 of 10 models (60%), below the guide's about 70%" in share.sentence("cls")
    high = fusion_share(models_with_benefits([1.3, 1.2, 1.2, 1.1, 1.1, 1.1, 1.1, 1.1, 0.95, 0.9]), "fp32")
    assert "8 of 10 models (80%), at or above" in high.sentence("cls")


def test_the_headline_says_how_many_counted_models_were_measured_while_disturbed() -> None:
    """The tables flag a disturbed row (⚠); the one-line answer, quoted alone, counted them without a word."""
    from infergate.measuring.inrun_noise import InRunNoise
    from infergate.reports.claims_report import summary_table

    rows = models_with_benefits([1.3, 1.2, 1.12, 1.08, 1.07, 1.06, 1.02, 1.02, 0.95, 0.9])
    assert "disturbed" not in fusion_share(rows, "fp32").sentence("cls")
    for m in (rows[0], rows[3], rows[9]):  # two counted, one not: only the counted are the count's
        assert m.timing is not None
        m.timing.noise = InRunNoise(samples=20, others_runnable=1.2, others_runnable_max=2)
    note = "; 2 of the 6 counted measured while disturbed (⚠)"
    assert fusion_share(rows, "fp32").sentence("cls").endswith(note)
    assert note in " ".join(render(rows, {"command": "`x`"}, "cls", ["fp32"]).split())  # claims.md wraps it
    assert f"| 6 of 10 models{note} |" in "\n".join(summary_table([("cls", "lane", ["fp32"], rows)]))


def test_the_share_counts_one_row_per_model_and_says_when_a_dtype_was_not_measured() -> None:
    rows = models_with_benefits([1.3, 1.0])
    rows.append(row({"jit": 80.0, "jit_ipex": 60.0}, model="m0-qa-base-eager_attn", shape="b1s384"))
    rows.append(ClaimMeasurement("m0-qa-base-eager_attn", "m0", "qa", "b1s128", "bf16",
                                 skipped={"jit_ipex": "no native BF16"}))
    assert fusion_share(rows, "fp32").measured == 2  # the 384 row is extra evidence, not a model
    bf16 = fusion_share(rows, "bf16")
    assert bf16.measured == 0 and "not measured (1 model(s) skipped)" in bf16.sentence("cls")


@pytest.mark.parametrize("compile_ms, answers, expected", [
    (81.0, SAME, "yes"),  # 1 % slower than jit_ipex: within 5 %
    (60.0, SAME, "yes"),  # faster
    (92.0, SAME, "no"),  # 15 % slower
    (80.0, Answers(0.5, False, 1, 2, 1.0), "no"),  # fast but wrong
])
def test_can_leave_ipex(compile_ms: float, answers: Answers, expected: str) -> None:
    m = row({"eager": 100.0, "jit": 90.0, "jit_ipex": 80.0, "compile": compile_ms},
            answers={"jit_ipex": SAME, "compile": answers})
    verdict = can_leave_ipex(m)
    assert verdict.answer == expected, verdict.why
    if not answers.same:
        assert "answers differ: outputs off by 0.5" in verdict.why


def test_compile_missing_a_tolerance_jit_ipex_misses_too_is_judged_on_speed_and_says_so() -> None:
    # BF16 ELECTRA on the AVX-512 class: eager BF16, jit_ipex and compile all miss eager FP32's table.
    off = {"jit_ipex": Answers(0.50, False, 2, 2, 0.95), "compile": Answers(0.48, False, 2, 2, 0.95)}
    verdict = can_leave_ipex(row({"jit_ipex": 80.0, "compile": 79.0}, answers=off))
    assert verdict.answer == "yes", verdict.why
    assert "neither meets eager FP32's tolerance (compile off by 0.48, jit_ipex by 0.5" in verdict.why
    # compile 0.48 is further off than jit_ipex (0.43) but not than eager BF16 (0.70): already served.
    with_eager = {**off, "jit_ipex": Answers(0.43, False, 2, 2, 0.95), "eager": Answers(0.70, True, 2, 2, 0.95)}
    assert can_leave_ipex(row({"jit_ipex": 80.0, "compile": 79.0}, answers=with_eager)).answer == "yes"
    # ... but never when compile is further off than both, fails its own agreement check, or jit_ipex
    # meets the table.
    for answers in ({**off, "compile": Answers(5.0, False, 2, 2, 0.95)},
                    {**with_eager, "compile": Answers(0.48, False, 1, 2, 0.95)},
                    {**off, "jit_ipex": SAME}):
        verdict = can_leave_ipex(row({"jit_ipex": 80.0, "compile": 79.0}, answers=answers))
        assert verdict.answer == "no" and "compile's answers differ" in verdict.why, (answers, verdict)


def test_leaving_is_undecided_when_the_interval_straddles_the_limit_and_n_a_without_ipex() -> None:
    # compile 5 % slower than jit_ipex: the interval straddles 1.05 on this host, and any host of
    # the class is further from knowing (the between-host spread widens it).
    straddling = row({"jit_ipex": 80.0, "compile": 84.0}, answers={"jit_ipex": SAME, "compile": SAME})
    assert can_leave_ipex(straddling).answer == "undecided", can_leave_ipex(straddling).why
    clear_here = row({"jit_ipex": 80.0, "compile": 76.0}, answers={"jit_ipex": SAME, "compile": SAME})
    assert can_leave_ipex(clear_here).answer == "yes"
    spread = HostSpread(sd=0.04, sessions=3, cases=2)
    assert can_leave_ipex(clear_here, across_hosts=True, hosts=spread).answer == "undecided"  # 5 % is inside it
    assert can_leave_ipex(clear_here, across_hosts=True).answer == NOT_ASSESSABLE  # no sessions: no sum of priors
    lane = row({"eager": 100.0, "compile": 60.0}, skipped={"jit_ipex": "IPEX ended at 2.8"})
    assert can_leave_ipex(lane).answer == "n/a" and "jit_ipex skipped" in can_leave_ipex(lane).why
    crashed = ClaimMeasurement("m", "bert", "qa", "b1s128", "fp32", failed={"worker": "killed by SIGKILL"})
    assert can_leave_ipex(crashed).answer == "undecided" and "SIGKILL" in can_leave_ipex(crashed).why
    assert fusion_share([crashed], "fp32").failed == 1  # named in the sentence, not silently dropped
    skipped = ClaimMeasurement("m", "bert", "qa", "b1s128", "bf16", skipped={"jit_ipex": "no native BF16",
                                                                             "compile": "no native BF16"})
    assert can_leave_ipex(skipped).answer == "n/a" and "skipped" in can_leave_ipex(skipped).why


def test_the_report_has_the_one_line_answer_and_every_table() -> None:
    rows = models_with_benefits([1.3, 1.0])
    text = render(rows, {"command": "`x`"}, "cls", ["fp32"])
    assert "cls, FP32: fusion benefit >= 5% in 1 of 2 models (50%), below" in text
    for heading in ("## Speedups, FP32", "## Cost per variant", "## Answers against eager FP32"):
        assert heading in text
    assert "compile's inductor options" not in text  # only when claims --compile-options built them


def test_the_compile_options_get_their_own_table_against_compile_and_jit_ipex() -> None:
    from infergate.measuring.sampling import Cost

    ms = {"eager": 100.0, "jit": 80.0, "jit_ipex": 60.0, "compile": 60.0, "compile_cpp": 50.0}
    m = row(ms, costs={v: Cost(1.0, 0.1, 10.0, 5.0) for v in ms},
            skipped={"compile_autotune": "max-autotune needs torch >= 2.9"})
    text = render([m], {"command": "`x`"}, "cls", ["fp32"])
    table = text.split("## compile's inductor options")[1].split("## Cost per variant")[0]
    assert "| compile_cpp vs compile | compile_autotune vs compile | compile_cpp vs jit_ipex |" in table
    assert "| bert-qa-base-eager_attn | b1s128 | fp32 | 1.20× [" in table and "skip [1]" in table
    assert "- skip [1] (compile_autotune; 2 cell(s)): max-autotune needs torch >= 2.9" in text
    costs = text.split("## Cost per variant")[1]
    assert "Built in the order eager, jit, jit_ipex, compile, compile_cpp, compile_autotune" in costs
    assert re.search(r"\| bert-qa-base-eager_attn \| b1s128 \| fp32 \| 1\.0 / 1\.0 / 1\.0 / 1\.0 / 1\.0 / — \|", costs)


@pytest.mark.parametrize("keep", [True, False])
def test_the_memory_sampler_sees_a_known_allocation(keep: bool) -> None:
    # 64 blocks of 4 MiB, each written (so resident) and each its own mapping (returned when
    # freed); between blocks the sampler thread gets the interpreter, as it does during a build.
    with PeakResident() as window:
        blocks = [bytearray(b"\x01") * (4 * MIB) for _ in range(64)]
        time.sleep(0.05)
        if not keep:
            del blocks
    use = window.use
    assert use is not None
    assert 0.9 * 256 <= use.peak_rise_mib <= 1.2 * 256, use
    if keep:
        assert 0.9 * 256 <= use.held_mib <= 1.2 * 256, use
    else:  # a block this large is its own mapping, returned to the system when freed
        assert abs(use.held_mib) < 32, use


@pytest.mark.slow  # builds compile, in three worker processes per dtype (the least --processes takes)
def test_a_tiny_claims_run_end_to_end(tmp_path) -> None:
    from infergate.commands.claims_cli import main

    # One torch thread per worker: under ./suite test's two xdist workers, two would spin against the other's tests.
    code = main(["--size", "tiny", "--archs", "bert", "--tasks", "seqcls", "--dtypes", "fp32,bf16",
                 "--budget", "0.3", "--threads", "1", "--processes", "3", "--out", str(tmp_path)])
    assert code == 0
    data = json.loads((tmp_path / "claims.json").read_text())
    assert (data["schema"], data["version"]) == ("infergate-claims", 4)
    assert data["hosts"]["source"].startswith("baselines/") and data["hosts"]["read on"] == data["facts"]["date"]
    fp32 = next(r for r in data["rows"] if r["dtype"] == "fp32")
    assert "frozen" in fp32["proofs"]["compile"] and fp32["answers"]["compile"]["within_tolerance"]
    assert fp32["costs"]["compile"]["first_call_s"] > 0 and fp32["timing"] is None
    assert [t["process"] for t in fp32["trials"]] == [0, 1, 2] and fp32["trials"][0]["timing"]["rounds"] >= 20
    bf16 = next(r for r in data["rows"] if r["dtype"] == "bf16")
    from infergate.building.capabilities import NATIVE_BF16_FLAGS, bf16_perf_problem, probe

    # BF16 is timed exactly where the CPU computes it natively; elsewhere the row says why, per variant.
    native = bf16_perf_problem(probe().cpu_flags) is None
    assert bool(bf16["trials"]) == native, bf16["skipped"]
    if not native:
        assert bf16["skipped"] and all(NATIVE_BF16_FLAGS[0] in why for why in bf16["skipped"].values())
    if bf16["trials"]:  # a native-BF16 CPU in the ipex lane: jit_ipex apart, the plain workers never import IPEX
        groups = {t["group"]: t for t in bf16["trials"]}
        assert not groups["torch"]["ipex_imported"] and "jit_ipex" not in groups["torch"]["timing"]["times_ns"]
        if "ipex" in groups:  # ... and the two workers of each process timed in lockstep (version 3)
            assert sorted((t["process"], t["group"]) for t in bf16["trials"]) == [
                (p, g) for p in range(3) for g in ("ipex", "torch")]
            for p in range(3):
                pair = [t["timing"] for t in bf16["trials"] if t["process"] == p]
                assert all(t["lockstep"] for t in bf16["trials"])
                assert {len(ns) for t in pair for ns in t["times_ns"].values()} == {pair[0]["rounds"]}
                assert all(t["schedule"] == "lockstep" and t["observed_env"]["env"]["GOMP_SPINCOUNT"] == "30000"
                           for t in pair)
            assert "lockstep: " in (tmp_path / "claims.log").read_text()  # the waits before switching worker
    assert (tmp_path / "claims.log").is_file()  # the workers' stderr, not the console
    text = (tmp_path / "claims.md").read_text()
    if probe().ipex_problem is None:
        assert "FP32: fusion benefit" in text
    else:  # the current lane: no IPEX, so no fusion benefit to count, and the report says why
        assert "FP32: not measured (1 model(s) skipped)" in text and "IPEX" in text
    assert (tmp_path / "claims.png").is_file() and not (tmp_path / "in-progress").exists()
    (tmp_path / "claims.md").unlink()
    assert main(["--render", str(tmp_path)]) == 0  # the committed JSON is enough to re-render the report
    assert (tmp_path / "claims.md").read_text().split("## Speedups")[1] == text.split("## Speedups")[1]


def test_only_a_whole_matrix_run_writes_the_committed_report_by_default() -> None:
    from infergate.commands.claims_cli import default_out, parser

    whole = default_out(parser().parse_args(["--compile-options"]), "cls", "lane")
    assert whole.parts[-4:] == ("docs", "claims", "cls", "lane")
    one = default_out(parser().parse_args(["--archs", "bert", "--tasks", "qa"]), "cls", "lane")
    assert one.parts[-4:] == ("results", "claims", "cls", "lane")
    for smaller in (["--size", "tiny"], ["--dtypes", "fp32"], ["--attention", "sdpa"]):
        assert default_out(parser().parse_args(smaller), "cls", "lane").parts[-4] == "results", smaller


@pytest.mark.parametrize("below", [(), ("sub",)])
def test_an_out_that_is_a_file_is_refused_before_anything_is_measured(tmp_path, capsys, monkeypatch, below) -> None:
    """It used to fail making OUT/in-progress (a NotADirectoryError traceback) once measuring had begun."""
    from infergate.commands import claims_cli

    def measuring(*_: object) -> int:
        raise AssertionError("measuring started")

    monkeypatch.setattr(claims_cli, "measure_claims", measuring)
    afile = tmp_path / "README.md"
    afile.write_text("kept")
    with pytest.raises(SystemExit) as exit_:
        claims_cli.main(["--archs", "bert", "--tasks", "seqcls", "--out", str(afile.joinpath(*below))])
    assert exit_.value.code == 2 and f"{afile} exists and is not a directory" in capsys.readouterr().err
    assert afile.read_text() == "kept"


@pytest.mark.parametrize("content", ['{"schema": "something-else", "version": 1}',
                                     '{"schema": "infergate-claims", "version": 1, "rows": [{"model_id": 1}]}',
                                     '{"schema": "infergate-claims", "version": 99, "rows": []}',
                                     "not json"])
def test_rendering_a_bad_claims_file_is_one_line_and_leaves_it(tmp_path, capsys, content) -> None:
    from infergate.commands.claims_cli import main

    (tmp_path / "claims.json").write_text(content)
    assert main(["--render", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("infergate claims: claims file ") and len(err.splitlines()) == 1
    assert (tmp_path / "claims.json").read_text() == content and not (tmp_path / "claims.md").exists()


@pytest.mark.parametrize("version", ["true", "1.0"])
def test_a_claims_version_that_only_equals_1_is_refused(tmp_path, version) -> None:
    from infergate.commands.claims_files import load_rows
    from infergate.core.errors import DataFileError

    (tmp_path / "claims.json").write_text(f'{{"schema": "infergate-claims", "version": {version}, "rows": []}}')
    with pytest.raises(DataFileError, match="not an infergate-claims file of version"):
        load_rows(tmp_path / "claims.json")


# --- across processes, across hosts, the report's legends, the worker log -----------------------


def trial_row(log_speedup: float, offsets: list[float], rounds: int = 20, seed: int = 0, split: bool = False,
              dtype: str = "fp32") -> ClaimMeasurement:
    """jit and jit_ipex (true jit_ipex/jit speedup exp(log_speedup)) timed in len(offsets) processes;
    process i shifts the ratio by offsets[i] (what a new process does to a speedup). ``split``:
    jit_ipex in a worker of its own in each process, as BF16 is."""
    rng = np.random.default_rng(seed)
    trials = []
    for i, off in enumerate(offsets):
        machine = rng.lognormal(0.0, 0.03, rounds)
        jit = [int(80e6 * f * g) for f, g in zip(machine, rng.lognormal(0.0, 0.01, rounds), strict=True)]
        ipex = [int(80e6 * math.exp(-log_speedup - off) * f * g)
                for f, g in zip(machine if not split else rng.lognormal(0.0, 0.03, rounds),
                                rng.lognormal(0.0, 0.01, rounds), strict=True)]
        if split:
            trials += [Trial(i, "torch", ModelMeasurement("m", dtype, ["jit"], {"jit": jit}, rounds=rounds)),
                       Trial(i, "ipex", ModelMeasurement("m", dtype, ["jit_ipex"], {"jit_ipex": ipex}, rounds=rounds))]
        else:
            trials.append(Trial(i, "torch", ModelMeasurement("m", dtype, ["jit", "jit_ipex"],
                                                             {"jit": jit, "jit_ipex": ipex}, rounds=rounds)))
    return ClaimMeasurement("m-qa-base-eager_attn", "m", "qa", "b1s128", dtype, trials=trials)


def test_the_across_process_interval_covers_at_its_rate_where_one_process_bootstrap_does_not() -> None:
    # Each process shifts log(jit_ipex/jit) by N(0, 2 %) (the between-process sd); rounds
    # add 1 % per call. 99 % intervals over 300 seeded rows: the t interval over 3 processes covers
    # the true ratio at about its rate; process 0's bootstrap, blind to the shift, far less often.
    truth, n = math.log(1.06), 300
    rng = np.random.default_rng(123)
    across = one = 0
    for seed in range(n):
        m = trial_row(truth, list(rng.normal(0.0, 0.02, 3)), seed=seed)
        est = speedup(m, "jit_ipex", "jit")
        assert est is not None and est.processes == 3
        across += est.low <= math.exp(truth) <= est.high
        first = ClaimMeasurement(m.model_id, "m", "qa", m.shape, "fp32", timing=m.trials[0].timing)
        single = speedup(first, "jit_ipex", "jit")
        assert single is not None and single.processes == 1
        one += single.low <= math.exp(truth) <= single.high
    assert across / n >= 0.96, across / n  # nominal 0.99; 300 rows' binomial sd is ~0.006
    assert one / n <= 0.6, one / n


def test_a_cross_worker_ratio_pairs_process_i_with_process_i() -> None:
    m = trial_row(math.log(1.2), [0.0, 0.0, 0.0], split=True, dtype="bf16")
    est = speedup(m, "jit_ipex", "jit")
    assert est is not None and est.processes == 3 and 1.15 < est.point < 1.25 and est.low > 1.05
    one = trial_row(math.log(1.2), [0.0], split=True)
    lone = speedup(one, "jit_ipex", "jit")
    assert lone is not None and lone.high == math.inf  # one process says nothing about the next
    assert not benefit_counts(lone)


def _baselines(tmp_path, extra_session: bool, factor: float = 1.03):
    """The committed AVX2 ipex baseline cut to its first session, optionally with a second session
    whose jit_ipex runs are ``factor`` faster (3 %; its jit runs as they were)."""
    from pathlib import Path

    cls, lane = "amd-epyc__avx2__2c2t", "torch-2.8.0__ipex-2.8.0__tf-4.57.6"
    src = Path(__file__).resolve().parents[1] / "baselines" / cls / f"{lane}.json"
    data = json.loads(src.read_text())
    first = min(data["sessions"], key=lambda sid: data["sessions"][sid]["first"])
    data["sessions"] = {first: data["sessions"][first]}
    for case in data["cases"].values():
        case["runs"] = [r for r in case["runs"] if r["session"] == first]
    data["cases"] = {case_id: case for case_id, case in data["cases"].items() if case["runs"]}
    if extra_session:
        sid = "h-000000000002"
        data["sessions"][sid] = dict(next(iter(data["sessions"].values())), host=sid)
        for case_id, case in data["cases"].items():
            by = factor if "-jit_ipex-" in case_id else 1.0
            case["runs"] += [dict(r, session=sid, speedup=r["speedup"] * by) for r in case["runs"]]
    (tmp_path / cls).mkdir()
    (tmp_path / cls / f"{lane}.json").write_text(json.dumps(data))
    return cls, lane


def test_across_hosts_is_not_assessable_with_one_session_and_measured_with_two(tmp_path) -> None:
    cls, lane = _baselines(tmp_path, extra_session=False)
    assert host_spread(tmp_path, cls, lane, "jit_ipex", "jit", "fp32") is None  # 1 session
    rows = models_with_benefits([1.3, 1.0])
    text = " ".join(render(rows, {"command": "`x`"}, cls, ["fp32"], lane=lane, baselines=tmp_path).split())
    assert "across hosts: not assessable yet" in text and "jit_ipex vs jit FP32: not assessable yet" in text
    assert "hosts [" not in text  # no interval drawn from priors

    two = tmp_path / "two"
    two.mkdir()
    _baselines(two, extra_session=True)
    spread = host_spread(two, cls, lane, "jit_ipex", "jit", "fp32")
    assert spread is not None and spread.sessions == 2 and 0.01 < spread.sd < 0.03  # a 3 % shift between 2
    assert host_spread(two, cls, lane, "jit_ipex", "jit", "bf16") is None  # no BF16 cases recorded
    text = " ".join(render(rows, {"command": "`x`"}, cls, ["fp32"], lane=lane, baselines=two).split())
    assert "jit_ipex vs jit FP32: sd " in text and "(2 sessions, 4 case(s), 1 df)" in text
    assert "hosts [" in text


def test_a_report_renders_again_from_its_own_file_after_a_session_is_recorded(tmp_path, monkeypatch,
                                                                              capsys) -> None:
    # Until 2026-12-08 "across hosts" was read from the live baselines at every render: a committed
    # report no longer rendered from its own claims.json once a new session was recorded.
    from infergate.commands.claims_cli import main
    from infergate.commands.claims_files import _write
    from infergate.measuring.claims_hosts import hosts_from_json, read_hosts

    one, two, report = tmp_path / "one", tmp_path / "two", tmp_path / "report"
    one.mkdir(), two.mkdir()
    cls, lane = _baselines(one, extra_session=False)
    _baselines(two, extra_session=True)
    hosts = read_hosts(one, cls, lane, ["fp32"], "2026-12-01")
    assert hosts.spread("fp32", "jit_ipex", "jit") is None and hosts.process  # 1 session: runs only
    assert hosts_from_json(json.loads(json.dumps(hosts.to_json()))) == hosts
    _write(report, models_with_benefits([1.3, 1.0]), {"command": "`x`"}, cls, lane, ["fp32"], hosts)
    first = (report / "claims.md").read_text()
    assert "as read on 2026-12-01" in " ".join(first.split())
    monkeypatch.setattr("infergate.reports.claims_report.BASELINES", two)  # a session recorded since
    assert main(["--render", str(report)]) == 0
    assert (report / "claims.md").read_text() == first and "kept in claims.json" in capsys.readouterr().out
    rows = json.loads((report / "claims.json").read_text())["rows"]
    assert main(["--render", str(report), "--refresh-hosts"]) == 0
    data = json.loads((report / "claims.json").read_text())
    assert data["rows"] == rows and data["hosts"]["read on"] != "2026-12-01"
    refreshed = " ".join((report / "claims.md").read_text().split())
    assert "jit_ipex vs jit FP32: sd " in refreshed and "(2 sessions, 4 case(s), 1 df)" in refreshed
    with pytest.raises(SystemExit) as exited:
        main(["--refresh-hosts"])
    assert exited.value.code == 2 and "go with --render" in capsys.readouterr().err


def test_a_file_that_keeps_no_hosts_gains_them_in_place_and_bad_hosts_are_refused(tmp_path, monkeypatch,
                                                                                  capsys) -> None:
    from infergate.commands.claims_cli import main
    from infergate.measuring.claims_hosts import HostFigures

    monkeypatch.setattr("infergate.reports.claims_report.BASELINES", tmp_path / "none")
    _write_claims(tmp_path / "r", "cls", "lane", models_with_benefits([1.3]))
    path = tmp_path / "r" / "claims.json"
    data = json.loads(path.read_text())
    del data["hosts"]
    path.write_text(json.dumps({**data, "version": 3}))
    (tmp_path / "r" / "claims.md").unlink()
    (tmp_path / "r" / "claims.md").mkdir()  # a render that is refused keeps the file as it was
    before = path.read_bytes()
    assert main(["--render", str(tmp_path / "r")]) == 2
    assert path.read_bytes() == before
    (tmp_path / "r" / "claims.md").rmdir()
    assert main(["--render", str(tmp_path / "r")]) == 0
    back = json.loads(path.read_text())
    assert (back["version"], back["rows_version"]) == (4, 3) and back["rows"] == data["rows"]
    assert back["hosts"]["source"] == "baselines/cls/lane.json" and back["hosts"]["between sessions"] == []
    capsys.readouterr()
    for bad, said in (({**back, "version": 3, "rows_version": 3}, "hosts in a version 3 file"),
                      ({**back, "rows_version": 5}, "rows_version 5 is not a version before its own"),
                      ({**back, "rows_version": "1"}, "rows_version \"1\""),
                      ({**back, "hosts": {"source": "x"}}, "a 'read on' date"),
                      ({**back, "hosts": {**HostFigures("x", "d").to_json(), "between sessions": [
                          {"dtype": "fp32", "faster": "jit_ipex", "slower": "jit", "sd": -1.0, "sessions": 2,
                           "cases": 1, "df": 1, "floored": 0, "process_var": 0.0}]}}, "sd is -1.0")):
        path.write_text(json.dumps(bad))
        before = path.read_bytes()
        assert main(["--render", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and said in err, err
        assert path.read_bytes() == before


def test_a_between_session_spread_below_what_the_runs_resolve_is_taken_at_that_resolution(tmp_path) -> None:
    # The second session repeats the first one's runs: the session means agree exactly, so the
    # moment estimate (their variance minus what the runs alone scatter them by) is negative. It is
    # not a measured zero: it is taken at the runs' resolution and the report says so.
    cls, lane = _baselines(tmp_path, extra_session=True, factor=1.0)
    spread = host_spread(tmp_path, cls, lane, "jit_ipex", "jit", "fp32")
    assert spread is not None and spread.floored == spread.cases == 4 and not spread.resolved
    assert spread.sd > 0.001 and spread.process_var > 0
    text = " ".join(render(models_with_benefits([1.3, 1.0]), {"command": "`x`"}, cls, ["fp32"], lane=lane,
                           baselines=tmp_path).split())
    assert f"jit_ipex vs jit FP32: sd not resolved, taken at the runs' {spread.sd:.1%}" in text
    # A one-process (version 1) row's interval is its process's bootstrap: across hosts it also
    # takes the spread between processes the baselines' runs show.
    one_process = row({"jit": 100.0, "jit_ipex": 80.0})
    without = speedup(one_process, "jit_ipex", "jit", hosts=dataclasses.replace(spread, process_var=0.0))
    with_it = speedup(one_process, "jit_ipex", "jit", hosts=spread)
    assert without is not None and with_it is not None and with_it.high / with_it.low > without.high / without.low


def test_one_legend_line_per_skip_reason_and_a_flag_for_a_disturbed_row() -> None:
    from infergate.measuring.inrun_noise import InRunNoise

    reason = "BF16 speed is measured only on CPUs with native BF16 arithmetic (amx_bf16 or avx512_bf16)"
    rows = [ClaimMeasurement(f"m{i}-qa-base-eager_attn", "m", "qa", "b1s128", "bf16",
                             skipped={v: reason for v in ("eager", "jit", "jit_ipex", "compile")}) for i in range(6)]
    noisy = row({"eager": 100.0, "jit": 80.0, "jit_ipex": 70.0, "compile": 75.0}, model="n-qa-base-eager_attn")
    assert noisy.timing is not None
    noisy.timing.noise = InRunNoise(samples=20, others_runnable=1.2, others_runnable_max=2)
    text = render([*rows, noisy], {"command": "`x`"}, "cls", ["bf16", "fp32"])
    flat = " ".join(text.split())  # the legend wraps at 120 columns
    assert flat.count(reason) == 1
    assert "- skip [1] (jit, jit_ipex, compile; 30 cell(s)): " + reason in flat
    assert "| n ⚠ |" in text and "1.20 other runnable thread(s)" in text
    assert all(len(line) <= 120 for line in text.splitlines() if not line.startswith("|"))


def _shout() -> int:
    print("a worker's warning", file=sys.stderr)
    return 7


def test_a_workers_stderr_goes_to_the_log_not_the_console(tmp_path, capfd) -> None:
    from infergate.measuring.isolation import run_in_worker

    log = tmp_path / "claims.log"
    assert run_in_worker(_shout, timeout=120, stderr_log=log) == 7
    assert "a worker's warning" in log.read_text() and "a worker's warning" not in capfd.readouterr().err


def _write_claims(directory, cls: str, lane: str, rows: list[ClaimMeasurement]) -> None:
    from infergate.commands.claims_files import _write
    from infergate.measuring.claims_hosts import HostFigures

    _write(directory, rows, {"command": "`x`", "machine class": cls, "lane": lane}, cls, lane, ["fp32"],
           HostFigures("no baselines (a test)", "2026-12-08"))


def test_several_runs_render_into_one_report_with_their_origin_and_classes_never_mix(tmp_path, capsys) -> None:
    from infergate.commands.claims_cli import main

    a, b, c, out = (tmp_path / n for n in ("a", "b", "c", "out"))
    _write_claims(a, "cls", "lane", models_with_benefits([1.3]))
    _write_claims(b, "cls", "lane", [trial_row(math.log(1.1), [0.0, 0.01, -0.01])])
    _write_claims(c, "other", "lane", models_with_benefits([1.0]))
    assert main(["--render", str(a), str(c), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "one report is one class and lane" in err and not out.exists()
    assert main(["--render", str(a), str(b), "--out", str(out), "--origin", "recorded on a runner, 2026-12-06"]) == 0
    text = (out / "claims.md").read_text()
    sources = text.split("## Sources")[1].split("##")[0]
    assert sources.count("| recorded on a runner, 2026-12-06 |") == 2 and f"`{a / 'claims.json'}`" in sources
    assert "- **rendered by**: `python -m infergate claims --render" in text
    assert "| m0 |" in text and "| m |" in text and "leave out `-qa-base-eager_attn`" in text
    merged = json.loads((out / "claims.json").read_text())
    assert merged["version"] == 4 and len(merged["sources"]) == 2 and len(merged["rows"]) == 2
    assert main(["--render", str(out)]) == 0  # the merged file renders again, its sources kept
    assert (out / "claims.md").read_text() == text


def test_a_version_1_file_still_renders_and_says_its_intervals_are_one_process(tmp_path) -> None:
    from pathlib import Path

    from infergate.commands.claims_cli import main

    committed = (Path(__file__).resolve().parents[1] / "docs" / "claims" / "amd-epyc__avx2__2c2t"
                 / "torch-2.8.0__ipex-2.8.0__tf-4.57.6")
    # Its rows as version 1 wrote them (one process, no trials); the file is version 4 since it keeps
    # the across-hosts spreads it was last rendered with, and says so (rows_version).
    data = json.loads((committed / "claims.json").read_text())
    assert (data["version"], data["rows_version"]) == (4, 1) and all(not r.get("trials") for r in data["rows"])
    out = tmp_path / "out"
    assert main(["--render", str(committed), "--out", str(out), "--origin", "o"]) == 0
    text = (out / "claims.md").read_text()
    assert "**One-process intervals**: 24 row(s) come from claims.json version 1" in text
    assert "| claims.json v1 | 48 | o |" in text
    assert json.loads((out / "claims.json").read_text())["rows_version"] == 1
    # The legend does not claim across-process intervals for them (review S15).
    assert "Version 1 rows' intervals are one process's bootstrap" in " ".join(text.split())


def test_a_bf16_headline_timed_beside_ipex_says_so_itself() -> None:
    # The runner's AVX-512 rows (version 1): BF16 eager/jit/compile shared a process with IPEX; the
    # headline line, which people quote alone, carries that caveat, and FP32's does not.
    from pathlib import Path

    committed = (Path(__file__).resolve().parents[1] / "docs" / "claims" / "amd-epyc__avx512__2c2t"
                 / "torch-2.8.0__ipex-2.8.0__tf-4.57.6" / "claims.md")
    text = " ".join(committed.read_text().split())
    fp32 = text[text.index("- amd-epyc__avx512__2c2t, FP32"):text.index("- amd-epyc__avx512__2c2t, BF16")]
    bf16 = text[text.index("- amd-epyc__avx512__2c2t, BF16"):text.index("- **One-process intervals**")]
    assert "timed beside IPEX" in bf16 and "timed beside IPEX" not in fp32


def test_bf16_jit_ipex_has_workers_of_its_own_and_fp32_shares_one() -> None:
    from infergate.commands.claims_cli import plan_rows, worker_groups
    from infergate.matrix.dtypes import DType
    from infergate.matrix.zoo import Task

    fp32, bf16 = plan_rows(["bert"], [Task.SEQ_CLS], "tiny", "eager", [DType.FP32, DType.BF16])
    variants = ("eager", "jit", "jit_ipex", "compile")
    assert worker_groups(fp32, variants) == {"torch": variants}
    assert worker_groups(bf16, variants) == {"torch": ("eager", "jit", "compile"), "ipex": ("jit_ipex",)}


def test_a_row_whose_rounds_scatter_is_flagged_even_when_the_samples_missed_it() -> None:
    from infergate.measuring.claims import disturbed

    quiet = row({"eager": 100.0, "jit": 80.0})
    assert disturbed(quiet) == ()
    assert quiet.timing is not None
    times = quiet.timing.times_ns["eager"]
    quiet.timing.times_ns["eager"] = [t * 5 if i % 2 else t for i, t in enumerate(times)]  # half the rounds 5x slower
    assert any("eager" in r and "IQR" in r for r in disturbed(quiet))


@pytest.mark.parametrize("between_sd", [0.0, 0.003, 0.01, 0.05])
def test_across_hosts_is_never_narrower_than_this_host(between_sd: float) -> None:
    # A prediction for another host adds that host's offset to this one's: it cannot be surer than
    # this host's own interval, however many sessions measured the spread (review M3: with a small
    # between-session sd and its df in the quantile, it once was).
    m = trial_row(math.log(1.06), [0.02, -0.015, 0.004], seed=7)
    here = speedup(m, "jit_ipex", "jit")
    there = speedup(m, "jit_ipex", "jit", hosts=HostSpread(sd=between_sd, sessions=8, cases=4))
    assert here is not None and there is not None
    assert there.low <= here.low * (1 + 1e-12) and there.high >= here.high * (1 - 1e-12)  # equal at sd 0
    assert there.se ** 2 == pytest.approx(here.se ** 2 + 2 * between_sd ** 2)


# --- a BF16 row's two workers in lockstep (claims.json version 3) --------------------------------


def test_lockstep_rounds_call_every_variant_once_and_jit_ipex_right_beside_jit() -> None:
    import random

    from infergate.measuring.claims_pair import lockstep_times

    calls: list[tuple[str, str]] = []

    def timer(group: str):
        return lambda v: calls.append((group, v)) or 1

    timed = {"torch": ["eager", "jit", "compile"], "ipex": ["jit_ipex"]}
    switches: list[str] = []
    times = lockstep_times({g: timer(g) for g in timed}, timed, 8, random.Random(0), replicate=1,
                           switch=switches.append)
    # before every call in the other worker, and only then, the driver waits for the last one to go quiet
    assert switches == [a[0] for a, b in zip(calls, calls[1:], strict=False) if a[0] != b[0]] and switches
    assert {v: len(ns) for by_v in times.values() for v, ns in by_v.items()} == dict.fromkeys(
        ("eager", "jit", "compile", "jit_ipex"), 8)
    rounds = [calls[i:i + 4] for i in range(0, len(calls), 4)]
    firsts = []
    for r in rounds:
        assert sorted(r) == sorted([("torch", "eager"), ("torch", "jit"), ("torch", "compile"), ("ipex", "jit_ipex")])
        i = r.index(("ipex", "jit_ipex"))
        beside = {r[i - 1] if i else None, r[i + 1] if i < 3 else None}
        assert ("torch", "jit") in beside  # back to back with its partner
        firsts.append(r.index(("torch", "jit")) < i)
    assert firsts == [False, True] * 4  # replicate 1 starts with the IPEX worker, then they alternate


def _simulated_row(truth: float, rng: np.random.Generator, paired: bool, rounds: int = 30,
                   replicates: int = 3) -> ClaimMeasurement:
    """A BF16 row on a drifting host: a shared log speed that wanders (a random walk, 1 % a call) and
    trends (the host slowing by 0.1 % a call), moved on by every call of either worker; each worker
    process has its own offset per variant (1 % level, 0.5 % variant) and each call 2 % noise.
    ``paired``: each replicate's workers in lockstep rounds; else one after the other (version 2)."""
    import random

    from infergate.measuring.claims_pair import lockstep_times

    base = {"eager": 100.0, "jit": 80.0, "compile": 75.0, "jit_ipex": 80.0 * math.exp(-truth)}
    timed = {"torch": ["eager", "jit", "compile"], "ipex": ["jit_ipex"]}
    n_calls = replicates * rounds * 4
    host = iter(np.cumsum(rng.normal(0.001, 0.01, n_calls)))
    noise = iter(rng.normal(0.0, 0.02, n_calls))
    trials = []
    for rep in range(replicates):
        level = rng.normal(0.0, 0.01, 2)
        offsets = {g: {v: level[i] + rng.normal(0.0, 0.005) for v in vs} for i, (g, vs) in enumerate(timed.items())}

        def timer(own: dict[str, float]):
            return lambda variant: int(base[variant] * 1e6 * math.exp(next(host) + own[variant] + next(noise)))

        timers = {g: timer(offsets[g]) for g in timed}
        if paired:
            times = lockstep_times(timers, timed, rounds, random.Random(rep), rep)
        else:  # the groups one after the other, alternating which goes first
            order = list(timed) if rep % 2 == 0 else list(timed)[::-1]
            times = {g: lockstep_times({g: timers[g]}, {g: timed[g]}, rounds, random.Random(rep), rep)[g]
                     for g in order}
        trials += [Trial(rep, g, ModelMeasurement("m", "bf16", list(ns), ns, rounds=rounds), lockstep=paired)
                   for g, ns in times.items()]
    return ClaimMeasurement("m-seqcls-base-eager_attn", "m", "seqcls", "b1s128", "bf16", trials=trials)


def test_the_lockstep_pair_covers_the_fusion_benefit_on_a_drifting_host_unpaired_workers_are_far_wider() -> None:
    # 400 simulated rows of 3 replicates: the paired ratio's 99 % t interval (df 2) covers the true
    # jit_ipex/jit at about its rate; the same workers run one after the other carry the host's
    # drift between their moments into every replicate: an interval many times wider (it covers,
    # t with 2 df is that wide), which so rarely clears 1 that a 15 % fusion benefit seldom counts.
    truth, n = math.log(1.15), 400
    rng = np.random.default_rng(2026)
    covered = {True: 0, False: 0}
    counted = {True: 0, False: 0}
    widths: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(n):
        for paired in (True, False):
            est = speedup(_simulated_row(truth, rng, paired), "jit_ipex", "jit")
            assert est is not None and est.processes == 3
            covered[paired] += est.low <= math.exp(truth) <= est.high
            counted[paired] += benefit_counts(est)
            widths[paired].append(math.log(est.high / est.low))
    assert covered[True] / n >= 0.97, covered  # nominal 0.99: 400 rows' binomial sd is 0.005
    wide, narrow = float(np.median(widths[False])), float(np.median(widths[True]))
    assert wide > 5 * narrow, (wide, narrow)
    assert counted[True] / n > 0.75 and counted[False] / n < 0.1, counted  # measured: 86 % and 3 %
    # A ratio inside one worker is paired as before: jit over eager covers too.
    est = speedup(_simulated_row(truth, rng, True), "jit", "eager")
    assert est is not None and est.low < 1.25 < est.high


def test_a_lockstep_rows_interval_is_a_t_over_its_replicates_with_replicates_minus_1_df() -> None:
    from infergate.measuring.claims import per_process_logs
    from infergate.measuring.run_spread import student_t_quantile

    m = _simulated_row(math.log(1.15), np.random.default_rng(5), paired=True, replicates=4)
    # Per replicate, computed here from the raw rounds: the median of log(jit) - log(jit_ipex), round by round.
    logs = []
    for p in range(4):
        by_group = {t.group: t.timing.times_ns for t in m.trials if t.process == p}
        jit, ipex = np.array(by_group["torch"]["jit"], float), np.array(by_group["ipex"]["jit_ipex"], float)
        logs.append(float(np.median(np.log(jit) - np.log(ipex))))
    assert per_process_logs(m, "jit_ipex", "jit") == pytest.approx(logs, rel=1e-12)
    est = speedup(m, "jit_ipex", "jit")
    assert est is not None and est.processes == 4
    half = student_t_quantile(0.995, 3) * float(np.std(logs, ddof=1)) / math.sqrt(4)
    assert est.point == pytest.approx(math.exp(np.mean(logs)))
    assert (est.low, est.high) == pytest.approx((math.exp(np.mean(logs) - half), math.exp(np.mean(logs) + half)))
    # Paired round by round: the same trials marked as version 2's (one worker after the other) take
    # the ratio of medians instead, a different number.
    for t in m.trials:
        t.lockstep = False
    assert per_process_logs(m, "jit_ipex", "jit") != pytest.approx(logs, abs=1e-12)


def test_a_bf16_row_with_jit_ipex_runs_one_lockstep_pair_per_replicate_and_fp32_one_worker(monkeypatch) -> None:
    from infergate.commands import claims_cli
    from infergate.matrix.dtypes import DType
    from infergate.matrix.zoo import Task
    from infergate.measuring import claims_measure, claims_pair, isolation

    pairs: list[int] = []

    def fake_pair(spec, shape, dtype, plan, groups, replicate, **kw):
        pairs.append(replicate)
        assert groups == {"torch": ("eager", "jit", "compile"), "ipex": ("jit_ipex",)}
        m = _simulated_row(math.log(1.2), np.random.default_rng(replicate), True, replicates=1)
        return [(t.group, ClaimMeasurement(spec.id, "bert", "seqcls", str(shape), "bf16",
                                           timing=dataclasses.replace(t.timing, schedule="lockstep")))
                for t in m.trials]

    def fake_worker(fn, spec, shape, dtype, plan, variants, **kw):
        m = row({v: 80.0 for v in variants}, model=spec.id, dtype=dtype.value)
        return m

    import dataclasses

    monkeypatch.setattr(claims_pair, "measure_pair", fake_pair)
    monkeypatch.setattr(isolation, "run_in_worker", fake_worker)
    monkeypatch.setattr(claims_measure, "unavailable", lambda *a: None)  # as on a native-BF16 CPU with IPEX
    rows = claims_cli.plan_rows(["bert"], [Task.SEQ_CLS], "tiny", "eager", [DType.FP32, DType.BF16])
    fp32, bf16 = claims_cli.run_rows(rows, None, 60.0, out=lambda *a, **k: None, processes=3)
    assert pairs == [0, 1, 2]  # one pair per replicate, the replicate its index (build order, first caller)
    assert [(t.process, t.group, t.lockstep) for t in bf16.trials] == [
        (p, g, True) for p in range(3) for g in ("torch", "ipex")]
    est = speedup(bf16, "jit_ipex", "jit")
    assert est is not None and est.processes == 3 and est.low > 1.0
    assert [(t.process, t.group, t.lockstep) for t in fp32.trials] == [(p, "torch", False) for p in range(3)]


def test_a_lockstep_row_reads_back_as_written_and_version_2_files_stay_unpaired(tmp_path) -> None:
    from pathlib import Path

    from infergate.commands.claims_files import load_rows
    from infergate.core.errors import DataFileError

    m = _simulated_row(math.log(1.15), np.random.default_rng(9), paired=True)
    _write_claims(tmp_path, "cls", "lane", [m])
    data, (back,) = load_rows(tmp_path / "claims.json")
    assert data["version"] == 4 and all(t.lockstep for t in back.trials)
    assert speedup(back, "jit_ipex", "jit") == speedup(m, "jit_ipex", "jit")
    committed = (Path(__file__).resolve().parents[1] / "docs" / "claims" / "amd-epyc__avx512__2c2t"
                 / "bf16-plain-torch-seqcls" / "claims.json")
    data, rows = load_rows(committed)
    assert data["rows_version"] == 2 and rows and not any(t.lockstep for m in rows for t in m.trials)
    # Its rows stay version 2's: a lockstep flag in them is refused as in a version 2 file.
    raw = json.loads(committed.read_text())
    raw["rows"][0]["trials"][0]["lockstep"] = True
    (tmp_path / "v2.json").write_text(json.dumps(raw))
    with pytest.raises(DataFileError, match="a lockstep trial in a version 2 file"):
        load_rows(tmp_path / "v2.json")


def test_the_driver_waits_for_the_last_worker_to_stop_running_and_no_longer_than_its_limit(tmp_path,
                                                                                        monkeypatch) -> None:
    from infergate.measuring.claims_pair import PAIR_ENV, _observed, paired_env, quiet

    task = tmp_path / "42" / "task"
    for tid, state in (("42", "S"), ("43", "S")):
        (task / tid).mkdir(parents=True)
        (task / tid / "stat").write_text(f"{tid} (python (x)) {state} 1 2 3\n")
    assert quiet(42, 0.5, proc=tmp_path) < 0.1  # every thread asleep: no wait
    (task / "43" / "stat").write_text("43 (omp (spin)) R 1 2 3\n")  # an OpenMP thread still spinning
    assert 0.05 <= quiet(42, 0.05, proc=tmp_path) < 0.5
    # The pair's setting is on top of the suite's and each worker says what it sees.
    assert paired_env().env["GOMP_SPINCOUNT"] == PAIR_ENV["GOMP_SPINCOUNT"]
    monkeypatch.setenv("GOMP_SPINCOUNT", "7")
    assert _observed()["env"]["GOMP_SPINCOUNT"] == "7"


def test_a_pair_worker_that_fails_before_it_is_timed_fails_the_replicate_with_its_own_error(monkeypatch) -> None:
    # A real worker process whose build fails at once (no model given): the driver, waiting for it
    # to connect, raises the worker's own error, and the other worker is never started.
    from infergate.matrix.dtypes import DType
    from infergate.matrix.inputs import Shape
    from infergate.measuring import claims_pair
    from infergate.measuring.claims_pair import measure_pair
    from infergate.measuring.sampling import SamplingPlan

    started: list[str] = []

    class Recorded(claims_pair.LiveWorker):
        def __init__(self, group: str, *args, **kw) -> None:
            started.append(group)
            super().__init__(group, *args, **kw)

    monkeypatch.setattr(claims_pair, "LiveWorker", Recorded)
    with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'id'"):
        measure_pair(None, Shape(1, 16), DType.BF16, SamplingPlan(budget_s=0.1),  # type: ignore[arg-type]
                     {"torch": ("eager",), "ipex": ("jit_ipex",)}, 0, timeout=120)
    assert started == ["torch"]


def _bf16_row():
    from infergate.commands.claims_cli import plan_rows
    from infergate.matrix.dtypes import DType
    from infergate.matrix.zoo import Task

    return plan_rows(["bert"], [Task.SEQ_CLS], "tiny", "eager", [DType.BF16])[0]


@pytest.mark.parametrize("lost", [0, 1, 2])
def test_a_build_failure_in_any_replicate_fails_the_variant_and_no_interval_rests_on_fewer(lost: int) -> None:
    # Review M1: only process 0's failures were kept, and the ratio quietly used the other replicates.
    from infergate.commands.claims_cli import _merge

    m = _simulated_row(math.log(1.15), np.random.default_rng(3), paired=True)
    parts = []
    for t in m.trials:
        part = ClaimMeasurement(m.model_id, "m", "seqcls", "b1s128", "bf16", timing=t.timing)
        if (t.process, t.group) == (lost, "ipex"):
            part = ClaimMeasurement(m.model_id, "m", "seqcls", "b1s128", "bf16", failed={"jit_ipex": "trace failed"})
        parts.append((t.process, t.group, part))
    merged = _merge(_bf16_row(), parts)
    assert merged.failed == {"jit_ipex": f"process {lost}: trace failed"}
    assert speedup(merged, "jit_ipex", "jit") is None and speedup(merged, "jit", "eager") is not None
    assert fusion_share([merged], "bf16").failed == 1
    assert can_leave_ipex(merged).answer == "n/a" and "jit_ipex failed" in can_leave_ipex(merged).why
    assert f"process {lost}: trace failed" in render([merged], {"command": "`x`"}, "cls", ["bf16"])


def test_the_same_failure_in_several_replicates_is_named_once_with_its_processes() -> None:
    from infergate.commands.claims_cli import _merge

    parts = [(p, "ipex", ClaimMeasurement("m", "m", "seqcls", "b1s128", "bf16", failed={"jit_ipex": e}))
             for p, e in ((0, "boom"), (1, "other"), (2, "boom"))]
    assert _merge(_bf16_row(), parts).failed == {"jit_ipex": "processes 0, 2: boom; process 1: other"}


def test_a_lockstep_pair_whose_round_counts_differ_is_an_error_never_another_estimator(tmp_path) -> None:
    # Review M2: it fell back to the ratio of medians.
    from infergate.commands.claims_files import load_rows
    from infergate.core.errors import DataFileError

    m = _simulated_row(math.log(1.15), np.random.default_rng(4), paired=True)
    _write_claims(tmp_path, "cls", "lane", [m])
    ipex = next(t for t in m.trials if t.process == 1 and t.group == "ipex")
    ipex.timing.times_ns["jit_ipex"].pop()
    with pytest.raises(ValueError, match="m-seqcls-base-eager_attn b1s128 bf16, process 1"):
        speedup(m, "jit_ipex", "jit")
    data = json.loads((tmp_path / "claims.json").read_text())
    trial = next(t for t in data["rows"][0]["trials"] if (t["process"], t["group"]) == (1, "ipex"))
    trial["timing"]["times_ns"]["jit_ipex"].pop()
    (tmp_path / "claims.json").write_text(json.dumps(data))
    with pytest.raises(DataFileError, match="row m-seqcls-base-eager_attn b1s128 bf16: process 1's lockstep"):
        load_rows(tmp_path / "claims.json")


@pytest.mark.parametrize("timed", [{"torch": ["eager", "jit", "compile"], "ipex": ["jit_ipex"]},
                                   {"ipex": ["jit_ipex"], "torch": ["eager", "jit", "compile"]}])
def test_jit_ipex_shares_jits_unit_whichever_group_comes_first(timed) -> None:
    from infergate.measuring.claims_pair import pair_units

    units, sides, on = pair_units(timed)
    assert sorted(units) == ["compile", "eager", "jit"]
    assert on["jit"] == {"torch": "jit", "ipex": "jit_ipex"} and sides["jit"] == list(timed)


def test_time_pair_warms_up_then_settles_once_then_times_the_rounds_of_both_workers_budgets(monkeypatch) -> None:
    import types

    from infergate.measuring import claims_pair
    from infergate.measuring.sampling import MIN_WARMUP_ROUNDS, SamplingPlan

    clock = [0.0]
    events: list[str] = []
    ms = {"eager": 2.0, "jit": 1.0, "jit_ipex": 1.0}  # 4 ms a round

    def timer(group: str):
        def call(v: str) -> int:
            clock[0] += ms[v] / 1e3
            events.append(v)
            return int(ms[v] * 1e6)
        return call

    monkeypatch.setattr(claims_pair, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    timed = {"torch": ["eager", "jit"], "ipex": ["jit_ipex"]}
    plan = SamplingPlan(budget_s=0.1, warmup_s=0.05, min_rounds=20)
    pair = claims_pair.time_pair({g: timer(g) for g in timed}, timed, plan, 0,
                                 settle=lambda: events.append("settle"))
    warm_rounds = 13  # 4 ms rounds until the clock passes 50 ms (more than MIN_WARMUP_ROUNDS)
    assert warm_rounds > MIN_WARMUP_ROUNDS and events.count("settle") == 1
    assert events.index("settle") == 3 * warm_rounds  # after every warm-up call, before any timed one
    assert pair.rounds == 50  # the pair's budget is both workers': 2 x 0.1 s of 4 ms rounds
    assert {v: len(ns) for by_v in pair.times_ns.values() for v, ns in by_v.items()} == dict.fromkeys(ms, 50)
    assert pair.warmup_median_ns == {"torch": {"eager": 2e6, "jit": 1e6}, "ipex": {"jit_ipex": 1e6}}
    assert pair.warmup_s == pytest.approx(0.052) and pair.measure_s == pytest.approx(0.2)
    assert len(events) == 3 * warm_rounds + 1 + 3 * 50


def test_the_summary_names_a_partial_runs_lane_from_its_facts(tmp_path, capsys) -> None:
    from infergate.commands.claims_files import print_summary

    committed = Path(__file__).parents[1] / "docs/claims/amd-epyc__avx512__2c2t/bf16-lockstep/runs/seqcls/claims.json"
    (tmp_path / "cls" / "bf16-part").mkdir(parents=True)
    shutil.copy(committed, tmp_path / "cls" / "bf16-part" / "claims.json")
    assert print_summary(tmp_path) == 0
    row = capsys.readouterr().out.splitlines()[2]
    assert row.startswith("| cls | torch-2.8.0__ipex-2.8.0__tf-4.57.6 (bf16-part) | BF16 | 6 of 6 models |"), row


def test_the_summary_lists_a_class_with_baselines_but_no_claims_report(tmp_path, capsys) -> None:
    from infergate.commands.claims_files import print_summary

    committed = Path(__file__).parents[1] / "docs/claims/amd-epyc__avx512__2c2t/bf16-lockstep/runs/seqcls/claims.json"
    (tmp_path / "claims" / "cls" / "bf16-part").mkdir(parents=True)
    shutil.copy(committed, tmp_path / "claims" / "cls" / "bf16-part" / "claims.json")
    for cls in ("cls", "other-class"):
        (tmp_path / "baselines" / cls).mkdir(parents=True)
    assert print_summary(tmp_path / "claims", tmp_path / "baselines") == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [r.split(" | ")[0] for r in rows] == ["| cls", "| other-class"]
    assert rows[1] == ("| other-class | — | FP32, BF16 | not measured: no claims report for this class yet "
                       "| — | — | — | — |")
    assert print_summary(tmp_path / "claims", tmp_path / "no-baselines-here") == 0  # a user's project: no crash
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_the_summary_counts_across_hosts_only_where_the_baselines_hold_two_sessions(tmp_path, capsys) -> None:
    from infergate.commands.claims_files import print_summary
    from infergate.measuring.claims_hosts import hosts_from_json

    cls, lane = "amd-epyc__avx2__2c2t", "torch-2.8.0__ipex-2.8.0__tf-4.57.6"
    (tmp_path / "claims" / cls / lane).mkdir(parents=True)
    committed = json.loads((Path(__file__).parents[1] / "docs/claims" / cls / lane / "claims.json").read_text())
    kept = committed.pop("hosts")  # a file that keeps none: the summary reads the baselines it is given
    (tmp_path / "claims" / cls / lane / "claims.json").write_text(json.dumps(committed))
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    _baselines(one, extra_session=False)
    _baselines(two, extra_session=True)
    cells = {}
    for name, where in (("one", one), ("two", two)):
        assert print_summary(tmp_path / "claims", where) == 0
        fp32 = [r for r in capsys.readouterr().out.splitlines() if f"| {lane} | FP32 |" in r]
        assert len(fp32) == 1, fp32
        cells[name] = fp32[0].split(" | ")[5]
    assert cells["one"] == "not assessable yet"
    from infergate.commands.claims_files import load_rows

    _, rows = load_rows(tmp_path / "claims" / cls / lane / "claims.json")
    counted = fusion_share(rows, "fp32", host_spread(two, cls, lane, "jit_ipex", "jit", "fp32")).counted_across_hosts
    assert cells["two"] == f"{counted} of 18 (2 sessions, 1 df)", cells["two"]
    # A file that keeps them: its own, whatever the baselines hold now (as its claims.md shows them).
    (tmp_path / "claims" / cls / lane / "claims.json").write_text(json.dumps({**committed, "hosts": kept}))
    assert print_summary(tmp_path / "claims", one) == 0
    own = hosts_from_json(kept).spread("fp32", "jit_ipex", "jit")
    assert own is not None and f"| {fusion_share(rows, 'fp32', own).counted_across_hosts} of 18 ({own.sessions} " \
        f"sessions, {own.dof} df) |" in capsys.readouterr().out


def test_a_report_is_not_rendered_under_another_class_or_lanes_name(tmp_path, capsys) -> None:
    from infergate.commands.claims_cli import main

    a = tmp_path / "a"
    lane = "torch-2.8.0__ipex-2.8.0__tf-4.57.6"
    _write_claims(a, "amd__avx2__2c2t", lane, models_with_benefits([1.3]))
    for out, why in ((tmp_path / "intel__amx__2c2t" / "part", "machine class amd__avx2__2c2t, not intel__amx__2c2t"),
                     (tmp_path / "amd__avx2__2c2t" / "torch-2.13.0__noipex__tf-5.24.0", f"lane {lane}, not")):
        assert main(["--render", str(a), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and why in err and not out.exists(), err
    for fine in (tmp_path / "amd__avx2__2c2t" / "bf16-part", tmp_path / "amd__avx2__2c2t" / lane / "sub",
                 tmp_path / "my__runs" / "out"):  # a sub-directory of a lane's, or a name of no class pattern
        assert main(["--render", str(a), "--out", str(fine)]) == 0, capsys.readouterr().err


def test_every_committed_claims_report_is_under_30_kb_and_its_prose_fits_120_columns() -> None:
    """Issue 27's targets for a report people read, on the committed reports (the whole matrix is the
    largest): tables may be wide, prose may not."""
    # every report, the runs and experiments kept in sub-directories too
    reports = sorted((Path(__file__).parents[1] / "docs" / "claims").rglob("claims.md"))
    assert reports
    for path in reports:
        text = path.read_text(encoding="utf-8")
        assert len(text.encode()) < 30_000, f"{path}: {len(text.encode())} bytes"
        wide = [line for line in text.splitlines() if not line.startswith("|") and len(line) > 120]
        assert not wide, f"{path}: {wide[0]}"


def test_the_tables_leave_out_only_an_ending_every_row_shares() -> None:
    from infergate.reports.claims_report import common_ending

    assert common_ending(["bert-qa-base-eager_attn", "albert-qa-base-eager_attn"]) == "-qa-base-eager_attn"
    assert common_ending(["bert-qa-base-eager_attn", "bert-seqcls-base-eager_attn"]) == "-base-eager_attn"
    assert common_ending(["bert-qa-base-eager_attn", "bert-qa-base-sdpa_attn"]) == ""
    assert common_ending(["bert-qa-base-eager_attn"]) == ""  # one row: nothing to save, say it whole
    assert common_ending(["qa-base", "x-qa-base"]) == "-base"  # an id is never left empty


def test_the_budget_tool_splits_the_variance_and_reproduces_the_rows_own_wall_time(monkeypatch) -> None:
    # tools/claims_budget.py, behind docs/claims.md's "Processes or rounds" and the defaults it chose.
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "tools"))
    import claims_budget

    between, within = 0.02 ** 2, 0.01 ** 2
    b, w = claims_budget.fit([(f, between + within / f) for f in claims_budget.FRACTIONS])
    assert (b, w) == (pytest.approx(between), pytest.approx(within))
    # Variances that do not grow with fewer rounds: all between, none within (never a negative part).
    flat = [(f, between * (1.02 if f == 1.0 else 0.99)) for f in claims_budget.FRACTIONS]
    assert claims_budget.fit(flat) == (pytest.approx(sum(v for _, v in flat) / 3), 0.0)
    m = _simulated_row(math.log(1.15), np.random.default_rng(5), paired=True, rounds=60)
    for t in m.trials:
        t.timing.warmup_s, t.timing.measure_s = 2.0, 30.0
    m.wall_s = 3 * 80.0  # three replicates of 80 s: 48 s fixed, 32 s timed
    assert claims_budget.row_minutes([m], 3, 15.0, 15.0) == pytest.approx(4.0)
    # a third of the budget takes a third of the rounds (60 -> 20, the floor), a fourth process its share
    assert claims_budget.row_minutes([m], 4, 5.0, 15.0) == pytest.approx(4 * (48 + 2 + 10) / 60)
    full, _ = claims_budget.pooled_variance([claims_budget.truncated(m, 1.0)], "jit_ipex", "jit")
    third, _ = claims_budget.pooled_variance([claims_budget.truncated(m, 1 / 3)], "jit_ipex", "jit")
    assert full != third  # the shorter budget is taken on fewer rounds, not the same ones


def test_the_paired_design_tool_says_narrower_only_when_the_f_interval_excludes_equal_widths(monkeypatch) -> None:
    # tools/claims_paired.py, which decides docs/claims.md's "Processes or rounds" from interleaved rows.
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "tools"))
    import claims_paired

    lo, hi = claims_paired.f_interval(18, 12)
    assert (lo, hi) == (pytest.approx(0.3612, rel=0.03), pytest.approx(3.108, rel=0.03))  # F(18, 12) 2.5 %, 97.5 %
    # 6 rows of 3 processes (df 12) against 6 rows of 4 (df 18): at one variance the fourth process
    # and t's third df halve the width, clearly; at 4x the variance the widths match (undecided);
    # at 16x B is twice as wide, clearly.
    ratio, lo, hi, verdict = claims_paired.compare(1e-4, 12, 3, 1e-4, 18, 4)
    assert ratio == pytest.approx(0.51, abs=0.01) and verdict == "B narrower"
    # ratio / sqrt(F(18, 12)'s 97.5 % and 2.5 % points): the interval of the true ratio, not its mirror
    assert (lo, hi) == (pytest.approx(0.289, rel=0.02), pytest.approx(0.846, rel=0.02))
    assert claims_paired.compare(1e-4, 12, 3, 4e-4, 18, 4)[3] == "could not decide"
    ratio, lo, hi, verdict = claims_paired.compare(1e-4, 12, 3, 16e-4, 18, 4)
    assert ratio == pytest.approx(2.04, abs=0.02) and lo > 1 and verdict == "A narrower"


def test_the_pair_is_sampled_for_other_processes_only_once_the_worker_called_last_is_quiet(monkeypatch) -> None:
    # A worker's threads run on for ~2 ms after its call; sampled then, a thread stopping between the
    # sampler's reads counted as another process's and flagged rows of a quiet machine as disturbed.
    import types

    from infergate.measuring import claims_pair
    from infergate.measuring.sampling import SamplingPlan

    clock = [0.0]
    events: list[str] = []
    ms = {"eager": 20.0, "jit": 10.0, "jit_ipex": 10.0}

    def timer(group: str):
        def call(v: str) -> int:
            clock[0] += ms[v] / 1e3
            events.append(f"call {group}")
            return int(ms[v] * 1e6)
        return call

    class Sampler:
        def __init__(self, **_: object) -> None:
            self.next = 0.0

        def due(self) -> bool:
            return clock[0] >= self.next

        def sample(self) -> None:
            if self.due():
                self.next = clock[0] + 0.1
                events.append("sample")

        def result(self):
            return claims_pair.InRunNoise()

    fake_time = types.SimpleNamespace(perf_counter=lambda: clock[0])
    monkeypatch.setattr(claims_pair, "time", fake_time)
    monkeypatch.setattr(claims_pair, "NoiseSampler", Sampler)
    timed = {"torch": ["eager", "jit"], "ipex": ["jit_ipex"]}
    claims_pair.time_pair({g: timer(g) for g in timed}, timed, SamplingPlan(budget_s=1.0, warmup_s=0.05, min_rounds=20),
                          0, settle=lambda: events.append("settle"), switch=lambda g: events.append(f"quiet {g}"))
    assert events.count("sample") >= 10
    # every call in the other worker still waits for the last one first (the timed rounds: after settle)
    timed_calls = [(i, e) for i, e in enumerate(events) if e.startswith("call ") and i > events.index("settle")]
    for (i, a), (j, b) in itertools.pairwise(timed_calls):
        if a != b:
            assert f"quiet {a[5:]}" in events[i + 1:j], (i, a, b)
    for i, e in enumerate(events):
        if e == "sample":
            last_call = next(x for x in reversed(events[:i]) if x.startswith("call "))
            assert events[i - 1] == f"quiet {last_call[5:]}"  # the worker called last went quiet first
    # and it is not waited for twice: every wait follows a call (never another wait)
    assert all(a.startswith("call ") for a, b in itertools.pairwise(events) if b.startswith("quiet "))


def test_baseline_ratios_pair_the_runs_of_one_worker_not_list_positions() -> None:
    """The AVX2 class's first session kept `compile` runs of one recording and `jit_ipex` runs of two:
    a run's partner is the other form's run with the same eager median (one worker times eager once
    for all its forms), never the run at the same position. BF16 `jit_ipex` has a worker of its own
    (perf's process groups), so it has no partner in a `jit` case: no ratio, not a cross-process one."""
    import math
    from pathlib import Path

    from infergate.measuring.baselines import load
    from infergate.measuring.claims import _aligned

    root = Path(__file__).resolve().parents[1] / "baselines"
    cls, lane = "amd-epyc__avx2__2c2t", "torch-2.8.0__ipex-2.8.0__tf-4.57.6"
    cases = load(root / cls / f"{lane}.json").cases
    got = _aligned(root, cls, lane, "compile", "jit_ipex", "fp32")
    prefix = "bert-qa-small-eager_attn"
    compile_runs = cases[f"{prefix}-compile-fp32"].runs
    ipex_runs = cases[f"{prefix}-jit_ipex-fp32"].runs
    first = "h-dd383e95f764"
    assert len([r for r in ipex_runs if r.session == first]) > len([r for r in compile_runs if r.session == first])
    by_eager = {(r.session, r.median_ms["eager"]): r.speedup for r in ipex_runs}
    expected = {s: [math.log(r.speedup / by_eager[(s, r.median_ms["eager"])]) for r in compile_runs if r.session == s]
                for s in {r.session for r in compile_runs}}
    assert expected in got
    assert all(not s for s in _aligned(root, "amd-epyc__avx512__2c2t", lane, "jit_ipex", "jit", "bf16"))


# --- review 2026-12-07: what feeds the share --------------------------------------------------


def test_several_directories_render_only_into_a_new_out_and_their_rows_stay(tmp_path, capsys) -> None:
    # Without --out the merged rows replaced the first input's, and a second render counted them twice.
    from infergate.commands.claims_cli import main

    a, b = tmp_path / "a", tmp_path / "b"
    _write_claims(a, "cls", "lane", models_with_benefits([1.3]))
    _write_claims(b, "cls", "lane", [trial_row(math.log(1.1), [0.0, 0.01, -0.01])])
    before = {d: (d / "claims.json").read_bytes() for d in (a, b)}
    for extra in ([], ["--out", str(a)], ["--out", str(b / ".." / "b")]):
        assert main(["--render", str(a), str(b), *extra]) == 2, extra
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "--out" in err, extra
    assert {d: (d / "claims.json").read_bytes() for d in (a, b)} == before


def test_a_row_rendered_twice_is_refused_and_a_model_counts_once_whatever_its_shapes(tmp_path, capsys) -> None:
    from infergate.commands.claims_cli import main

    a, copy, out = tmp_path / "a", tmp_path / "copy", tmp_path / "out"
    _write_claims(a, "cls", "lane", models_with_benefits([1.3, 1.2]))
    shutil.copytree(a, copy)
    assert main(["--render", str(a), str(copy), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "m0-qa-base-eager_attn b1s128 fp32 is also in" in err and not out.exists()
    # One model at two batch sizes of the headline length, another measured only off it (a user's shapes).
    rows = [row({"jit": 80.0, "jit_ipex": 60.0}, model="mine", shape="b8s128"),
            row({"jit": 80.0, "jit_ipex": 60.0}, model="mine", shape="b1s128"),
            row({"jit": 80.0, "jit_ipex": 60.0}, model="yours", shape="b8s64")]
    share = fusion_share(rows, "fp32")
    assert (share.counted, share.measured) == (2, 2)


def test_a_process_that_lost_both_sides_is_no_interval_on_fewer_and_one_process_never_crashes() -> None:
    # Review: a process where jit and jit_ipex both failed timed neither, so it left the count and
    # the interval rested on the other three; with one process left a prediction across hosts
    # asked for a t at 0 df.
    m = trial_row(math.log(1.15), [0.0, 0.01, -0.01])
    m.failed = {"jit": "process 3: boom", "jit_ipex": "process 3: boom"}
    assert speedup(m, "jit_ipex", "jit") is None
    share = fusion_share([m], "fp32")
    assert (share.measured, share.failed) == (0, 1)
    one = trial_row(math.log(1.15), [0.0])
    hosts = HostSpread(sd=0.01, sessions=2, cases=3)
    est = speedup(one, "jit_ipex", "jit", hosts=hosts)
    assert est is not None and est.processes == 1 and est.low == 0.0 and est.high == math.inf


def test_a_row_whose_plain_torch_worker_had_ipex_loaded_is_failed_not_counted() -> None:
    m = trial_row(math.log(1.3), [0.0, 0.01, -0.01], split=True, dtype="bf16")
    assert benefit_counts(speedup(m, "jit_ipex", "jit"))
    m.failed = {"worker": "IPEX was imported in a BF16 plain-torch worker: its autocast kernels were IPEX's"}
    assert speedup(m, "jit_ipex", "jit") is None
    share = fusion_share([m], "bf16")
    assert (share.counted, share.measured, share.failed) == (0, 0, 1) and "FAILED" in share.sentence("cls")


@pytest.mark.parametrize("damage", ["one worker unpaired", "lockstep in a version 2 file", "lockstep not a bool"])
def test_a_lockstep_file_that_cannot_be_paired_is_refused_on_load_in_one_line(tmp_path, capsys, damage) -> None:
    # Review: a process with one lockstep and one unpaired worker passed loading and crashed the render.
    from infergate.commands.claims_cli import main

    m = _simulated_row(math.log(1.15), np.random.default_rng(4), paired=True)
    _write_claims(tmp_path, "cls", "lane", [m])
    data = json.loads((tmp_path / "claims.json").read_text())
    trial = next(t for t in data["rows"][0]["trials"] if (t["process"], t["group"]) == (1, "ipex"))
    if damage == "one worker unpaired":
        trial["lockstep"] = False
    elif damage == "lockstep in a version 2 file":
        data["version"] = 2
    else:
        trial["lockstep"] = "yes"
    (tmp_path / "claims.json").write_text(json.dumps(data))
    before = (tmp_path / "claims.json").read_bytes()
    assert main(["--render", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "claims file" in err, err
    assert (tmp_path / "claims.json").read_bytes() == before


@pytest.mark.parametrize("damage", ["no rows", "times not a list", "a zero time", "dtype not text"])
def test_a_claims_file_no_measurement_writes_is_one_line_and_writes_nothing(tmp_path, capsys, damage) -> None:
    """Review: such files gave a traceback (exit 1) with claims.json already written to --out, or an
    empty report (exit 0) whose facts still counted their rows."""
    from infergate.commands.claims_cli import main

    src = tmp_path / "src"
    _write_claims(src, "cls", "lane", [_simulated_row(math.log(1.15), np.random.default_rng(4), paired=True)])
    data = json.loads((src / "claims.json").read_text())
    row = data["rows"][0]
    timing = row["trials"][0]["timing"]
    if damage == "no rows":
        data["rows"] = []
    elif damage == "times not a list":
        timing["times_ns"]["jit"] = "fast"
    elif damage == "a zero time":
        timing["times_ns"]["jit"][0] = 0
    else:
        row["dtype"] = 16
    (src / "claims.json").write_text(json.dumps(data))
    out = tmp_path / "out"
    assert main(["--render", str(src), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "claims file" in err, err
    assert not out.exists()


def test_origin_is_refused_for_a_report_whose_sources_carry_their_own(tmp_path, capsys) -> None:
    # Review: --origin was accepted and kept nowhere.
    from infergate.commands.claims_cli import main

    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "out"
    _write_claims(a, "cls", "lane", models_with_benefits([1.3]))
    _write_claims(b, "cls", "lane", models_with_benefits([1.3, 1.2])[1:])
    assert main(["--render", str(a), str(b), "--out", str(out)]) == 0
    merged = (out / "claims.json").read_bytes()
    assert main(["--render", str(out), "--out", str(tmp_path / "again"), "--origin", "MY ORIGIN"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--origin" in err and not (tmp_path / "again").exists()
    assert (out / "claims.json").read_bytes() == merged


def test_a_figure_that_rounds_onto_a_verdicts_threshold_gets_the_decimals_that_set_it_apart() -> None:
    # Review: a benefit's lower bound of 1.0031 printed "1.00" beside "≥5 %", and 0.9543 printed
    # "0.95" beside "straddles 0.952": read by the printed figures, the verdicts looked wrong.
    from infergate.measuring.claims import BENEFIT_MARKS, LEAVE_MARKS, shown

    assert [shown(x, BENEFIT_MARKS.low) for x in (1.0031, 0.9543, 1.17, math.inf)] == ["1.003", "0.95", "1.17", "∞"]
    assert shown(1.0498, BENEFIT_MARKS.point) == "1.0498" and shown(1.0031, BENEFIT_MARKS.point) == "1.00"
    assert [shown(x, LEAVE_MARKS.high) for x in (0.9543, 0.95255, 1.0031)] == ["0.954", "0.953", "1.00"]
    assert shown(1.0031) == "1.00"  # a column no verdict reads keeps two decimals


def test_a_claims_rows_answers_use_the_models_configured_tolerance() -> None:
    """claims checks a variant's outputs as the correctness suite does: with the config's override."""
    import torch

    from infergate.matrix.dtypes import DType
    from infergate.matrix.spec import ModelSpec
    from infergate.matrix.zoo import ARCHS, SIZES, Task
    from infergate.measuring.claims_measure import _answers

    spec = ModelSpec(ARCHS["bert"], Task.SEQ_CLS, SIZES["tiny"], "eager")
    ref, out = (torch.tensor([[0.5, -0.5]]),), (torch.tensor([[0.501, -0.501]]),)
    mask = torch.ones(1, 4, dtype=torch.long)
    assert not _answers(spec, DType.FP32, ref, out, mask).within_tolerance  # FP32's default atol 1e-4
    configured = dataclasses.replace(spec, tolerances=((DType.FP32, 1e-2, 0.0),))
    assert _answers(configured, DType.FP32, ref, out, mask).within_tolerance


def test_identical_processes_are_copies_not_a_zero_spread() -> None:
    from infergate.measuring.claims import across_processes

    est = across_processes([math.log(1.2)] * 3)
    assert est.point == pytest.approx(1.2) and (est.low, est.high) == (0.0, math.inf)
    assert across_processes([math.log(1.2), math.log(1.21), math.log(1.19)]).high < math.inf
