"""A BF16 claims row's plain-torch and IPEX workers timed in lockstep (claims.json version 3): both alive,
built one at a time, then rounds in ``lockstep_order`` with ``jit`` and ``jit_ipex`` back to back, so a
ratio across the workers compares calls taken at the same moments. Why, the short OpenMP spin
(``PAIR_ENV``) and the wait for a quiet worker (``QUIET_MAX_S``): docs/claims.md. The timing loop takes
plain callables (``Timer``), so tests drive it with simulated workers.
"""

from __future__ import annotations

import gc
import json
import os
import random
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..building.variants import JIT, JIT_IPEX
from ..matrix.dtypes import DType
from ..matrix.inputs import Shape
from ..matrix.spec import ModelSpec
from .claims_measure import ClaimMeasurement, build_claim
from .inrun_noise import InRunNoise, NoiseSampler
from .lockstep_order import lockstep_order
from .measuring_env import MeasuringEnv, observed
from .sampling import MIN_WARMUP_ROUNDS, ModelMeasurement, SamplingPlan

# A variant of the IPEX worker -> the plain worker's variant it is called back to back with: the
# fusion benefit's two calls share the machine's moment.
PARTNERS = {JIT_IPEX: JIT}
PAIR_ENV = {"GOMP_SPINCOUNT": "30000"}  # added to the suite's measuring environment (module doc)
PAIR_SETTING = "short-omp-spin"
QUIET_MAX_S = 0.02
CALL_TIMEOUT_S = 300.0
SCHEDULE = "lockstep"  # ModelMeasurement.schedule of a paired worker's timing

Timer = Callable[[str], int]  # one timed call of a variant in one worker: its ns


def paired_env() -> MeasuringEnv:
    """The pair's measuring environment: perf/'s settings plus ``PAIR_ENV``."""
    from .measuring_env import suite_env

    suite = suite_env()
    names = tuple(n for n in suite.names if n != "none")
    return MeasuringEnv((*names, PAIR_SETTING), {**suite.env, **PAIR_ENV}, suite.argv_prefix)


def quiet(pid: int, limit_s: float = QUIET_MAX_S, proc: Path = Path("/proc")) -> float:
    """Wait until no thread of ``pid`` is running (its OpenMP threads have stopped spinning), at
    most ``limit_s``; the seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit_s:
        try:
            stats = [(task / "stat").read_text() for task in (proc / str(pid) / "task").iterdir()]
        except OSError:  # gone, or a thread ended while read: look again
            continue
        if not any(st[st.rfind(")") + 2: st.rfind(")") + 3] == "R" for st in stats):
            break
    return time.perf_counter() - t0


# --------------------------------------------------------------------------------------------
# The rounds (plain callables: real workers or simulated ones)
# --------------------------------------------------------------------------------------------


def pair_units(timed: Mapping[str, Sequence[str]]) -> tuple[list[str], dict[str, list[str]], dict[str, dict[str, str]]]:
    """(units, unit -> the groups that call it, unit -> group -> variant) for ``lockstep_order``: a
    variant and its partner (``PARTNERS``) timed by another group share a unit named after the
    partner, whichever group comes first in ``timed``; its groups are in ``timed``'s order."""
    def partner_group(group: str, v: str) -> bool:
        return v in PARTNERS and any(PARTNERS[v] in vs for g, vs in timed.items() if g != group)

    paired = {PARTNERS[v] for g, vs in timed.items() for v in vs if partner_group(g, v)}
    on: dict[str, dict[str, str]] = {}
    for group, variants in timed.items():
        for v in variants:
            if partner_group(group, v):
                unit = PARTNERS[v]
            elif v in paired and any(partner_group(g, p) and PARTNERS[p] == v
                                     for g, vs in timed.items() if g != group for p in vs):
                unit = v
            else:
                unit = v if v not in on and v not in paired else f"{group}:{v}"
            on.setdefault(unit, {})[group] = v
    return list(on), {u: list(by_group) for u, by_group in on.items()}, on


def lockstep_times(timers: Mapping[str, Timer], timed: Mapping[str, Sequence[str]], rounds: int,
                   rng: random.Random, replicate: int, between: Callable[[str | None], bool] | None = None,
                   switch: Callable[[str], object] | None = None) -> dict[str, dict[str, list[int]]]:
    """group -> variant -> ns per round: ``rounds`` lockstep rounds. Outside every timed call,
    ``between`` (given the group called last) runs between rounds and ``switch`` (the same) before a
    call in another group; ``between`` returns whether it waited for that group to go quiet, so the
    next switch need not wait again."""
    units, sides, on = pair_units(timed)
    times: dict[str, dict[str, list[int]]] = {g: {v: [] for v in vs} for g, vs in timed.items()}
    last, previous, quiet_already = 0, None, False
    for r, unit, order in lockstep_order(units, sides, rounds, rng, offset=replicate):
        if r != last and between is not None:
            quiet_already = between(previous)
        last = r
        for group in order:
            if switch is not None and previous is not None and group != previous and not quiet_already:
                switch(previous)
            quiet_already = False
            previous = group
            times[group][on[unit][group]].append(int(timers[group](on[unit][group])))
    return times


@dataclass
class PairTiming:
    """What the lockstep rounds of one replicate took (both workers' times and how they were taken)."""

    times_ns: dict[str, dict[str, list[int]]]
    warmup_median_ns: dict[str, dict[str, float]]
    rounds: int
    warmup_s: float
    measure_s: float
    noise: InRunNoise = field(default_factory=InRunNoise)


def time_pair(timers: Mapping[str, Timer], timed: Mapping[str, Sequence[str]], plan: SamplingPlan,
              replicate: int, settle: Callable[[], None] = lambda: None,
              switch: Callable[[str], object] | None = None, partners: Sequence[int] = ()) -> PairTiming:
    """Warm-up rounds (at least ``plan.warmup_s`` and MIN_WARMUP_ROUNDS), ``settle``, then lockstep
    rounds for ``plan.budget_s`` per worker (the pair's budget is the two workers' together, as when
    each was timed alone), at least ``plan.min_rounds``. ``partners``: the workers' pids, whose threads
    the noise sampler does not count as others."""
    rng = random.Random(plan.seed * 7919 + replicate)
    warm: dict[str, dict[str, list[int]]] = {g: {v: [] for v in vs} for g, vs in timed.items()}
    t0 = time.perf_counter()
    done = 0
    while time.perf_counter() - t0 < plan.warmup_s or done < MIN_WARMUP_ROUNDS:
        for g, by_variant in lockstep_times(timers, timed, 1, rng, replicate + done, switch=switch).items():
            for v, ns in by_variant.items():
                warm[g][v] += ns
        done += 1
    warmup_s = time.perf_counter() - t0
    medians = {g: {v: float(statistics.median(ns)) for v, ns in by_v.items()} for g, by_v in warm.items()}
    per_round = sum(x for by_v in medians.values() for x in by_v.values())
    budget = plan.budget_s * sum(1 for vs in timed.values() if vs)
    rounds = max(plan.min_rounds, min(plan.max_rounds, int(budget * 1e9 // max(per_round, 1.0))))
    settle()
    sampler = NoiseSampler(partners=[Path(f"/proc/{pid}/task") for pid in partners])

    def between(called_last: str | None) -> bool:
        # Sample a quiet pair: right after its call a worker's threads run on for a few ms (the
        # switches' waits in claims.log, ~2 ms median), and a thread that stops between the sampler's
        # reads of /proc/stat and of the workers' threads would count as another process's: on a
        # quiet machine that read 0.2-0.7 "other runnable threads" and flagged rows (docs/claims.md).
        if not sampler.due():
            return False
        if switch is None or called_last is None:
            sampler.sample()
            return False
        switch(called_last)
        sampler.sample()
        return True

    t0 = time.perf_counter()
    times = lockstep_times(timers, timed, rounds, rng, replicate, between=between, switch=switch)
    return PairTiming(times, medians, rounds, warmup_s, time.perf_counter() - t0, sampler.result())


# --------------------------------------------------------------------------------------------
# The live workers
# --------------------------------------------------------------------------------------------


def _send(stream: Any, message: Mapping[str, Any]) -> None:
    stream.write(json.dumps(message) + "\n")
    stream.flush()


def _observed() -> dict[str, object]:
    """``measuring_env.observed`` and the pair's own setting, as this process sees them."""
    seen = observed()
    env = seen.get("env")
    seen["env"] = {**(env if isinstance(env, dict) else {}), **{k: os.environ[k] for k in PAIR_ENV if k in os.environ}}
    return seen


def serve_pair_worker(spec: ModelSpec, shape: Shape, dtype: DType, plan: SamplingPlan,
                      variants: tuple[str, ...], address: str) -> ClaimMeasurement:
    """In a worker (``isolation.run_in_worker``): build the row's ``variants`` as ``measure_claim``
    does, then time one call per request from the pair's driver on ``address``, until it says done.
    The timing it returns holds the worker's facts; the driver fills in the times."""
    from .load import read_load

    start = time.perf_counter()
    out, calls, inputs, threads = build_claim(spec, shape, dtype, plan, variants)
    timing = ModelMeasurement(f"{spec.id}-{shape}", dtype.value, list(calls), {n: [] for n in calls},
                              threads=threads, schedule=SCHEDULE, seed=plan.seed, load_start=read_load(),
                              observed_env=_observed())
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(address)
        stream = conn.makefile("rw", encoding="utf-8")
        _send(stream, {"built": list(calls), "pid": os.getpid(), "observed_env": timing.observed_env})
        for line in stream:
            op = json.loads(line)
            if op["op"] == "time":
                call = calls[op["variant"]]
                t0 = time.perf_counter_ns()
                call(inputs)
                _send(stream, {"ns": time.perf_counter_ns() - t0})
            elif op["op"] == "settle":  # after the warm-up: no collection inside a timed call from here
                gc.collect()
                gc.disable()
                _send(stream, {"ipex_loaded": "intel_extension_for_pytorch" in sys.modules})
            else:  # "done"
                break
    gc.enable()
    timing.load_end = read_load()
    out.timing = timing if calls else None
    out.wall_s = time.perf_counter() - start
    out.ipex_imported = "intel_extension_for_pytorch" in sys.modules
    return out


class LiveWorker:
    """One of the pair: ``serve_pair_worker`` run by ``isolation.run_in_worker`` in a thread (so a
    crash, a hang and the stderr log are handled as for every claims worker), driven over a socket.
    Started, it builds; the constructor returns when the worker has built and connected."""

    def __init__(self, group: str, args: tuple, directory: Path, *, timeout: float, menv: MeasuringEnv,
                 log: Path | None) -> None:
        from .isolation import run_in_worker

        self.group, self.timeout = group, timeout
        self.outcome: dict[str, Any] = {}
        address = str(directory / f"{group}.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(address)
        listener.listen(1)
        listener.settimeout(0.5)

        def run() -> None:
            try:
                self.outcome["result"] = run_in_worker(serve_pair_worker, *args, address, timeout=timeout,
                                                       env=menv.worker_env(), argv_prefix=menv.argv_prefix,
                                                       stderr_log=log)
            except BaseException as exc:  # noqa: BLE001 - raised again in the driver
                self.outcome["error"] = exc

        self.thread = threading.Thread(target=run, name=f"claims-{group}-worker", daemon=True)
        self.thread.start()
        try:
            while True:
                try:
                    conn, _ = listener.accept()
                    break
                except TimeoutError:
                    if not self.thread.is_alive():  # it ended before it connected: its build failed
                        self._raise(f"the {group} worker ended before it was timed")
        finally:
            listener.close()
        conn.settimeout(CALL_TIMEOUT_S if timeout > CALL_TIMEOUT_S else timeout)
        self.conn, self.stream = conn, conn.makefile("rw", encoding="utf-8")
        try:
            hello = self._receive()
        except BaseException:
            self.close()  # the worker reads the end of its connection and returns
            raise
        self.built: list[str] = list(hello["built"])
        self.pid: int = int(hello["pid"])
        self.observed_env: dict[str, object] = dict(hello["observed_env"])

    def _raise(self, what: str) -> None:
        from ..core.errors import CaseCrashed

        self.thread.join(timeout=60)
        error = self.outcome.get("error")
        if error is not None:
            raise error
        raise CaseCrashed(what)

    def _receive(self) -> dict[str, Any]:
        from ..core.errors import CaseTimeout

        try:
            line = self.stream.readline()
        except TimeoutError:
            raise CaseTimeout(f"the {self.group} worker gave no answer within {self.conn.gettimeout():.0f} s") from None
        if not line:
            self._raise(f"the {self.group} worker closed its connection")
        return json.loads(line)

    def request(self, op: str, **kw: Any) -> dict[str, Any]:
        _send(self.stream, {"op": op, **kw})
        return self._receive()

    def time(self, variant: str) -> int:
        return int(self.request("time", variant=variant)["ns"])

    def finish(self) -> ClaimMeasurement:
        _send(self.stream, {"op": "done"})
        self.close()
        self.thread.join(timeout=self.timeout)
        if "result" not in self.outcome:
            self._raise(f"the {self.group} worker returned nothing")
        return self.outcome["result"]

    def close(self) -> None:
        for closing in (self.stream, self.conn):
            try:
                closing.close()
            except OSError:
                pass

    def kill(self) -> None:
        """After a failure elsewhere: end this worker (its process group: it and any compile workers)."""
        self.close()
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.thread.join(timeout=60)


def measure_pair(spec: ModelSpec, shape: Shape, dtype: DType, plan: SamplingPlan,
                 groups: Mapping[str, tuple[str, ...]], replicate: int, *, timeout: float,
                 menv: MeasuringEnv | None = None, log: Path | None = None) -> list[tuple[str, ClaimMeasurement]]:
    """One replicate of a two-worker row: each group's worker started and built in turn (the order
    alternating by replicate), then both timed in lockstep. (group, its row part) in build order."""
    from ..core.errors import CaseError
    from .measuring_env import check_applied

    menv = menv or paired_env()
    order = list(groups) if replicate % 2 == 0 else list(groups)[::-1]
    live: dict[str, LiveWorker] = {}
    with tempfile.TemporaryDirectory(prefix="infergate-pair-") as tmp:
        try:
            for g in order:  # one at a time: the other waits idle, so build costs are one worker's
                live[g] = LiveWorker(g, (spec, shape, dtype, plan, groups[g]), Path(tmp), timeout=timeout,
                                     menv=menv, log=log)
                problem = check_applied(menv, live[g].observed_env)
                if problem:
                    raise CaseError(f"the {g} worker does not run with the pair's measuring environment: {problem}")
            timed = {g: live[g].built for g in groups}

            def settle() -> None:
                for g in groups:
                    if timed[g]:
                        live[g].request("settle")

            waits: list[float] = []
            pair = time_pair({g: live[g].time for g in groups}, timed, plan, replicate, settle,
                             switch=lambda g: waits.append(quiet(live[g].pid)),
                             partners=[live[g].pid for g in groups])
            parts = [(g, live[g].finish()) for g in order]
            _log_waits(log, waits)
        except BaseException:
            for worker in live.values():
                worker.kill()
            raise
    for g, m in parts:
        if m.timing is not None:
            _fill(m.timing, pair, g)
    return parts


def _log_waits(log: Path | None, waits: Sequence[float]) -> None:
    """How long the driver waited for the worker called last to stop running, before each switch of worker
    and each noise sample."""
    if log is None or not waits:
        return
    capped = sum(w >= QUIET_MAX_S for w in waits)
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(f"lockstep: {len(waits)} waits for the worker called last to go quiet (before calling the other "
                 f"worker or sampling), median {statistics.median(waits) * 1e3:.2f} ms, "
                 f"max {max(waits) * 1e3:.1f} ms; {capped} reached the {QUIET_MAX_S * 1e3:.0f} ms limit\n")


def _fill(timing: ModelMeasurement, pair: PairTiming, group: str) -> None:
    timing.times_ns = pair.times_ns[group]
    timing.warmup_median_ns = pair.warmup_median_ns[group]
    timing.rounds, timing.warmup_s, timing.measure_s = pair.rounds, pair.warmup_s, pair.measure_s
    timing.noise = pair.noise
