from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from infergate.building.variants import get_variant
from infergate.commands import baseline_sessions
from infergate.measuring import baselines as bl
from infergate.measuring.baseline_records import CaseBaseline, RunRecord
from infergate.measuring.session_shift import pooled, shared_shift

# Pure Python: current lane only in ./suite test (tests/README.md).
pytestmark = pytest.mark.lane_independent

SESSIONS = ("h-a", "h-b", "h-c", "h-d", "h-e")


def split_cases(level: list[float], session_effect: list[float], own: np.ndarray, runs: int = 3):
    """cases[c][s]: `runs` equal speedups at exp(level[c] + session_effect[s] + own[c, s])."""
    return [{s: (math.exp(level[c] + session_effect[j] + own[c, j]),) * runs for j, s in enumerate(SESSIONS)}
            for c in range(len(level))]


def test_a_move_every_case_shares_is_all_shared_and_none_of_it_the_cases_own() -> None:
    effect = [0.0, 0.03, -0.02, 0.01, 0.025]
    cases = split_cases([0.1, 0.2, 0.3, 0.4], effect, np.zeros((4, 5)))
    shift = shared_shift(cases, within_sd=0.0)
    assert shift is not None and (shift.cases, shift.sessions, shift.shared_df, shift.own_df) == (4, SESSIONS, 4, 12)
    assert shift.shared_sd == pytest.approx(float(np.std(effect, ddof=1)), rel=1e-9)
    assert shift.own_sd == pytest.approx(0.0, abs=1e-9)


def test_moves_that_cancel_across_cases_are_each_cases_own_and_none_shared() -> None:
    rng = np.random.default_rng(3)
    own = rng.normal(0, 0.02, (4, 5))
    own -= own.mean(axis=0)  # every session's moves sum to 0 over the cases: no shared part
    shift = shared_shift(split_cases([0.1, 0.2, 0.3, 0.4], [0.0] * 5, own), within_sd=0.0)
    assert shift is not None and shift.shared_sd == 0.0 and shift.shared_var < 0  # clipped, kept unclipped
    resid = own - own.mean(axis=1, keepdims=True)
    assert shift.own_sd == pytest.approx(math.sqrt((resid ** 2).sum() / 12), rel=1e-9)


def test_the_runs_noise_is_taken_out_of_the_cases_own_move() -> None:
    rng = np.random.default_rng(5)
    own = rng.normal(0, 0.01, (6, 5))
    without = shared_shift(split_cases([0.0] * 6, [0.0] * 5, own), within_sd=0.0)
    with_noise = shared_shift(split_cases([0.0] * 6, [0.0] * 5, own), within_sd=0.005)
    assert without is not None and with_noise is not None
    assert with_noise.noise_var == pytest.approx(0.005 ** 2 / 3)  # 3 runs per session mean
    assert with_noise.own_var == pytest.approx(without.own_var - 0.005 ** 2 / 3)


def test_the_block_is_the_complete_one_with_the_most_df_and_too_few_is_none() -> None:
    effect = [0.0, 0.02, -0.01, 0.0, 0.01]
    cases = split_cases([0.1, 0.2, 0.3, 0.4, 0.5], effect, np.zeros((5, 5)))
    cases.append({"h-a": (1.1,)})  # one session: says nothing of a move
    cases.append({"h-a": (1.1,), "h-b": (1.2,)})  # a model added later: it leaves the block, not the sessions
    shift = shared_shift(cases, within_sd=0.0)
    assert shift is not None and (shift.cases, shift.sessions) == (5, SESSIONS)
    assert shift.shared_sd == pytest.approx(float(np.std(effect, ddof=1)), rel=1e-9)
    cases.append({"h-a": (1.1,), "h-z": (1.2,)})  # a session no other case has: still the 5 x 5 block
    assert shared_shift(cases, within_sd=0.0) == shift
    # no case's own sessions are shared by another, two cases' common ones are
    overlap = [{"h-a": (1.0,), "h-b": (1.1,), "h-c": (1.2,)}, {"h-a": (1.0,), "h-b": (1.1,), "h-d": (1.2,)}]
    found = shared_shift(overlap, within_sd=0.0)
    assert found is not None and (found.cases, found.sessions) == (2, ("h-a", "h-b"))
    assert shared_shift([cases[1], {"h-a": (1.1,)}], within_sd=0.0) is None  # one case with 2 sessions
    assert shared_shift([{"h-a": (1.0,), "h-b": (1.0,)}, {"h-c": (1.0,), "h-d": (1.0,)}], 0.0) is None
    with pytest.raises(ValueError, match="finite and > 0"):
        shared_shift([{"h-a": (1.0,), "h-b": (0.0,)}, {"h-a": (1.0,), "h-b": (1.0,)}], 0.0)


def test_shards_that_missed_different_nights_and_a_late_model_keep_the_older_cases_block() -> None:
    """Three shards of 4 cases over 60 nights, each shard missing 2 nights of its own, and a case added
    for the last 5 nights: the block is the 12 older cases on the 54 nights they all have (df 583),
    not one shard dropped (8 x 56, df 385) nor the late case's 5 nights."""
    nights = [f"n{i:02d}" for i in range(60)]
    missed = [{"n03", "n10"}, {"n20", "n33"}, {"n41", "n50"}]
    cases: list[dict[str, tuple[float, ...]]] = [
        {n: (1.2 + c / 100,) for n in nights if n not in missed[c // 4]} for c in range(12)]
    cases.append({n: (1.5,) for n in nights[-5:]})
    shift = shared_shift(cases, within_sd=0.0)
    assert shift is not None and (shift.cases, len(shift.sessions), shift.own_df) == (12, 54, 583)


def test_with_noisy_runs_of_unequal_counts_both_parts_come_out_unbiased() -> None:
    """Runs that vary, 2 to 10 per session mean: the noise subtracted is the mean of sd^2/n over the
    cells (1/mean(n) would leave some in), and it leaves the shared part alone."""
    rng = np.random.default_rng(11)
    shared_sd, own_sd, within = 0.02, 0.01, 0.015
    counts = rng.choice([2, 5, 10], size=(4, 3))
    got = []
    for _ in range(3000):
        effect = rng.normal(0, shared_sd, 3)
        own = rng.normal(0, own_sd, (4, 3))
        cases = [{s: tuple(np.exp(c / 10 + effect[j] + own[c, j] + rng.normal(0, within, counts[c, j])))
                  for j, s in enumerate(SESSIONS[:3])} for c in range(4)]
        x = shared_shift(cases, within_sd=within)
        assert x is not None
        got.append((x.shared_var, x.own_var, x.noise_var))
    shared_var, own_var, noise_var = np.mean(got, axis=0)
    assert noise_var == pytest.approx(within ** 2 * float(np.mean(1 / counts)), rel=1e-9)
    assert shared_var == pytest.approx(shared_sd ** 2, rel=0.1)
    assert own_var == pytest.approx(own_sd ** 2, rel=0.1)


def test_pooling_weights_each_split_by_its_df_and_counts_only_independent_df() -> None:
    big = shared_shift(split_cases([0.0] * 4, [0.0, 0.04, 0.0, 0.04, 0.0], np.zeros((4, 5))), 0.0)
    rng = np.random.default_rng(1)
    own = rng.normal(0, 0.02, (3, 2))
    own -= own.mean(axis=0)
    small = shared_shift([{s: c[s] for s in SESSIONS[:2]} for c in split_cases([0.0] * 3, [0.0] * 5,
                                                                                   np.pad(own, ((0, 0), (0, 3))))],
                         0.0)
    other = shared_shift([{"h-x": (1.0,), "h-y": (1.1,)}, {"h-x": (1.2,), "h-y": (1.2,)}], 0.0)
    assert big is not None and small is not None and other is not None and small.shared_var < 0
    p = pooled({"one-file": [big, small], "another": [other]})
    assert p.shared_sd == pytest.approx(math.sqrt((4 * big.shared_var + small.shared_var + other.shared_var) / 6))
    assert p.own_sd == pytest.approx(math.sqrt((2 * small.own_var + other.own_var) / 15))
    # big and small share h-a, h-b: 5 sessions, one connected set (4 contrasts); h-x, h-y another (1)
    assert p.shared_contrasts == 5
    assert (p.own_df_low, p.own_df_high) == (12 + 1, 12 + 2 + 1)  # a file's largest split, or the sum
    with pytest.raises(ValueError, match="nothing to pool"):
        pooled({})


def test_show_prints_each_variants_split_and_the_pool(tmp_path: Path) -> None:
    root = tmp_path / "baselines"
    path = bl.baseline_path(root, "amd-epyc__avx2__2c2t", "torch-2.8.0__ipex-2.8.0__tf-4.57.6")
    shift_of = {"h-a": 0.0, "h-b": 0.05}  # every case 5 % up in h-b: all shared

    def case(variant: str, level: float) -> CaseBaseline:
        runs = tuple(RunRecord(level * math.exp(shift_of[s] + e), (0.9, 1.1), 400, {"eager": 9.0, variant: 5.0},
                               f"2026-12-0{i + 1}T00:00:00+00:00", s)
                     for i, s in enumerate(shift_of) for e in (-0.004, 0.004))
        return CaseBaseline(runs, 0.99, {"recipe": get_variant(variant).recipe})

    bl.update(path, {f"m{i}-{v}": case(v, 1.2 + i / 10) for i in range(3) for v in ("jit", "compile")},
              "amd-epyc__avx2__2c2t", "torch-2.8.0__ipex-2.8.0__tf-4.57.6")
    lines = baseline_sessions.show(root)
    splits = [line for line in lines if "share a level" in line]
    assert len(splits) == 2, lines
    for line in splits:
        assert f"share a level of sd {0.05 / math.sqrt(2):.2%} (df 1)" in line, line
        assert "each case's own beyond it: sd 0.00% (df 2;" in line, line
    pool = lines[-1]
    assert pool.startswith("pooled over the 2 variant(s)"), lines
    assert f"shared level sd {0.05 / math.sqrt(2):.2%} (1 independent session contrast(s)" in pool, pool
    assert "(df 2-4: a model's variants share its eager runs)" in pool, pool
