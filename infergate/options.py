"""Command-line options: names as constants (tests import them), one group, validated types."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .cases import PROFILES, Profile, get_profile
from .errors import UsageError

if TYPE_CHECKING:
    import pytest

PROFILE = "--ig-profile"
CHECKPOINT = "--ig-checkpoint"


def _profile(value: str) -> Profile:
    try:
        return get_profile(value)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_options(parser: "pytest.Parser") -> None:
    group = parser.getgroup("infergate", "infergate: CPU inference regression suite")
    group.addoption(
        PROFILE, metavar="NAME", type=_profile, default=get_profile("default"),
        help=f"which slice of the matrix to run ({', '.join(PROFILES)}). Default: default",
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

    @classmethod
    def from_pytest_config(cls, config: "pytest.Config") -> "Options":
        return cls(profile=config.getoption(PROFILE), checkpoints=tuple(config.getoption(CHECKPOINT)))
