"""Evidence of a busy machine sampled while measuring (``/proc/stat``): runnable threads, stolen time."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PROC_STAT = Path("/proc/stat")
SAMPLE_EVERY_S = 0.1
# Judged per run (staging.run_noise): more than this many other runnable threads on average means
# something competed for the CPUs while measuring; more than this share of stolen CPU time means
# the hypervisor did.
MAX_OTHERS_RUNNABLE = 0.5
MAX_STEAL_SHARE = 0.02


@dataclass(frozen=True)
class InRunNoise:
    """What the sampler saw over one measurement. ``samples == 0``: nothing could be read."""

    samples: int = 0
    others_runnable: float = 0.0  # mean other runnable threads
    others_runnable_max: int = 0
    steal_share: float = 0.0  # stolen / all CPU time over the measurement

    def reasons(self) -> tuple[str, ...]:
        out = []
        if self.samples and self.others_runnable > MAX_OTHERS_RUNNABLE:
            out.append(f"{self.others_runnable:.2f} other runnable thread(s) on average while measuring "
                       f"(max {self.others_runnable_max}), over {MAX_OTHERS_RUNNABLE:g}")
        if self.samples and self.steal_share > MAX_STEAL_SHARE:
            out.append(f"{self.steal_share:.1%} of CPU time stolen by the hypervisor while measuring, "
                       f"over {MAX_STEAL_SHARE:.0%}")
        return tuple(out)


def running_threads(tasks: Path) -> int:
    """Runnable threads (state R) under a ``/proc/PID/task`` directory; 0 when it cannot be read."""
    count = 0
    try:
        entries = list(tasks.iterdir())
    except OSError:
        return 0
    for task in entries:
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) S ...": the state follows the last ')', as comm may contain spaces and ')'.
        if stat[stat.rfind(")") + 2: stat.rfind(")") + 3] == "R":
            count += 1
    return count


def own_running(tasks: Path = Path("/proc/self/task")) -> int:
    """This process's runnable threads (state R), the sampling thread included."""
    return max(running_threads(tasks), 1)


def read_proc_stat(path: Path = PROC_STAT) -> tuple[int, int, int] | None:
    """(steal jiffies, all jiffies, procs_running), or None where /proc/stat is not Linux's."""
    try:
        text = path.read_text()
    except OSError:
        return None
    steal = total = running = None
    for line in text.splitlines():
        if line.startswith("cpu "):
            fields = [int(x) for x in line.split()[1:]]
            # user nice system idle iowait irq softirq steal [guest guest_nice: already in user]
            total = sum(fields[:8])
            steal = fields[7] if len(fields) > 7 else 0
        elif line.startswith("procs_running "):
            running = int(line.split()[1])
    if steal is None or total is None or running is None:
        return None
    return steal, total, running


class NoiseSampler:
    """Call ``sample()`` between rounds (it reads at most every ``every_s``), then ``result()``.
    ``partners``: task directories of processes that are part of the measurement (a lockstep pair's
    workers, whose threads may still be running right after their call), not counted as others."""

    def __init__(self, path: Path = PROC_STAT, every_s: float = SAMPLE_EVERY_S,
                 tasks: Path = Path("/proc/self/task"), partners: Sequence[Path] = ()) -> None:
        self.path = path
        self.tasks = tasks
        self.partners = tuple(partners)
        self.every_s = every_s
        self.first = read_proc_stat(path)
        self.last = self.first
        self.running: list[int] = []
        self._next = 0.0

    def due(self) -> bool:
        """Whether ``sample()`` would read now (a caller may first let its partners go quiet)."""
        return self.first is not None and time.perf_counter() >= self._next

    def sample(self) -> None:
        if not self.due():
            return
        self._next = time.perf_counter() + self.every_s
        reading = read_proc_stat(self.path)
        if reading is not None:
            self.last = reading
            mine = own_running(self.tasks) if self.path == PROC_STAT else 1  # a fake /proc/stat: only the reader
            mine += sum(running_threads(p) for p in self.partners)
            self.running.append(max(0, reading[2] - mine))

    def result(self) -> InRunNoise:
        if self.first is None or self.last is None or not self.running:
            return InRunNoise()
        steal = self.last[0] - self.first[0]
        total = self.last[1] - self.first[1]
        return InRunNoise(
            samples=len(self.running),
            others_runnable=sum(self.running) / len(self.running),
            others_runnable_max=max(self.running),
            steal_share=steal / total if total > 0 else 0.0,
        )
