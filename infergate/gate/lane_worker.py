"""``<lane python> -m infergate.gate.lane_worker``: a live worker in one lane, driven call by call by the
upgrade gate's lockstep rounds. Its JSON-lines protocol is in docs/upgrade-gate.md ("The worker protocol");
``inject`` in ``build`` is the TEST-ONLY in-graph slowdown of ``infergate.building.inject``.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import IO, Any

from ..building.case_expr import case_matcher
from ..building.cases import Case, Profile, perf_cases
from ..core.errors import InfergateError, UsageError

PROTOCOL = 2



def select_cases(profile: Profile, expr: str | None) -> list[Case]:
    match = case_matcher(expr)
    return [c for c in perf_cases(profile) if match(c.id)]


def gate_cases(profile: str, config: str | None, elsewhere: bool = False) -> list[Case]:
    """The perf cases a worker can build: the configured models of ``config`` (a file with a
    ``[tool.infergate]`` table: a revision's own, ``gate.revisions``), else the profile's.
    ``elsewhere``: as ``user_cases.configured``."""
    from ..building.cases import get_profile

    if config is None:
        return perf_cases(get_profile(profile))
    from ..building.user_cases import configured, user_cases
    from ..matrix.user_config import load_config

    return user_cases(configured(load_config(Path(config), required=True), elsewhere), perf=True)


def find_case(profile: str, model: str, config: str | None) -> tuple[Case, None] | tuple[None, str]:
    """The perf case of ``model``, or why this lane cannot resolve it. With ``config``, only that
    model's entry is resolved here, so one lane's missing package fails that model alone; a model
    the config or profile does not declare is a usage error (the gate asked for something else)."""
    if config is None:
        models = {c.model_id: c for c in gate_cases(profile, None)}
        if model not in models:
            raise UsageError(f"model {model!r} is not in this lane's {profile!r} perf profile")
        return models[model], None
    from ..building.user_cases import configured, user_cases
    from ..matrix.user_config import load_config

    cfg = load_config(Path(config), required=True)
    assert cfg is not None  # required: a file without the table raises
    entry = next((m for m in cfg.models if model.startswith(f"{m.id}-")), None)  # ids hold no "-"
    if entry is None:
        raise UsageError(f"model {model!r} is not in the configured models of {config}")
    try:
        cases = user_cases(configured(dataclasses.replace(cfg, models=(entry,))), perf=True)
    except UsageError as exc:  # e.g. a pkg: checkpoint this lane has not installed
        return None, str(exc)
    found = next((c for c in cases if c.model_id == model), None)
    if found is None:
        raise UsageError(f"model {model!r} is not in the configured models of {config}")
    return found, None


def _first_line(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, InfergateError) else f"{type(exc).__name__}: {exc}"
    return (text.strip().splitlines() or [type(exc).__name__])[0]


def weights_digest(model: Any) -> str:
    """sha256 over the state dict in name order: equal digests mean the lanes built equal weights."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _to_lists(outputs: Sequence[Any]) -> list[Any]:
    return [o.detach().float().tolist() for o in outputs]


class Worker:
    """The state of one worker process: the model being measured and its built variants."""

    def __init__(self) -> None:
        from ..core.defaults import DEFAULT_THREADS
        from ..measuring.sampling import pin_threads

        self.threads = pin_threads(DEFAULT_THREADS)
        self.model: Any = None
        self.spec: Any = None
        self.inputs: Any = None
        self.calls: dict[str, Callable[[Any], Any]] = {}
        self.built: dict[str, Any] = {}
        self.rng = random.Random(0)

    # -- operations ------------------------------------------------------------------------

    def hello(self) -> dict[str, Any]:
        from ..building.machine import lane_id, lane_versions, machine_class
        from ..measuring.measuring_env import observed

        versions = lane_versions()
        return {"protocol": PROTOCOL, "lane": lane_id(versions), "versions": versions,
                "machine_class": machine_class(), "threads": self.threads, "observed_env": observed(),
                "pid": os.getpid(), "cpus": sorted(os.sched_getaffinity(0))}

    def build(self, profile: str, model: str, dtype: str, variants: Sequence[str],
              inject: Mapping[str, float] | None = None, seed: int = 0, config: str | None = None) -> dict[str, Any]:
        from ..building.builds import build_variants
        from ..building.harness import example_inputs, perf_skip_reason
        from ..matrix.dtypes import DType
        from ..matrix.models import build_model

        gc.enable()
        self.calls, self.built, self.model, self.spec, self.inputs = {}, {}, None, None, None
        gc.collect()
        case, problem = find_case(profile, model, config)
        dt = DType(dtype)
        self.rng = random.Random(seed)
        if case is not None:
            try:  # the user's factory or checkpoint: its error is this model's, in this lane
                self.model = build_model(case.spec)
                self.inputs = example_inputs(case.spec, case.shape)
                self.spec = case.spec
            except Exception as exc:
                self.model, problem = None, _first_line(exc)
        if case is None or self.spec is None:
            return {"variants": {v: {"failed": f"model not built in this lane: {problem}"} for v in variants},
                    "weights": None}
        out: dict[str, dict[str, Any]] = {}
        shape = case.shape
        for b in build_variants(self.model, self.inputs, dt, variants, watch=nullcontext, inject=inject,
                                skip_reason=lambda n: perf_skip_reason(Case(self.spec, n, dt, shape))):
            if b.built is None:  # one reply line each: the gate compares availability across the lanes
                out[b.name] = {"skipped": b.skipped} if b.skipped else {"failed": (b.error or "").splitlines()[0]}
                continue
            self.built[b.name] = b.built
            self.calls[b.name] = b.built.call
            out[b.name] = {"proof": b.built.proof, "build_s": round(b.seconds, 3),
                           **({"injected": b.injected} if b.injected else {})}
        return {"variants": out, "weights": weights_digest(self.model)}

    def warmup(self, seconds: float, min_rounds: int = 5) -> dict[str, Any]:
        order = list(self.calls)
        if not order:
            raise UsageError("nothing is built to warm up")
        t0, rounds = time.perf_counter(), 0
        while time.perf_counter() - t0 < seconds or rounds < min_rounds:
            self.rng.shuffle(order)
            for name in order:
                self.calls[name](self.inputs)
            rounds += 1
        # From here to the next build, a collection inside a timed call would land on whichever
        # variant happened to run; collect once now instead.
        gc.collect()
        gc.disable()
        # Said so the gate can check that a BF16 worker without jit_ipex really runs torch's kernels.
        return {"rounds": rounds, "cpus": sorted(os.sched_getaffinity(0)),
                "ipex_loaded": "intel_extension_for_pytorch" in sys.modules}

    def time(self, variant: str) -> dict[str, Any]:
        call = self.calls.get(variant)
        if call is None:
            raise UsageError(f"variant {variant!r} is not built here (built: {', '.join(self.calls) or 'none'})")
        t0 = time.perf_counter_ns()
        call(self.inputs)
        return {"ns": time.perf_counter_ns() - t0}

    def outputs(self) -> dict[str, Any]:
        if self.spec is None:  # the model did not build here: nothing to compare
            return {"task": None, "outputs": {}, "mask": None}
        mask = self.inputs.get("attention_mask")
        outs = {name: _to_lists(built(self.inputs)) for name, built in self.built.items()}
        # The config's tolerance overrides travel with the outputs: the driver compares them with
        # the tolerance this lane's config sets for the model, as the correctness suite does.
        return {"task": self.spec.task.value, "outputs": outs,
                "mask": mask.tolist() if mask is not None else None,
                "tolerances": [[d.value, atol, rtol] for d, atol, rtol in self.spec.tolerances]}

    def fusions(self) -> dict[str, Any]:
        from ..measuring.fusion_patterns import count_linear_calls, signals
        from ..measuring.fusions import FUSION_VARIANTS

        if self.model is None:
            return {"fusions": {}}
        linear_calls = count_linear_calls(self.model, self.inputs)
        return {"fusions": {name: signals(b.kinds, linear_calls)
                            for name, b in self.built.items() if name in FUSION_VARIANTS}}


def serve(stdin: IO[str], stdout: IO[str]) -> int:
    worker = Worker()
    ops: dict[str, Callable[..., dict[str, Any]]] = {
        "hello": worker.hello, "build": worker.build, "warmup": worker.warmup, "time": worker.time,
        "outputs": worker.outputs, "fusions": worker.fusions,
    }
    try:
        for line in stdin:
            try:
                request = json.loads(line)
                op = request.pop("op")
                if op == "quit":
                    return 0
                if op not in ops:
                    raise UsageError(f"unknown operation {op!r}")
                reply: dict[str, Any] = {"ok": True, **ops[op](**request)}
            except Exception as exc:  # every failure is one reply line; the gate decides what it means
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
            stdout.write(json.dumps(reply) + "\n")
            stdout.flush()
        return 0
    finally:
        gc.enable()  # warm-up turned it off for the timed calls; whoever called serve() gets it back


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infergate.gate.lane_worker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--driver", type=int, default=None, metavar="PID",
                        help="the driver's pid: this worker ends with it (isolation.die_with_driver)")
    args = parser.parse_args(argv)
    if args.driver is not None:
        from ..measuring.isolation import die_with_driver

        die_with_driver(args.driver)
    # Libraries print warnings and banners; the protocol owns the real stdout.
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return serve(sys.stdin, protocol_out)


if __name__ == "__main__":
    sys.exit(main())
