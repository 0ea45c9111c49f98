"""The exit codes: infergate's own never reuse pytest's meanings in the run command."""

from __future__ import annotations

import pytest

from infergate.core import exit_codes

pytest_plugins = ["pytester"]


def test_run_reports_pytests_own_codes_with_pytests_meaning() -> None:
    # pytest.ExitCode is the reference; a Ctrl-C (2) once read "usage error" (review S5).
    assert exit_codes.run_meaning(int(pytest.ExitCode.INTERRUPTED)).startswith("INTERRUPTED")
    assert exit_codes.run_meaning(int(pytest.ExitCode.INTERNAL_ERROR)) == "pytest internal error"
    assert exit_codes.run_meaning(int(pytest.ExitCode.USAGE_ERROR)) == "pytest usage error"
    assert exit_codes.run_meaning(int(pytest.ExitCode.NO_TESTS_COLLECTED)).startswith("no tests collected")
    assert exit_codes.run_meaning(exit_codes.NOTHING_JUDGED).startswith("NOTHING JUDGED")
    assert exit_codes.run_meaning(42) == "unknown exit code 42"


def test_a_recording_runs_zero_is_not_called_a_pass() -> None:
    """--update-baselines on a class with no baselines gated nothing, exited 0 and its closing line
    said 'exit code 0: pass'."""
    assert exit_codes.run_meaning(exit_codes.OK) == "pass"
    assert exit_codes.run_meaning(exit_codes.OK, recording=True).startswith("recorded")
    assert "pass" not in exit_codes.run_meaning(exit_codes.OK, recording=True).replace("not a pass", "")
    assert exit_codes.run_meaning(exit_codes.REGRESSION, recording=True).startswith("REGRESSION")


def test_infergates_own_codes_are_distinct_and_outside_pytests_range() -> None:
    own = [exit_codes.INCONCLUSIVE, exit_codes.NOTHING_JUDGED, exit_codes.UNVERIFIED, exit_codes.ERROR]
    assert len(set(own)) == len(own)
    assert not set(own) & {int(c) for c in pytest.ExitCode}


def test_a_run_that_started_no_test_is_not_called_a_pass() -> None:
    """`run --collect-only` judged nothing, exited 0 and its closing line said 'exit code 0: pass'."""
    for recording in (False, True):  # nor "recorded": nothing was
        meaning = exit_codes.run_meaning(exit_codes.OK, recording=recording, nothing_run="--collect-only")
        assert meaning == "nothing run (--collect-only): not a pass"
    # A failure is still the failure: the reason is pytest's code's.
    assert exit_codes.run_meaning(4, nothing_run="--collect-only") == "pytest usage error"


@pytest.mark.parametrize(("argv", "closing"), [(["--collect-only"], "nothing run (--collect-only): not a pass"),
                                               (["--fixtures"], "nothing run (no test started): not a pass"),
                                               ([], "pass")])
def test_the_run_commands_closing_line_says_whether_a_test_started(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
        argv: list[str], closing: str) -> None:
    from infergate.commands import run

    pytester.makepyfile("def test_one():\n    pass\n")

    def one_test(args: list[str], plugins: list[object] | None = None) -> int:  # in place of perf/: one test
        return int(pytester.inline_run("-p", "no:cacheprovider", *argv, plugins=plugins or []).ret)

    monkeypatch.setattr(pytest, "main", one_test)
    assert run.main(argv) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith(f"exit code 0: {closing}")


def test_a_zero_with_cases_passed_undecided_by_policy_is_not_called_a_pass(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """`--ig-unverified pass` (or `--ig-inconclusive pass`) exits 0 with cases that did not rule out
    the floor: the closing line said 'exit code 0: pass' under '0 ruled out a 5% drop'."""
    from infergate.commands import run
    from infergate.pytest_plugin import perf_plugin

    meaning = exit_codes.run_meaning(exit_codes.OK, undecided="2 unverified")
    assert meaning.startswith("no regression; 2 unverified case(s) passed by policy") and "did not rule out" in meaning
    assert exit_codes.run_meaning(exit_codes.REGRESSION, undecided="2 unverified").startswith("REGRESSION")
    pytester.makepyfile("def test_one():\n    pass\n")
    monkeypatch.setattr(pytest, "main", lambda args, plugins=None: int(
        pytester.inline_run("-p", "no:cacheprovider", plugins=plugins or []).ret))
    monkeypatch.setattr(perf_plugin, "passed_undecided", lambda config: "1 inconclusive, 2 unverified")
    assert run.main([]) == 0
    assert "exit code 0: no regression; 1 inconclusive, 2 unverified case(s) passed by policy" in \
        capsys.readouterr().out.splitlines()[-1]


def test_a_bad_option_of_runs_own_is_pytests_usage_error_not_an_interrupt(capsys: pytest.CaptureFixture) -> None:
    """argparse exits 2, which run reports as pytest's INTERRUPTED: a CI script could not tell them apart."""
    from infergate.commands import run

    assert run.main(["--repeat", "0"]) == exit_codes.PYTEST_USAGE
    assert "--repeat" in capsys.readouterr().err


def test_the_run_command_collects_the_perf_suite_for_real() -> None:
    """The main job's own path, unpatched: importing the plugin before pytest (to name a missing lane
    package in one line) kept the root conftest from registering it, and `./suite main` ended in
    'unrecognized arguments: --ig-profile' (exit 4)."""
    import subprocess
    import sys

    from infergate.commands.run import PLUGIN_MODULES
    from infergate.core.paths import REPO_ROOT

    assert "infergate.pytest_plugin.plugin" not in PLUGIN_MODULES
    done = subprocess.run([sys.executable, "-m", "infergate", "run", "--collect-only", "-q", "-k",
                           "bert-qa-small"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "exit code 0: nothing run (--collect-only): not a pass" in done.stdout
