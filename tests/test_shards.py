"""The nightly's shard plan: derived from the profile, disjoint, complete, balanced, and applied by pytest."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from infergate.building.cases import correctness_cases, get_profile, perf_cases
from infergate.building.shards import loads_s, parse_shard, plan, shards_needed

ROOT = Path(__file__).resolve().parent.parent
NIGHTLY = get_profile("nightly")


def test_every_model_is_in_exactly_one_shard_and_the_shards_are_balanced() -> None:
    models = {c.spec.id for c in perf_cases(NIGHTLY)} | {c.spec.id for c in correctness_cases(NIGHTLY)}
    for n in (1, 4, 9):
        assignment = plan(NIGHTLY, n)
        assert set(assignment) == models and set(assignment.values()) == set(range(1, n + 1))
        loads = loads_s(NIGHTLY, n)
        assert max(loads) <= 1.25 * (sum(loads) / n), loads  # greedy largest-first keeps them close
    assert plan(NIGHTLY, 9) == plan(NIGHTLY, 9)  # every job derives the same plan


def test_the_shard_count_fits_the_budget() -> None:
    n = shards_needed(NIGHTLY, budget_s=50 * 60)
    assert max(loads_s(NIGHTLY, n)) <= 50 * 60 < max(loads_s(NIGHTLY, n - 1))


@pytest.mark.parametrize("bad", ["0/3", "4/3", "a/b", "3", "1/0"])
def test_a_bad_shard_is_refused(bad: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="I/N"):
        parse_shard(bad)


def _collected(*shards: str) -> list[set[str]]:
    """The test ids `pytest --co` collects for each shard ("" for no --ig-shard), collected in
    parallel: each is a separate pytest process that spends its ~10 s importing and collecting."""
    procs = [subprocess.Popen([sys.executable, "-m", "pytest", "perf", "correctness", "--co", "-q",
                               "-p", "no:cacheprovider", "--ig-profile", "nightly",
                               *(("--ig-shard", shard) if shard else ())],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for shard in shards]
    try:
        outs = [p.communicate() for p in procs]
    finally:  # a failure above leaves no collection running
        for p in procs:
            p.kill()
            p.wait()
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    return [{line for line in out.splitlines() if "::" in line} for out, _ in outs]


def test_pytest_runs_only_its_shards_models_and_the_shards_add_up() -> None:
    everything, *shards = _collected("", "1/3", "2/3", "3/3")
    assert shards[0] and not (shards[0] & shards[1]) and not (shards[1] & shards[2]) and not (shards[0] & shards[2])
    assert set().union(*shards) == everything


def test_the_planner_prints_a_github_matrix() -> None:
    out = subprocess.run([sys.executable, "-m", "infergate", "shards", "--profile", "nightly"], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    matrix = json.loads(out.stdout)
    assert matrix == [f"{i}/{len(matrix)}" for i in range(1, len(matrix) + 1)] and len(matrix) > 1
    assert "estimated" in out.stderr
