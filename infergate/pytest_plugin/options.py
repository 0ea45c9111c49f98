"""Command-line options: names as constants (tests import them), one group, validated types."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..building.cases import PROFILES, Profile, get_profile
from ..core.errors import UsageError
from ..core.validate import directory

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
    from ..building.shards import parse_shard

    return parse_shard(value)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("infergate", "infergate: CPU inference regression suite")
    group.addoption(
        PROFILE, metavar="NAME", type=_profile, default=get_profile("default"),
        help=f"which slice of the matrix to run ({', '.join(PROFILES)}). Default: default",
    )
    group.addoption(
        BASELINES_DIR, metavar="DIR", type=directory, default=None,
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
        help="run only shard I of N of the profile's models (python -m infergate shards plans them: "
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
    def from_pytest_config(cls, config: pytest.Config) -> Options:
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
