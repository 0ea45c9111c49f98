"""Exit codes of the perf run and the upgrade gate, declared once. pytest's own are 0-5."""

from __future__ import annotations

from typing import Final

OK: Final = 0
REGRESSION: Final = 1  # pytest's "tests failed": a regression or any failed test
USAGE: Final = 2
INCONCLUSIVE: Final = 6  # nothing regressed, but a case could not be judged (--ig-inconclusive fail)
NOTHING_JUDGED: Final = 7  # no case had a baseline or fusion expectation for this machine class and lane
UNVERIFIED: Final = 8  # nothing regressed, but a case could not rule out the floor (--ig-unverified fail)

MEANING: Final = {
    OK: "pass",
    REGRESSION: "REGRESSION or a failed test",
    USAGE: "usage error",
    INCONCLUSIVE: "INCONCLUSIVE (no regression, but a case could not be judged)",
    NOTHING_JUDGED: "NOTHING JUDGED (no baselines for this machine class and lane)",
    UNVERIFIED: "UNVERIFIED (no significant drop, but the floor was not ruled out)",
}
