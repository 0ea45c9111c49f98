"""``python3 -m infergate audit``: known vulnerabilities in every committed lane lock (pip-audit,
``--strict``: a pin that cannot be looked up fails; offline the answer is NOT AUDITED, docs/lanes.md).
Exit codes: 0 none known; 1 a vulnerability (listed); 3 not audited; 2 no lock to audit.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ..core import exit_codes
from ..core.paths import REPO_ROOT
from .front import prog

PIP_AUDIT_VERSION = "2.10.1"

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _run(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, stdin=subprocess.DEVNULL)


def audit_lock(lock: Path, pip_audit: str, run: Runner = _run) -> tuple[str, str]:
    """('ok' | 'vulnerable' | 'not audited', detail) for one lock."""
    try:
        proc = run([pip_audit, "--requirement", str(lock), "--no-deps", "--disable-pip", "--strict",
                    "--progress-spinner", "off"])
    except OSError as exc:  # no such executable, or not runnable
        return "not audited", f"cannot run {pip_audit}: {exc.strerror or exc}"
    text = (proc.stdout + proc.stderr).strip()
    last = text.splitlines()[-1] if text else f"exit status {proc.returncode}"
    if proc.returncode == 0:
        return "ok", last
    found = "Found" in text and "vulnerabilit" in text
    if found and "could not be audited" not in text:
        return "vulnerable", text
    if found:  # both: still not audited (the worse answer), but the vulnerabilities it did find are shown
        return "not audited", f"vulnerabilities found, and some pins could not be audited:\n{text}"
    return "not audited", last


def main(argv: Sequence[str] | None = None, run: Runner = _run) -> int:
    p = argparse.ArgumentParser(prog=prog("audit"), description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pip-audit", default="pip-audit",
                   help=f"the pip-audit executable (pinned {PIP_AUDIT_VERSION} in CI). Default: pip-audit")
    p.add_argument("locks", nargs="*", type=Path, help="lock files. Default: every lanes/*.lock")
    args = p.parse_args(argv)
    locks = args.locks or sorted((REPO_ROOT / "lanes").glob("*.lock"))
    if not locks:  # auditing nothing must not exit 0 as if every pin were clean
        print(f"infergate audit: no lock files under {REPO_ROOT / 'lanes'}: name the locks to audit",
              file=sys.stderr)
        return exit_codes.USAGE
    worst = 0
    for lock in locks:
        status, detail = audit_lock(lock, args.pip_audit, run)
        print(f"infergate audit: {lock.name}: {status.upper() if status != 'ok' else 'no known vulnerability'}"
              + ("" if status == "ok" else f": {detail}"), flush=True)
        worst = max(worst, {"ok": 0, "vulnerable": 1, "not audited": 3}[status])
    if worst == 3:
        print("infergate audit: NOT AUDITED: the vulnerability service could not be asked about every pin "
              "(offline machines reach package indexes only); this is not a pass", file=sys.stderr)
    return worst
