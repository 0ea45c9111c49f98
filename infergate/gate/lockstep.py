"""Driving one live worker per lane in lockstep: the measuring half of the upgrade gate. Both lanes'
workers are alive together, on one CPU, with passive OpenMP, and each variant's "from" and "to" calls
run back to back; a pair of fresh workers gives one paired ratio per case (docs/upgrade-gate.md, "What
it does"). The endpoints are injected (``Starter``), so tests drive synthetic workers.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..building.variants import TORCH_GROUP
from ..core.paths import REPO_ROOT
from ..measuring.lockstep_order import lockstep_order
from ..measuring.measuring_env import child_environ
from .lockstep_plan import ModelPlan, builds_by_case, by_case
from .worker_checks import WorkerError, check_no_ipex, check_pinned, check_worker_env

SIDES = ("from", "to")
DEFAULT_WARMUP_S = 1.5  # as sampling.DEFAULT_WARMUP_S, per worker and model
BUILD_TIMEOUT_S = 1800.0
CALL_TIMEOUT_S = 300.0





# --------------------------------------------------------------------------------------------
# Endpoints
# --------------------------------------------------------------------------------------------


class Endpoint:
    """One live worker: ``send`` a request, ``receive`` its reply (so two workers can build at once)."""

    name = "worker"

    def send(self, op: str, **kw: Any) -> None:
        raise NotImplementedError

    def receive(self, timeout: float = CALL_TIMEOUT_S) -> dict[str, Any]:
        raise NotImplementedError

    def request(self, op: str, timeout: float = CALL_TIMEOUT_S, **kw: Any) -> dict[str, Any]:
        self.send(op, **kw)
        return self.receive(timeout)

    def pin(self) -> None:
        """Move the worker onto its measuring CPU (after the builds, which may use every CPU)."""

    def unpin(self) -> None:
        """Give the worker every CPU again (before the next model's builds)."""

    def close(self) -> None:
        pass


def pin_process(pid: int, cpus: frozenset[int]) -> None:
    """Set the CPU mask of every thread of ``pid`` (sched_setaffinity on a pid moves one thread)."""
    for task in Path(f"/proc/{pid}/task").iterdir():  # FileNotFoundError (an OSError): pid is gone
        try:
            os.sched_setaffinity(int(task.name), cpus)
        except ProcessLookupError:  # a thread that ended meanwhile
            pass


class ProcessEndpoint(Endpoint):
    """``<lane python> -m infergate.gate.lane_worker`` speaking one JSON line per request and reply."""

    def __init__(self, name: str, python: Path, log: Path, env: Mapping[str, str | None],
                 argv_prefix: Sequence[str] = (), cpus: frozenset[int] | None = None, cwd: Path = REPO_ROOT) -> None:
        self.name, self.log = name, log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._err = log.open("w", encoding="utf-8")
        try:
            # A session of its own, so closing it also ends inductor's compile-worker processes; it
            # ends with the thread that starts it (--driver: the kernel's parent-death signal follows the
            # starting thread, so start endpoints from a thread that outlives them), which a kill of this
            # one's group would not reach.
            self.proc = subprocess.Popen(
                [*argv_prefix, str(python), "-m", "infergate.gate.lane_worker", "--driver", str(os.getpid())],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err, text=True,
                cwd=cwd, env=child_environ(env), start_new_session=True,
            )
        except OSError as exc:
            self._err.close()
            raise WorkerError(f"cannot start lane worker {name} with {python}: {exc.strerror or exc}") from None
        self.cpus = cpus
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in: IO[str] = self.proc.stdin
        self._out: IO[str] = self.proc.stdout

    def _died(self, what: str, *, alive: bool = False) -> WorkerError:
        """``alive``: the worker did not exit by itself (it hung); say ``what`` it did instead."""
        code = None if alive else self.proc.poll()
        try:
            tail = self.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
        except OSError:
            tail = []
        status = f"exited with status {code}" if code is not None else what
        return WorkerError(f"lane worker {self.name} {status}: {tail[0] if tail else ''} (log: {self.log})")

    def send(self, op: str, **kw: Any) -> None:
        try:
            self._in.write(json.dumps({"op": op, **kw}) + "\n")
            self._in.flush()
        except (BrokenPipeError, OSError):
            raise self._died("stopped reading") from None

    def receive(self, timeout: float = CALL_TIMEOUT_S) -> dict[str, Any]:
        # select() sees the pipe, not the stream's buffer; that is safe because the protocol has
        # exactly one reply line per request, so nothing is ever left buffered between replies.
        ready, _, _ = select.select([self._out], [], [], timeout)
        if not ready:
            error = self._died(f"gave no answer within {timeout:.0f} s (stopped)", alive=True)
            self.close()
            raise error
        line = self._out.readline()
        if not line:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            raise self._died("closed its output")
        try:
            reply = json.loads(line)
        except json.JSONDecodeError:
            raise WorkerError(f"lane worker {self.name} printed a line outside the protocol: "
                              f"{line.strip()[:120]!r} (log: {self.log})") from None
        if not reply.get("ok"):
            raise WorkerError(f"lane worker {self.name}: {reply.get('error')} (log: {self.log})")
        return reply

    def pin(self) -> None:
        if self.cpus:
            self._set_cpus(self.cpus)

    def unpin(self) -> None:
        if self.cpus:
            self._set_cpus(frozenset(os.sched_getaffinity(0)))

    def _set_cpus(self, cpus: frozenset[int]) -> None:
        try:
            pin_process(self.proc.pid, cpus)
        except OSError:
            raise self._died("could not be moved to its CPU") from None

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self._in.write(json.dumps({"op": "quit"}) + "\n")
                self._in.flush()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                pass
        try:  # whatever is left of its session: inductor's compile workers, or a hung worker
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        for stream in (self._in, self._out, self._err):
            try:
                stream.close()
            except OSError:
                pass


# (side, lane name, pair index) -> a started endpoint
Starter = Callable[[str, str, int], Endpoint]


def measuring_cpus() -> frozenset[int]:
    """The one CPU both lanes' workers measure on, after building on every CPU (``Endpoint.pin``): vCPUs
    differ in speed, and only one worker runs at a time."""
    return frozenset({max(os.sched_getaffinity(0))})


def process_starter(pythons: Mapping[str, Path], log_dir: Path, env: Mapping[str, str | None],
                    argv_prefix: Sequence[str] = (), cpus: frozenset[int] | None = None,
                    trees: Mapping[str, tuple[Path, Mapping[str, str]]] | None = None) -> Starter:
    """``trees``: side -> (cwd, environment to add) of that side's workers (``gate.revisions``)."""
    started: dict[str, int] = {}

    def start(side: str, lane: str, pair: int) -> Endpoint:
        # A pair starts a second worker per lane for another process group: it gets a log of its own.
        name = f"pair{pair + 1}-{side}-{lane}"
        started[name] = started.get(name, 0) + 1
        suffix = f"-{started[name]}" if started[name] > 1 else ""
        cwd, own_env = trees[side] if trees else (REPO_ROOT, {})
        return ProcessEndpoint(f"'{lane}' ({side}, pair {pair + 1}{suffix})", pythons[side],
                               log_dir / f"{name}{suffix}.log", {**env, **own_env}, argv_prefix, cpus, cwd)

    return start


@dataclass
class ModelRecord:
    """Plain data (goes into gate.json): one model in one pair of workers."""

    model: str
    dtype: str
    built: dict[str, dict[str, dict[str, Any]]]  # side -> variant -> {proof|skipped|failed, ...}
    weights: dict[str, str]  # side -> weights digest
    times_ns: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # side -> variant -> rounds
    order_first: dict[str, int] = field(default_factory=dict)  # side -> calls where it went first of the two
    # variant -> side -> calls where that side went first (pools of version 3 on; older: {}, not recorded)
    first_by_variant: dict[str, dict[str, int]] = field(default_factory=dict)
    cpus: dict[str, Any] = field(default_factory=dict)  # side -> CPUs the worker measured on (its own word)
    outputs: dict[str, Any] | None = None  # side -> worker "outputs" reply (first pair only)
    fusions: dict[str, Any] | None = None  # side -> variant -> signals (first pair only)
    seconds: float = 0.0
    group: str = TORCH_GROUP  # ModelPlan.group: outside the torch group, eager is only a reference


@dataclass
class PairRecord:
    pair: int
    hello: dict[str, dict[str, Any]]  # side -> worker "hello" reply (the pair's first workers)
    models: list[ModelRecord]
    seconds: float = 0.0
    more_hellos: list[dict[str, dict[str, Any]]] = field(default_factory=list)  # later worker pairs' (other groups)

    @property
    def hellos(self) -> list[dict[str, dict[str, Any]]]:
        """Every worker pair's hello, the first one's first."""
        return [self.hello, *self.more_hellos]


# --------------------------------------------------------------------------------------------
# One pair
# --------------------------------------------------------------------------------------------


def _both(endpoints: Mapping[str, Endpoint], op: str, timeout: float, per_side: Mapping[str, dict[str, Any]]
          ) -> dict[str, dict[str, Any]]:
    """Send to both workers, then read both: builds and warm-ups are untimed, so they may overlap.
    ``endpoints``' order is the order of starting and sending (see ``run_pair``)."""
    for side, ep in endpoints.items():
        ep.send(op, **per_side.get(side, {}))
    return {side: ep.receive(timeout) for side, ep in endpoints.items()}


def run_pair(pair: int, lanes: Mapping[str, str], plans: Sequence[ModelPlan], *, profile: str, rounds: int,
             start: Starter, inject_to: Mapping[str, float] | None = None, first: bool = False,
             warmup_s: float = DEFAULT_WARMUP_S, seed: int = 0, configs: Mapping[str, str] | None = None,
             progress: Callable[[str], None] = lambda msg: None) -> PairRecord:
    """Start one worker per lane, build each model in both, time ``rounds`` lockstep rounds. Plans of
    another process group or dtype (``ModelPlan.workers``) get a fresh pair of workers.

    ``first``: also fetch outputs and fusion signals (deterministic: one pair is enough).
    ``inject_to``: TEST ONLY, an in-graph slowdown of variants in the "to" worker (inject.py).
    ``configs``: side -> the configured models' file that side's worker builds from (``gate.revisions``).
    """
    t_pair = time.perf_counter()
    rng = random.Random(seed * 7919 + pair)
    hello: dict[str, dict[str, Any]] = {}
    more: list[dict[str, dict[str, Any]]] = []
    records: list[ModelRecord] = []
    for key in dict.fromkeys(p.workers for p in plans):
        endpoints: dict[str, Endpoint] = {}
        try:
            # Whichever worker starts, builds and warms up first could carry a systematic edge (an A/A
            # pool leaned +0.8 % one way, docs/upgrade-gate.md); alternate the order by pair, so any
            # such edge becomes spread between pairs, which the interval accounts for.
            for side in (SIDES if pair % 2 == 0 else SIDES[::-1]):
                endpoints[side] = start(side, lanes[side], pair)
            said = _both(endpoints, "hello", CALL_TIMEOUT_S, {})
            check_worker_env(said)
            if hello:
                more.append(said)
            else:
                hello = said
            for plan in (p for p in plans if p.workers == key):
                rec = _run_model(endpoints, plan, profile=profile, rounds=rounds, rng=rng, inject_to=inject_to,
                                 first=first, warmup_s=warmup_s, pair=pair, configs=configs or {})
                records.append(rec)
                progress(f"  {plan.model} {plan.dtype}"
                         f"{'' if plan.group == TORCH_GROUP else f' ({plan.group} worker)'}: built from "
                         f"{len(rec.times_ns['from'])}/{len(plan.variants)}, to {len(rec.times_ns['to'])}/"
                         f"{len(plan.variants)} variants; {rounds} lockstep rounds ({rec.seconds:.0f} s)")
        finally:
            for ep in endpoints.values():
                ep.close()
    return PairRecord(pair, hello, records, round(time.perf_counter() - t_pair, 2), more)


def _run_model(endpoints: Mapping[str, Endpoint], plan: ModelPlan, *, profile: str, rounds: int,
               rng: random.Random, inject_to: Mapping[str, float] | None, first: bool,
               warmup_s: float, pair: int, configs: Mapping[str, str]) -> ModelRecord:
    t_model = time.perf_counter()
    base = {"profile": profile, "model": plan.model, "dtype": plan.dtype,
            "variants": list(plan.variants), "seed": rng.randrange(2**31)}
    for ep in endpoints.values():
        ep.unpin()
    own = {s: {"config": configs[s]} if configs.get(s) else {} for s in SIDES}
    built = _both(endpoints, "build", BUILD_TIMEOUT_S,
                  {"from": {**base, **own["from"]}, "to": {**base, **own["to"], "variants": plan.built_on("to"),
                                                         "inject": dict(inject_to or {})}})
    rec = ModelRecord(plan.model, plan.dtype, {s: builds_by_case(plan, s, built[s]["variants"]) for s in SIDES},
                      {s: built[s]["weights"] for s in SIDES}, group=plan.group)
    timed = {s: [v for v in plan.variants if "proof" in rec.built[s][v]] for s in SIDES}
    rec.times_ns = {s: {v: [] for v in timed[s]} for s in SIDES}
    rec.order_first = {s: 0 for s in SIDES}
    rec.first_by_variant = {v: {s: 0 for s in SIDES} for v in dict.fromkeys([*timed["from"], *timed["to"]])}
    busy = {s: ep for s, ep in endpoints.items() if timed[s]}
    if busy:
        for ep in busy.values():
            ep.pin()
        warm = _both(busy, "warmup", CALL_TIMEOUT_S, {s: {"seconds": warmup_s} for s in busy})
        rec.cpus = {s: warm[s].get("cpus") for s in busy}
        check_pinned(busy, rec.cpus)
        check_no_ipex(plan, warm)
        _lockstep_rounds(endpoints, timed, rounds, rng, rec, plan, pair)
    if first:
        _outputs_and_fusions(endpoints, plan, rec)
    rec.seconds = round(time.perf_counter() - t_model, 2)
    return rec


def _outputs_and_fusions(endpoints: Mapping[str, Endpoint], plan: ModelPlan, rec: ModelRecord) -> None:
    """Deterministic, so read from the first pair only; keyed by case."""
    rec.outputs, rec.fusions = {}, {}
    for s in SIDES:
        reply = endpoints[s].request("outputs")
        rec.outputs[s] = {**reply, "outputs": by_case(plan, s, reply["outputs"])}
        fusions = by_case(plan, s, endpoints[s].request("fusions")["fusions"])
        # A replaced case's "to" is another variant: its fusions are not the same recipe's to compare;
        # "from"'s are kept (they are that lane's record).
        rec.fusions[s] = {v: f for v, f in fusions.items() if s == "from" or v not in plan.replaced}


def _lockstep_rounds(endpoints: Mapping[str, Endpoint], timed: Mapping[str, Sequence[str]], rounds: int,
                     rng: random.Random, rec: ModelRecord, plan: ModelPlan, pair: int) -> None:
    """Every round: the variants shuffled, each variant's "from" and "to" back to back, the first
    alternating by round and pair (``measuring.lockstep_order``); counted in ``rec.first_by_variant``."""
    variants = list(dict.fromkeys([*timed["from"], *timed["to"]]))
    sides = {v: [s for s in SIDES if v in timed[s]] for v in variants}
    for _, variant, order in lockstep_order(variants, sides, rounds, rng, offset=pair):
        rec.order_first[order[0]] += 1
        rec.first_by_variant[variant][order[0]] += 1
        for side in order:
            ns = endpoints[side].request("time", variant=plan.on(side, variant))["ns"]
            rec.times_ns[side][variant].append(int(ns))
