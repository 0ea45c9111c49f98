"""The machine class and lane a measurement belongs to, and its environment. No torch at module level."""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from .capabilities import IPEX_DIST, dist_version, isa_level, read_cpu_flags, read_cpu_model

CPUINFO = Path("/proc/cpuinfo")
SYSFS_CPU = Path("/sys/devices/system/cpu")

# Marketing noise in /proc/cpuinfo model names that does not distinguish one CPU from another.
# The clock ("@ 2.70GHz") goes too: the same part is reported with and without it.
_MODEL_NOISE = re.compile(
    r"\(r\)|\(tm\)|®|™|@.*$|\bcpu\b|\bprocessor\b|\b\d+-core\b|\bwith\b.*\bgraphics\b.*$",
    re.IGNORECASE,
)
_UNSAFE = re.compile(r"[^a-z0-9]+")
_MAX_MODEL_SLUG = 48  # keeps paths short; no real model name comes close after normalising

# Environment variables that change how inference threads and allocates. OMP_* rather than only
# OMP_NUM_THREADS because OMP_PROC_BIND / OMP_PLACES matter as much on a shared machine.
_ENV_PREFIXES = ("OMP_", "KMP_", "MKL_", "DNNL_", "ONEDNN_")
_ENV_NAMES = ("LD_PRELOAD",)


# --------------------------------------------------------------------------------------------
# Machine class
# --------------------------------------------------------------------------------------------


def slug(text: str) -> str:
    """Lower-case, runs of anything but [a-z0-9] become one '-', no leading/trailing '-'."""
    return _UNSAFE.sub("-", text.lower()).strip("-")


def normalise_cpu_model(model: str) -> str:
    """'Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz' -> 'intel-xeon-platinum-8481c'."""
    cleaned = slug(_MODEL_NOISE.sub(" ", model))[:_MAX_MODEL_SLUG].rstrip("-")
    return cleaned or "unknown-cpu"


def logical_cpus() -> list[int]:
    """CPU ids this process may run on: a container or taskset limit is what the run really had."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _sysfs_core_key(cpu: int, sysfs: Path) -> tuple[int, int] | None:
    topo = sysfs / f"cpu{cpu}" / "topology"
    package, core = _read_int(topo / "physical_package_id"), _read_int(topo / "core_id")
    if package is None or core is None:
        return None
    return package, core


def _cpuinfo_core_keys(cpuinfo: Path) -> dict[int, tuple[int, int]]:
    """processor id -> (physical id, core id) from /proc/cpuinfo, for systems without sysfs topology."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return {}
    keys: dict[int, tuple[int, int]] = {}
    for block in text.split("\n\n"):
        fields = dict(
            (k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in block.splitlines())
        )
        try:
            keys[int(fields["processor"])] = (int(fields["physical id"]), int(fields["core id"]))
        except (KeyError, ValueError):
            continue
    return keys


def physical_cores(cpus: Iterable[int], sysfs: Path = SYSFS_CPU, cpuinfo: Path = CPUINFO) -> int:
    """Distinct physical cores among ``cpus`` (from (package, core) pairs; every CPU if unreadable)."""
    cpus = list(cpus)
    keys = [_sysfs_core_key(c, sysfs) for c in cpus]
    if None in keys:
        table = _cpuinfo_core_keys(cpuinfo)
        keys = [table.get(c) for c in cpus]
    if None in keys or not keys:
        return max(len(cpus), 1)
    return len(set(keys))


def machine_class(
    cpuinfo: Path = CPUINFO,
    sysfs: Path = SYSFS_CPU,
    cpus: Iterable[int] | None = None,
) -> str:
    """A slug such as 'amd-epyc-9b14__avx2__2c2t': CPU model, ISA level, the cores and threads this process may use."""
    cpu_ids = logical_cpus() if cpus is None else sorted(cpus)
    model = normalise_cpu_model(read_cpu_model(cpuinfo))
    isa = slug(isa_level(read_cpu_flags(cpuinfo)))
    cores = physical_cores(cpu_ids, sysfs=sysfs, cpuinfo=cpuinfo)
    return f"{model}__{isa}__{cores}c{len(cpu_ids)}t"


# What machine_class and lane_id name: '<cpu model>__<isa level>__<cores>c<threads>t' and
# 'torch-<v>|notorch__ipex-<v>|noipex__tf-<v>|notf'. Names read from a file are checked against these
# before either names a directory or file (results, baselines, the history).
MACHINE_CLASS_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*__(?:amx|avx512|avx2|avx|baseline)__[0-9]+c[0-9]+t")
LANE_NAME = re.compile(r"(?:torch-[A-Za-z0-9.-]+|notorch)__(?:ipex-[A-Za-z0-9.-]+|noipex)__(?:tf-[A-Za-z0-9.-]+|notf)")


# --------------------------------------------------------------------------------------------
# Lane
# --------------------------------------------------------------------------------------------


def lane_versions(version_of: Callable[[str], str | None] = dist_version) -> dict[str, str | None]:
    """Installed versions from package metadata (never imports the packages themselves)."""
    return {
        "torch": version_of("torch"),
        "ipex": version_of(IPEX_DIST),
        "transformers": version_of("transformers"),
    }


def _version_slug(version: str) -> str:
    # The local label ('+cpu') is a build tag of the same release; dropping it keeps lane ids
    # stable across wheel indexes. Anything else unsafe in a file name becomes '-'.
    release = version.split("+", 1)[0]
    return re.sub(r"[^A-Za-z0-9.]+", "-", release).strip("-.") or "unknown"


def lane_id(versions: Mapping[str, str | None]) -> str:
    """'torch-2.8.0__ipex-2.8.0__tf-4.57.6'; an absent package is 'noipex' / 'notorch' / 'notf'."""
    parts = []
    for key, short in (("torch", "torch"), ("ipex", "ipex"), ("transformers", "tf")):
        version = versions.get(key)
        parts.append(f"{short}-{_version_slug(version)}" if version else f"no{short}")
    return "__".join(parts)


# --------------------------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------------------------


def allocator(ld_preload: str) -> str:
    """Which malloc the process runs with: jemalloc/tcmalloc change inference times by 5-20%."""
    for entry in re.split(r"[:\s]+", ld_preload):
        name = os.path.basename(entry).lower()
        if "jemalloc" in name:
            return "jemalloc"
        if "tcmalloc" in name:
            return "tcmalloc"
    return "glibc"


def torch_threads() -> int | None:
    """torch's intra-op thread count, or None where torch is not installed (imported lazily)."""
    try:
        import torch
    except ImportError:
        return None
    return int(torch.get_num_threads())


def thread_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in sorted(env.items()) if k in _ENV_NAMES or k.startswith(_ENV_PREFIXES)}


def environment(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What besides the machine and the lane can move a speedup; recorded with each baseline."""
    env = os.environ if env is None else env
    return {
        "python": platform.python_version(),
        "allocator": allocator(env.get("LD_PRELOAD", "")),
        "torch_threads": torch_threads(),
        "env": thread_env(env),
    }


# The CPU flags a speedup depends on (ISA and matrix extensions); the full list is ~100 names that
# would repeat in every history record.
_SPEED_FLAGS = ("avx", "amx", "fma", "f16c", "sse4")


def provenance(lock_stamp: Path, repo: Path) -> dict[str, Any]:
    """What a perf run was measured with: commit, lock digest (None when unknown), versions, CPU flags."""
    import subprocess
    from importlib import metadata

    try:
        done = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=30)
        commit = done.stdout.strip() if done.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        commit = None
    try:
        lock = lock_stamp.read_text().strip() or None
    except OSError:
        lock = None
    packages = {d.metadata["Name"].lower(): d.version for d in metadata.distributions() if d.metadata["Name"]}
    flags = sorted(f for f in read_cpu_flags() if f.startswith(_SPEED_FLAGS))
    return {"commit": commit, "lock": lock, "packages": dict(sorted(packages.items())), "cpu_flags": flags}
