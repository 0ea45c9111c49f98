"""Two revisions of the user's code in one lane (``gate --from-ref REF --to-ref REF``), as ``asv continuous``
does with commits: each ref in a detached temporary ``git worktree``, removed even when the run fails; a
``HEAD`` with modified tracked files is refused. docs/upgrade-gate.md, "Two revisions in one lane".
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..core.errors import UsageError

SIDES = ("from", "to")
# The ref names whose meaning is "what I am working on": uncommitted changes there would be silently
# left out of a commit comparison, so they are refused instead.
_HEAD_NAMES = ("HEAD", "@")


@dataclass(frozen=True)
class Revision:
    ref: str  # as the user gave it
    commit: str  # the full hash it resolved to
    tree: Path  # the temporary worktree (on the workers' PYTHONPATH right after ``cwd``)
    cwd: Path  # the worker's cwd: the tree's counterpart of the directory the command ran in
    config: Path | None  # the configured models' file in this tree; None: the built-in profile

    def describe(self) -> dict[str, Any]:
        """What gate.json and the report say (the temporary paths are gone after the run)."""
        d = asdict(self)
        return {"ref": d["ref"], "commit": d["commit"],
                "config": str(self.config.relative_to(self.tree)) if self.config else None}


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise UsageError("--from-ref/--to-ref need git, which is not on PATH") from None


def repository(cwd: Path) -> Path:
    """The top of the git work tree holding ``cwd``; a directory outside git is a usage error."""
    proc = _git(cwd, "rev-parse", "--show-toplevel")
    if proc.returncode != 0 or not proc.stdout.strip():
        raise UsageError(f"--from-ref/--to-ref compare two commits of a git repository, and {cwd} is not in one")
    return Path(proc.stdout.strip()).resolve()


def resolve(repo: Path, ref: str) -> str:
    """The commit hash ``ref`` names; a ref that names no commit is a usage error."""
    if not ref or ref.startswith("-"):  # never let a ref be read as an option of git's
        raise UsageError(f"{ref!r} is not a git ref")
    proc = _git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if proc.returncode != 0:
        # CI checkouts are often shallow or of one branch: the base branch is then simply not there yet.
        raise UsageError(f"git ref {ref!r} names no commit in {repo} (in a shallow or single-branch clone, fetch it)")
    return proc.stdout.strip()


def check_clean_head(repo: Path, refs: Mapping[str, str]) -> None:
    """Refuse ``HEAD`` while tracked files have uncommitted changes: the gate compares commits, so
    those changes would be left out without a word. Untracked files are no part of any commit (and
    the gate's own results land among them), so they do not count."""
    # Any ref naming the checked-out commit (HEAD, @, the current branch, HEAD~0) would stand for it.
    head = resolve(repo, "HEAD")
    asked = [f"--{side}-ref {ref}" for side, ref in refs.items() if ref in _HEAD_NAMES or resolve(repo, ref) == head]
    if not asked:
        return
    proc = _git(repo, "status", "--porcelain", "--untracked-files=no")
    if proc.returncode != 0:
        raise UsageError(f"git status failed in {repo}: {proc.stderr.strip()[-200:]}")
    changed = proc.stdout.splitlines()
    if changed:
        raise UsageError(f"{' and '.join(asked)}: {repo} has uncommitted changes ({len(changed)} tracked file(s), "
                         f"e.g. {changed[0][3:]}); the gate compares commits, not the working tree: commit or "
                         "stash them first")


def check_config_arg(config: Path | None) -> None:
    if config is not None and config.is_absolute():
        raise UsageError(f"--config {config}: with --from-ref/--to-ref give the file relative to the "
                         "repository's directory, so each commit's own copy is read")


def config_in(tree: Path, rel_cwd: Path, config: Path | None) -> Path | None:
    """The configured models' file in ``tree``: ``config`` (relative to the directory the command
    ran in) if given, which the tree must hold; else the tree's ``pyproject.toml`` when it has a
    ``[tool.infergate]`` table; else None (the built-in profile)."""
    from ..matrix.user_config import load_config

    if config is not None:
        path = tree / rel_cwd / config
        if not path.is_file():
            raise UsageError(f"--config {config}: not in this commit's tree")
        return path
    pyproject = tree / rel_cwd / "pyproject.toml"
    if pyproject.is_file() and load_config(pyproject, required=False) is not None:
        return pyproject
    return None


@contextmanager
def checked_out(cwd: Path, refs: Mapping[str, str], config: Path | None = None) -> Iterator[dict[str, Revision]]:
    """Each side's ref in a temporary detached worktree; all removed on the way out, however it ends."""
    repo = repository(cwd)
    commits = {side: resolve(repo, refs[side]) for side in SIDES}
    check_clean_head(repo, refs)
    check_config_arg(config)
    rel_cwd = Path(cwd).resolve().relative_to(repo)
    root = Path(tempfile.mkdtemp(prefix="infergate-revs-"))
    added: list[Path] = []
    try:
        out = {}
        for side in SIDES:
            tree = root / side
            proc = _git(repo, "worktree", "add", "--detach", "--quiet", str(tree), commits[side])
            if proc.returncode != 0:
                raise UsageError(f"cannot check out {refs[side]} ({commits[side][:12]}): {proc.stderr.strip()[-200:]}")
            added.append(tree)
            out[side] = Revision(refs[side], commits[side], tree, tree / rel_cwd, config_in(tree, rel_cwd, config))
        yield out
    finally:
        for tree in added:
            _git(repo, "worktree", "remove", "--force", str(tree))
        shutil.rmtree(root, ignore_errors=True)
        _git(repo, "worktree", "prune")


def short(revision: Revision) -> str:
    return f"{revision.ref} ({revision.commit[:10]})"


# The checkout the running infergate is imported from, if it is one (core.paths' rule: its pyproject.toml
# beside the package). A user's tree has no infergate of its own, so its workers import this one, after
# the tree, so that in infergate's own repository each ref's code is measured. An installed infergate
# (site-packages) is not added: that directory would put the gate's packages before the lane's own.
_ROOT = Path(__file__).resolve().parents[2]
IMPORT_ROOT = _ROOT if (_ROOT / "pyproject.toml").is_file() and (_ROOT / "infergate").is_dir() else None


def runs_own_infergate(revision: Revision) -> bool:
    return (revision.tree / "infergate" / "gate" / "lane_worker.py").is_file()


def worker_trees(revisions: Mapping[str, Revision], environ: Mapping[str, str]) -> dict[str, tuple[Path, dict]]:
    """side -> (cwd, environment) of that side's workers: the tree first on PYTHONPATH (factory modules
    are imported from it, and inductor's compile workers inherit it), then the running infergate's
    checkout (``IMPORT_ROOT``), then the PYTHONPATH the gate was given."""
    out = {}
    for side, rev in revisions.items():
        # The tree's root too, when the command ran in a subdirectory: infergate's own repository
        # then still imports the revision's infergate, not the running checkout's.
        own = [rev.cwd] + ([rev.tree] if rev.tree != rev.cwd else [])
        out[side] = (rev.cwd, {"PYTHONPATH": _pythonpath(own, environ)})
    return out


def project_workers(cwd: Path, environ: Mapping[str, str]) -> dict[str, tuple[Path, dict]]:
    """side -> (cwd, environment) for two lanes' workers building configured models: both run in the
    directory the command runs in, which comes first on PYTHONPATH (factory modules import from it,
    relative checkpoint directories resolve against it), then the running infergate's checkout."""
    return {side: (cwd, {"PYTHONPATH": _pythonpath([cwd], environ)}) for side in SIDES}


def _pythonpath(own: list[Path], environ: Mapping[str, str]) -> str:
    import os

    path = [*map(str, own), *([str(IMPORT_ROOT)] if IMPORT_ROOT else []),
            *([environ["PYTHONPATH"]] if environ.get("PYTHONPATH") else [])]
    return os.pathsep.join(path)


def revision_cases(args: Any, revisions: Mapping[str, Revision]) -> tuple[list[Any], list[str]]:
    """The perf cases both revisions have (each read from its own tree's config, or the profile), and a
    warning naming the cases only one of them has: those are not compared."""
    from ..building.case_expr import case_matcher
    from .lane_worker import gate_cases

    match = case_matcher(args.cases)
    ids = {}
    per_side = {}
    for side, rev in revisions.items():
        per_side[side] = [c for c in gate_cases(args.profile, str(rev.config) if rev.config else None) if match(c.id)]
        ids[side] = {c.id for c in per_side[side]}
    cases = [c for c in per_side["to"] if c.id in ids["from"]]
    warnings = [f"only in {short(revisions[side])}, not compared: {', '.join(sorted(ids[side] - ids[other]))}"
                for side, other in (("from", "to"), ("to", "from")) if ids[side] - ids[other]]
    return cases, warnings


def describe(revisions: Mapping[str, Revision], lane: str) -> dict[str, Any]:
    """For gate.json and the report: which commits, in which one lane, and whose infergate ran them."""
    return {"lane": lane, "same_lane": True, **{side: rev.describe() for side, rev in revisions.items()},
            "uncommitted_changes": "not included: commits are compared (HEAD with uncommitted changes is refused)",
            "infergate": {side: "the revision's own" if runs_own_infergate(rev) else
                          f"the gate's ({IMPORT_ROOT})" if IMPORT_ROOT else "the lane's installed one"
                          for side, rev in revisions.items()}}
