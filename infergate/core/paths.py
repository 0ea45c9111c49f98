"""Where the repository is: the perf suite, baselines, lane locks and reports live beside the package."""

from __future__ import annotations

from pathlib import Path

# infergate/core/paths.py -> the repository root.
REPO_ROOT = Path(__file__).resolve().parents[2]
