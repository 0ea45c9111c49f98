"""Exit codes of the perf run and the upgrade gate, declared once: pytest's are 0-6 (``run`` passes
2-6 through), infergate's 7-10; other commands use 2 for a usage error."""

from __future__ import annotations

from typing import Final

OK: Final = 0
REGRESSION: Final = 1  # pytest's "tests failed": a regression or any failed test
USAGE: Final = 2  # a bad option, input file or lane set-up: one line on stderr, nothing run
INCONCLUSIVE: Final = 10  # (6 until pytest 9.2 took it for --max-warnings)
# nothing regressed, but a case could not be judged (--ig-inconclusive fail)
# run: cases measured, none gated (no baselines, or every one undecided) nor a fusion compared;
# gate: no gated case was decided (all skipped or unbuilt, or inconclusive under --inconclusive pass)
NOTHING_JUDGED: Final = 7
UNVERIFIED: Final = 8  # nothing regressed, but a case could not rule out the floor (--ig-unverified fail)
ERROR: Final = 9  # the run could not complete: a worker died or gave no answer, an I/O error

MEANING: Final = {
    OK: "pass",
    REGRESSION: "REGRESSION or a failed test",
    USAGE: "usage error",
    INCONCLUSIVE: "INCONCLUSIVE (no regression, but a case could not be judged)",
    NOTHING_JUDGED: "NOTHING JUDGED (no case gated, no fusion expectation compared)",
    UNVERIFIED: "UNVERIFIED (no significant drop, but the floor was not ruled out)",
    ERROR: "ERROR (the run could not complete)",
}

PYTEST_USAGE: Final = 4  # pytest.ExitCode.USAGE_ERROR: the session stopped before any test ran

# pytest's own codes other than 0 and 1 (pytest.ExitCode), as the run command reports them.
PYTEST_MEANING: Final = {
    2: "INTERRUPTED (pytest)",
    3: "pytest internal error",
    PYTEST_USAGE: "pytest usage error",
    5: "no tests collected (pytest)",
    6: "pytest's --max-warnings exceeded",
}


# A recording run exits 0 when nothing regressed or failed, whatever the older sessions could see
# (outcome.exit_code): its purpose is the new session, so its 0 is not a verdict.
RECORDED: Final = "recorded (no regression, no failed test: a recording run's 0 is not a pass)"


def run_meaning(code: int, recording: bool = False, nothing_run: str | None = None,
                undecided: str | None = None) -> str:
    """What an exit code of the ``run`` command (pytest with the infergate plugin) means.
    ``nothing_run``: why no test started (``--collect-only``), when none did: pytest's 0 then judged
    nothing and recorded nothing. ``undecided``: the cases a pass policy let through undecided
    ("2 unverified"): 0 then says no regression, not that those cases ruled out the floor."""
    if nothing_run is not None and code == OK:
        return f"nothing run ({nothing_run}): not a pass"
    if recording and code == OK:
        return RECORDED
    if undecided and code == OK:
        return f"no regression; {undecided} case(s) passed by policy (--ig-inconclusive/--ig-unverified pass): " \
               "those did not rule out the floor"
    if code in PYTEST_MEANING:
        return PYTEST_MEANING[code]
    return MEANING.get(code, f"unknown exit code {code}")
