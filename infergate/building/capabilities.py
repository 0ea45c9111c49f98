"""What this machine and lane can run, decided before any import that might fail or kill the process
(IPEX refuses a torch of another major.minor when imported, so the pairing is read from package
metadata first, and from the running torch before IPEX is imported)."""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import platform
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

IPEX_DIST = "intel-extension-for-pytorch"

# IPEX's BF16 weight prepack (oneDNN) refuses to run without one of these ISA sets; we measured it
# refusing on an AVX2-only EPYC. Keys are /proc/cpuinfo flag names.
BF16_PREPACK_ISA_SETS: tuple[frozenset[str], ...] = (
    frozenset({"avx512bw", "avx512vl", "avx512dq"}),
    frozenset({"avx_ne_convert"}),
)


def dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def major_minor(version: str) -> tuple[int, int]:
    parts = version.split("+")[0].split(".")
    return int(parts[0]), int(parts[1])


def read_cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def read_cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown-cpu"


def isa_level(flags: frozenset[str]) -> str:
    """The highest x86 ISA level that matters to oneDNN/IPEX kernels, as a short name."""
    if "amx_bf16" in flags:
        return "AMX"
    if {"avx512bw", "avx512vl", "avx512dq"} <= flags:
        return "AVX512"
    if "avx2" in flags:
        return "AVX2"
    if "avx" in flags:
        return "AVX"
    return "baseline"


def ipex_pairing_problem(torch_version: str | None, ipex_version: str | None) -> str | None:
    """Why IPEX cannot be used in this lane, or None when it can. Pure: reads no environment."""
    if ipex_version is None:
        tv = torch_version or "none"
        return f"IPEX is not installed in this lane (torch {tv}; IPEX ended at 2.8 and pairs only with torch 2.8)"
    if torch_version is None:
        return f"IPEX {ipex_version} is installed but torch is not"
    if major_minor(torch_version) != major_minor(ipex_version):
        return (
            f"IPEX {ipex_version} needs torch {'.'.join(map(str, major_minor(ipex_version)))}.*, "
            f"this lane has torch {torch_version} (IPEX's import refuses that pairing)"
        )
    return None


def bf16_prepack_problem(flags: frozenset[str]) -> str | None:
    if any(s <= flags for s in BF16_PREPACK_ISA_SETS):
        return None
    return (
        "IPEX BF16 prepack needs avx512bw/vl/dq or avx_ne_convert; "
        f"this CPU has {isa_level(flags)}"
    )


# Instructions that compute in BF16 natively. Without them BF16 autocast and IPEX's kernels convert
# to FP32 and back around every op (measured ~6x slower than FP32 on the AVX2 runners): a speed
# nobody deploys, so BF16 is timed only where one of these exists.
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def bf16_perf_problem(flags: frozenset[str]) -> str | None:
    if any(f in flags for f in NATIVE_BF16_FLAGS):
        return None
    return (f"BF16 speed is measured only on CPUs with native BF16 arithmetic ({' or '.join(NATIVE_BF16_FLAGS)}); "
            f"this CPU has {isa_level(flags)}, where BF16 runs emulated (~6x slower than FP32 as measured on "
            "amd-epyc__avx2__2c2t)")


@dataclass(frozen=True)
class Capabilities:
    cpu_model: str
    cpu_flags: frozenset[str]
    torch_version: str | None
    ipex_version: str | None
    transformers_version: str | None
    torch_cpu_capability: str

    @property
    def isa(self) -> str:
        return isa_level(self.cpu_flags)

    @property
    def ipex_problem(self) -> str | None:
        return ipex_pairing_problem(self.torch_version, self.ipex_version)

    def ipex_bf16_problem(self) -> str | None:
        return self.ipex_problem or bf16_prepack_problem(self.cpu_flags)

    def avx2_problem(self) -> str | None:
        if "avx2" in self.cpu_flags or platform.machine() not in ("x86_64", "AMD64"):
            return None
        return f"this suite's baselines and kernels assume AVX2; this CPU ({self.cpu_model}) has {self.isa}"


@functools.cache
def probe() -> Capabilities:
    """Read the machine once per process. Imports torch (never IPEX)."""
    import torch

    return Capabilities(
        cpu_model=read_cpu_model(),
        cpu_flags=read_cpu_flags(),
        torch_version=dist_version("torch"),
        ipex_version=dist_version(IPEX_DIST),
        transformers_version=dist_version("transformers"),
        torch_cpu_capability=torch.backends.cpu.get_cpu_capability(),
    )


def import_ipex():
    """Import IPEX only after both pairing checks; a failing import is one BuildError naming the versions.

    IPEX 2.8's guard (``intel_extension_for_pytorch/__init__.py``) compares the *running*
    ``torch.__version__`` with its own major.minor, prints "ERROR! Intel® Extension for PyTorch*
    needs to work with PyTorch 2.8.*, ..." and calls ``os.exit(127)``, a function that does not exist:
    the import raises AttributeError ("module 'os' has no attribute 'exit'"), it does not exit. The
    metadata check keeps IPEX from being imported at all on a mismatch; the runtime check catches a
    torch whose reported version differs from its package metadata (IPEX compares the former)."""
    import torch

    from ..core.errors import BuildError

    caps = probe()
    problem = caps.ipex_problem
    if problem:
        raise BuildError(problem)
    assert caps.ipex_version is not None  # ipex_problem says so otherwise
    running = str(torch.__version__)
    if major_minor(running) != major_minor(caps.ipex_version):
        wanted = ".".join(map(str, major_minor(caps.ipex_version)))
        raise BuildError(f"IPEX {caps.ipex_version} needs torch {wanted}.*, but the torch running in this process "
                         f"reports {running} (its package metadata: {caps.torch_version}); IPEX's import "
                         "compares the running version and refuses it")
    try:
        import intel_extension_for_pytorch as ipex
    except Exception as exc:  # whatever its guard or its libraries raise: the case's failure, one line
        raise BuildError(f"importing IPEX {caps.ipex_version} with torch {running} failed: "
                         f"{type(exc).__name__}: {exc}") from None
    return ipex


@contextlib.contextmanager
def ipex_jit_fusion(enabled: bool) -> Iterator[None]:
    """Set IPEX's TorchScript fusion passes on or off (process-wide once IPEX is imported); no-op without IPEX."""
    ipex = sys.modules.get("intel_extension_for_pytorch")
    if ipex is None:
        yield
        return
    core = ipex._C
    before = bool(core.get_jit_opt())
    (core.enable_jit_opt if enabled else core.disable_jit_opt)()
    try:
        yield
    finally:
        (core.enable_jit_opt if before else core.disable_jit_opt)()


def ipex_autocast_problem(caps: Capabilities) -> str | None:
    """Why BF16 autocast cannot run in this process once IPEX is imported (no BF16 ISA), or None."""
    if "intel_extension_for_pytorch" not in sys.modules:
        return None
    isa = bf16_prepack_problem(caps.cpu_flags)
    if isa is None:
        return None
    return (
        "IPEX was imported in this process and its BF16 autocast kernels need avx512bw/vl/dq or "
        f"avx_ne_convert (this CPU has {caps.isa}); run BF16 cases apart from jit_ipex cases "
        "(-k 'not jit_ipex')"
    )
