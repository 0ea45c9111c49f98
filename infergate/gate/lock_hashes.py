"""Hashes for a lane's lock: the sha256 of every file each pin's indexes offer, all platforms, for
``pip install --require-hashes``; a pin no source knows is an error (docs/lanes.md). Stdlib only."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from urllib.parse import unquote, urlparse

PYPI_SIMPLE = "https://pypi.org/simple"
_HREF = re.compile(r'href="([^"#]+)#sha256=([0-9a-f]{64})"')
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")

Fetch = Callable[[str], str]


class HashError(Exception):
    pass


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _public(version: str) -> str:
    return version.split("+", 1)[0]


def file_version(filename: str) -> tuple[str, str] | None:
    """(normalized name, version) of a wheel or sdist file name, or None."""
    if filename.endswith(".whl"):
        parts = filename[:-4].split("-")
        return (normalize(parts[0]), parts[1]) if len(parts) >= 5 else None
    for ext in (".tar.gz", ".zip", ".tar.bz2"):
        if filename.endswith(ext):
            name, sep, version = filename[: -len(ext)].rpartition("-")
            return (normalize(name), version) if sep else None
    return None


def _matches(filename: str, name: str, version: str) -> bool:
    parsed = file_version(filename)
    if parsed is None or parsed[0] != normalize(name):
        return False
    # A pin without a local label (torch==2.13.0) is satisfied by 2.13.0+cpu too: list both. One with a
    # label (2.13.0+cpu) only by that build: PyPI's 2.13.0 (CUDA) would be a hash pip never checks against.
    return parsed[1] == version if "+" in version else _public(parsed[1]) == _public(version)


def _http_get(url: str) -> str:
    request = urllib.request.Request(url, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - the configured index
        return response.read().decode("utf-8")


def pypi_hashes(name: str, version: str, fetch: Fetch = _http_get, base: str = PYPI_SIMPLE) -> set[str]:
    """The matching files' hashes on an http(s) index: PEP 691's JSON where it answers with it (PyPI),
    else PEP 503's page with ``#sha256=`` links (download.pytorch.org answers HTML whatever is asked)."""
    url = f"{base.rstrip('/')}/{normalize(name)}/"
    try:
        text = fetch(url)
        if not text.lstrip().startswith("{"):
            return {digest for href, digest in _HREF.findall(text)
                    if _matches(unquote(href.rsplit("/", 1)[-1]), name, version)}
        data = json.loads(text)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:  # the index does not know the package (a local-only wheel): other sources may
            return set()
        raise HashError(f"cannot read {url}: HTTP {exc.code}: a lock hashed without it could lack the "
                        "files other machines install") from None
    except (OSError, ValueError) as exc:  # unreachable, timed out, or not the index's JSON
        raise HashError(f"cannot read {url}: {exc}: a lock hashed without it could lack the files other "
                        "machines install") from None
    return {f["hashes"]["sha256"] for f in data.get("files", [])
            if "sha256" in f.get("hashes", {}) and _matches(f["filename"], name, version)}


def local_index_hashes(name: str, version: str, index_dir: Path) -> set[str]:
    page = index_dir / normalize(name) / "index.html"
    if not page.is_file():
        return set()
    return {digest for href, digest in _HREF.findall(page.read_text(encoding="utf-8", errors="replace"))
            if _matches(unquote(href.rsplit("/", 1)[-1]), name, version)}


def find_links_hashes(name: str, version: str, directory: Path, local: str | None = None) -> set[str]:
    """Hashes of the matching files in a find-links directory (only ``+<local>`` builds if given)."""
    out = set()
    if directory.is_dir():
        for path in directory.iterdir():
            parsed = file_version(path.name)
            if local is not None and not (parsed and parsed[1].endswith(f"+{local}")):
                continue
            if _matches(path.name, name, version):
                out.add(hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def pip_sources(config_list: str) -> tuple[list[Path], list[Path]]:
    """Local index directories and find-links directories from ``pip config list`` output."""
    indexes, links = [], []
    for line in config_list.splitlines():
        key, _, value = line.partition("=")
        values = value.strip().strip("'\"").split()
        if key.endswith(("index-url", "extra-index-url")):
            indexes += [Path(unquote(urlparse(v).path)) for v in values if v.startswith("file://")]
        elif key.endswith("find-links"):
            links += [Path(v[7:] if v.startswith("file://") else v) for v in values if "://" not in v or v.startswith("file://")]
    return list(dict.fromkeys(indexes)), list(dict.fromkeys(links))


def remote_indexes(config_list: str) -> list[str]:
    """The http(s) indexes in ``pip config list`` output other than PyPI, which is always asked: an
    index pip installs from (canary.yml's PIP_EXTRA_INDEX_URL, PyTorch's CPU wheels) must be hashed
    too, or the file installed and measured is not in the lock."""
    out = []
    for line in config_list.splitlines():
        key, _, value = line.partition("=")
        if key.endswith(("index-url", "extra-index-url")):
            out += [v.rstrip("/") for v in value.strip().strip("'\"").split()
                    if v.startswith(("http://", "https://")) and v.rstrip("/") != PYPI_SIMPLE]
    return list(dict.fromkeys(out))


def _pip_config_list() -> str:
    proc = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    return proc.stdout if proc.returncode == 0 else ""


def hashes_for(name: str, version: str, indexes: Sequence[Path], links: Sequence[Path],
               fetch: Fetch = _http_get, remotes: Sequence[str] = ()) -> list[str]:
    """Every file's hash, except that a CPU build (``+cpu``) on this machine's disk, when there is one,
    is the only one allowed: in hash mode pip would prefer PyPI's CUDA wheel to it (docs/lanes.md)."""
    cpu = set()
    for directory in links:
        cpu |= find_links_hashes(name, version, directory, local="cpu")
    if cpu:
        return sorted(cpu)
    found = pypi_hashes(name, version, fetch)
    for remote in remotes:
        found |= pypi_hashes(name, version, fetch, base=remote)
    for index in indexes:
        found |= local_index_hashes(name, version, index)
    for directory in links:
        found |= find_links_hashes(name, version, directory)
    return sorted(found)


def pins(lock_text: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for line in lock_text.splitlines() if (m := _PIN.match(line.strip()))]


_COMMENT = re.compile(r"(^|\s)#.*$")
_HASH_OPTION = re.compile(r"--hash[= ]\S+")


def with_hashes(lock_text: str, hashes: Mapping[tuple[str, str], Iterable[str]]) -> str:
    """The lock with each pin followed by its ``--hash`` lines (existing hash lines replaced). A pin's
    environment marker stays on its line; its comment goes on a line of its own above it, since pip
    would join a comment before a ``\\`` with the hashes after it and drop them all."""
    out = []
    for raw in lock_text.splitlines():
        line = raw.strip()
        if line.startswith("--hash="):
            continue
        m = _PIN.match(line)
        if not m:
            out.append(raw)
            continue
        rest = line[m.end():]
        comment = _COMMENT.search(rest)
        if comment:
            out.append(comment.group(0).strip())
            rest = rest[:comment.start()]
        marker = _HASH_OPTION.sub("", rest).strip().rstrip("\\").strip()
        digests = sorted(hashes[(m.group(1), m.group(2))])
        out.append(f"{m.group(1)}=={m.group(2)}{' ' + marker if marker else ''} \\")
        out += [f"    --hash=sha256:{d}" + (" \\" if i < len(digests) - 1 else "") for i, d in enumerate(digests)]
    return "\n".join(out) + "\n"


def lock_options(lock_text: str) -> str:
    """The lock's own ``--index-url``/``--extra-index-url``/``--find-links`` lines as ``pip config list``
    would give them: pip installs from those, so their files are hashed too."""
    keys = {"-i": "index-url", "--index-url": "index-url", "--extra-index-url": "extra-index-url",
            "-f": "find-links", "--find-links": "find-links"}
    out = []
    for raw in lock_text.splitlines():
        line = _COMMENT.sub("", raw).strip()
        option, _, value = line.partition("=") if re.match(r"-[-\w]+=", line) else line.partition(" ")
        if option in keys and value.strip():
            out.append(f"lock.{keys[option]}='{value.strip()}'")
    return "\n".join(out)


def not_pins(lock_text: str) -> list[str]:
    """Requirement lines that are not ``name==version``: a ``pkg @ file:///...whl`` or a range has no
    version to hash files for, and would install unchecked beside hashed pins."""
    out = []
    for raw in lock_text.splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", "-")) and not _PIN.match(line):
            out.append(line)
    return out


def hash_lock(lock_text: str, fetch: Fetch = _http_get, config_list: str | None = None) -> str:
    odd = not_pins(lock_text)
    if odd:
        raise HashError(f"{len(odd)} line(s) of the lock are not pins (name==version), so no hash can cover "
                        f"them: {'; '.join(odd[:3])}")
    config = (_pip_config_list() if config_list is None else config_list) + "\n" + lock_options(lock_text)
    indexes, links = pip_sources(config)
    remotes = remote_indexes(config)
    found, missing = {}, []
    for name, version in pins(lock_text):
        digests = hashes_for(name, version, indexes, links, fetch, remotes)
        if not digests:
            missing.append(f"{name}=={version}")
        found[(name, version)] = digests
    if missing:
        raise HashError(f"no index offers a file for {', '.join(missing)}: cannot hash the lock")
    return with_hashes(lock_text, found)
