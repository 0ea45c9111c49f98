"""The upstream canary's lane: the newest final torch and transformers releases resolved from an
index, installed into a real venv by pip, locked and hashed on this machine. A ``file://``
directory of tiny wheels stands in for the index (pip runs with no other index and no network)."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import urllib.error
import zipfile
from pathlib import Path

import pytest

from infergate.commands import lanes_cli
from infergate.gate.lane_newest import in_text, newest
from infergate.gate.lane_pip import create_venv
from infergate.gate.lanes import ensure, lane_python
from infergate.gate.lock_hashes import pins

RELEASES = {"torch": ("2.13.0", "2.14.1", "2.15.0rc1"), "transformers": ("5.24.0", "5.25.0", "5.26.0.dev0")}


def _wheel(directory: Path, name: str, version: str) -> Path:
    """A pure-Python wheel pip installs: one module, METADATA, WHEEL and a RECORD with hashes."""
    info = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": f"__version__ = '{version}'\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    out = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(out, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return out


@pytest.fixture
def wheels(tmp_path) -> Path:
    directory = tmp_path / "wheels"
    directory.mkdir()
    for name, versions in RELEASES.items():
        for version in versions:
            _wheel(directory, name, version)
    return directory


def _offline(url: str) -> str:  # PyPI does not know these wheels' packages at these versions: 404
    raise urllib.error.HTTPError(url, 404, "Not Found", None, None)  # type: ignore[arg-type]


def test_newest_takes_the_highest_final_release_and_numbers_not_strings(tmp_path, wheels) -> None:
    index = f"file://{wheels}"
    assert newest("torch", [index]) == "2.14.1" and newest("transformers", [index]) == "5.25.0"
    _wheel(wheels, "torch", "2.14.10")  # 10 > 9 > 1: compared as numbers
    assert newest("torch", [index]) == "2.14.10"
    local = tmp_path / "simple" / "torch"  # a local PEP 503 index (one folder per project) is read too
    local.mkdir(parents=True)
    (local / "index.html").write_text('<a href="../../f/torch-2.16.0-py3-none-any.whl#sha256=' + "0" * 64 + '">x</a>')
    assert newest("torch", [index, f"file://{tmp_path / 'simple'}"]) == "2.16.0"
    answer = '{"files": [{"filename": "torch-2.17.0-cp311-cp311-manylinux_2_28_x86_64.whl"}, ' \
             '{"filename": "torch-2.18.0a0-cp311-cp311-manylinux_2_28_x86_64.whl"}]}'
    asked: list[str] = []
    assert newest("torch", ["https://pypi.org/simple"], fetch=lambda url: asked.append(url) or answer) == "2.17.0"
    assert asked == ["https://pypi.org/simple/torch/"]  # PEP 691's JSON, as lock_hashes asks PyPI
    text = in_text("-r common.in\ntorch==2.13.0\ntransformers==5.24.0\nruff==0.17.6\n", "current", "canary",
                   {"torch": "2.16.0", "transformers": "5.25.0"}, [index])
    assert text.splitlines()[2:] == ["-r common.in", "torch==2.16.0", "transformers==5.25.0", "ruff==0.17.6"]


def test_lanes_newest_installs_locks_and_hashes_a_lane_from_a_wheel_directory(tmp_path, wheels, monkeypatch,
                                                                                capsys) -> None:
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")  # this machine's pip.conf names other indexes
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setattr("infergate.gate.lane_newest._http_get", _offline)

    def bare_venv(venv: Path) -> None:  # a 3.11 venv brings setuptools, which no offline source can hash
        create_venv(venv)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "uninstall", "-q", "-y", "setuptools"], check=True,
                       capture_output=True)
    lanes_dir, venvs = tmp_path / "lanes", tmp_path / "venvs"
    lanes_dir.mkdir()
    (lanes_dir / "common.in").write_text("# nothing shared in this test\n")
    (lanes_dir / "current.in").write_text("-r common.in\ntorch==2.13.0\ntransformers==5.24.0\n")
    code = lanes_cli.main(["newest", "canary", "--index", f"file://{wheels}"], lanes_dir=lanes_dir, venvs=venvs,
                          venv_creator=bare_venv)
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "lane canary: torch 2.14.1, transformers 5.25.0 (newest final releases)" in out.out
    lock_text = (lanes_dir / "canary.lock").read_text()
    assert pins(lock_text) == [("torch", "2.14.1"), ("transformers", "5.25.0")]
    for name, version in pins(lock_text):  # each pin hashed with the very file pip installed
        digest = hashlib.sha256((wheels / f"{name}-{version}-py3-none-any.whl").read_bytes()).hexdigest()
        assert f"--hash=sha256:{digest}" in lock_text
    # The lock made at run time is what the gate's "to" lane is: stamped, so ensure does not reinstall.
    assert not ensure("canary", lanes_dir=lanes_dir, venvs=venvs).installed
    assert lane_python("canary", lanes_dir=lanes_dir, venvs=venvs).exists()
    # An index without a final release of a package is one line and exit 2, nothing written.
    for stray in wheels.glob("transformers-*"):
        stray.unlink()
    assert lanes_cli.main(["newest", "other", "--index", f"file://{wheels}"], lanes_dir=lanes_dir, venvs=venvs) == 2
    assert "no final release of transformers" in capsys.readouterr().err
    assert not (lanes_dir / "other.in").exists()


def _stub_lanes(tmp_path: Path, monkeypatch) -> tuple[Path, Path, list[str]]:
    """A lanes directory with a committed lane (ipex), an index answering PEP 691 JSON from memory,
    and installs that only record what was asked (no pip, no network)."""
    import json

    lanes_dir, venvs = tmp_path / "lanes", tmp_path / "venvs"
    lanes_dir.mkdir()
    (lanes_dir / "common.in").write_text("# shared\n")
    (lanes_dir / "current.in").write_text("-r common.in\ntorch==2.13.0\ntransformers==5.24.0\n")
    (lanes_dir / "ipex.in").write_text("-r common.in\ntorch==2.8.0\nintel-extension-for-pytorch==2.8.0\n")
    (lanes_dir / "ipex.lock").write_text("torch==2.8.0\nintel-extension-for-pytorch==2.8.0\n")
    asked: list[str] = []

    def fetch(url: str) -> str:
        asked.append(url)
        return json.dumps({"files": [{"filename": "torch-2.14.1-py3-none-any.whl", "hashes": {"sha256": "a" * 64}},
                                     {"filename": "transformers-5.25.0-py3-none-any.whl",
                                      "hashes": {"sha256": "b" * 64}}]})

    monkeypatch.setattr("infergate.gate.lane_newest._http_get", fetch)
    monkeypatch.setattr("infergate.gate.lock_hashes._http_get", fetch)
    monkeypatch.setattr("infergate.gate.lane_newest._pip_config_list", lambda: "")
    return lanes_dir, venvs, asked


def _fake_venv(venv: Path) -> None:
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    (venv / "pyvenv.cfg").write_text("version = 3.11.7\n")


def _newest(name: str, lanes_dir: Path, venvs: Path, *extra: str) -> int:
    return lanes_cli.main(["newest", name, "--index", "https://pypi.org/simple", *extra], lanes_dir=lanes_dir,
                          venvs=venvs, pip_runner=lambda cmd, log: 0, venv_creator=_fake_venv,
                          freeze_runner=lambda python: "torch==2.14.1\ntransformers==5.25.0\n")


@pytest.mark.parametrize("name, problem", [
    ("ipex", "lane 'ipex' exists"),  # a committed lane: its .in and lock would be rewritten
    ("bad name", "invalid lane name 'bad name'"),
    ("current", "is the --base lane"),
])
def test_newest_refuses_a_name_it_would_overwrite_or_cannot_use_before_anything_is_done(
        tmp_path, monkeypatch, capsys, name, problem) -> None:
    lanes_dir, venvs, asked = _stub_lanes(tmp_path, monkeypatch)
    before = {p.name: p.read_text() for p in lanes_dir.iterdir()}
    assert _newest(name, lanes_dir, venvs) == 2
    err = capsys.readouterr().err
    assert problem in err and len(err.strip().splitlines()) == 1
    assert {p.name: p.read_text() for p in lanes_dir.iterdir()} == before  # nothing written
    assert not venvs.exists() and asked == []  # nothing installed, no index asked


def test_newest_installs_into_a_fresh_venv_and_never_into_one_it_did_not_make(tmp_path, monkeypatch, capsys) -> None:
    lanes_dir, venvs, _ = _stub_lanes(tmp_path, monkeypatch)
    assert _newest("canary", lanes_dir, venvs) == 0, capsys.readouterr().err
    (venvs / "canary" / "left-over").write_text("a package the new .in does not name")
    assert _newest("canary", lanes_dir, venvs) == 0, capsys.readouterr().err  # its own lane: made again
    assert not (venvs / "canary" / "left-over").exists()
    _fake_venv(venvs / "other")  # a venv this command did not make
    assert _newest("other", lanes_dir, venvs) == 2
    assert "is not the venv of an earlier 'lanes newest other'" in capsys.readouterr().err
    assert not (lanes_dir / "other.in").exists()


@pytest.mark.parametrize("answer, problem", [
    (urllib.error.URLError("Temporary failure in name resolution"), "cannot read https://pypi.org/simple/torch/"),
    (urllib.error.HTTPError("u", 503, "Unavailable", None, None), "HTTP 503"),  # type: ignore[arg-type]
    ("<html><a href='torch-2.14.1-py3-none-any.whl'>x</a></html>", "as an index's JSON (PEP 691)"),
])
def test_an_index_that_cannot_be_read_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, answer, problem):
    lanes_dir, venvs, _ = _stub_lanes(tmp_path, monkeypatch)

    def fetch(url: str) -> str:
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr("infergate.gate.lane_newest._http_get", fetch)
    assert _newest("canary", lanes_dir, venvs) == 2
    err = capsys.readouterr().err
    assert problem in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_hashing_a_lane_without_a_lock_is_one_line_and_exit_2(tmp_path, capsys) -> None:
    lanes_dir = tmp_path / "lanes"
    lanes_dir.mkdir()
    assert lanes_cli.main(["hash", "nosuch"], lanes_dir=lanes_dir) == 2
    assert "no lock file for lane 'nosuch'" in capsys.readouterr().err


def test_a_lock_is_hashed_from_every_http_index_in_pips_configuration() -> None:
    """canary.yml sets PIP_EXTRA_INDEX_URL to PyTorch's CPU index: its +cpu wheel, the file installed
    and measured, must be in the lock beside PyPI's. That index answers PEP 503 HTML."""
    import json

    from infergate.gate.lock_hashes import hash_lock

    pypi, cpu = "a" * 64, "c" * 64
    asked: list[str] = []

    def fetch(url: str) -> str:
        asked.append(url)
        if url.startswith("https://pypi.org/simple/"):
            return json.dumps({"files": [{"filename": "torch-2.14.1-cp311-cp311-manylinux_2_28_x86_64.whl",
                                          "hashes": {"sha256": pypi}}]})
        return (f'<html><body><a href="/whl/cpu/torch-2.14.1%2Bcpu-cp311-cp311-linux_x86_64.whl#sha256={cpu}">x</a>'
                f'<a href="/whl/cpu/torch-2.13.0%2Bcpu-cp311-cp311-linux_x86_64.whl#sha256={"d" * 64}">y</a>'
                "</body></html>")

    text = hash_lock("torch==2.14.1\n", fetch=fetch,
                     config_list=":env:.extra-index-url='https://download.pytorch.org/whl/cpu'\n")
    assert asked == ["https://pypi.org/simple/torch/", "https://download.pytorch.org/whl/cpu/torch/"]
    assert f"--hash=sha256:{pypi}" in text and f"--hash=sha256:{cpu}" in text and "d" * 64 not in text


def test_newest_installs_its_lock_again_in_hash_mode_and_leaves_no_stamp_when_that_fails(
        tmp_path, monkeypatch, capsys) -> None:
    lanes_dir, venvs, _ = _stub_lanes(tmp_path, monkeypatch)
    commands: list[list[str]] = []

    def pip(cmd: list[str], log: Path) -> int:
        commands.append(cmd)
        return 1 if "--require-hashes" in cmd else 0

    code = lanes_cli.main(["newest", "canary", "--index", "https://pypi.org/simple", "--index",
                           "https://download.pytorch.org/whl/cpu"], lanes_dir=lanes_dir, venvs=venvs,
                          pip_runner=pip, venv_creator=_fake_venv,
                          freeze_runner=lambda python: "torch==2.14.1\ntransformers==5.25.0\n")
    assert code == 2 and "does not install with --require-hashes" in capsys.readouterr().err
    check = commands[-1]
    assert check[-2:] == ["-r", str(lanes_dir / "canary.lock")]
    assert "--extra-index-url" in check and "https://download.pytorch.org/whl/cpu" in check
    assert not (venvs / "canary" / ".infergate-lock.sha256").exists()  # ensure will not trust the venv
