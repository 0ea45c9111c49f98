"""The gates' and the perf run's defaults, stdlib only (every ``--help`` runs under the system Python).
Why each value: docs/calibration.md."""

from __future__ import annotations

# A change smaller than the floor never fails a gate (the size users care about); intervals are at
# this confidence unless a family correction asks for more.
DEFAULT_FLOOR = 0.05
DEFAULT_CONFIDENCE = 0.99

# The speedup gate (pytest perf, python -m infergate run).
DEFAULT_FAMILY_ALPHA = 0.01  # chance of any false alarm over the whole run
DEFAULT_CONFIRM_RUNS = 3  # fresh processes re-measuring a case the screen flags
DEFAULT_CONFIRM_BUDGET_S = 300.0  # re-measuring time a whole run may spend on flagged cases
DEFAULT_THREADS = 1  # torch intra-op threads while measuring
DEFAULT_REPEAT = 2  # runs per model when gating
RECORD_RUNS = 5  # runs per model when recording baselines: the gate needs the between-run spread
DEFAULT_BUDGET_S = 12.0  # measuring time per model, all its variants together

# The upgrade gate (python -m infergate gate).
UPGRADE_ALPHA = 0.05  # family-wise false-alarm rate over all comparisons
UPGRADE_MIN_CHANGE = 0.01  # a significant slowdown smaller than this is reported, not failed

# Baselines and the results history.
MAX_SESSIONS = 8  # sessions a baseline case keeps, its newest; older ones age out on the next update
CHANGE_PENALTY = 3.0  # change-point fit: the penalty per segment, times ln(nights) (measuring/changepoints.py)
CHANGE_HOLD = 2  # nights a regression must hold before it alerts
CHANGE_ALARM_Z = 2.3  # change points: the newest nights' one-sided drop test, in normal sds (docs/calibration.md)
# Nights back a drop the tail test found is kept while it holds: until the penalised fit pays for the
# new segment (docs/calibration.md, "the hand-off gap"); 0: not kept.
CHANGE_PERSIST = 15


def runs_per_model(repeat: int | None, recording: bool) -> int:
    """--ig-repeat when given; else RECORD_RUNS when recording baselines, DEFAULT_REPEAT when gating."""
    if repeat is not None:
        return repeat
    return RECORD_RUNS if recording else DEFAULT_REPEAT
