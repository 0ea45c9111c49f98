"""The committed baselines of machine class amd-epyc__avx512__2c2t (imported runner data, docs/runner-data.md):
their origin, and synthetic runs gated against them through the project's judging code."""

from __future__ import annotations

from pathlib import Path

import pytest

from infergate.measuring import baselines as bl
from infergate.measuring import fusions

# Pure Python: the same in both lanes (same Python, numpy, pytest, hypothesis): current lane only
# in ./suite test (tests/README.md).
pytestmark = pytest.mark.lane_independent

REPO = Path(__file__).resolve().parent.parent
RUNNER_CLASS = "amd-epyc__avx512__2c2t"
RUNNER_LANES = ("torch-2.8.0__ipex-2.8.0__tf-4.57.6", "torch-2.13.0__noipex__tf-5.24.0")


def _committed_cases() -> list[tuple[str, str]]:
    return [(lane, cid) for lane in RUNNER_LANES
            for cid in bl.load(bl.baseline_path(REPO / "baselines", RUNNER_CLASS, lane)).cases]


def test_the_committed_runner_files_are_imported_with_their_origin_and_hold_both_lanes_fusions() -> None:
    for lane in RUNNER_LANES:
        f = bl.load(bl.baseline_path(REPO / "baselines", RUNNER_CLASS, lane))
        assert (f.machine_class, f.lane) == (RUNNER_CLASS, lane)
        assert f.cases, f"{lane}: no cases, so the two gate tests below would collect nothing and pass"
        # The runner's session keeps its origin; a later session of this project's own (another
        # host boot, recorded by `--update-baselines`) sits beside it and says so.
        imported = [i for i in f.sessions.values() if i.source.startswith("imported ")]
        assert len(imported) == 1, f"{lane}: one imported runner session, got {len(imported)}"
        assert "2026-12-06 from " in imported[0].source and "from c48a9e4" in imported[0].source
        assert "not measured on this tree" in imported[0].source
        assert all(i.source == "recorded" for i in f.sessions.values() if i is not imported[0])
        assert set(f.sessions) == {"h-77aa7f9228b6", "h-07b4ded02b23"}  # the runner's, then this project's boot
        ff = fusions.load(fusions.fusions_path(REPO / "baselines", RUNNER_CLASS, lane))
        assert ff is not None and ff.cases and all(e.source.startswith("imported ") for e in ff.cases.values())
        assert any(cid.endswith("-bf16") for cid in ff.cases)  # the first BF16 expectations recorded anywhere


def _today(case, speedup: float, seed: int):
    """One synthetic run of ``case`` whose true speedup is ``speedup``: a per-round machine factor
    both forms share, and per-call noise, as test_gate's ``synthetic``; one torch thread, as recorded."""
    import numpy as np

    from infergate.measuring.inrun_noise import InRunNoise
    from infergate.measuring.sampling import ModelMeasurement

    rng = np.random.default_rng(seed)
    rounds, eager_ms = 150, 9.0
    machine = rng.lognormal(0.0, 0.05, rounds)
    times = {name: [int(ms * 1e6 * f * g) for f, g in zip(machine, rng.lognormal(0.0, 0.02, rounds), strict=True)]
             for name, ms in (("eager", eager_ms), (case.variant, eager_ms / speedup))}
    return ModelMeasurement(case.model_id, case.dtype.value, ["eager", case.variant], times, threads=1,
                            rounds=rounds, measure_s=1.0, seed=seed, noise=InRunNoise(samples=10))


def _gate_against_committed(lane: str, case_id: str, factor: float, monkeypatch) -> tuple[str, str]:
    """Today's two runs, and any re-measures, at ``factor`` x the case's lowest recorded runs."""
    from infergate.building.cases import get_profile, perf_cases
    from infergate.measuring.measuring_env import MeasuringEnv
    from tests.perf_fakes import perf_run

    case = next(c for p in ("smoke", "default", "nightly") for c in perf_cases(get_profile(p)) if c.id == case_id)
    recorded = sorted(bl.load(bl.baseline_path(REPO / "baselines", RUNNER_CLASS, lane)).cases[case_id].speedups)

    def measurer(case, variants, plan):
        # First runs (seeds 0, 1) at the two lowest recorded speedups; re-measures alternate them.
        return _today(case, recorded[plan.seed % 2] * factor, plan.seed if plan.seed < 2 else 100 + plan.seed)

    run = perf_run(REPO / "baselines", RUNNER_CLASS, lane, measurer, MeasuringEnv(("none",), {}, ()),
                   profile=get_profile("default"), floor=0.05, alpha=0.01, budget_s=1.0, require_baseline=True,
                   repeat=2)
    run.prepare([case])
    result = run.run_case(case)
    return result.verdict, result.message


@pytest.mark.parametrize("lane, case_id", _committed_cases())
def test_unchanged_runs_at_the_recorded_speedups_are_not_a_regression(lane: str, case_id: str, monkeypatch) -> None:
    # Today's runs at the two lowest recorded speedups: unchanged, at the low end of the runner's own spread.
    verdict, message = _gate_against_committed(lane, case_id, 1.0, monkeypatch)
    assert verdict != "regression" and "not comparable" not in message and "stale" not in message, message


@pytest.mark.parametrize("lane, case_id", _committed_cases())
def test_a_40_percent_drop_against_the_runner_baselines_is_a_regression(lane: str, case_id: str, monkeypatch) -> None:
    verdict, message = _gate_against_committed(lane, case_id, 0.6, monkeypatch)
    assert verdict == "regression", message
