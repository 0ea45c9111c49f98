"""Every committed report still renders from its own data: a renderer change that was not followed by
re-rendering them (the plots' legends, an interval's wording) left reports that their JSON no longer
gives. Markdown only, byte for byte (PNGs differ by font and library version, not by meaning).

The claims reports too, since their claims.json keeps the across-hosts spreads they were rendered with
(version 4, 2026-12-08): until then those columns read the live baselines/, and every recorded session
would have failed them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infergate.commands.main import main

pytestmark = pytest.mark.lane_independent  # renders from files; the lanes pin the same matplotlib
DOCS = Path(__file__).resolve().parent.parent / "docs"
GATES = sorted(p.parent for p in (DOCS / "reports").rglob("gate.json"))
RECIPES = sorted(p.parent for p in (DOCS / "claims").rglob("guide-recipe.json"))
# Every claims report, the runs a merged one was rendered from included (a directory with no claims.md
# holds one model's rows of an interleaved run, never rendered alone).
CLAIMS = sorted(p.parent for p in (DOCS / "claims").rglob("claims.json") if (p.parent / "claims.md").exists())


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


@pytest.mark.parametrize("src", CLAIMS, ids=[str(p.relative_to(DOCS)) for p in CLAIMS])
def test_a_committed_claims_report_renders_from_its_claims_json(src: Path, tmp_path: Path, monkeypatch) -> None:
    dst = _copy(src, tmp_path)
    # Whatever baselines/ holds by now: the report's across-hosts figures are its own file's.
    monkeypatch.setattr("infergate.reports.claims_report.BASELINES", tmp_path / "no-baselines")
    assert main(["claims", "--render", str(dst)]) == 0
    assert (dst / "claims.md").read_text() == (src / "claims.md").read_text(), (
        f"{src} is stale: python -m infergate claims --render {src.relative_to(DOCS.parent)}")
