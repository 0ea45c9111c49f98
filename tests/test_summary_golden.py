"""The perf summary (cases, columns, verdicts, closing lines) and result fields of a scripted run vs a golden file.

The golden file was rendered by the code before the perf path was redesigned (issue 28; then through
the run's ``measure`` function, monkeypatched); the redesign must render the same text from the same
measurements. The engine's injected measurer returns seeded synthetic runs (eager ~10 ms, each
variant at its scripted time), so the text is deterministic.
Regenerate only for an intended change of the summary: ``INFERGATE_UPDATE_GOLDEN=1 pytest THIS``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from infergate.building.cases import Case
from infergate.building.variants import get_variant
from infergate.matrix.dtypes import DType
from infergate.matrix.spec import ModelSpec
from infergate.matrix.zoo import ARCHS, SIZES, Task
from infergate.measuring import baselines as bl
from infergate.measuring import host_session, session_gate
from infergate.measuring.baseline_records import BaselineFile, CaseBaseline, RunRecord, SessionInfo
from infergate.measuring.baseline_rules import RECIPE
from infergate.measuring.case_result import Failed, Skipped
from infergate.measuring.inrun_noise import InRunNoise
from infergate.measuring.measuring_env import MeasuringEnv
from infergate.measuring.sampling import ModelMeasurement, SamplingPlan
from infergate.pytest_plugin import perf_plugin
from tests.perf_fakes import perf_run

GOLDEN = Path(__file__).parent / "golden" / "perf_summary.txt"
MACHINE, LANE = "test-cpu__avx2__2c2t", "torch-0__noipex__tf-0"
TODAY = "h-today"
MENV = MeasuringEnv(("omp-passive",), {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}, ())
QUIET, BUSY = InRunNoise(samples=10), InRunNoise(samples=50, others_runnable=1.4, others_runnable_max=3)
EAGER_MS = 10.0
VARIANTS = ("eager", "jit", "jit_ipex", "compile")

A = ModelSpec(ARCHS["bert"], Task.QA, SIZES["small"], "eager")  # pass, regression, no-baseline
B = ModelSpec(ARCHS["distilbert"], Task.SEQ_CLS, SIZES["small"], "eager")  # improvement, unverified, stale
C = ModelSpec(ARCHS["roberta"], Task.TOKEN_CLS, SIZES["small"], "eager")  # every run busy; not comparable
D = ModelSpec(ARCHS["bert"], Task.SEQ_CLS, SIZES["small"], "eager")  # first run busy, re-measures quiet
E = ModelSpec(ARCHS["bert"], Task.TOKEN_CLS, SIZES["small"], "eager")  # a failed build, a worker's skip

# Today's variant time per model (ms); eager takes EAGER_MS.
TODAY_MS = {
    A.id: {"jit": 7.0, "compile": 8.0, "jit_ipex": 6.5},
    B.id: {"jit": 6.0, "compile": 7.0, "jit_ipex": 6.5},
    C.id: {"jit": 7.0, "compile": 7.0, "jit_ipex": 7.0},
    D.id: {"jit": 7.0, "compile": 7.0, "jit_ipex": 7.0},
    E.id: {"jit": 7.0, "compile": 7.0, "jit_ipex": 7.0},
}
PRECISE = (1.0, 1.004, 0.996, 1.006, 0.997)  # host effects of five baseline sessions


def synthetic(model: str, variants: tuple[str, ...], seed: int, busy: bool) -> ModelMeasurement:
    """Paired rounds: a per-round machine factor shared by every variant plus per-call noise."""
    rng = np.random.default_rng(seed + 1000 * sum(map(ord, model)))
    rounds = 150
    machine = rng.lognormal(0.0, 0.05, rounds)
    times = {v: [int((EAGER_MS if v == "eager" else TODAY_MS[model][v]) * 1e6 * f * g)
                 for f, g in zip(machine, rng.lognormal(0.0, 0.02, rounds), strict=True)] for v in variants}
    failed = {"jit": "TracingCheckError: graphs differ"} if model == E.id and "jit" in variants else {}
    skipped = {"compile": "inductor needs a C++ compiler: none found"} if model == E.id else {}
    return ModelMeasurement(model, "fp32", list(variants), times, skipped=skipped, failed=failed, threads=2,
                            rounds=rounds, measure_s=1.0, seed=seed, noise=BUSY if busy else QUIET)


def fake_measure(case: Case, variants: tuple[str, ...], plan: SamplingPlan) -> ModelMeasurement:
    busy = case.model_id == C.id or (case.model_id == D.id and plan.seed == 0)  # D: its first run only
    return synthetic(case.model_id, variants, plan.seed, busy)


def case_baseline(variant: str, speedup: float, hosts: tuple[float, ...], seed: int,
                  sessions: tuple[str, ...] | None = None, **environment) -> CaseBaseline:
    """Five runs of the current recipe in each host session, scattered by 0.4 % within a session."""
    rng = np.random.default_rng(seed)
    names = sessions or tuple(f"h-{i}" for i in range(len(hosts)))
    runs = tuple(RunRecord(speedup=s, ci=(s * 0.98, s * 1.02), rounds=150,
                           median_ms={"eager": EAGER_MS, variant: EAGER_MS / s},
                           recorded=f"2026-12-0{1 + i}T00:00:00+00:00", session=name)
                 for i, (h, name) in enumerate(zip(hosts, names, strict=True))
                 for s in speedup * h * rng.lognormal(0.0, 0.004, 5))
    environment = {"torch_threads": 2, RECIPE: get_variant(variant).recipe, **environment}
    return CaseBaseline(runs=runs, confidence=0.99, environment=environment)


def baseline_file() -> BaselineFile:
    eager_over = EAGER_MS / 7.0
    cases = {
        Case(A, "jit", DType.FP32).id: case_baseline("jit", eager_over, PRECISE, 1),
        Case(A, "compile", DType.FP32).id: case_baseline("compile", eager_over, PRECISE, 2),
        Case(B, "jit", DType.FP32).id: case_baseline("jit", eager_over, PRECISE, 3, ("h-0", "h-1", "h-2", "h-3",
                                                                                     TODAY)),
        Case(B, "compile", DType.FP32).id: case_baseline("compile", eager_over, (1.0,), 4),
        Case(B, "jit_ipex", DType.FP32).id: case_baseline("jit_ipex", EAGER_MS / 6.5, PRECISE, 5,
                                                          recipe=get_variant("jit_ipex").recipe + 1),  # stale
        Case(C, "jit", DType.FP32).id: case_baseline("jit", eager_over, PRECISE, 6, torch_threads=4),
        Case(C, "compile", DType.FP32).id: case_baseline("compile", eager_over, PRECISE, 7),
        Case(D, "jit", DType.FP32).id: case_baseline("jit", eager_over, PRECISE, 8),
        Case(D, "jit_ipex", DType.FP32).id: case_baseline("jit_ipex", EAGER_MS / 7.0, PRECISE, 9),
    }
    used = sorted({r.session for c in cases.values() for r in c.runs})
    sessions = {sid: SessionInfo(host=sid, kernel="6.0", first="2026-12-01T00:00:00+00:00",
                                 last="2026-12-05T00:00:00+00:00") for sid in used}
    return BaselineFile(MACHINE, LANE, cases, sessions=sessions)


def cases() -> list[Case]:
    return [Case(spec, v, DType.FP32) for spec in (A, B, C, D, E) for v in VARIANTS]


def drive(root: Path, baseline: BaselineFile | None, **changes) -> list[str]:
    """One scripted run: each case's outcome, the summary lines, the closing lines and the exit code."""
    if baseline is not None:
        path = bl.baseline_path(root, MACHINE, LANE)
        path.parent.mkdir(parents=True)
        path.write_text(bl.dumps(baseline))
    run = perf_run(root, MACHINE, LANE, fake_measure, MENV, **{"repeat": 2, "budget_s": 1.0, **changes})
    selected = cases()
    run.prepare(selected)
    lines = []
    for case in selected:
        outcome = run.run_case(case)
        if isinstance(outcome, Skipped):
            lines.append(f"{case.id}: skipped: {outcome.reason}")
        elif isinstance(outcome, Failed):
            lines.append(f"{case.id}: failed: {outcome.message}")
        else:
            lines.append(f"{case.id}: {'failed' if outcome.failed else 'result'}: {outcome.verdict}")
    lines += perf_plugin.summary_lines(run)
    if run.update:
        lines.append(run.record_baselines())
    outcome = run.outcome(fusions_compared=0)
    lines += outcome.lines() + [f"exit code {outcome.exit_code}"]
    for r in run.results:  # every field a result carries (the JSON's extra_info), bar the raw times
        fields = {k: v for k, v in dataclasses.asdict(r).items() if k != "times_s"}
        fields["run_records"] = [{k: v for k, v in rec.items() if k != "recorded"} for rec in r.run_records]
        lines.append(json.dumps(_rounded(fields), sort_keys=True))
    return [line.replace(str(root), "<root>").replace(sys.executable, "<python>") for line in lines]


def _rounded(value: object) -> object:
    """Floats to 10 significant digits: numpy's SIMD reductions differ in the last bits between
    CPUs (AVX2 and AVX-512 machines printed mdd 0.13537422215422845 and ...856 from one script)."""
    if isinstance(value, float):
        return float(f"{value:.10g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def render(root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(host_session, "host_identity", lambda *a: TODAY)
    # A steady machine class's between-session prior for jit (0.5 %), so that jit cases can pass.
    monkeypatch.setattr(session_gate, "PRIOR_BETWEEN_SD", {"jit": 0.005})
    sections = {
        "gating run": drive(root / "gating", baseline_file()),
        "gating run, --ig-require-baseline": drive(root / "required", baseline_file(), require_baseline=True),
        "no baselines": drive(root / "none", None),
        "recording run": drive(root / "recording", None, update_baselines=True, repeat=5),
    }
    return "".join(f"== {name}\n" + "\n".join(lines) + "\n" for name, lines in sections.items())


def test_the_summary_of_a_scripted_run_is_the_golden_one(tmp_path, monkeypatch) -> None:
    text = render(tmp_path, monkeypatch)
    if os.environ.get("INFERGATE_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
        # A regenerating run compared nothing: it must not count as a pass (in CI or anywhere).
        pytest.fail(f"{GOLDEN} regenerated: review its diff, then run again without INFERGATE_UPDATE_GOLDEN")
    assert text == GOLDEN.read_text()
