"""Where a lane's lock and venv live (``resolve_lane``), ``LaneError``, and the install stamp: the
digest of the lock and the venv's Python that ``lanes.ensure`` leaves. Stdlib only."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import InfergateError
from ..core.paths import REPO_ROOT

DEFAULT_LANES_DIR = REPO_ROOT / "lanes"
DEFAULT_VENVS_ROOT = REPO_ROOT / ".venvs"
VENVS_ENV_VAR = "INFERGATE_VENVS"

STAMP_NAME = ".infergate-lock.sha256"
INSTALL_LOG_NAME = ".infergate-install.log"

# Lane names become directory names: keep them to a safe alphabet (no '/', no '..').
_LANE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class LaneError(InfergateError):
    """A lane could not be resolved, created, installed or locked. The message is one line."""


@dataclass(frozen=True)
class Lane:
    name: str
    lock: Path
    venv: Path

    @property
    def python(self) -> Path:
        return venv_python(self.venv)

    @property
    def stamp(self) -> Path:
        return self.venv / STAMP_NAME

    @property
    def install_log(self) -> Path:
        return self.venv / INSTALL_LOG_NAME


# --------------------------------------------------------------------------------------------
# Locating lanes


def venvs_root(override: Path | None = None) -> Path:
    if override is not None:
        return override
    env = os.environ.get(VENVS_ENV_VAR)
    return Path(env) if env else DEFAULT_VENVS_ROOT


def venv_python(venv: Path) -> Path:
    if os.name == "nt":  # pragma: no cover - the suite targets Linux, but keep the layout right
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def available_lanes(lanes_dir: Path) -> list[str]:
    """Lanes that can be set up: those with a lock file."""
    return sorted(p.stem for p in lanes_dir.glob("*.lock"))


def name_and_lock(spec: str, lanes_dir: Path) -> tuple[str, Path]:
    if spec.endswith(".lock") or os.sep in spec:
        lock = Path(spec)
        if lock.suffix != ".lock":  # a config or requirements file made a venv, then failed in pip
            raise LaneError(f"{spec} is not a lock file: a lane is a name (e.g. ipex) or a path to a .lock file, "
                            "as 'python3 -m infergate lanes lock' writes them")
        name = lock.stem
    else:
        name = spec
        lock = lanes_dir / f"{spec}.lock"
    if not _LANE_NAME.match(name):
        raise LaneError(f"invalid lane name {name!r}: use letters, digits, '_', '-', '.'")
    return name, lock


def venv_of(name: str, lock: Path, lanes_dir: Path, venvs: Path | None = None) -> Path:
    """The lane's venv: ``<venvs>/<name>`` for the lanes directory's own lock; a lock elsewhere (given
    by path) gets ``<name>-<8 hex of its resolved path>``, so that a file that happens to share a
    committed lane's name never installs into, or is taken for, that lane's venv."""
    own = (lanes_dir / f"{name}.lock").resolve()
    if lock.resolve() == own:
        return venvs_root(venvs) / name
    return venvs_root(venvs) / f"{name}-{hashlib.sha256(str(lock.resolve()).encode()).hexdigest()[:8]}"


def resolve_lane(
    spec: str, *, lanes_dir: Path | None = None, venvs: Path | None = None
) -> Lane:
    """A lane name (``ipex``) or a path to a ``.lock`` file (lane name = file stem; venv: ``venv_of``)."""
    lanes_dir = lanes_dir or DEFAULT_LANES_DIR
    name, lock = name_and_lock(spec, lanes_dir)
    if not lock.is_file():
        valid = ", ".join(available_lanes(lanes_dir)) or "none"
        raise LaneError(f"no lock file for lane '{name}' at {lock}; valid lanes: {valid}")
    try:  # every command reads it as text: a wrong file given by path is one line here, not a traceback
        text = lock.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise LaneError(f"lock file {lock} is not UTF-8 text (byte {exc.start}): is it a lock?") from None
    except OSError as exc:
        raise LaneError(f"cannot read lock file {lock}: {exc.strerror or exc}") from None
    check_requirements(lock, text)
    return Lane(name=name, lock=lock, venv=venv_of(name, lock, lanes_dir, venvs))


# A lock's line, its continuations joined and its comment cut: a pip option (-r, --index-url), or a
# distribution name followed by nothing, extras, a version specifier, '@ url', a marker or --hash.
_REQUIREMENT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?\s*(?:\[[^\]]*\]\s*)?"
                          r"(?:$|===?|~=|!=|<=?|>=?|@|;|--hash=)")
_CONTINUED = "\\"  # a line ending in a backslash goes on on the next one (a hashed pin's --hash lines)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each requirement as pip reads it: continuations joined, comments cut."""
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"(?:^|\s)#.*$", "", raw).strip()
        start, joined = pending or (number, "")
        joined = f"{joined} {line.removesuffix(_CONTINUED).strip()}".strip()
        pending = (start, joined) if line.endswith(_CONTINUED) else None
        if pending is None and joined:
            out.append((start, joined))
    if pending is not None and pending[1]:
        out.append(pending)
    return out


def check_requirements(lock: Path, text: str) -> None:
    """Before a venv is made for it: every line of the lock a requirement pip reads, and one at least.
    Any other file (a TOML config, say) made a venv, then failed in pip ("Invalid requirement")."""
    pins = 0
    for number, line in _logical_lines(text):
        if line.startswith("-"):
            continue
        if not _REQUIREMENT.match(line):
            raise LaneError(f"lock file {lock} line {number} is not a requirement (name==version): "
                            f"{line[:60]!r}; is it a lock?")
        pins += 1
    if not pins:
        raise LaneError(f"lock file {lock} pins no package: is it a lock?")


# --------------------------------------------------------------------------------------------
# Digest and stamp


def venv_python_version(venv: Path) -> str:
    """The venv's Python version, from ``pyvenv.cfg``; in the digest, so another Python reinstalls."""
    cfg = venv / "pyvenv.cfg"
    values: dict[str, str] = {}
    if cfg.is_file():
        for line in cfg.read_text(encoding="utf-8", errors="replace").splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip()
    # 'version_info' is what newer venv/virtualenv write; 'version' is what 3.11's venv writes.
    version = values.get("version_info") or values.get("version")
    if version:
        return version
    # No usable pyvenv.cfg: ask the interpreter itself rather than guess.
    return _query_python_version(venv_python(venv))


def _query_python_version(python: Path) -> str:
    try:
        out = subprocess.run(
            [str(python), "-c", "import sys; print(sys.version)"],
            capture_output=True, text=True, check=True, timeout=60,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise LaneError(f"cannot run the venv's python {python}: {exc}") from None
    return out.stdout.strip()


def lock_digest(lock: Path, python_version: str) -> str:
    """sha256 of the lock's bytes, of every file it includes (``-r``/``-c``, recursively: an edited
    included file left the venv "up to date"), plus the Python version: what a stamp must equal."""
    h = hashlib.sha256()
    first, *included = _lock_files(lock)
    h.update(first.read_bytes())
    for path in included:  # none: the digest a lock had before includes were hashed (no needless reinstall)
        h.update(b"\0include=" + path.read_bytes())
    h.update(b"\0python=")
    h.update(python_version.encode("utf-8"))
    return h.hexdigest()


_INCLUDE = re.compile(r"^\s*(?:-r|-c|--requirement|--constraint)(?:\s+|=)?([^\s#]+)")


def _lock_files(lock: Path, seen: tuple[Path, ...] = ()) -> list[Path]:
    """The lock and the files it includes, in order (a cycle of includes is read once)."""
    if lock.resolve() in seen:
        return []
    out = [lock]
    try:
        text = lock.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise LaneError(f"{lock} is not UTF-8 text") from None
    for line in text.splitlines():
        m = _INCLUDE.match(line)
        if m and "://" not in m.group(1):  # a URL is pip's to fetch: no file here to hash
            included = lock.parent / m.group(1)
            if not included.is_file():
                raise LaneError(f"{lock} includes {m.group(1)}, which is not a file beside it")
            out += _lock_files(included, (*seen, lock.resolve()))
    return out


def read_stamp(stamp: Path) -> str | None:
    try:
        return stamp.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def atomic_write_text(path: Path, text: str) -> None:
    from ..core.atomic import write_text

    write_text(path, text)


def count_pins(lock: Path) -> int:
    """Requirement lines in a lock (comments, blanks and pip options like ``-r`` excluded)."""
    count = 0
    for line in lock.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "-")):
            count += 1
    return count
