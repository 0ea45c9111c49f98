"""The perf suite end to end on a tiny model, BF16 included: record baselines, then gate against them.

perf times BF16 only where the CPU computes it natively (AMX or AVX512-BF16), so on the AVX2 class
that CI and most sessions run on, the BF16 perf path (autocast in the torch worker, BF16 ``jit_ipex``
in a worker of its own, baselines and verdicts keyed by dtype, the cost table) would otherwise run
for the first time on the one machine class that needs it. An injected plugin adds ``amx_bf16`` to
the probed CPU flags (replacing ``capabilities.probe`` as tests/test_bad_input.py's FAKE_PROBE does)
and declares a one-model profile; the pytest run and its workers are real. The
times are emulated BF16 and mean nothing: only what the run did with them is asserted.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from infergate.core.exit_codes import NOTHING_JUDGED

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent

# A plugin (-p), not a conftest: --ig-profile is validated when the arguments are parsed, before
# conftests load.
FAKE_MACHINE = """
import dataclasses

import infergate.building.capabilities as capabilities
import infergate.building.harness as harness
from infergate.building.cases import PROFILES, Profile, Selection
from infergate.matrix.dtypes import DType
from infergate.matrix.zoo import Task

REAL = capabilities.probe()
FAKE = dataclasses.replace(REAL, cpu_flags=REAL.cpu_flags | {"amx_bf16"})
capabilities.probe = harness.probe = lambda: FAKE
PROFILES["e2e"] = Profile("e2e", "one tiny model in FP32 and BF16", correctness=(), perf=(
    Selection(sizes=("tiny",), archs=("bert",), tasks=(Task.QA,), attentions=("eager",),
              variants=("eager", "jit", "jit_ipex"), dtypes=(DType.FP32, DType.BF16)),))
"""

RUN = ("-p", "e2e_fake_machine", "-p", "infergate.pytest_plugin.plugin", "-p", "no:cacheprovider", "-rs", "-q",
       "--ig-profile", "e2e", "--ig-baselines", "bl", "--ig-budget", "0.5", "--ig-repeat", "1")
CASE = "bert-qa-tiny-eager_attn-{}-{}"


def _results(path: Path) -> dict[str, dict]:
    return {b["param"]: b["extra_info"] for b in json.loads(path.read_text())["benchmarks"]}


def _outcomes(junit: Path) -> dict[str, tuple[str, str]]:
    """case id -> (passed | skipped | failed, message), from the run's JUnit XML."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        case_id = case.get("name", "").partition("[")[2].rstrip("]")
        found = next((e for e in case if e.tag in ("skipped", "failure", "error")), None)
        out[case_id] = ("passed", "") if found is None else (
            "skipped" if found.tag == "skipped" else "failed", found.get("message", ""))
    return out


@pytest.mark.slow
def test_bf16_cases_are_timed_recorded_and_gated_like_fp32(pytester: pytest.Pytester,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # The subprocess and its perf workers import infergate; the subprocess imports the fake machine.
    monkeypatch.setenv("PYTHONPATH", f"{REPO}:{pytester.path}")
    pytester.makepyfile(e2e_fake_machine=FAKE_MACHINE)
    pytester.makepyfile(test_speedups=(REPO / "perf" / "test_speedups.py").read_text())

    # CI runs this beside other tests: its runs may be flagged busy, and are recorded all the same.
    record = pytester.runpytest_subprocess(*RUN, "--ig-update-baselines", "--ig-record-disturbed",
                                           "--ig-json", "rec.json", "--junitxml", "rec.xml")
    out = record.stdout.str()
    assert record.ret == 0, out
    rec = _results(pytester.path / "rec.json")
    for dtype in ("fp32", "bf16"):
        for variant in ("eager", "jit"):  # built, proven in its dtype, timed and costed
            r = rec[CASE.format(variant, dtype)]
            want = {"fp32": "float32", "bf16": "bfloat16"}[dtype]
            assert f"outputs {want}" in r["proof"] and r["cost"]["first_call_s"] > 0, r
        assert ["bert-qa-tiny-eager_attn", dtype, "jit"] in [line.split()[:3] for line in out.splitlines()], out
    [baselines] = (pytester.path / "bl").rglob("*.json")
    recorded = set(json.loads(baselines.read_text())["cases"])
    assert {CASE.format("jit", "fp32"), CASE.format("jit", "bf16")} <= recorded, recorded
    # BF16 jit_ipex runs in a worker that loaded IPEX, apart from the torch variants; where it
    # cannot (no IPEX in this lane, or no BF16 prepack ISA on this CPU) it skips with that reason.
    outcome, message = _outcomes(pytester.path / "rec.xml")[CASE.format("jit_ipex", "bf16")]
    assert (outcome == "passed" and CASE.format("jit_ipex", "bf16") in recorded) or (
        outcome == "skipped" and ("IPEX is not installed" in message or "IPEX BF16 prepack needs" in message)), \
        (outcome, message)

    gate = pytester.runpytest_subprocess(*RUN, "--ig-confirm-runs", "0", "--ig-inconclusive", "pass",
                                         "--ig-json", "gate.json")
    judged = _results(pytester.path / "gate.json")
    # Timing on a busy CI machine may rightly fail a case; anything else (a usage or internal error)
    # is a bug. Every recorded case, BF16 too, is found by its id and judged against its baseline.
    # A run whose every case was undecided judged nothing: --ig-inconclusive pass does not make it a pass.
    assert gate.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, NOTHING_JUDGED), gate.stdout.str()
    if gate.ret == NOTHING_JUDGED:
        assert not any(r["verdict"] in ("pass", "regression", "improvement") for r in judged.values()), \
            gate.stdout.str()
    for case in recorded:
        assert judged[case]["baseline"] is not None, (case, gate.stdout.str())
        assert judged[case]["verdict"] in ("pass", "regression", "improvement", "inconclusive"), judged[case]
    if gate.ret == pytest.ExitCode.TESTS_FAILED:
        assert any(r["verdict"] == "regression" for r in judged.values()), gate.stdout.str()
