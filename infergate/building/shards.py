"""Splitting a profile across CI jobs by model: greedy by estimated cost, so every job computes the same plan."""

from __future__ import annotations

import argparse
from collections import defaultdict

from .cases import Profile, correctness_cases, perf_cases

# Seconds one perf run of one measured model (a model at one shape and dtype) costs on 2 cores:
# worker start, four builds, warm-up and the rounds. Measured: `./suite main` timed 3 small models
# x 2 runs in 225 s (~37 s a run); a base model at b1s128 took ~70 s a row in `infergate claims`
# (same builds and a 15 s budget). tiny is correctness-only; a checkpoint is MiniLM-L6, small-like.
RUN_COST_S = {"tiny": 15.0, "small": 37.0, "base": 75.0}
CHECKPOINT_RUN_COST_S = 37.0
# Correctness per model and lane (the nightly's hypothesis profile, pytest-xdist on 2 cores):
# a lane's ~130 IPEX correctness tests took 12 min in CI, about 12 s a case; per model about 60 s.
CORRECTNESS_COST_S = 60.0
DEFAULT_BUDGET_MIN = 50.0  # of the 60 the issue allows a job: set-up and report need the rest
# The plan assumes the nightly's perf runs per model. It is one fixed figure on purpose: the
# correctness and perf steps of a job (and every job) must derive the same assignment.
PLAN_REPEAT = 3


def _cost_s(profile: Profile, repeat: int) -> dict[str, float]:
    """Estimated seconds per model id: its perf runs (``repeat`` times per dtype) plus its correctness."""
    measured: dict[str, set[tuple[str, str]]] = defaultdict(set)
    sizes: dict[str, float] = {}
    for case in perf_cases(profile):
        measured[case.spec.id].add((case.model_id, case.dtype.value))
        sizes[case.spec.id] = CHECKPOINT_RUN_COST_S if case.spec.checkpoint else RUN_COST_S[case.spec.size.name]
    costs = {spec_id: len(runs) * repeat * sizes[spec_id] + CORRECTNESS_COST_S for spec_id, runs in measured.items()}
    for case in correctness_cases(profile):
        costs.setdefault(case.spec.id, CORRECTNESS_COST_S)
    return costs


def _assign(costs: dict[str, float], shards: int) -> tuple[dict[str, int], list[float]]:
    """Greedy, largest first, to the least loaded shard: (model id -> shard, each shard's load)."""
    if shards < 1:
        raise ValueError(f"need at least one shard, got {shards}")
    load = [0.0] * shards
    assignment = {}
    for model, cost in sorted(costs.items(), key=lambda kv: (-kv[1], kv[0])):
        target = min(range(shards), key=lambda i: (load[i], i))
        load[target] += cost
        assignment[model] = target + 1
    return assignment, load


def plan(profile: Profile, shards: int, repeat: int = PLAN_REPEAT) -> dict[str, int]:
    """Model id -> shard (1-based)."""
    return _assign(_cost_s(profile, repeat), shards)[0]


def loads_s(profile: Profile, shards: int, repeat: int = PLAN_REPEAT) -> list[float]:
    return _assign(_cost_s(profile, repeat), shards)[1]


def shards_needed(profile: Profile, budget_s: float, repeat: int = PLAN_REPEAT, most: int = 64) -> int:
    """The fewest shards whose busiest job fits ``budget_s``; an error naming a model that alone does not fit."""
    costs = _cost_s(profile, repeat)  # once: the profile's cases are built and read only here
    biggest = max(costs.items(), key=lambda kv: kv[1], default=("", 0.0))
    if biggest[1] > budget_s:
        raise ValueError(f"model {biggest[0]} alone is estimated at {biggest[1] / 60:.0f} min, over the "
                         f"{budget_s / 60:.0f} min a shard may take")
    for n in range(1, most + 1):
        if max(_assign(costs, n)[1]) <= budget_s:
            return n
    raise ValueError(f"the profile needs more than {most} shards of {budget_s / 60:.0f} min")


def parse_shard(value: str) -> tuple[int, int]:
    """'I/N' with 1 <= I <= N."""
    index, sep, total = value.partition("/")
    try:
        i, n = int(index), int(total)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} must be I/N, e.g. 2/5") from None
    if not sep or not 1 <= i <= n:
        raise argparse.ArgumentTypeError(f"{value!r} must be I/N with 1 <= I <= N")
    return i, n
