"""Command-line options: names as constants (tests import them), one group, validated types."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cases import PROFILES, Profile, get_profile
from .errors import UsageError

if TYPE_CHECKING:
    import pytest

PROFILE = "--ig-profile"
CHECKPOINT = "--ig-checkpoint"
BASELINES_DIR = "--ig-baselines"
UPDATE_BASELINES = "--ig-update-baselines"
RESULTS_JSON = "--ig-json"
SHARD = "--ig-shard"


def _profile(value: str) -> Profile:
    try:
        return get_profile(value)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _shard(value: str) -> tuple[int, int]:
    from .shards import parse_shard

    return parse_shard(value)


def _directory(value: str) -> Path:
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} exists and is not a directory")
    return path


def fraction_type(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0.0 <= number < 1.0:
        raise argparse.ArgumentTypeError(f"{value} must be a fraction in [0, 1), e.g. 0.05 for 5%")
    return number


def alpha_type(value: str) -> float:
    number = fraction_type(value)
    if number == 0.0:
        raise argparse.ArgumentTypeError("the family-wise false-alarm rate must be > 0")
    return number


def seconds_up_to(high: float) -> Any:
    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
        if not 0.0 < number <= high:
            raise argparse.ArgumentTypeError(f"{value} must be in (0, {high:g}] seconds")
        return number

    parse.__name__ = "seconds"
    return parse



def injection_type(value: str) -> tuple[str, float]:
    """VARIANT=FRACTION, e.g. compile=0.10."""
    from .variants import VARIANTS

    variant, sep, fraction = value.partition("=")
    if not sep or variant not in VARIANTS or variant == "eager":
        names = ", ".join(v for v in VARIANTS if v != "eager")
        raise argparse.ArgumentTypeError(f"{value!r} must be VARIANT=FRACTION with VARIANT one of {names}")
    number = fraction_type(fraction)
    if number == 0.0:
        raise argparse.ArgumentTypeError("an injected slowdown of 0 injects nothing; leave the option out")
    return variant, number


def whole_number(low: int, high: int) -> Any:
    """An argparse type: an int in [low, high], with one message for anything else."""
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{value} must be in [{low}, {high}]")
        return number

    parse.__name__ = "whole number"  # argparse names the type in its error message
    return parse


def add_options(parser: "pytest.Parser") -> None:
    group = parser.getgroup("infergate", "infergate: CPU inference regression suite")
    group.addoption(
        PROFILE, metavar="NAME", type=_profile, default=get_profile("default"),
        help=f"which slice of the matrix to run ({', '.join(PROFILES)}). Default: default",
    )
    group.addoption(
        BASELINES_DIR, metavar="DIR", type=_directory, default=None,
        help="where baseline files live (one per machine class x lane). Default: baselines/ beside "
             "the rootdir's conftest.py, wherever pytest is started from",
    )
    group.addoption(
        UPDATE_BASELINES, action="store_true", default=False,
        help="record this run's speedups and fusions into the baselines (merged, atomic). Default: off",
    )
    group.addoption(
        RESULTS_JSON, metavar="PATH", type=Path, default=None,
        help="also write this run's results (pytest-benchmark JSON form) to PATH. Default: none",
    )
    group.addoption(
        SHARD, metavar="I/N", type=_shard, default=None,
        help="run only shard I of N of the profile's models (python -m infergate.shards plans them: "
             "by model, balanced by estimated cost, the same plan in every job). Default: all",
    )
    group.addoption(
        CHECKPOINT, metavar="DIR_OR_HUB_ID", action="append", default=[],
        help="add a real checkpoint (a local directory, or a hub id already in the offline HF cache) "
             "to the correctness suite; repeatable. Default: only the packaged MiniLM-L6",
    )


@dataclass(frozen=True)
class Options:
    profile: Profile
    checkpoints: tuple[str, ...]
    baselines_dir: Path
    update_baselines: bool
    results_json: Path | None
    shard: tuple[int, int] | None = None

    @classmethod
    def from_pytest_config(cls, config: "pytest.Config") -> "Options":
        return cls(
            profile=config.getoption(PROFILE),
            checkpoints=tuple(config.getoption(CHECKPOINT)),
            # Relative to the rootdir, not the working directory: started from a subdirectory, a
            # cwd-relative default would find no baselines and pass every case as "no-baseline".
            baselines_dir=config.getoption(BASELINES_DIR) or Path(config.rootpath) / "baselines",
            update_baselines=config.getoption(UPDATE_BASELINES),
            results_json=config.getoption(RESULTS_JSON),
            shard=config.getoption(SHARD),
        )
