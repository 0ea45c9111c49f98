"""The claims report: its verdicts on synthetic timings, the memory sampler, one tiny real run."""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest

from infergate.measuring.claims import benefit_counts, can_leave_ipex, fusion_share, speedup
from infergate.measuring.claims_measure import Answers, ClaimMeasurement
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


def test_leaving_is_undecided_when_the_interval_straddles_the_limit_and_n_a_without_ipex() -> None:
    # compile 5 % slower than jit_ipex: the interval straddles 1.05 on this host, and any host of
    # the class is further from knowing (the between-host spread widens it).
    straddling = row({"jit_ipex": 80.0, "compile": 84.0}, answers={"jit_ipex": SAME, "compile": SAME})
    assert can_leave_ipex(straddling).answer == "undecided", can_leave_ipex(straddling).why
    clear_here = row({"jit_ipex": 80.0, "compile": 76.0}, answers={"jit_ipex": SAME, "compile": SAME})
    assert can_leave_ipex(clear_here).answer == "yes"
    assert can_leave_ipex(clear_here, across_hosts=True).answer == "undecided"  # 5 % is inside the host spread
    lane = row({"eager": 100.0, "compile": 60.0}, skipped={"jit_ipex": "IPEX ended at 2.8"})
    assert can_leave_ipex(lane).answer == "n/a" and "IPEX ended" in can_leave_ipex(lane).why
    crashed = ClaimMeasurement("m", "bert", "qa", "b1s128", "fp32", failed={"worker": "killed by SIGKILL"})
    assert can_leave_ipex(crashed).answer == "undecided" and "SIGKILL" in can_leave_ipex(crashed).why
    assert fusion_share([crashed], "fp32").failed == 1  # named in the sentence, not silently dropped
    skipped = ClaimMeasurement("m", "bert", "qa", "b1s128", "bf16", skipped={"jit_ipex": "no native BF16",
                                                                             "compile": "no native BF16"})
    assert can_leave_ipex(skipped).answer == "n/a" and "no native BF16" in can_leave_ipex(skipped).why


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
    assert "| compile_cpp / compile | compile_autotune / compile | compile_cpp / jit_ipex |" in table
    assert "| bert-qa-base-eager_attn | b1s128 | 1.20× [" in table and "skip (compile_autotune: max-autotune" in table
    costs = text.split("## Cost per variant")[1]
    assert "Built in the order eager, jit, jit_ipex, compile, compile_cpp, compile_autotune" in costs
    assert re.search(r"\| bert-qa-base-eager_attn \| b1s128 \| compile_cpp \| 5[01]\.[0-9] \| 1\.0 \|", costs)


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


def test_a_tiny_claims_run_end_to_end(tmp_path) -> None:
    from infergate.commands.claims_cli import main

    code = main(["--size", "tiny", "--archs", "bert", "--tasks", "seqcls", "--dtypes", "fp32,bf16",
                 "--budget", "0.3", "--out", str(tmp_path)])
    assert code == 0
    data = json.loads((tmp_path / "claims.json").read_text())
    assert (data["schema"], data["version"]) == ("infergate-claims", 1)
    fp32 = next(r for r in data["rows"] if r["dtype"] == "fp32")
    assert "frozen" in fp32["proofs"]["compile"] and fp32["answers"]["compile"]["within_tolerance"]
    assert fp32["costs"]["compile"]["first_call_s"] > 0 and fp32["timing"]["rounds"] >= 20
    from infergate.building.capabilities import probe

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


@pytest.mark.parametrize("content", ['{"schema": "something-else", "version": 1}',
                                     '{"schema": "infergate-claims", "version": 1, "rows": [{"model_id": 1}]}',
                                     "not json"])
def test_rendering_a_bad_claims_file_is_one_line_and_leaves_it(tmp_path, capsys, content) -> None:
    from infergate.commands.claims_cli import main

    (tmp_path / "claims.json").write_text(content)
    assert main(["--render", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("infergate claims: claims file ") and len(err.splitlines()) == 1
    assert (tmp_path / "claims.json").read_text() == content and not (tmp_path / "claims.md").exists()
