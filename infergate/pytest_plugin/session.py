"""One pytest session's settings (``settings.Settings``) and facts, built once in the root plugin's ``pytest_configure``
(tryfirst) and handed to the feature plugins: the options, this machine's class and lane, and the
baselines file, read at most once. The feature plugins read it from here and never import the root
plugin."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .settings import Settings

if TYPE_CHECKING:
    from ..matrix.user_models import UserSpecs
    from ..measuring.baselines import BaselineFile


@dataclass(frozen=True)
class RunContext:
    """What one pytest session of infergate runs with: its settings, this machine's class and lane,
    the configured models and (read at most once) the baselines file."""

    settings: Settings
    machine_class: str
    lane: str
    models: tuple[UserSpecs, ...]  # the user's configured models (--ig-config or pyproject.toml)

    @classmethod
    def from_pytest_config(cls, config: pytest.Config) -> RunContext:
        from ..building.machine import lane_id, lane_versions, machine_class

        settings = Settings.from_pytest_config(config)
        models = configured_models(settings.config, Path(config.rootpath))
        return cls(settings, machine_class(), lane_id(lane_versions()), models)

    @property
    def baseline_path(self) -> Path:
        from ..measuring.baselines import baseline_path

        return baseline_path(self.settings.baselines_dir, self.machine_class, self.lane)

    @property
    def fusions_path(self) -> Path:
        """This class and lane's fusion expectations (read by the fusion plugin's FusionSession,
        which also records into it)."""
        from ..measuring.fusions import fusions_path

        return fusions_path(self.settings.baselines_dir, self.machine_class, self.lane)

    @functools.cached_property
    def baseline(self) -> BaselineFile | None:
        """This class and lane's baselines file (None when none is recorded); a bad file raises
        DataFileError, on every access (a failed load is not cached)."""
        from ..measuring.baselines import load_or_none

        return load_or_none(self.baseline_path)


def configured_models(given: Path | None, root: Path) -> tuple[UserSpecs, ...]:
    """The models of ``--ig-config`` FILE, else of the rootdir's pyproject.toml when it has a
    [tool.infergate] table; read and checked once, so a bad key stops the run before collection."""
    from ..building.user_cases import configured
    from ..matrix.user_config import load_config

    if given is not None:
        return configured(load_config(given, required=True))
    pyproject = root / "pyproject.toml"
    return configured(load_config(pyproject, required=False)) if pyproject.is_file() else ()


_SESSION = pytest.StashKey[RunContext]()


def start(config: pytest.Config) -> RunContext:
    config.stash[_SESSION] = RunContext.from_pytest_config(config)
    return config.stash[_SESSION]


def session(config: pytest.Config) -> RunContext:
    return config.stash[_SESSION]
