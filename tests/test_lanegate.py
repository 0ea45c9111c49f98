"""The lane gate on synthetic worker blocks: no venvs, no models, a few seconds."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from infergate import lane_compare, lanegate
from infergate.lane_worker import SCHEMA, VERSION, case_matcher, select_cases
from infergate.cases import get_profile

MODEL = "bert-qa-small-eager_attn"
BASE_MS = {"eager": 20.0, "jit": 14.0, "compile": 10.0}


def case_id(variant: str) -> str:
    return f"{MODEL}-{variant}-fp32"


def fake_block(pair: int, lane: str = "torch-x", scale: dict[str, float] | None = None,
               skipped: dict[str, str] | None = None, fusions: dict[str, dict[str, int]] | None = None,
               rounds: int = 12, noise: float = 0.02) -> dict:
    """One worker's JSON: lognormal noise around BASE_MS, a per-round machine factor shared by all
    variants (what pairing within a round is for), and ``scale`` to slow a variant down."""
    scale = scale or {}
    skipped = skipped or {}
    rng = np.random.default_rng([pair, zlib.crc32(lane.encode())])
    machine = rng.lognormal(0.0, noise, size=rounds)
    times = {}
    for v, ms in BASE_MS.items():
        if case_id(v) in skipped:
            continue
        own = rng.lognormal(0.0, noise, size=rounds)
        times[case_id(v)] = list(ms * scale.get(v, 1.0) * machine * own)
    return {
        "schema": SCHEMA, "version": VERSION, "lane": lane, "versions": {"torch": lane},
        "machine_class": "test-cpu__avx2__2c2t", "threads": 2, "rounds": rounds, "seed": pair,
        "models": [{
            "model": MODEL, "times_ms": times,
            "variants": {case_id(v): v for v in BASE_MS}, "dtypes": {case_id(v): "fp32" for v in BASE_MS},
            "skipped": skipped, "failed": {}, "fusions": fusions or {},
        }],
    }


def run_gate(tmp_path: Path, to_kwargs: dict, from_kwargs: dict | None = None, extra: tuple = ()):
    calls = []

    def runner(lane: str, python: Path, pair: int) -> dict:
        calls.append((lane, pair))
        if lane == "A":
            return fake_block(pair, lane="lane-a", **(from_kwargs or {}))
        return fake_block(pair, lane="lane-b", **to_kwargs)

    code = lanegate.main(
        ["--from", "A", "--to", "B", "--no-ensure", "--no-correctness", "--blocks", "4",
         "--out", str(tmp_path), *extra],
        runner=runner, lane_python=lambda lane: Path(f"/venvs/{lane}/bin/python"),
    )
    return code, calls


def test_schedule_alternates_and_mirrors():
    assert lanegate.schedule(4) == [(0, "from"), (0, "to"), (1, "to"), (1, "from"),
                                    (2, "from"), (2, "to"), (3, "to"), (3, "from")]
    with pytest.raises(Exception, match="--blocks"):
        lanegate.schedule(0)


def test_slower_to_lane_fails_naming_the_case(tmp_path, capsys):
    code, calls = run_gate(tmp_path, {"scale": {"compile": 1.25}})
    out = capsys.readouterr().out
    assert code == 1
    assert [lane for lane, _ in calls] == ["A", "B", "B", "A", "A", "B", "B", "A"]
    regressions = [line for line in out.splitlines() if line.startswith("REGRESSION")]
    assert any(case_id("compile") in line and "latency +2" in line for line in regressions), out
    # Only the slowed case regressed; eager and jit did not change.
    assert all(case_id("compile") in line for line in regressions), regressions
    gate = json.loads((tmp_path / "gate.json").read_text())
    status = {c["case"]: c["status"] for c in gate["cases"]}
    assert status[case_id("compile")] == "regression"
    assert status[case_id("eager")] == status[case_id("jit")] == "pass"


def test_identical_to_lane_passes(tmp_path, capsys):
    code, _ = run_gate(tmp_path, {})
    out = capsys.readouterr().out
    assert code == 0, out
    assert "REGRESSION" not in out
    report = (tmp_path / "report.md").read_text()
    assert report.count("✅ pass") == 3
    assert report.startswith("## Upgrade gate: `A` → `B`: ✅ PASS")


def test_noisy_lanes_are_not_reported_as_a_plain_pass(tmp_path, capsys):
    code, _ = run_gate(tmp_path, {"noise": 0.6}, from_kwargs={"noise": 0.6}, extra=("--blocks", "2"))
    out = capsys.readouterr().out
    assert code == 0
    headline = next(line for line in out.splitlines() if line.startswith("upgrade gate"))
    assert headline.endswith("case(s) too noisy to decide"), out
    assert "NO REGRESSION FOUND, but" in (tmp_path / "report.md").read_text()


def test_variant_lost_in_to_is_a_regression(tmp_path, capsys):
    code, _ = run_gate(tmp_path, {"skipped": {case_id("jit"): "IPEX is not installed"}})
    assert code == 1
    line = f"REGRESSION {case_id('jit')}: variant lost in 'to' (skipped: IPEX is not installed)"
    assert line in capsys.readouterr().out


def test_lost_fusion_is_a_regression(tmp_path, capsys):
    had = {case_id("jit"): {"ipex::linear_gelu": 4}}
    code, _ = run_gate(tmp_path, {"fusions": {}}, from_kwargs={"fusions": had})
    assert code == 1
    line = f"REGRESSION {case_id('jit')}: lost fusion(s) in 'to': ipex::linear_gelu 4 -> 0"
    assert line in capsys.readouterr().out


def test_failed_correctness_fails_the_gate():
    blocks = [fake_block(i) for i in range(2)]
    bad = lane_compare.Correctness(True, 1, "2 failed, 10 passed", "log.txt")
    gate = lane_compare.compare(blocks, blocks, from_lane="A", to_lane="B", correctness=bad, rounds=12)
    assert gate.regressions == ["REGRESSION correctness under 'B': 2 failed, 10 passed (log: log.txt)"]
    nothing = lane_compare.Correctness(True, 5, "no tests ran", "log.txt")
    assert lane_compare.compare(blocks, blocks, from_lane="A", to_lane="B", correctness=nothing, rounds=12).passed


def test_block_interval_covers_identity_and_excludes_a_real_change():
    rng = np.random.default_rng(0)
    a = [list(10 * rng.lognormal(0, 0.03, 15)) for _ in range(4)]
    b = [list(10 * rng.lognormal(0, 0.03, 15)) for _ in range(4)]
    same = lane_compare.paired_block_ratio(a, b, confidence=0.99)
    assert same.low < 1.0 < same.high
    slower = lane_compare.paired_block_ratio(a, [[t * 1.2 for t in blk] for blk in b], confidence=0.99)
    assert slower.low > 1.1 and slower.high < 1.3  # the true 1.2 inside, 1.0 well outside


def test_gate_json_round_trips(tmp_path):
    run_gate(tmp_path, {"scale": {"jit": 0.7}})
    doc = json.loads((tmp_path / "gate.json").read_text())
    gate = lane_compare.GateResult.from_json(doc)
    assert gate.to_json() == doc
    assert {c.case: c.status for c in gate.cases}[case_id("jit")] == "improvement"


def test_bad_worker_output_is_refused():
    with pytest.raises(Exception, match="not a lane worker block"):
        lanegate.check_block({"models": []}, "worker")


def test_case_expression_follows_pytest_k_rules():
    smoke = get_profile("smoke")
    assert {c.variant for c in select_cases(smoke, "compile or jit_ipex")} == {"compile", "jit_ipex"}
    assert "eager" not in {c.variant for c in select_cases(smoke, "not eager")}
    assert case_matcher(None)("anything")
    with pytest.raises(Exception, match="invalid case expression"):
        case_matcher("compile and (")
