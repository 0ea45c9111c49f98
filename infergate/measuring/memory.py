"""Resident memory of a window of work in this process: a sampling thread plus ``ru_maxrss`` for the peak."""

from __future__ import annotations

import os
import resource
import threading
from dataclasses import dataclass
from types import TracebackType

MIB = 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE")
DEFAULT_INTERVAL_S = 0.005


def resident_bytes() -> int:
    """This process's resident set now (Linux: /proc/self/statm, second field, in pages)."""
    with open("/proc/self/statm", "rb") as fh:
        return int(fh.read().split()[1]) * _PAGE


def _high_water_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


@dataclass(frozen=True)
class MemoryUse:
    """Resident bytes at the window's start and end, and the highest seen within it."""

    start: int
    peak: int
    end: int

    @property
    def peak_rise_mib(self) -> float:
        """How far above its start the window drove the resident set."""
        return (self.peak - self.start) / MIB

    @property
    def held_mib(self) -> float:
        """What the window left resident (the built variant's weights, graphs, kernels)."""
        return (self.end - self.start) / MIB


class PeakResident:
    """``with PeakResident() as window: ...`` then ``window.use``: a MemoryUse of the block."""

    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._peak = 0
        self._start = 0
        self._high_water_start = 0
        self._thread: threading.Thread | None = None
        self.use: MemoryUse | None = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._peak = max(self._peak, resident_bytes())

    def __enter__(self) -> PeakResident:
        self._start = self._peak = resident_bytes()
        self._high_water_start = _high_water_bytes()
        self._thread = threading.Thread(target=self._run, name="infergate-rss", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        end = resident_bytes()
        peak = max(self._peak, end)
        high_water = _high_water_bytes()
        if high_water > self._high_water_start:  # the window set a new process peak: that is exact
            peak = max(peak, high_water)
        self.use = MemoryUse(self._start, peak, end)
