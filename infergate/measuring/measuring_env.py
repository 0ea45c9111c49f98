"""Process-level settings a perf worker starts with (allocator, OpenMP waiting, ASLR, huge pages);
``SUITE_SETTINGS`` are the suite's."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import UsageError

# Where Debian/Ubuntu put the allocators (packages libjemalloc2, libtcmalloc-minimal4).
LIB_DIRS = (Path("/usr/lib/x86_64-linux-gnu"), Path("/usr/lib64"), Path("/usr/lib"))
JEMALLOC = "libjemalloc.so.2"
TCMALLOC = "libtcmalloc_minimal.so.4"


@dataclass(frozen=True)
class Setting:
    """One candidate: environment variables to set, an optional library to preload, a command prefix."""

    name: str
    why: str
    env: Mapping[str, str] = field(default_factory=dict)
    preload: str | None = None  # a library file name searched in LIB_DIRS
    argv_prefix: tuple[str, ...] = ()


SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("none", "the inherited environment, nothing added"),
    # IPEX's tuning guide: KMP_BLOCKTIME=1 with Intel OpenMP; torch's GNU OpenMP reads OMP_WAIT_POLICY.
    Setting("passive-omp", "OpenMP threads sleep at once after a parallel region instead of spinning",
            env={"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}),
    Setting("omp-threads", "OpenMP's pool sized to the torch threads the suite measures with (1)",
            env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}),
    Setting("jemalloc", "jemalloc instead of glibc malloc (IPEX tuning guide)", preload=JEMALLOC,
            env={"MALLOC_CONF": "oversize_threshold:1,background_thread:false,metadata_thp:auto"}),
    Setting("tcmalloc", "tcmalloc (minimal) instead of glibc malloc (IPEX tuning guide)", preload=TCMALLOC),
    Setting("thp", "torch's CPU allocator asks for transparent huge pages", env={"THP_MEM_ALLOC_ENABLE": "1"}),
    Setting("no-aslr", "address-space randomisation off for the worker (setarch -R)",
            argv_prefix=("setarch", os.uname().machine, "-R")),
)}


@dataclass(frozen=True)
class MeasuringEnv:
    """A resolved combination of settings: what to add to a worker's environment and argv."""

    names: tuple[str, ...]
    env: Mapping[str, str]
    argv_prefix: tuple[str, ...]

    def worker_env(self) -> dict[str, str | None]:
        """What a worker's environment changes: the settings' variables set, and every other watched
        variable and LD_PRELOAD unset (None), so a worker runs as asked whatever the shell that started
        the run exports (an OMP_NUM_THREADS or a preloaded allocator would be measured, and recorded,
        as this setting's). ``child_environ`` applies it."""
        dropped: dict[str, str | None] = {k: None for k in (*WATCHED_ENV, "LD_PRELOAD") if k not in self.env}
        return {**dropped, **self.env}

    def describe(self) -> dict[str, object]:
        """Recorded with every result and baseline session: what the worker ran with."""
        return {"settings": list(self.names), "env": dict(sorted(self.env.items())),
                "argv_prefix": list(self.argv_prefix)}


def find_library(name: str, dirs: Sequence[Path] = LIB_DIRS) -> Path | None:
    for d in dirs:
        if (d / name).is_file():
            return d / name
    return None


def resolve(names: Sequence[str], dirs: Sequence[Path] = LIB_DIRS) -> MeasuringEnv:
    """The settings ``names`` combined; a missing library or tool is one UsageError naming it."""
    env: dict[str, str] = {}
    prefix: list[str] = []
    preloads: list[str] = []
    for name in names:
        setting = SETTINGS.get(name)
        if setting is None:
            raise UsageError(f"unknown measuring setting {name!r}; known: {', '.join(SETTINGS)}")
        env.update(setting.env)
        if setting.preload:
            lib = find_library(setting.preload, dirs)
            if lib is None:
                raise UsageError(f"measuring setting {name!r} needs {setting.preload}, not found in "
                                 f"{', '.join(map(str, dirs))} (Debian: apt-get install "
                                 f"{'libjemalloc2' if 'jemalloc' in setting.preload else 'libtcmalloc-minimal4'})")
            preloads.append(str(lib))
        if setting.argv_prefix:
            if shutil.which(setting.argv_prefix[0]) is None:
                raise UsageError(f"measuring setting {name!r} needs {setting.argv_prefix[0]!r} on PATH")
            prefix += setting.argv_prefix
    if len(preloads) > 1:
        raise UsageError(f"measuring settings {', '.join(names)} preload two allocators; choose one")
    if preloads:
        env["LD_PRELOAD"] = preloads[0]
    return MeasuringEnv(tuple(names), env, tuple(prefix))


# What the suite's perf workers run with (see the module doc and docs/calibration.md, "Measuring
# environment"): chosen from envprobe's A/A spreads, not from the tuning guide's say-so.
SUITE_SETTINGS: tuple[str, ...] = ("none",)


def suite_env() -> MeasuringEnv:
    return resolve(SUITE_SETTINGS)


ADDR_NO_RANDOMIZE = 0x0040000  # linux/personality.h
# Every variable a setting sets: a worker must have each exactly as its settings ask, none inherited.
WATCHED_ENV = tuple(dict.fromkeys(k for s in SETTINGS.values() for k in s.env))


def child_environ(changes: Mapping[str, str | None], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (this process's environment) with ``changes`` applied: a None value unsets its variable."""
    env = dict(os.environ if base is None else base)
    for k, v in changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def observed(maps: Path = Path("/proc/self/maps"), personality: Path = Path("/proc/self/personality"),
             environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """What this process really runs with, read from the inside: the proof that a setting applied."""
    environ = os.environ if environ is None else environ
    try:
        mapped = maps.read_text()
    except OSError:
        mapped = ""
    allocator = "jemalloc" if JEMALLOC in mapped else "tcmalloc" if "libtcmalloc" in mapped else "glibc"
    try:
        aslr: bool | None = not (int(personality.read_text().strip(), 16) & ADDR_NO_RANDOMIZE)
    except (OSError, ValueError):
        aslr = None
    return {"allocator": allocator, "aslr": aslr, "env": {k: environ[k] for k in WATCHED_ENV if k in environ}}




def check_applied(menv: MeasuringEnv, seen: Mapping[str, object]) -> str | None:
    """None when what the worker saw matches what was asked; else why not. What was not asked must not
    be there either: an allocator preloaded or a watched variable set by the parent's environment
    would be measured as if it were ``menv``'s (as "none", say) and recorded so."""
    env = seen.get("env") or {}
    for k in WATCHED_ENV:
        if isinstance(env, Mapping) and env.get(k) != menv.env.get(k):
            asked = f"{k}={menv.env[k]}" if k in menv.env else f"{k} unset"
            return (f"asked for {asked} (settings: {', '.join(menv.names) or 'none'}), the worker has "
                    f"{env.get(k)!r}: unset it in the environment perf runs from, or choose the setting that sets it")
    wanted_alloc = ("jemalloc" if JEMALLOC in menv.env.get("LD_PRELOAD", "") else
                    "tcmalloc" if "tcmalloc" in menv.env.get("LD_PRELOAD", "") else "glibc")
    if seen.get("allocator") != wanted_alloc:
        return f"asked for {wanted_alloc}, the worker runs {seen.get('allocator')} (an inherited LD_PRELOAD?)"
    if menv.argv_prefix and seen.get("aslr") is not False:
        return "asked for ASLR off, the worker has it on"
    return None


DEBIAN_PACKAGES = {JEMALLOC: "libjemalloc2", TCMALLOC: "libtcmalloc-minimal4"}


def missing_packages(names: Sequence[str] = SUITE_SETTINGS, dirs: Sequence[Path] = LIB_DIRS) -> list[str]:
    """Debian packages the settings ``names`` need and this machine lacks."""
    out = []
    for name in names:
        setting = SETTINGS.get(name)
        if setting and setting.preload and find_library(setting.preload, dirs) is None:
            out.append(DEBIAN_PACKAGES[setting.preload])
    return out
