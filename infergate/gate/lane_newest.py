"""A lane of the newest final torch and transformers releases on the given indexes, installed, locked and
hashed here: the upstream canary (``lanes newest``, docs/lanes.md). Stdlib only."""

from __future__ import annotations

import json
import re
import shutil
import urllib.error
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from .lane_pip import FreezeRunner, PipRunner, VenvCreator, create_venv, pip_freeze, run_pip
from .lane_venvs import (
    _LANE_NAME,
    DEFAULT_LANES_DIR,
    STAMP_NAME,
    LaneError,
    atomic_write_text,
    venv_python,
    venvs_root,
)
from .lanes import lock
from .lock_hashes import _HREF, Fetch, _http_get, _pip_config_list, file_version, hash_lock, normalize

PACKAGES = ("torch", "transformers")
PYPI = "https://pypi.org/simple"
# A final release: digits and dots, a platform label (+cpu) allowed. 2.15.0rc1, 2.15.0.dev2025 and
# 2.14.1.post1 are not what users get from "pip install -U torch" by default.
_FINAL = re.compile(r"^\d+(\.\d+)*(\+[A-Za-z0-9.]+)?$")
# The mark of a lane this command wrote (in its .in); only such a lane may be made again over.
MADE_HERE = "(written at run time by: python3 -m infergate lanes newest; not committed)"


@dataclass(frozen=True)
class Resolved:
    name: str
    pins: dict[str, str]  # package -> newest final version
    in_file: Path
    lock: Path


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("+", 1)[0].split("."))


def index_filenames(name: str, index: str, fetch: Fetch = _http_get) -> list[str]:
    """File names the index offers for ``name``."""
    if not index.startswith("file://"):
        url = f"{index.rstrip('/')}/{normalize(name)}/"
        # An index that is down, refuses, or answers something other than PEP 691's JSON is one line
        # naming it, never a traceback.
        try:
            data = json.loads(fetch(url))
            return [f["filename"] for f in data.get("files", [])]
        except urllib.error.HTTPError as exc:
            raise LaneError(f"cannot read {url}: HTTP {exc.code}") from None
        except OSError as exc:  # unreachable or timed out
            raise LaneError(f"cannot read {url}: {exc}") from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise LaneError(f"cannot read {url} as an index's JSON (PEP 691): {exc}") from None
    root = Path(unquote(urlparse(index).path))
    page = root / normalize(name) / "index.html"
    if page.is_file():
        return [unquote(href.rsplit("/", 1)[-1]) for href, _ in _HREF.findall(page.read_text(encoding="utf-8"))]
    if not root.is_dir():
        raise LaneError(f"index {index} is not a directory")
    return [p.name for p in root.iterdir()]


def newest(name: str, indexes: Sequence[str], fetch: Fetch = _http_get) -> str:
    """The newest final release of ``name`` on any of the indexes, without its platform label."""
    found = set()
    for index in indexes:
        for filename in index_filenames(name, index, fetch):
            parsed = file_version(filename)
            if parsed and parsed[0] == normalize(name) and _FINAL.match(parsed[1]):
                found.add(parsed[1].split("+", 1)[0])
    if not found:
        raise LaneError(f"no final release of {name} on {', '.join(indexes)}")
    return max(found, key=_release)


def in_text(base_in: str, base: str, name: str, pins: dict[str, str], indexes: Sequence[str]) -> str:
    """The base lane's ``.in`` with the packages' pins replaced (every other line kept)."""
    out = [f"# Lane '{name}': lanes/{base}.in with the newest final releases on {' '.join(indexes)}",
           f"# {MADE_HERE}"]
    replaced = set()
    for line in base_in.splitlines():
        pkg = normalize(re.split(r"[\s=<>!~;\[]", line.strip(), maxsplit=1)[0]) if line.strip() else ""
        if pkg in pins:
            out.append(f"{pkg}=={pins[pkg]}")
            replaced.add(pkg)
        else:
            out.append(line)
    out += [f"{pkg}=={version}" for pkg, version in pins.items() if pkg not in replaced]
    return "\n".join(out) + "\n"


def _wheel_directory(index: str) -> Path | None:
    """The directory of a ``file://`` index that is a plain directory of wheels (pip's find-links)."""
    if not index.startswith("file://"):
        return None
    path = Path(unquote(urlparse(index).path))
    is_index = path.is_dir() and any((p / "index.html").is_file() for p in path.iterdir())
    return None if is_index else path


def pip_index_args(indexes: Sequence[str]) -> list[str]:
    """What pip needs to install from the indexes the lane was resolved against (PyPI is its default)."""
    args: list[str] = []
    for index in indexes:
        directory = _wheel_directory(index)
        if directory is not None:
            args += ["--find-links", str(directory)]
        elif index.rstrip("/") != PYPI:
            args += ["--extra-index-url", index]
    return args


def _config_lines(indexes: Sequence[str]) -> str:
    """The indexes as ``pip config list`` lines, so the lock is hashed from them too."""
    lines = []
    for index in indexes:
        directory = _wheel_directory(index)
        if directory is not None:
            lines.append(f"global.find-links='{directory}'")
        else:  # a file:// index, or an http(s) one (lock_hashes.remote_indexes asks it)
            lines.append(f"global.extra-index-url='{index}'")
    return "\n".join(lines)


def _check_name(name: str, base: str, lanes_dir: Path, venv: Path) -> bool:
    """Refuse a name that is not a lane name, is the base, or is a lane this command did not make (a
    committed lane's .in and lock would be rewritten into another lane); also a venv of that name
    this command did not make. True when the name is this command's own earlier lane."""
    if name.endswith(".lock") or not _LANE_NAME.match(name):
        raise LaneError(f"invalid lane name {name!r}: use letters, digits, '_', '-', '.' (not ending in .lock)")
    if name == base:
        raise LaneError(f"lane '{name}' is the --base lane: name the newest lane otherwise")
    in_file, lock_file = lanes_dir / f"{name}.in", lanes_dir / f"{name}.lock"
    again = in_file.is_file() and MADE_HERE in in_file.read_text(encoding="utf-8", errors="replace")
    if not again and (in_file.exists() or lock_file.exists()):
        raise LaneError(f"lane '{name}' exists ({lock_file if lock_file.exists() else in_file}) and was not made "
                        "by 'lanes newest': it would be overwritten; choose another name")
    if not again and venv.exists():
        raise LaneError(f"{venv} exists and is not the venv of an earlier 'lanes newest {name}': the lane "
                        "must be installed into a fresh venv; remove it or choose another name")
    return again


def make_lane(name: str, indexes: Sequence[str], *, base: str = "current", lanes_dir: Path | None = None,
              venvs: Path | None = None, fetch: Fetch | None = None, pip_runner: PipRunner = run_pip,
              venv_creator: VenvCreator = create_venv, freeze_runner: FreezeRunner = pip_freeze,
              hasher: Callable[[str], str] | None = None) -> Resolved:
    """Resolve, write ``NAME.in``, install it into a fresh venv, lock and hash it. Every refusal
    comes before anything is resolved, written or installed."""
    lanes_dir = lanes_dir or DEFAULT_LANES_DIR
    fetch = fetch or _http_get
    venv = venvs_root(venvs) / name
    again = _check_name(name, base, lanes_dir, venv)
    base_in = lanes_dir / f"{base}.in"
    if not base_in.is_file():
        raise LaneError(f"base lane '{base}' has no {base_in}")
    pins = {pkg: newest(pkg, indexes, fetch) for pkg in PACKAGES}
    in_file = lanes_dir / f"{name}.in"
    atomic_write_text(in_file, in_text(base_in.read_text(encoding="utf-8"), base, name, pins, indexes))
    if again and venv.exists():
        # The venv of an earlier run of this command: packages it had that the new .in does not
        # name would stay installed and be locked and hashed as if resolved now.
        shutil.rmtree(venv)
    venv_creator(venv)
    log = venv / "install.log"
    cmd = [str(venv_python(venv)), "-m", "pip", "install", "--disable-pip-version-check",
           *pip_index_args(indexes), "-r", str(in_file)]
    if pip_runner(cmd, log) != 0:
        raise LaneError(f"cannot install lane '{name}' from {in_file}; full log: {log}")
    if hasher is None:
        config = _pip_config_list() + "\n" + _config_lines(indexes)

        def hasher(text: str) -> str:
            return hash_lock(text, fetch=fetch, config_list=config)

    path = lock(name, lanes_dir=lanes_dir, venvs=venvs, freeze_runner=freeze_runner, hasher=hasher)
    # The lock's hashes must admit the very files installed: install it again in hash mode, as
    # 'ensure' will, or the stamp lock() left would vouch for a venv the lock cannot reproduce.
    check = [str(venv_python(venv)), "-m", "pip", "install", "--disable-pip-version-check", "--require-hashes",
             *pip_index_args(indexes), "-r", str(path)]
    check_log = venv / "install-require-hashes.log"
    if pip_runner(check, check_log) != 0:
        (venv / STAMP_NAME).unlink(missing_ok=True)
        raise LaneError(f"lane '{name}': {path} does not install with --require-hashes from the indexes it was "
                        f"hashed from; full log: {check_log}")
    return Resolved(name, pins, in_file, path)
