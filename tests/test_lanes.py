"""Unit tests of the lanes (infergate.gate.lanes, lane_venvs, lane_pip). Nothing here installs a
package or builds a real venv: pip, venv creation and pip freeze are replaced by fakes."""

from __future__ import annotations

import ast
import hashlib
import os
import re
import stat
import subprocess
import sys
import urllib.error
from collections.abc import Sequence
from pathlib import Path

import pytest

from infergate.commands.lanes_cli import main
from infergate.gate import lane_pip, lane_venvs, lanes
from infergate.gate.lane_pip import classify_pip_failure
from infergate.gate.lane_venvs import LaneError, lock_digest
from infergate.gate.lanes import ensure, lane_python, lock, lock_text_from_freeze

# Pure Python: the same in both lanes (same Python, numpy, pytest, hypothesis): current lane only
# in ./suite test (tests/README.md).
pytestmark = pytest.mark.lane_independent

REPO = Path(__file__).resolve().parent.parent

LOCK_V1 = "# Lane 'ipex': pinned\npkg-a==1.0\npkg-b==2.0\ntorch==2.8.0\n"
LOCK_V2 = "# Lane 'ipex': pinned\npkg-a==1.1\npkg-b==2.0\ntorch==2.8.0\n"

# Shapes of real pip 23 output (captured from this machine's pip with unreachable indexes).
NETWORK_LOG = """\
Looking in indexes: https://nonexistent.invalid/simple
WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x7f03f70a2c10>: Failed to establish a new connection: [Errno -3] Temporary failure in name resolution')': /simple/torch/
ERROR: Could not find a version that satisfies the requirement torch==2.8.0 (from versions: none)
ERROR: No matching distribution found for torch==2.8.0
"""  # noqa: E501 (a real pip log line, kept whole)
NOT_FOUND_LOG = """\
Looking in indexes: file:///opt/pypi/simple
ERROR: Could not find a version that satisfies the requirement intel_extension_for_pytorch==2.8.0 (from versions: 2.7.0)
ERROR: No matching distribution found for intel_extension_for_pytorch==2.8.0
"""
CONFLICT_LOG = """\
ERROR: Cannot install torch==2.99.0 because these package versions have conflicting dependencies.

The conflict is caused by:
    The user requested torch==2.99.0
    The user requested (constraint) torch<=2.14.1

To fix this you could try to:
1. loosen the range of package versions you've specified

ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/topics/dependency-resolution/
"""
OTHER_LOG = """\
Collecting pkg-a==1.0
ERROR: Could not install packages due to an OSError: [Errno 13] Permission denied: '/x'
Traceback-ish noise
ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device
"""

# pip 23's shape for an exception it does not handle: "ERROR: Exception:", a traceback, the cause last.
EXCEPTION_LOG = """\
Collecting torch==2.8.0
  Downloading torch-2.8.0-cp311-cp311-manylinux_2_28_x86_64.whl (888.1 MB)
ERROR: Exception:
Traceback (most recent call last):
  File "/v/lib/python3.11/site-packages/pip/_internal/cli/base_command.py", line 180, in exc_logging_wrapper
    status = run_func(*args)
{last}
"""


class FakePip:
    """Stands in for ``run_pip``: records commands, writes a canned log, returns a status."""

    def __init__(self, returncode: int = 0, log: str = "Successfully installed pkg-a-1.0\n"):
        self.returncode = returncode
        self.log = log
        self.calls: list[list[str]] = []
        # (returncode, log) for the first calls, before returncode and log take over
        self.script: list[tuple[int, str]] = []

    def __call__(self, cmd: Sequence[str], log_path: Path) -> int:
        self.calls.append(list(cmd))
        returncode, log = self.script.pop(0) if self.script else (self.returncode, self.log)
        log_path.write_text(log, encoding="utf-8")
        return returncode


class FakeVenv:
    """Stands in for ``create_venv``: a bin/python placeholder and a pyvenv.cfg."""

    def __init__(self, version: str = "3.11.7"):
        self.version = version
        self.created: list[Path] = []

    def __call__(self, venv: Path) -> None:
        self.created.append(venv)
        python = lane_venvs.venv_python(venv)
        python.parent.mkdir(parents=True, exist_ok=True)
        python.write_text("#!/bin/sh\nexit 0\n")
        python.chmod(0o755)
        (venv / "pyvenv.cfg").write_text(f"home = /usr/bin\nversion = {self.version}\n")
        pip = venv / "lib" / f"python{self.version.rsplit('.', 1)[0]}" / "site-packages" / "pip"
        pip.mkdir(parents=True, exist_ok=True)
        (pip / "__init__.py").write_text("")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    lanes_dir = tmp_path / "lanes"
    lanes_dir.mkdir()
    (lanes_dir / "ipex.lock").write_text(LOCK_V1)
    (lanes_dir / "current.lock").write_text("# Lane 'current'\ntorch==2.13.0\n")
    (lanes_dir / "ipex.in").write_text("torch==2.8.0\n")  # .in files are not lanes by themselves
    venvs = tmp_path / "venvs"
    # Anything not given explicitly must still stay inside tmp_path.
    monkeypatch.setenv(lane_venvs.VENVS_ENV_VAR, str(venvs))

    class Env:
        pass

    e = Env()
    e.lanes_dir, e.venvs, e.pip, e.mkvenv = lanes_dir, venvs, FakePip(), FakeVenv()

    e.said, e.slept = [], []

    def run(lane: str = "ipex", **kw):
        kw.setdefault("pip_runner", e.pip)
        kw.setdefault("venv_creator", e.mkvenv)
        kw.setdefault("sleep", e.slept.append)
        kw.setdefault("say", e.said.append)
        return ensure(lane, lanes_dir=lanes_dir, venvs=venvs, **kw)

    e.ensure = run
    return e


# ---- ensure: install, idempotency, stamp ----------------------------------------------------


def test_first_ensure_creates_venv_installs_and_stamps(env):
    result = env.ensure()
    venv = env.venvs / "ipex"
    assert env.mkvenv.created == [venv]
    assert len(env.pip.calls) == 1
    cmd = env.pip.calls[0]
    assert cmd[:4] == [str(venv / "bin" / "python"), "-m", "pip", "install"]
    assert "--disable-pip-version-check" in cmd
    assert cmd[-2:] == ["-r", str(env.lanes_dir / "ipex.lock")]
    assert result.installed and result.packages == 3
    assert result.message.startswith("lane ipex: installed 3 pinned packages in ")
    stamp = (venv / lane_venvs.STAMP_NAME).read_text().strip()
    assert stamp == lock_digest(env.lanes_dir / "ipex.lock", "3.11.7")
    assert (venv / lane_venvs.INSTALL_LOG_NAME).is_file()


def test_a_venv_whose_creation_failed_half_way_is_made_again_not_reused(env):
    """`python3 -m venv` without ensurepip (or interrupted) leaves bin/python and no pip: reused, every
    later ensure failed at "No module named pip", even after the user installed python3-venv."""
    venv = env.venvs / "ipex"

    def no_ensurepip(path: Path) -> None:
        python = lane_venvs.venv_python(path)
        python.parent.mkdir(parents=True)
        python.write_text("")
        raise lane_venvs.LaneError(f"cannot create venv {path}: ensurepip is not available")

    with pytest.raises(lane_venvs.LaneError, match="ensurepip is not available"):
        env.ensure(venv_creator=no_ensurepip)
    assert not venv.exists()
    lane_venvs.venv_python(venv).parent.mkdir(parents=True)  # and one left by an interrupted creation
    lane_venvs.venv_python(venv).write_text("")
    assert env.ensure().installed and env.mkvenv.created == [venv] and len(env.pip.calls) == 1


def test_second_ensure_does_not_call_pip(env):
    env.ensure()
    env.pip.calls.clear()
    result = env.ensure()
    assert env.pip.calls == []
    assert len(env.mkvenv.created) == 1  # the existing venv is reused
    assert not result.installed
    assert result.message == f"lane ipex: up to date ({env.venvs / 'ipex'})"


def test_changed_lock_reinstalls(env):
    env.ensure()
    (env.lanes_dir / "ipex.lock").write_text(LOCK_V2)
    assert env.ensure().installed
    assert len(env.pip.calls) == 2


def test_changed_python_version_reinstalls(env):
    env.ensure()
    cfg = env.venvs / "ipex" / "pyvenv.cfg"
    cfg.write_text(cfg.read_text().replace("3.11.7", "3.11.9"))
    assert env.ensure().installed


def test_lane_given_as_lock_path(env, tmp_path):
    other = tmp_path / "elsewhere" / "exp.lock"
    other.parent.mkdir()
    other.write_text("pkg-a==1.0\n")
    result = env.ensure(str(other))
    assert result.lane == "exp" and result.venv.parent == env.venvs and result.venv.name.startswith("exp-")
    assert env.pip.calls[0][-1] == str(other)


def test_a_lock_given_by_path_never_shares_a_committed_lanes_venv(env, tmp_path):
    # A file named like a committed lane (ipex.lock) elsewhere is another lane: its own venv.
    other = tmp_path / "elsewhere" / "ipex.lock"
    other.parent.mkdir()
    other.write_text("pkg-a==1.0\n")
    committed, by_path = env.ensure("ipex"), env.ensure(str(other))
    assert committed.venv == env.venvs / "ipex" and by_path.venv != committed.venv
    assert by_path.installed and env.ensure(str(other)).venv == by_path.venv  # the same path: the same venv
    # The lanes directory's own lock given by path is that lane.
    assert env.ensure(str(env.lanes_dir / "ipex.lock")).venv == committed.venv


def test_venvs_root_from_environment(env, monkeypatch, tmp_path):
    monkeypatch.setenv(lane_venvs.VENVS_ENV_VAR, str(tmp_path / "from-env"))
    result = ensure("ipex", lanes_dir=env.lanes_dir, pip_runner=env.pip, venv_creator=env.mkvenv)
    assert result.venv == tmp_path / "from-env" / "ipex"


# ---- ensure: failures -----------------------------------------------------------------------


def test_failure_leaves_no_stamp_and_next_run_retries(env):
    env.pip.returncode, env.pip.log = 1, NOT_FOUND_LOG
    with pytest.raises(LaneError):
        env.ensure()
    assert not (env.venvs / "ipex" / lane_venvs.STAMP_NAME).exists()
    env.pip.returncode, env.pip.log = 0, "ok\n"
    assert env.ensure().installed
    assert len(env.pip.calls) == 2


def test_failed_upgrade_removes_old_stamp(env):
    # v1 installed, v2 fails half-way, lock reverted to v1: the venv may now hold v2 pieces,
    # so the old v1 stamp must not survive and vouch for it.
    env.ensure()
    (env.lanes_dir / "ipex.lock").write_text(LOCK_V2)
    env.pip.returncode, env.pip.log = 1, OTHER_LOG
    with pytest.raises(LaneError):
        env.ensure()
    assert not (env.venvs / "ipex" / lane_venvs.STAMP_NAME).exists()
    (env.lanes_dir / "ipex.lock").write_text(LOCK_V1)
    env.pip.returncode = 0
    assert env.ensure().installed


def test_a_cut_off_download_is_tried_again_saying_so_and_then_succeeds(env):
    cut = EXCEPTION_LOG.format(last="ProtocolError: ('Connection broken: IncompleteRead(1 bytes read)')")
    env.pip.script = [(2, cut), (2, NETWORK_LOG)]
    result = env.ensure()
    assert result.installed and len(env.pip.calls) == 3 and env.slept == list(lanes.PIP_RETRY_PAUSES_S)
    assert env.said[0] == ("lane ipex: a download was cut off (ProtocolError: ('Connection broken: "
                           "IncompleteRead(1 bytes read)')); pip again in 10 s (attempt 2 of 3)")
    assert env.said[1].startswith("lane ipex: package registry unreachable (WARNING: Retrying")
    assert env.said[1].endswith("; pip again in 30 s (attempt 3 of 3)")


def test_transient_failures_stop_after_the_last_attempt_and_others_at_once(env):
    env.pip.returncode, env.pip.log = 2, NETWORK_LOG
    after_three = r"^cannot set up lane 'ipex' \(after 3 attempts\): package registry unreachable"
    with pytest.raises(LaneError, match=after_three):
        env.ensure()
    assert len(env.pip.calls) == lanes.PIP_ATTEMPTS == 3 and len(env.said) == 2
    env.pip.calls.clear()
    env.said.clear()
    env.pip.log = NOT_FOUND_LOG  # not transient: one attempt, no pause
    with pytest.raises(LaneError, match=r"^cannot set up lane 'ipex': intel_extension"):
        env.ensure()
    assert len(env.pip.calls) == 1 and env.said == []


@pytest.mark.parametrize(
    "log, expected",
    [
        (NETWORK_LOG, "infergate: cannot set up lane 'ipex' (after 3 attempts): package registry unreachable ("),
        (
            NOT_FOUND_LOG,
            "infergate: cannot set up lane 'ipex': intel_extension_for_pytorch==2.8.0 is not"
            " available from the configured registries; removed the venv ",
        ),
        (
            OTHER_LOG,
            "infergate: cannot set up lane 'ipex': the disk is full (ERROR: Could not install packages due to"
            " an OSError: [Errno 28] No space left on device); now ",
        ),
        (CONFLICT_LOG, "infergate: cannot set up lane 'ipex': conflicting pins: "),
    ],
    ids=["network", "not-found", "last-error", "conflict"],
)
def test_cli_failure_is_one_line_on_stderr_exit_2(env, capsys, log, expected):
    env.pip.returncode, env.pip.log = 1, log
    rc = main(
        ["ensure", "ipex"], lanes_dir=env.lanes_dir, venvs=env.venvs,
        pip_runner=env.pip, venv_creator=env.mkvenv, sleep=lambda s: None,
    )
    out, err = capsys.readouterr()
    assert rc == 2
    assert out == ""
    *retries, err = err.splitlines(keepends=True)
    # A transient failure is tried again, one line each; any other failure is one line at once.
    assert len(retries) == (2 if log is NETWORK_LOG else 0)
    assert all(line.startswith("infergate: lane ipex: package registry unreachable (") for line in retries)
    assert err.endswith("\n")
    assert err.startswith(expected)
    # The venv this first install made is removed; its log is kept beside it.
    assert err.rstrip("\n").endswith(f"; removed the venv {env.venvs / 'ipex'} it had made; full log: "
                                      f"{env.venvs / ('ipex' + lane_venvs.INSTALL_LOG_NAME)}")


def test_missing_lock_lists_valid_lanes(env, capsys):
    rc = main(["ensure", "nope"], lanes_dir=env.lanes_dir, venvs=env.venvs,
              pip_runner=env.pip, venv_creator=env.mkvenv)
    _, err = capsys.readouterr()
    assert rc == 2
    assert err.count("\n") == 1
    assert str(env.lanes_dir / "nope.lock") in err
    assert err.rstrip().endswith("valid lanes: current, ipex")
    assert env.pip.calls == [] and env.mkvenv.created == []


def test_missing_lock_path(env, tmp_path):
    with pytest.raises(LaneError, match=r"no lock file for lane 'ghost' at .*ghost\.lock"):
        env.ensure(str(tmp_path / "ghost.lock"))


def test_invalid_lane_name_is_rejected(env):
    with pytest.raises(LaneError, match="invalid lane name"):
        env.ensure("..")


def test_cli_success_lines(env, capsys):
    argv = ["ensure", "ipex", "current"]
    kw = dict(lanes_dir=env.lanes_dir, venvs=env.venvs, pip_runner=env.pip,
              venv_creator=env.mkvenv)
    assert main(argv, **kw) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("lane ipex: installed 3 pinned packages in ")
    assert out[1].startswith("lane current: installed 1 pinned packages in ")
    assert main(argv, **kw) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"lane ipex: up to date ({env.venvs / 'ipex'})",
        f"lane current: up to date ({env.venvs / 'current'})",
    ]


# ---- digest ---------------------------------------------------------------------------------


def test_digest_changes_with_lock_and_python(tmp_path):
    lock_file = tmp_path / "x.lock"
    lock_file.write_text(LOCK_V1)
    d1 = lock_digest(lock_file, "3.11.7")
    assert d1 == lock_digest(lock_file, "3.11.7")
    assert len(d1) == 64
    assert lock_digest(lock_file, "3.12.1") != d1
    lock_file.write_text(LOCK_V2)
    assert lock_digest(lock_file, "3.11.7") != d1


def test_python_version_from_pyvenv_cfg(tmp_path):
    (tmp_path / "pyvenv.cfg").write_text("home = /x\nversion_info = 3.12.4.final.0\n")
    assert lane_venvs.venv_python_version(tmp_path) == "3.12.4.final.0"


# ---- classification -------------------------------------------------------------------------


def test_classify_network_wins_over_not_found():
    reason = classify_pip_failure(NETWORK_LOG)
    assert reason.startswith("package registry unreachable (")
    assert "Temporary failure in name resolution" in reason
    assert "object at 0x" not in reason and "\n" not in reason
    assert len(reason) < 260


@pytest.mark.parametrize(
    "line",
    [
        "ERROR: Could not install packages due to an OSError: HTTPSConnectionPool(host='x', "
        "port=443): Max retries exceeded with url: /a.whl",
        "  raise ConnectTimeout(e, request=request)",
        "urllib3.exceptions.ReadTimeoutError: HTTPSConnectionPool: Read timed out.",
        "OSError: [Errno 101] Network is unreachable",
        "[Errno 111] Connection refused",
    ],
)
def test_classify_network_markers(line):
    assert classify_pip_failure(f"Collecting a\n{line}\n").startswith("package registry unreachable")


def test_classify_not_found_from_could_not_find_alone():
    log = "ERROR: Could not find a version that satisfies the requirement foo==9 (from versions: 1)\n"
    assert classify_pip_failure(log) == "foo==9 is not available from the configured registries"


def test_classify_not_found():
    assert classify_pip_failure(NOT_FOUND_LOG) == (
        "intel_extension_for_pytorch==2.8.0 is not available from the configured registries"
    )


def test_classify_conflict_names_the_cause():
    assert classify_pip_failure(CONFLICT_LOG) == (
        "conflicting pins: The user requested torch==2.99.0; "
        "The user requested (constraint) torch<=2.14.1"
    )


def test_classify_last_error_line():
    log = "Collecting a\nERROR: Could not install packages: one\nERROR: Could not install packages: two\n"
    assert classify_pip_failure(log) == "pip failed: Could not install packages: two"


def test_a_full_disk_is_named_whichever_way_pip_reports_it():
    assert classify_pip_failure(OTHER_LOG) == (
        "the disk is full (ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device)"
    )
    assert classify_pip_failure(EXCEPTION_LOG.format(last="OSError: [Errno 28] No space left on device")) == (
        "the disk is full (OSError: [Errno 28] No space left on device)"
    )


def test_an_unhandled_pip_exception_is_named_by_its_tracebacks_last_line():
    """CI once printed only 'pip failed: Exception:'; the cause is the traceback's last line."""
    assert classify_pip_failure(EXCEPTION_LOG.format(last="MemoryError")) == "pip failed: MemoryError"
    cut = EXCEPTION_LOG.format(last="pip._vendor.urllib3.exceptions.ProtocolError: ('Connection broken: "
                                    "IncompleteRead(4096 bytes read, 98 more expected)', IncompleteRead(4096))")
    assert classify_pip_failure(cut).startswith("a download was cut off (pip._vendor.urllib3.exceptions.ProtocolError")


def test_classify_without_error_line():
    assert classify_pip_failure("Killed\n", 137) == "pip failed with exit status 137 without an ERROR line"


# ---- the default pip runner, with a fake python executable ----------------------------------


def test_run_pip_captures_output_in_log(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho \"args: $*\"\necho 'ERROR: boom' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "install.log"
    rc = lane_pip.run_pip([str(fake), "-m", "pip", "install", "-r", "x.lock"], log)
    assert rc == 3
    text = log.read_text()
    assert "args: -m pip install -r x.lock" in text and "ERROR: boom" in text


def test_run_pip_missing_executable(tmp_path):
    log = tmp_path / "install.log"
    assert lane_pip.run_pip([str(tmp_path / "no-python")], log) == 127
    assert classify_pip_failure(log.read_text()).startswith("pip failed: cannot run pip")


# ---- lock -----------------------------------------------------------------------------------

FREEZE = """\
# Editable install with no version control (infergate==0.1.0)
-e /work/main
filelock==4.3.1
infergate @ file:///work/main
Jinja2==3.1.6
torch==2.13.0+cpu
torchvision==0.28.0+cu128
some-pkg==1.0+local.build
"""


def test_lock_text_from_freeze():
    text = lock_text_from_freeze("current", FREEZE)
    lines = text.splitlines()
    assert lines[0].startswith("# Lane 'current': every package pinned (generated by 'pip freeze'")
    assert "python3 -m infergate lanes lock current" in lines[0]
    assert lines[1:] == [
        "filelock==4.3.1",
        "Jinja2==3.1.6",
        "torch==2.13.0",
        "torchvision==0.28.0",
        "some-pkg==1.0+local.build",  # only PyTorch platform labels are stripped
    ]
    assert text.endswith("\n")


def test_lock_header_matches_committed_locks():
    for name in ("ipex", "current"):
        committed = (REPO / "lanes" / f"{name}.lock").read_text().splitlines()[0]
        assert lock_text_from_freeze(name, "").splitlines()[0] == committed


def test_lock_writes_atomically_and_stamps(env):
    env.ensure()
    seen: list[Path] = []

    def freeze(python: Path) -> str:
        seen.append(python)
        return FREEZE

    lock_file = env.lanes_dir / "ipex.lock"
    lock_file.chmod(0o644)
    mode_before = stat.S_IMODE(lock_file.stat().st_mode)
    path = lock("ipex", lanes_dir=env.lanes_dir, venvs=env.venvs, freeze_runner=freeze,
                hasher=lambda text: text.replace("torch==2.13.0\n", "torch==2.13.0 \\\n    --hash=sha256:ab\n"))
    assert path == env.lanes_dir / "ipex.lock"
    assert seen == [env.venvs / "ipex" / "bin" / "python"]
    assert "torch==2.13.0 \\\n    --hash=sha256:ab\n" in path.read_text()  # the lock is hashed as written
    assert not [p for p in env.lanes_dir.iterdir() if p.name.endswith(".tmp")]
    assert stat.S_IMODE(path.stat().st_mode) == mode_before  # not mkstemp's 0600
    # The venv produced the lock, so it already satisfies it: no reinstall.
    env.pip.calls.clear()
    assert not env.ensure().installed
    assert env.pip.calls == []


def test_lock_failed_freeze_keeps_old_lock(env):
    env.ensure()

    def broken(python: Path) -> str:
        raise LaneError("pip freeze failed")

    with pytest.raises(LaneError):
        lock("ipex", lanes_dir=env.lanes_dir, venvs=env.venvs, freeze_runner=broken)
    assert (env.lanes_dir / "ipex.lock").read_text() == LOCK_V1


def test_lock_without_venv(env, capsys):
    rc = main(["lock", "ipex"], lanes_dir=env.lanes_dir, venvs=env.venvs,
              freeze_runner=lambda p: FREEZE)
    assert rc == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ensure ipex" in err


# ---- python ---------------------------------------------------------------------------------


def test_python_command(env, capsys):
    kw = dict(lanes_dir=env.lanes_dir, venvs=env.venvs)
    assert main(["python", "ipex"], **kw) == 2
    assert "is not set up" in capsys.readouterr().err
    env.ensure()
    assert main(["python", "ipex"], **kw) == 0
    assert capsys.readouterr().out == f"{env.venvs / 'ipex' / 'bin' / 'python'}\n"
    (env.lanes_dir / "ipex.lock").write_text(LOCK_V2)
    with pytest.raises(LaneError, match="out of date"):
        lane_python("ipex", **kw)


def test_python_after_failed_install(env):
    env.ensure()
    (env.lanes_dir / "ipex.lock").write_text(LOCK_V2)
    env.pip.returncode = 1  # a failed upgrade keeps the venv it did not make, without its stamp
    with pytest.raises(LaneError):
        env.ensure()
    with pytest.raises(LaneError, match="never installed completely"):
        lane_python("ipex", lanes_dir=env.lanes_dir, venvs=env.venvs)


def test_a_failed_first_install_removes_the_venv_it_made_and_keeps_its_log(env):
    """A half-installed venv stayed behind (26 MB for a file pip could not read)."""
    env.pip.returncode, env.pip.log = 1, OTHER_LOG
    with pytest.raises(LaneError, match=f"; removed the venv {re.escape(str(env.venvs / 'ipex'))} it had made; "):
        env.ensure()
    assert env.mkvenv.created == [env.venvs / "ipex"] and not (env.venvs / "ipex").exists()
    assert (env.venvs / ("ipex" + lane_venvs.INSTALL_LOG_NAME)).read_text() == OTHER_LOG
    with pytest.raises(LaneError, match="is not set up"):
        lane_python("ipex", lanes_dir=env.lanes_dir, venvs=env.venvs)


@pytest.mark.parametrize("name, text, problem", [
    ("ok.toml", "[tool.infergate]\n", "is not a lock file: a lane is a name (e.g. ipex) or a path to a .lock file"),
    ("ok.lock", "# mine\n[tool.infergate]\nmodels = []\n",
     "line 2 is not a requirement (name==version): '[tool.infergate]'; is it a lock?"),
    ("ok.lock", "# only a comment\n", "pins no package: is it a lock?"),
])
def test_a_file_that_is_not_a_lock_is_refused_before_any_venv_is_made(env, tmp_path, capsys, name, text, problem):
    """It made a venv, then failed in pip ("Invalid requirement: '[tool.infergate]'") and left it."""
    given = tmp_path / "cfg" / name
    given.parent.mkdir()
    given.write_text(text)
    assert main(["ensure", str(given)], lanes_dir=env.lanes_dir, venvs=env.venvs, pip_runner=env.pip,
                venv_creator=env.mkvenv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and problem in err, err
    assert env.mkvenv.created == [] and env.pip.calls == [] and not env.venvs.exists()
    assert given.read_text() == text


# ---- stdlib only ----------------------------------------------------------------------------


def test_module_is_stdlib_only():
    """The one command and its lanes module pull in nothing but the stdlib and infergate's own
    stdlib-only modules: they run under the system Python before any lane exists."""
    # (The upgrade gate's front, test_the_gate_starts_under_a_python_without_numpy, likewise.)
    code = (
        "import sys; before = set(sys.modules); import infergate.commands.main, infergate.commands.lanes_cli; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "bad = sorted(m for m in new if m not in sys.stdlib_module_names and m != 'infergate'); "
        "loaded = sorted(m for m in sys.modules if m.startswith('infergate.')); "
        "print(bad, loaded)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    ).stdout.strip()
    bad, loaded = out.split(" ", 1)
    assert bad == "[]"
    assert set(ast.literal_eval(loaded)) <= {
        "infergate.commands", "infergate.commands.main", "infergate.commands.front", "infergate.commands.lanes_cli",
        "infergate.core", "infergate.core.errors", "infergate.core.exit_codes",
        "infergate.core.atomic", "infergate.core.paths", "infergate.gate", "infergate.gate.lanes",
        "infergate.gate.lane_pip", "infergate.gate.lane_venvs"}, loaded


def test_cli_help_runs_as_module():
    proc = subprocess.run(
        [sys.executable, "-m", "infergate", "lanes", "--help"], cwd=REPO,
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0 and "ensure" in proc.stdout


def test_a_long_install_says_what_pip_is_doing(tmp_path) -> None:
    from infergate.gate.lane_pip import pip_progress, run_pip

    log = "Collecting numpy==2.1\nCollecting torch==2.8.0\n  Downloading torch-2.8.0-cp311.whl (888.1 MB)\n"
    assert pip_progress(log, 47.2) == ("infergate: pip, 47 s: 2 package(s) collected; "
                                       "now: Downloading torch-2.8.0-cp311.whl (888.1 MB)")
    said: list[str] = []
    script = "import sys, time\nprint('Collecting x==1', flush=True)\ntime.sleep(0.5)\nsys.exit(3)\n"
    code = run_pip([sys.executable, "-c", script], tmp_path / "log", every_s=0.1, say=said.append)
    assert code == 3 and said and "1 package(s) collected; now: Collecting x==1" in said[-1]


def test_hashes_come_from_every_source_for_every_platform_and_a_missing_pin_is_refused(tmp_path) -> None:
    import hashlib
    import json as json_

    from infergate.gate.lock_hashes import HashError, hash_lock, pins

    index = tmp_path / "simple" / "tiny-pkg"
    index.mkdir(parents=True)
    link = '<a href="../../files/tiny_pkg-{}-py3-none-any.whl#sha256={}">x</a>'
    (index / "index.html").write_text(link.format("1.0", "1" * 64) + link.format("0.9", "2" * 64))
    links = tmp_path / "wheels"
    links.mkdir()
    (links / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"cpu wheel")
    pypi = {"torch": [("torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl", "3" * 64),
                      ("torch-2.13.0-cp312-cp312-win_amd64.whl", "4" * 64),
                      ("torch-2.12.0-cp311-cp311-manylinux_2_28_x86_64.whl", "5" * 64)]}

    def fetch(url: str) -> str:
        name = url.rstrip("/").rsplit("/", 1)[-1]
        if name not in pypi:
            raise urllib.error.HTTPError(url, 404, "Not Found", None, None)  # type: ignore[arg-type]
        return json_.dumps({"files": [{"filename": f, "hashes": {"sha256": h}} for f, h in pypi[name]]})

    config = f"global.extra-index-url='file://{tmp_path / 'simple'}'\nglobal.find-links='{links}'\n"
    text = hash_lock("# header\ntiny-pkg==1.0\ntorch==2.13.0\n", fetch=fetch, config_list=config)
    cpu = hashlib.sha256(b"cpu wheel").hexdigest()
    # The CPU build on disk is the only torch allowed: pip would rank PyPI's hashed CUDA wheel first.
    assert text == ("# header\ntiny-pkg==1.0 \\\n    --hash=sha256:" + "1" * 64 + "\ntorch==2.13.0 \\\n"
                    + f"    --hash=sha256:{cpu}\n")
    assert pins(text) == [("tiny-pkg", "1.0"), ("torch", "2.13.0")]
    assert hash_lock(text, fetch=fetch, config_list=config) == text  # re-hashing replaces, never duplicates
    with pytest.raises(HashError, match="no index offers a file for ghost==1.0"):
        hash_lock("ghost==1.0\n", fetch=fetch, config_list=config)
    (links / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").unlink()  # no CPU build here:
    assert hash_lock("torch==2.13.0\n", fetch=fetch, config_list=config).count("--hash") == 2  # every file

    def unreachable(url: str) -> str:
        raise urllib.error.URLError("timed out")

    # Only "the index does not know it" (404) is no files; an index that did not answer is an error,
    # not a lock quietly hashed from the other sources.
    with pytest.raises(HashError, match=r"cannot read https://pypi.org/simple/tiny-pkg/: <urlopen error timed out>"):
        hash_lock("tiny-pkg==1.0\n", fetch=unreachable, config_list=config)


def _simple_json(files: dict[str, list[tuple[str, str]]]):
    import json as json_

    def fetch(url: str) -> str:
        name = url.rstrip("/").rsplit("/", 1)[-1]
        if name not in files:
            raise urllib.error.HTTPError(url, 404, "Not Found", None, None)  # type: ignore[arg-type]
        return json_.dumps({"files": [{"filename": f, "hashes": {"sha256": h}} for f, h in files[name]]})
    return fetch


def test_hashing_keeps_a_pins_environment_marker_and_comment() -> None:
    # They were dropped: the pin was rewritten as name==version, so tomli installed on every python.
    from infergate.gate.lock_hashes import hash_lock

    fetch = _simple_json({"tomli": [("tomli-2.0.1-py3-none-any.whl", "1" * 64)],
                          "numpy": [("numpy-2.4.6-cp311-cp311-manylinux_2_28_x86_64.whl", "2" * 64)]})
    text = hash_lock('tomli==2.0.1 ; python_version < "3.11"  # for 3.10\nnumpy==2.4.6\n', fetch=fetch,
                     config_list="")
    assert text == ('# for 3.10\ntomli==2.0.1 ; python_version < "3.11" \\\n    --hash=sha256:' + "1" * 64
                    + "\nnumpy==2.4.6 \\\n    --hash=sha256:" + "2" * 64 + "\n")
    assert hash_lock(text, fetch=fetch, config_list="") == text  # re-hashing keeps them, once


def test_hashing_asks_the_locks_own_indexes_and_a_local_label_takes_only_that_build(tmp_path) -> None:
    # A +cpu pin got PyPI's CUDA wheel hash: the lock's --extra-index-url was not asked, and any
    # 2.13.0 file matched 2.13.0+cpu.
    from infergate.gate.lock_hashes import hash_lock

    cpu_index = "https://download.pytorch.org/whl/cpu"
    pypi = _simple_json({"torch": [("torch-2.13.0-cp311-cp311-manylinux_2_28_x86_64.whl", "3" * 64)]})
    page = ('<a href="/whl/cpu/torch-2.13.0%2Bcpu-cp311-cp311-manylinux_2_28_x86_64.whl#sha256=' + "6" * 64
            + '">x</a><a href="/whl/cpu/torch-2.13.0-cp311-none-macosx_11_0_arm64.whl#sha256=' + "7" * 64 + '">x</a>')
    asked = []

    def fetch(url: str) -> str:
        asked.append(url)
        return page if url.startswith(cpu_index) else pypi(url)

    lock = f"--extra-index-url {cpu_index}\ntorch==2.13.0+cpu\n"
    assert hash_lock(lock, fetch=fetch, config_list="") == (
        f"--extra-index-url {cpu_index}\ntorch==2.13.0+cpu \\\n    --hash=sha256:" + "6" * 64 + "\n")
    assert f"{cpu_index}/torch/" in asked
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "tiny_pkg-1.0-py3-none-any.whl").write_bytes(b"tiny")
    text = hash_lock(f"--find-links={wheels}\ntiny-pkg==1.0\n", fetch=pypi, config_list="")
    assert hashlib.sha256(b"tiny").hexdigest() in text


def test_every_committed_lane_lock_has_a_hash_for_every_pin_and_ensure_requires_them(env) -> None:
    from infergate.gate.lane_bisect import read_pins
    from infergate.gate.lock_hashes import pins

    for lock_path in sorted((REPO / "lanes").glob("*.lock")):
        text = lock_path.read_text()
        blocks = text.split("==")[1:]
        assert pins(text) and all("--hash=sha256:" in b.split("\n", 2)[1] for b in blocks), lock_path.name
        assert set(read_pins(lock_path).values()) == {v for _, v in pins(text)}  # no stray backslashes
    (env.lanes_dir / "ipex.lock").write_text("torch==2.13.0 \\\n    --hash=sha256:" + "a" * 64 + "\n")
    env.ensure()
    assert "--require-hashes" in env.pip.calls[-1]


def test_the_gate_starts_under_a_python_without_numpy() -> None:
    """``python3 -m infergate gate`` starts under the system Python and re-runs itself in the target
    lane's: importing it must not need numpy or torch (a constant imported from stats once did)."""
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('numpy', 'torch', 'transformers'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import infergate.commands.gate_cli\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-800:]


def test_an_unhashed_lock_is_said_loudly_except_bisections_own(env, tmp_path, capsys):
    plain = tmp_path / "mine" / "exp.lock"
    plain.parent.mkdir()
    plain.write_text("pkg-a==1.0\n")
    assert main(["ensure", str(plain)], lanes_dir=env.lanes_dir, venvs=env.venvs, pip_runner=env.pip,
                venv_creator=env.mkvenv) == 0
    err = capsys.readouterr().err
    assert f"WARNING: lane exp: {plain} has no --hash lines" in err and "--require-hashes" not in env.pip.calls[-1]
    from infergate.gate.lanes import BISECTION_HEADER

    bisect = tmp_path / "mine" / "bisect-a-torch.lock"
    bisect.write_text(f"{BISECTION_HEADER}bisect-a-torch': ...\npkg-a==1.0\n")
    assert main(["ensure", str(bisect)], lanes_dir=env.lanes_dir, venvs=env.venvs, pip_runner=env.pip,
                venv_creator=env.mkvenv) == 0
    assert "WARNING" not in capsys.readouterr().err


def test_hashing_refuses_a_lock_line_that_is_not_a_pin():
    from infergate.gate.lock_hashes import HashError, hash_lock

    with pytest.raises(HashError, match=r"not pins \(name==version\).*local @ file:///w/local-1.0-py3-none-any.whl"):
        hash_lock("pkg-a==1.0\nlocal @ file:///w/local-1.0-py3-none-any.whl\n", fetch=lambda url: "{}",
                  config_list="")


def test_a_lock_given_by_path_is_named_as_given_in_the_set_up_hint(env, tmp_path, capsys):
    # The hint said "lanes ensure current", which sets up the committed lane, not this file's.
    mine = tmp_path / "mine" / "current.lock"
    mine.parent.mkdir()
    mine.write_text("# mine\ntorch==2.13.0\n")
    kw = dict(lanes_dir=env.lanes_dir, venvs=env.venvs)
    with pytest.raises(LaneError, match=rf"run: python3 -m infergate lanes ensure {re.escape(str(mine))}$"):
        lane_python(str(mine), **kw)
    assert main(["lock", str(mine)], **kw, freeze_runner=lambda p: FREEZE) == 2
    assert capsys.readouterr().err.rstrip().endswith(f"lanes ensure {mine}")


def test_a_lock_that_is_not_utf8_is_one_line_naming_it(env, tmp_path, capsys):
    bad = tmp_path / "bad.lock"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\xff")
    for command in ("python", "hash"):
        assert main([command, str(bad)], lanes_dir=env.lanes_dir, venvs=env.venvs) == 2
        err = capsys.readouterr().err
        assert err == f"infergate: lock file {bad} is not UTF-8 text (byte 0): is it a lock?\n", err


def test_an_edited_file_the_lock_includes_makes_the_venv_stale(tmp_path):
    """The stamp hashed the lock's own bytes: with `-r base.txt` in it, an edited base.txt left the
    venv "up to date" and accepted."""
    (tmp_path / "base.txt").write_text("torch==2.8.0\n")
    lock = tmp_path / "u.lock"
    lock.write_text("-r base.txt\nsix==1.16.0\n")
    before = lock_digest(lock, "3.11.7")
    (tmp_path / "base.txt").write_text("torch==2.13.0\n")
    assert lock_digest(lock, "3.11.7") != before
    lock.write_text("-rbase.txt  # pip's own spelling, no space\n-r https://example.org/x.txt\n")
    with_url = lock_digest(lock, "3.11.7")  # the URL is pip's to fetch: nothing here to hash
    (tmp_path / "base.txt").write_text("torch==2.14.0\n")
    assert lock_digest(lock, "3.11.7") != with_url
    lock.write_text("--requirement=missing.txt\n")
    with pytest.raises(lane_venvs.LaneError, match="includes missing.txt, which is not a file beside it"):
        lock_digest(lock, "3.11.7")
