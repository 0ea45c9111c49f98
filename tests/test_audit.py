"""The lock audit: a vulnerability fails, an unreachable service is NOT AUDITED (never a pass)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from infergate.commands.audit import main

# Pure Python: the same in both lanes (same Python, numpy, pytest, hypothesis): current lane only
# in ./suite test (tests/README.md).
pytestmark = pytest.mark.lane_independent


def fake(stdout: str, code: int):
    calls = []

    def run(cmd):
        calls.append(list(cmd))
        return subprocess.CompletedProcess(cmd, code, stdout=stdout, stderr="")

    return run, calls


def test_a_clean_audit_passes_and_is_strict(tmp_path: Path, capsys) -> None:
    lock = tmp_path / "x.lock"
    lock.write_text("a==1 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    run, calls = fake("No known vulnerabilities found", 0)
    assert main(["--pip-audit", "pa", str(lock)], run=run) == 0
    assert {"--strict", "--no-deps", "--disable-pip"} <= set(calls[0])
    assert "x.lock: no known vulnerability" in capsys.readouterr().out


def test_a_vulnerability_fails(tmp_path: Path, capsys) -> None:
    run, _ = fake("Found 1 known vulnerability in 1 package\nName Version ID\nfoo 1.0 GHSA-xxxx", 1)
    assert main(["--pip-audit", "pa", str(tmp_path / "x.lock")], run=run) == 1
    assert "VULNERABLE" in capsys.readouterr().out


def test_offline_is_not_audited_and_not_a_pass(tmp_path: Path, capsys) -> None:
    run, _ = fake("ERROR: annotated-doc: Dependency not found on PyPI and could not be audited", 1)
    assert main(["--pip-audit", "pa", str(tmp_path / "x.lock")], run=run) == 3
    captured = capsys.readouterr()
    assert "NOT AUDITED" in captured.out and "this is not a pass" in captured.err


def test_vulnerabilities_beside_unaudited_pins_are_shown_and_still_not_a_pass(tmp_path: Path, capsys) -> None:
    run, _ = fake("Found 1 known vulnerability in 1 package\nName Version ID\nfoo 1.0 GHSA-xxxx\n"
                  "ERROR: bar: Dependency not found on PyPI and could not be audited", 1)
    assert main(["--pip-audit", "pa", str(tmp_path / "x.lock")], run=run) == 3
    out = capsys.readouterr().out
    assert "NOT AUDITED: vulnerabilities found, and some pins could not be audited" in out and "GHSA-xxxx" in out


def test_a_missing_pip_audit_is_not_audited_in_one_line(tmp_path: Path, capsys) -> None:
    assert main(["--pip-audit", str(tmp_path / "no-such-pip-audit"), str(tmp_path / "x.lock")]) == 3
    out = capsys.readouterr().out.strip()
    missing = tmp_path / "no-such-pip-audit"
    assert out == f"infergate audit: x.lock: NOT AUDITED: cannot run {missing}: No such file or directory"


def test_no_lock_to_audit_is_a_usage_error_not_a_pass(tmp_path: Path, monkeypatch, capsys) -> None:
    # With no lock files it audited nothing and exited 0, silently.
    from infergate.commands import audit

    run, calls = fake("No known vulnerabilities found", 0)
    monkeypatch.setattr(audit, "REPO_ROOT", tmp_path)
    assert main(["--pip-audit", "pa"], run=run) == 2
    err = capsys.readouterr().err
    assert err == f"infergate audit: no lock files under {tmp_path / 'lanes'}: name the locks to audit\n"
    assert calls == []
