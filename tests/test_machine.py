from __future__ import annotations

import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

from infergate.building import machine

SAFE_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*__[a-z0-9]+__\d+c\d+t$")


def fake_cpuinfo(tmp_path: Path, model: str, flags: str, cores: list[tuple[int, int]]) -> Path:
    """A /proc/cpuinfo with one block per logical CPU; cores[i] = (physical id, core id)."""
    blocks = [
        f"processor\t: {i}\nmodel name\t: {model}\nphysical id\t: {pkg}\n"
        f"core id\t\t: {core}\nflags\t\t: {flags}\n"
        for i, (pkg, core) in enumerate(cores)
    ]
    path = tmp_path / "cpuinfo"
    path.write_text("\n".join(blocks))
    return path


def fake_sysfs(tmp_path: Path, cores: list[tuple[int, int]]) -> Path:
    root = tmp_path / "cpu"
    for i, (pkg, core) in enumerate(cores):
        topo = root / f"cpu{i}" / "topology"
        topo.mkdir(parents=True)
        (topo / "physical_package_id").write_text(f"{pkg}\n")
        (topo / "core_id").write_text(f"{core}\n")
    return root


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("AMD EPYC 9B14", "amd-epyc-9b14"),
        ("AMD EPYC 7B13 64-Core Processor", "amd-epyc-7b13"),
        ("Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz", "intel-xeon-platinum-8481c"),
        ("Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz", "intel-core-i7-8700"),
        ("AMD Ryzen 7 5700G with Radeon Graphics", "amd-ryzen-7-5700g"),
        ("AMD EPYC", "amd-epyc"),
        ("", "unknown-cpu"),
        ("(R)(TM) @", "unknown-cpu"),
    ],
)
def test_normalise_cpu_model(raw: str, expected: str) -> None:
    assert machine.normalise_cpu_model(raw) == expected


def test_machine_class_from_sysfs_topology(tmp_path: Path) -> None:
    # 2 sockets x 2 cores x 2 SMT threads; core ids repeat across sockets.
    cores = [(0, 0), (0, 0), (0, 1), (0, 1), (1, 0), (1, 0), (1, 1), (1, 1)]
    cpuinfo = fake_cpuinfo(tmp_path, "AMD EPYC 9B14", "fpu avx avx2 fma", cores)
    sysfs = fake_sysfs(tmp_path, cores)
    assert machine.machine_class(cpuinfo, sysfs, cpus=range(8)) == "amd-epyc-9b14__avx2__4c8t"
    # An affinity mask of two SMT siblings is one core, two threads.
    assert machine.machine_class(cpuinfo, sysfs, cpus=[0, 1]) == "amd-epyc-9b14__avx2__1c2t"


def test_machine_class_falls_back_to_cpuinfo_topology(tmp_path: Path) -> None:
    cores = [(0, 0), (0, 1), (0, 0), (0, 1)]
    flags = "avx avx2 avx512bw avx512vl avx512dq amx_bf16"
    cpuinfo = fake_cpuinfo(tmp_path, "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz", flags, cores)
    got = machine.machine_class(cpuinfo, tmp_path / "no-sysfs", cpus=range(4))
    assert got == "intel-xeon-platinum-8481c__amx__2c4t"


def test_physical_cores_without_any_topology_counts_logical(tmp_path: Path) -> None:
    assert machine.physical_cores([0, 1, 2], tmp_path / "none", tmp_path / "none") == 3


def test_machine_class_of_this_machine_is_a_safe_slug() -> None:
    got = machine.machine_class()
    assert SAFE_SLUG.match(got), got
    assert got.endswith(f"c{len(machine.logical_cpus())}t")


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        (
            {"torch": "2.8.0+cpu", "ipex": "2.8.0+cpu", "transformers": "4.57.6"},
            "torch-2.8.0__ipex-2.8.0__tf-4.57.6",
        ),
        ({"torch": "2.13.0+cpu", "ipex": None, "transformers": "5.24.0"}, "torch-2.13.0__noipex__tf-5.24.0"),
        (
            {"torch": "2.9.0.dev20250101", "transformers": "4.57.6"},
            "torch-2.9.0.dev20250101__noipex__tf-4.57.6",
        ),
        ({}, "notorch__noipex__notf"),
        ({"torch": "2/8 0", "transformers": "x"}, "torch-2-8-0__noipex__tf-x"),
    ],
)
def test_lane_id(versions: dict[str, str | None], expected: str) -> None:
    assert machine.lane_id(versions) == expected


def test_lane_versions_reads_metadata() -> None:
    table = {"torch": "2.8.0", "intel-extension-for-pytorch": "2.8.0", "transformers": "4.57.6"}
    assert machine.lane_versions(table.get) == {"torch": "2.8.0", "ipex": "2.8.0", "transformers": "4.57.6"}
    real = machine.lane_versions()
    assert set(real) == {"torch", "ipex", "transformers"}
    assert re.fullmatch(r"[A-Za-z0-9._-]+", machine.lane_id(real))


@pytest.mark.parametrize(
    ("ld_preload", "expected"),
    [
        ("", "glibc"),
        ("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "jemalloc"),
        ("/opt/libfoo.so:/usr/lib/libtcmalloc_minimal.so.4", "tcmalloc"),
        ("/usr/lib/libiomp5.so /usr/lib/libtcmalloc.so", "tcmalloc"),
        ("/usr/lib/libiomp5.so", "glibc"),
    ],
)
def test_allocator(ld_preload: str, expected: str) -> None:
    assert machine.allocator(ld_preload) == expected


def test_environment_captures_threading_and_allocator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(get_num_threads=lambda: 3))
    env = {
        "OMP_NUM_THREADS": "2",
        "KMP_AFFINITY": "granularity=fine",
        "MKL_NUM_THREADS": "2",
        "DNNL_VERBOSE": "0",
        "ONEDNN_DEFAULT_FPMATH_MODE": "BF16",
        "LD_PRELOAD": "/usr/lib/libjemalloc.so.2",
        "HOME": "/root",
        "PATH": "/usr/bin",
    }
    got = machine.environment(env)
    assert got["torch_threads"] == 3
    assert got["allocator"] == "jemalloc"
    assert got["python"] == ".".join(map(str, sys.version_info[:3]))
    assert got["env"] == {k: v for k, v in env.items() if k not in ("HOME", "PATH")}


def test_environment_tolerates_missing_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    got = machine.environment({})
    assert got["torch_threads"] is None and got["allocator"] == "glibc" and got["env"] == {}


def test_modules_do_not_import_torch() -> None:
    code = (
        "import sys, infergate.measuring.stats, infergate.building.machine, infergate.measuring.baselines; "
        "sys.exit('torch' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env={"PYTHONPATH": str(root)}, timeout=60)
    assert done.returncode == 0


@pytest.mark.parametrize(("environ", "cpus", "threads"), [
    ({}, 2, None),  # not under xdist: torch's own choice
    ({"PYTEST_XDIST_WORKER": "gw0", "PYTEST_XDIST_WORKER_COUNT": "2"}, 2, 1),
    ({"PYTEST_XDIST_WORKER": "gw1", "PYTEST_XDIST_WORKER_COUNT": "2"}, 8, 4),
    ({"PYTEST_XDIST_WORKER": "gw3", "PYTEST_XDIST_WORKER_COUNT": "4"}, 2, 1),  # never 0
    ({"PYTEST_XDIST_WORKER": "gw0", "PYTEST_XDIST_WORKER_COUNT": "2", "OMP_NUM_THREADS": "2"}, 2, None),
])
def test_xdist_workers_share_the_cpus_unless_the_user_chose(environ, cpus, threads) -> None:
    from infergate.pytest_plugin.xdist_threads import worker_threads

    assert worker_threads(environ, cpus) == threads


def test_this_xdist_worker_took_its_share_of_the_cpus() -> None:
    import os

    from infergate.measuring.load import usable_cpus
    from infergate.pytest_plugin import xdist_threads

    expected = xdist_threads.worker_threads(os.environ, usable_cpus())
    if expected is None:
        pytest.skip("not one of several xdist workers (or OMP_NUM_THREADS is set): torch keeps its own threads")
    assert xdist_threads.applied == expected  # read back from torch at configure (a later pin may change it)
