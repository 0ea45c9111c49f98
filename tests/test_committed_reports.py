"""Every committed report still renders from its own data: a renderer change that was not followed by
re-rendering them (the plots' legends, an interval's wording) left reports that their JSON no longer
gives. Markdown only, byte for byte (PNGs differ by font and library version, not by meaning).

Not the claims reports: their "across hosts" columns read the live baselines/, so every recorded
session would fail them (they re-rendered identical on 2026-12-08, their plots re-drawn)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infergate.commands.main import main

pytestmark = pytest.mark.lane_independent  # renders from files; the lanes pin the same matplotlib
DOCS = Path(__file__).resolve().parent.parent / "docs"
GATES = sorted(p.parent for p in (DOCS / "reports").rglob("gate.json"))
RECIPES = sorted(p.parent for p in (DOCS / "claims").rglob("guide-recipe.json"))


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "report"
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("src", GATES, ids=[str(p.relative_to(DOCS)) for p in GATES])
def test_a_committed_gate_report_renders_from_its_gate_json(src: Path, tmp_path: Path) -> None:
    dst = _copy(src, tmp_path)
    assert main(["report", str(dst / "gate.json"), "--out", str(dst)]) == 0
    assert (dst / "report.md").read_text() == (src / "report.md").read_text(), (
        f"{src} is stale: python -m infergate report {src.relative_to(DOCS.parent)}/gate.json --out ...")


@pytest.mark.parametrize("src", RECIPES, ids=[str(p.relative_to(DOCS)) for p in RECIPES])
def test_a_committed_guide_recipe_report_renders_from_its_json(src: Path, tmp_path: Path) -> None:
    dst = _copy(src, tmp_path)
    assert main(["guide-recipe", "--render", str(dst)]) == 0
    assert (dst / "guide-recipe.md").read_text() == (src / "guide-recipe.md").read_text(), (
        f"{src} is stale: python -m infergate guide-recipe --render {src.relative_to(DOCS.parent)}")
