"""The speedup gate's verdicts: only ``regression`` fails its case; ``inconclusive``, ``unverified`` set exit codes."""

from __future__ import annotations

from typing import Final, Literal

Verdict = Literal["reference", "no-baseline", "pass", "unverified", "improvement", "regression", "inconclusive"]
# What a judgement against baseline sessions can give (the statistics, session_gate.judge).
JudgedVerdict = Literal["pass", "unverified", "improvement", "regression", "inconclusive"]

PASS: Final = "pass"
UNVERIFIED: Final = "unverified"
IMPROVEMENT: Final = "improvement"
REGRESSION: Final = "regression"
INCONCLUSIVE: Final = "inconclusive"
NO_BASELINE: Final = "no-baseline"
REFERENCE_ONLY: Final = "reference"

FAILING: frozenset[str] = frozenset({REGRESSION})
# Verdicts that judged the case against a baseline (the rest measured it only).
JUDGED: frozenset[str] = frozenset({PASS, UNVERIFIED, IMPROVEMENT, REGRESSION})
