"""One pytest session's settings, machine class, lane and baselines file (read at most once), built
first in ``pytest_configure``; feature plugins read it here, never importing the root plugin."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .settings import BASELINES_DIR, Settings

if TYPE_CHECKING:
    from ..matrix.user_config import UserConfig
    from ..matrix.user_models import UserSpecs
    from ..measuring.baselines import BaselineFile


@dataclass(frozen=True)
class RunContext:
    """What one pytest session runs with: settings, machine class, lane, configured models, baselines."""

    settings: Settings
    machine_class: str
    lane: str
    models: tuple[UserSpecs, ...]  # the user's configured models (--ig-config or pyproject.toml)

    @classmethod
    def from_pytest_config(cls, config: pytest.Config) -> RunContext:
        from ..building.machine import lane_id, lane_versions, machine_class
        from ..building.user_cases import configured

        settings = Settings.from_pytest_config(config)
        user = user_config(settings.config, Path(config.rootpath))
        if user is not None and user.baselines is not None and config.getoption(BASELINES_DIR) is None:
            settings = dataclasses.replace(settings, baselines_dir=user.baselines)  # the project's own, by its config
        return cls(settings, machine_class(), lane_id(lane_versions()), configured(user))

    @property
    def baseline_path(self) -> Path:
        from ..measuring.baselines import baseline_path

        return baseline_path(self.settings.baselines_dir, self.machine_class, self.lane)

    @property
    def fusions_path(self) -> Path:
        """This class and lane's fusion expectations file."""
        from ..measuring.fusions import fusions_path

        return fusions_path(self.settings.baselines_dir, self.machine_class, self.lane)

    @functools.cached_property
    def baseline(self) -> BaselineFile | None:
        """This class and lane's baselines file (None when none); a bad file raises DataFileError on every access."""
        from ..measuring.baselines import load_or_none

        return load_or_none(self.baseline_path)


def user_config(given: Path | None, root: Path) -> UserConfig | None:
    """The config of ``--ig-config``, else the rootdir pyproject's ``[tool.infergate]``; read once."""
    from ..matrix.user_config import load_config

    if given is not None:
        return load_config(given, required=True)
    pyproject = root / "pyproject.toml"
    return load_config(pyproject, required=False) if pyproject.is_file() else None


_SESSION = pytest.StashKey[RunContext]()


def start(config: pytest.Config) -> RunContext:
    config.stash[_SESSION] = RunContext.from_pytest_config(config)
    return config.stash[_SESSION]


def session(config: pytest.Config) -> RunContext:
    return config.stash[_SESSION]
