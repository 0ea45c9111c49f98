"""The rates table of docs/calibration.md ("The between-session prior"): tests/test_verdict_rates.py's
simulation at 20,000 sessions per row. Run from the repository root with a lane's python:
``.venvs/current/bin/python tools/verdict_rates.py``."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import numpy as np  # noqa: E402
from test_verdict_rates import CONFIDENCE, share, simulate  # noqa: E402

from infergate.measuring.session_gate import prior_for  # noqa: E402

N = 20_000


def main() -> None:
    prior = prior_for("jit")
    print(f"family confidence {CONFIDENCE:.5f} (one-sided), {N} sessions per row")
    print("sessions | between sd | unchanged: regression pass unverified improvement | median sees | "
          "7.5% drop: pass+improvement regression")
    for sessions in (1, 2, 4, 8):
        for k in (1.0, 1.5):
            same = simulate(np.random.default_rng(1000 + sessions), 0.0, sessions, k * prior, prior, N)
            drop = simulate(np.random.default_rng(2000 + sessions), 0.075, sessions, k * prior, prior, N)
            sees = float(np.median([d.judgement.mdd for d in same if d.judgement]))
            print(f"{sessions} | {k * prior:.1%} | {share(same, 'regression'):.3%} {share(same, 'pass'):.2%} "
                  f"{share(same, 'unverified'):.2%} {share(same, 'improvement'):.2%} | {sees:.1%} | "
                  f"{share(drop, 'pass', 'improvement'):.3%} {share(drop, 'regression'):.2%}")
    steady = simulate(np.random.default_rng(7), 0.0, 8, 0.005, 0.005, N)
    seeing = [d for d in steady if d.judgement is not None and d.judgement.mdd <= 0.05]
    caught = simulate(np.random.default_rng(8), 0.10, 8, 0.005, 0.005, N)
    print(f"steady class (between 0.5 %, prior 0.5 %, 8 sessions): {len(seeing)} of {N} see 5 %, "
          f"{share(seeing, 'pass'):.1%} of those pass; "
          f"a 10 % drop is a regression in {share(caught, 'regression'):.1%}")


if __name__ == "__main__":
    main()
