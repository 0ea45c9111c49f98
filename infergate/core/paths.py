"""Where the repository is: the perf suite, baselines, lane locks and reports live beside the package."""

from __future__ import annotations

from pathlib import Path

# infergate/core/paths.py -> the checkout's root, when the package sits in one (its pyproject.toml
# beside the package).
_CHECKOUT = Path(__file__).resolve().parents[2]
# Installed from the wheel (site-packages, or a --target directory) there is no checkout around the
# package: the repository-relative defaults (lanes/, .venvs/, baselines/, results/) are then the
# working directory's, the user's project a command is run from (docs/lanes.md: your own locks).
REPO_ROOT = _CHECKOUT if (_CHECKOUT / "pyproject.toml").is_file() else Path.cwd()
