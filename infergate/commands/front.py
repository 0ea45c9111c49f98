"""What every command's parser shares with the front (``commands/main.py``): how it is started."""

from __future__ import annotations

from pathlib import Path

FRONT = "python -m infergate"


def prog(command: str) -> str:
    """The ``prog`` of ``command``'s parser: its usage line reads as the front starts it."""
    return f"{FRONT} {command}"


# Where the commands that read or write baselines outside pytest look by default: where the perf run
# of the project looks (its [tool.infergate] baselines, else baselines/ beside it), never elsewhere.
BASELINES_DEFAULT_HELP = "the project's [tool.infergate] baselines, else baselines/ in the project"


def default_baselines() -> Path:
    from ..core.paths import REPO_ROOT
    from ..matrix.user_config import project_baselines

    return project_baselines(REPO_ROOT, REPO_ROOT / "baselines")
