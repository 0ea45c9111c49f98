"""Two revisions of the user's code in one lane (``gate --from-ref REF --to-ref REF --lane LANE``,
``gate/revisions.py``): refs resolved and checked out into temporary worktrees that are always
removed, bad input refused before anything runs, and two real gates on a tiny factory module whose
second commit does extra matmuls (a regression) and against itself (A/A: no regression)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from infergate.commands import gate_cli
from infergate.gate import revisions
from infergate.measuring import lane_results
from tests.user_configs import TINY_CONFIG

# A user's module through a factory (matrix/factory.py). EXTRA matmuls per layer are multiplied by zero:
# the slower commit has the same outputs, so the gate can only see its latency.
MODULE = '''
import torch

EXTRA = {extra}


class Tiny(torch.nn.Module):
    def __init__(self, hidden=256, layers=2, classes=3):
        super().__init__()
        self.embed = torch.nn.Embedding(100, hidden)
        self.layers = torch.nn.ModuleList(torch.nn.Linear(hidden, hidden) for _ in range(layers))
        self.head = torch.nn.Linear(hidden, classes)

    def forward(self, input_ids, attention_mask):
        h = self.embed(input_ids)
        for layer in self.layers:
            h = torch.relu(layer(h))
            for _ in range(EXTRA):
                h = h + 0.0 * (h @ layer.weight)
        mask = attention_mask.unsqueeze(-1).float()
        return (self.head((h * mask).sum(1) / mask.sum(1)),)


def build(task, dtype, shape):
    torch.manual_seed(0)
    batch, seq = shape
    gen = torch.Generator().manual_seed(0)
    inputs = {{"input_ids": torch.randint(0, 100, (batch, seq), generator=gen),
              "attention_mask": torch.ones(batch, seq, dtype=torch.long)}}
    return Tiny().to(dtype), inputs
'''

CONFIG = TINY_CONFIG

# Added by the second commit of ``test_a_model_in_one_revision_only_is_not_compared``.
SECOND_MODEL = '''
[[tool.infergate.models]]
id = "tiny2"
source = "tinymod:build"
tasks = ["seqcls"]
shapes = ["1x32"]
variants = ["eager"]
'''


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A user's repository: ``base`` (no extra work), then ``slower`` (3 extra matmuls per layer)."""
    path = tmp_path / "project"
    path.mkdir()
    _git(path, "init", "-q", "-b", "main")
    _git(path, "config", "user.email", "dev@example.com")
    _git(path, "config", "user.name", "dev")
    (path / "pyproject.toml").write_text(CONFIG)
    (path / "tinymod.py").write_text(MODULE.format(extra=0))
    _git(path, "add", ".")
    _git(path, "commit", "-q", "-m", "base")
    _git(path, "tag", "base")
    (path / "tinymod.py").write_text(MODULE.format(extra=3))
    _git(path, "commit", "-q", "-am", "slower")
    return path


def _worktrees(repo: Path) -> list[str]:
    return [line for line in _git(repo, "worktree", "list", "--porcelain").splitlines() if line.startswith("worktree ")]


@pytest.mark.lane_independent
def test_each_ref_is_its_own_commit_in_a_temporary_worktree_removed_even_on_failure(repo: Path) -> None:
    (repo / "notes.txt").write_text("untracked, mine")  # the user's working tree must not be touched
    seen = {}
    with pytest.raises(RuntimeError, match="boom"):
        with revisions.checked_out(repo, {"from": "base", "to": "HEAD"}) as revs:
            for side, rev in revs.items():
                seen[side] = (rev.commit, rev.tree, (rev.tree / "tinymod.py").read_text(), rev.config)
            assert len(_worktrees(repo)) == 3
            raise RuntimeError("boom")
    assert seen["from"][0] == _git(repo, "rev-parse", "base").strip()
    assert seen["to"][0] == _git(repo, "rev-parse", "HEAD").strip()
    assert "EXTRA = 0" in seen["from"][2] and "EXTRA = 3" in seen["to"][2]
    assert seen["from"][3] == seen["from"][1] / "pyproject.toml"  # each tree's own config
    assert _worktrees(repo) == [f"worktree {repo.resolve()}"]
    assert not seen["from"][1].exists() and not seen["to"][1].parent.exists()
    assert (repo / "notes.txt").read_text() == "untracked, mine"
    assert _git(repo, "status", "--porcelain") == "?? notes.txt\n"


@pytest.mark.lane_independent
def test_the_same_ref_twice_gets_two_trees_and_without_a_table_the_profile(repo: Path) -> None:
    (repo / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    _git(repo, "commit", "-q", "-am", "no models")
    with revisions.checked_out(repo, {"from": "HEAD", "to": "HEAD"}) as revs:
        assert revs["from"].commit == revs["to"].commit and revs["from"].tree != revs["to"].tree
        assert revs["from"].config is None and revs["to"].config is None
        trees = revisions.worker_trees(revs, {"PYTHONPATH": "/mine"})
        assert trees["to"] == (revs["to"].cwd, {"PYTHONPATH": f"{revs['to'].cwd}:{revisions.IMPORT_ROOT}:/mine"})
        assert revisions.describe(revs, "current")["infergate"]["from"].startswith("the gate's")
    assert len(_worktrees(repo)) == 1


@pytest.mark.lane_independent
def test_a_model_in_one_revision_only_is_not_compared(repo: Path) -> None:
    (repo / "pyproject.toml").write_text(CONFIG + SECOND_MODEL)
    _git(repo, "commit", "-q", "-am", "second model")
    args = argparse.Namespace(cases=None, profile="smoke")
    with revisions.checked_out(repo, {"from": "base", "to": "HEAD"}) as revs:
        cases, warnings = revisions.revision_cases(args, revs)
    assert [c.id for c in cases] == ["tiny-seqcls-custom-b1s64-eager-fp32", "tiny-seqcls-custom-b1s64-jit-fp32"]
    assert len(warnings) == 1 and warnings[0].startswith("only in HEAD (")
    assert warnings[0].endswith("), not compared: tiny2-seqcls-custom-b1s32-eager-fp32")


def _refused(repo_or_dir: Path, argv: list[str], monkeypatch, capsys) -> str:
    """Runs the command in ``repo_or_dir``; returns its one stderr line after checking nothing ran."""
    monkeypatch.chdir(repo_or_dir)
    asked: list[str] = []
    code = gate_cli.main([*argv, "--no-ensure", "--out", str(repo_or_dir / "out")],
                         lane_python=lambda lane: asked.append(lane) or Path(sys.executable))
    err = capsys.readouterr().err.strip()
    assert code == 2 and asked == [] and not (repo_or_dir / "out").exists()
    assert len(err.splitlines()) == 1 and err.startswith("infergate: ")
    return err


@pytest.mark.lane_independent
def test_bad_refs_a_dirty_head_and_no_git_are_one_line_and_exit_2(repo: Path, tmp_path: Path, monkeypatch,
                                                                  capsys) -> None:
    lane = ["--lane", "current"]
    err = _refused(repo, ["--from-ref", "nosuchref", "--to-ref", "HEAD", *lane], monkeypatch, capsys)
    assert err == (f"infergate: git ref 'nosuchref' names no commit in {repo.resolve()} "
                   "(in a shallow or single-branch clone, fetch it)")
    err = _refused(repo, ["--from-ref", "base", "--to-ref=-x", *lane], monkeypatch, capsys)
    assert err == "infergate: '-x' is not a git ref"
    err = _refused(repo, ["--from-ref", "base", "--to-ref", "HEAD", *lane, "--config", str(repo / "m.toml")],
                   monkeypatch, capsys)
    assert err.endswith("give the file relative to the repository's directory, so each commit's own copy is read")
    (repo / "tinymod.py").write_text(MODULE.format(extra=5))
    err = _refused(repo, ["--from-ref", "base", "--to-ref", "HEAD", *lane], monkeypatch, capsys)
    assert "--to-ref HEAD: " in err and "has uncommitted changes (1 tracked file(s), e.g. tinymod.py)" in err
    assert "the gate compares commits, not the working tree: commit or stash them first" in err
    # A named commit is a commit, whatever the working tree holds.
    outside = tmp_path / "not-git"
    outside.mkdir()
    err = _refused(outside, ["--from-ref", "a", "--to-ref", "b", *lane], monkeypatch, capsys)
    assert err == f"infergate: --from-ref/--to-ref compare two commits of a git repository, and {outside} is not in one"


@pytest.mark.lane_independent
@pytest.mark.parametrize(("argv", "message"), [
    (["--from-ref", "a", "--to-ref", "b"], "two revisions need all of --from-ref, --to-ref and --lane"),
    (["--from-ref", "a", "--to-ref", "b", "--lane", "x", "--from", "y"], "with --from-ref/--to-ref name the one lane"),
    (["--from-ref", "a", "--to-ref", "b", "--lane", "x", "--bisect"], "two revisions of your code have none to move"),
    ([], "give --from LANE --to LANE (two lanes), or --from-ref REF --to-ref REF --lane LANE"),
])
def test_mixed_or_missing_modes_are_usage_errors(argv: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        gate_cli.main(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.lane_independent
def test_a_config_outside_the_commits_tree_is_refused_and_the_trees_removed(repo: Path) -> None:
    with pytest.raises(revisions.UsageError, match="relative to the repository's directory"):
        with revisions.checked_out(repo, {"from": "base", "to": "HEAD"}, repo / "pyproject.toml"):
            pass
    with pytest.raises(revisions.UsageError, match=r"--config models.toml: not in this commit's tree"):
        with revisions.checked_out(repo, {"from": "base", "to": "HEAD"}, Path("models.toml")):
            pass
    assert len(_worktrees(repo)) == 1


def _gate(repo: Path, from_ref: str, to_ref: str, out: Path, monkeypatch) -> tuple[int, dict]:
    """A real gate of the tiny module in this lane, 4 pairs x 30 rounds (the two runs of the test: 50-70 s
    on the busy 2-vCPU machine). --min-change 5 % (the floor) so that only a large change fails: the
    injected one is about +100 %, and an A/A run would need a significant +5 % to fail."""
    monkeypatch.chdir(repo)
    code = gate_cli.main(["--from-ref", from_ref, "--to-ref", to_ref, "--lane", "current", "--no-ensure",
                          "--pairs", "4", "--rounds", "30", "--min-change", "0.05", "--out", str(out)],
                         lane_python=lambda lane: Path(sys.executable))
    return code, json.loads((out / "gate.json").read_text())


# One lane only: what two revisions add (worktrees, configs, the report) is plumbing; the worker it
# drives speaks the same protocol in each lane (test_gate_configured runs real workers of both lanes).
@pytest.mark.lane_independent
@pytest.mark.slow
def test_real_tiny_slower_commit_is_a_regression_and_the_same_commit_is_not(repo: Path, tmp_path: Path,
                                                                             monkeypatch) -> None:
    code, doc = _gate(repo, "base", "HEAD", tmp_path / "slower", monkeypatch)
    assert code == 1
    assert {c["case"]: c["status"] for c in doc["cases"]} == {
        "tiny-seqcls-custom-b1s64-eager-fp32": "regression", "tiny-seqcls-custom-b1s64-jit-fp32": "regression"}
    assert all(c["outputs"]["status"] == "same" for c in doc["cases"])  # extra work, same answers
    assert doc["revisions"]["from"] == {"ref": "base", "commit": _git(repo, "rev-parse", "base").strip(),
                                        "config": "pyproject.toml"}
    assert doc["revisions"]["to"]["commit"] == _git(repo, "rev-parse", "HEAD").strip()
    assert doc["revisions"]["lane"] == "current" and doc["from_lane"] == doc["to_lane"] == "current"
    assert lane_results.GateResult.from_json(doc).revisions == doc["revisions"]  # `report gate.json` reads it
    report = (tmp_path / "slower" / "report.md").read_text()
    assert report.startswith("## Two revisions in lane `current`: `base (") and "the same lane `current`" in report
    code, doc = _gate(repo, "HEAD", "HEAD", tmp_path / "aa", monkeypatch)
    assert code in (0, 10) and not doc["regressions"]
    assert {c["status"] for c in doc["cases"]} <= {"pass", "inconclusive"}  # an A/A "improvement" is a false alarm too
    assert len(_worktrees(repo)) == 1
