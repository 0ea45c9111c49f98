"""The perf suite end to end on a tiny model, BF16 included: record baselines, then gate against them.

perf times BF16 only where the CPU computes it natively (AMX or AVX512-BF16), so on the AVX2 class
that CI and most sessions run on, the BF16 perf path (autocast in the torch worker, BF16 ``jit_ipex``
in a worker of its own, baselines and verdicts keyed by dtype, the cost table) would otherwise run
for the first time on the one machine class that needs it. An injected conftest adds ``amx_bf16`` to
the probed CPU flags and declares a one-model profile; the pytest run and its workers are real. The
times are emulated BF16 and mean nothing: only what the run did with them is asserted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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

FAKE = dataclasses.replace(capabilities.probe(), cpu_flags=capabilities.probe().cpu_flags | {"amx_bf16"})
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


@pytest.mark.slow
def test_bf16_cases_are_timed_recorded_and_gated_like_fp32(pytester: pytest.Pytester,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # The subprocess and its perf workers import infergate; the subprocess imports the fake machine.
    monkeypatch.setenv("PYTHONPATH", f"{REPO}:{pytester.path}")
    pytester.makepyfile(e2e_fake_machine=FAKE_MACHINE)
    pytester.makepyfile(test_speedups=(REPO / "perf" / "test_speedups.py").read_text())

    record = pytester.runpytest_subprocess(*RUN, "--ig-update-baselines", "--ig-json", "rec.json")
    out = record.stdout.str()
    assert record.ret == 0, out
    rec = _results(pytester.path / "rec.json")
    for dtype in ("fp32", "bf16"):
        for variant in ("eager", "jit"):  # built, timed and costed in BF16 as in FP32
            r = rec[CASE.format(variant, dtype)]
            assert r["dtype"] == dtype and r["cost"]["build_s"] > 0 and r["cost"]["first_call_s"] > 0, r
        assert ["bert-qa-tiny-eager_attn", dtype, "jit"] in [line.split()[:3] for line in out.splitlines()], out
    [baselines] = (pytester.path / "bl").rglob("*.json")
    recorded = set(json.loads(baselines.read_text())["cases"])
    assert {CASE.format("jit", "fp32"), CASE.format("jit", "bf16")} <= recorded, recorded
    # BF16 jit_ipex is timed in a worker that loaded IPEX, apart from the torch variants; where it
    # cannot run (no IPEX in this lane, or no BF16 prepack ISA on this CPU) it skips with the reason.
    ipex_bf16 = CASE.format("jit_ipex", "bf16")
    assert ipex_bf16 in recorded or "IPEX is not installed" in out or "IPEX BF16 prepack needs" in out, out

    gate = pytester.runpytest_subprocess(*RUN, "--ig-confirm-runs", "0", "--ig-inconclusive", "pass",
                                         "--ig-json", "gate.json")
    judged = _results(pytester.path / "gate.json")
    for case in recorded:  # every recorded case, BF16 too, is found by its id and judged against it
        assert judged[case]["baseline"] is not None, (case, gate.stdout.str())
        assert judged[case]["verdict"] in ("pass", "regression", "improvement", "inconclusive"), judged[case]
