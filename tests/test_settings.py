"""One Settings: every option declared once, read the same from pytest and from a command line."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

import pytest

from infergate.pytest_plugin import settings as s

# Pure Python: the same in both lanes (same Python, numpy, pytest, hypothesis): current lane only
# in ./suite test (tests/README.md).
pytestmark = pytest.mark.lane_independent

pytest_plugins = ["pytester"]

ARGV = ["--ig-profile", "smoke", "--ig-floor", "0.03", "--ig-repeat", "4", "--ig-isolate", "never",
        "--ig-timeout", "30", "--ig-inject-slowdown", "compile=0.2", "--ig-checkpoint", "a",
        "--ig-checkpoint", "b", "--ig-inconclusive", "pass", "--ig-threads", "2"]


def test_every_settings_field_is_one_declared_option() -> None:
    declared = [o.setting for o in s.OPTIONS]
    assert sorted(declared) == sorted(f.name for f in fields(s.Settings))
    assert len({o.flag for o in s.OPTIONS}) == len(s.OPTIONS) == len(set(declared))
    assert all(o.flag.startswith("--ig-") and "Default:" in o.help_text() for o in s.OPTIONS)
    assert "compile" in s.option(s.TIMEOUT).help_text()  # its help names the variants' own timeouts


def _from_argparse(argv: list[str], root: Path) -> s.Settings:
    parser = argparse.ArgumentParser()
    for o in s.OPTIONS:
        o.add_to(parser.add_argument)
    return s.Settings.from_args(parser.parse_args(argv), root)


def test_pytest_and_a_command_line_give_the_same_settings(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["infergate.pytest_plugin.plugin"]')
    config = pytester.parseconfig(*ARGV)
    from_pytest = s.Settings.from_pytest_config(config)
    from_cli = _from_argparse(ARGV, Path(config.rootpath))
    assert from_pytest == from_cli
    assert from_pytest.profile.name == "smoke" and from_pytest.floor == 0.03 and from_pytest.repeat == 4
    assert from_pytest.isolate is s.Mode.NEVER and from_pytest.timeout_s == 30.0
    assert from_pytest.inject == ("compile", 0.2) and from_pytest.checkpoints == ("a", "b")
    assert from_pytest.on_inconclusive == "pass" and from_pytest.threads == 2
    # An unset baselines directory is the root's, not the working directory's.
    assert from_pytest.baselines_dir == Path(config.rootpath) / "baselines"


def test_defaults_are_the_declared_ones(tmp_path: Path) -> None:
    settings = _from_argparse([], tmp_path)
    assert settings.profile.name == "default" and settings.repeat is None and settings.isolate is s.Mode.AUTO
    for o in s.OPTIONS:
        if o.setting not in ("baselines_dir", "checkpoints"):  # the two converted in from_values
            assert getattr(settings, o.setting) == o.kwargs.get("default"), o.flag
    assert settings.checkpoints == () and settings.baselines_dir == tmp_path / "baselines"


@pytest.mark.parametrize("argv", [["--ig-floor", "1.5"], ["--ig-repeat", "0"], ["--ig-isolate", "sometimes"],
                                  ["--ig-profile", "nope"], ["--ig-fusions-md", "x.txt"],
                                  ["--ig-inject-slowdown", "eager=0.1"], ["--ig-inconclusive", "maybe"]])
def test_a_bad_value_is_refused_by_its_type(argv: list[str], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _from_argparse(argv, tmp_path)
    assert argv[0] in capsys.readouterr().err


def test_a_results_json_that_cannot_be_a_file_is_refused_when_parsed(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Refused before anything is measured: at the end of the run it lost the run's recording."""
    (tmp_path / "afile").write_text("")
    for value, why in ((str(tmp_path), "is a directory: name a file"),
                       (str(tmp_path / "afile" / "r.json"), "exists and is not a directory")):
        with pytest.raises(SystemExit):
            _from_argparse(["--ig-json", value], tmp_path)
        err = capsys.readouterr().err
        assert "--ig-json" in err and why in err
    new_dir = tmp_path / "new" / "r.json"  # a missing directory is created when written
    assert _from_argparse(["--ig-json", str(new_dir)], tmp_path).results_json == new_dir


def test_the_checkpoint_options_default_is_none_and_the_profile_chooses_the_packaged_minilm() -> None:
    """Its help said 'Default: only the packaged MiniLM-L6', untrue for a profile without it and for
    the plugin's suite in a user's project (which runs none of the profile's models)."""
    help_text = s.option(s.CHECKPOINT).help_text()
    assert _from_argparse([], Path(".")).checkpoints == ()
    with_it = sorted(p.name for p in s.PROFILES.values()
                     if any(sel.real_checkpoint for sel in (*p.correctness, *p.perf)))
    assert with_it and len(with_it) < len(s.PROFILES)  # the preset has profiles of both kinds
    default = help_text.split("Default: ")[1]
    assert default.startswith("none; the profile decides whether the packaged MiniLM-L6 runs")
    assert f"with it: {', '.join(n for n in s.PROFILES if n in with_it)};" in default
    assert "runs none of the profile's models" in default


def test_replace_without_update_is_one_message_not_a_setting_that_does_nothing(
        pytester: pytest.Pytester, tmp_path: Path) -> None:
    with pytest.raises(s.UsageError, match="--ig-replace-baselines changes how --ig-update-baselines records"):
        _from_argparse(["--ig-replace-baselines"], tmp_path)
    assert _from_argparse(["--ig-replace-baselines", "--ig-update-baselines"], tmp_path).replace_baselines
    pytester.makeconftest('pytest_plugins = ["infergate.pytest_plugin.plugin"]')
    result = pytester.runpytest("--ig-replace-baselines")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*infergate: --ig-replace-baselines changes how --ig-update-baselines records*"])
    assert "Traceback" not in result.stderr.str()


def test_a_baselines_directory_that_does_not_exist_is_refused_unless_recording(tmp_path) -> None:
    """A mistyped --ig-baselines measured the whole profile, then judged nothing (exit 7)."""
    missing = tmp_path / "no-such-dir"
    with pytest.raises(s.UsageError, match=f"--ig-baselines {missing} does not exist"):
        _from_argparse(["--ig-baselines", str(missing)], tmp_path)
    assert _from_argparse(["--ig-baselines", str(missing), "--ig-update-baselines"], tmp_path).baselines_dir == missing
    assert _from_argparse(["--ig-baselines", str(tmp_path)], tmp_path).baselines_dir == tmp_path


def test_record_disturbed_needs_update_baselines(tmp_path) -> None:
    with pytest.raises(s.UsageError, match="--ig-record-disturbed changes how --ig-update-baselines records"):
        _from_argparse(["--ig-record-disturbed"], tmp_path)
    assert _from_argparse(["--ig-record-disturbed", "--ig-update-baselines"], tmp_path).record_disturbed
