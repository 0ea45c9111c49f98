"""What the compile variants hand inductor (freezing, C++ wrapper, max-autotune, no eager fallback), and proofs."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.errors import BuildError, ProofError


@dataclass(frozen=True)
class CompiledGraph:
    """What inductor's inner compiler was handed: after freezing, only the model's inputs remain."""

    tensor_inputs: int
    frozen: bool
    # The inductor settings in effect while it lowered this graph (where inductor reads them) and
    # what it made: the C++ wrapper as its fx_kwargs say, and how many C++ GEMM template kernels
    # max-autotune chose (0 when ATen won every choice). The count is this build's own: frozen FP32
    # graphs bypass inductor's FX graph cache (oneDNN-packed weights cannot be pickled; measured, torch
    # 2.13, tiny BERT: fxgraph_cache_bypass 1, 13 template kernels on every build), but a BF16 graph
    # on a CPU without oneDNN BF16 keeps plain weights and is cached (found by a review), which is why
    # max-autotune builds turn that cache off.
    cpp_wrapper: bool = False
    max_autotune: bool = False
    templated_kernels: int = 0
    # Kernel choices max-autotune made by timing (GEMMs with more than one candidate), and how many
    # of those it timed in this process: the rest came from timings inductor's autotune cache holds
    # (this process's earlier identical GEMMs, or an earlier process's on disk). Measured, torch 2.13,
    # tiny BERT: 17 choices, 6 timed on a cold cache, 0 timed in the next process. Counted only when
    # inductor lowers the graph, so a max-autotune build does not take a lowered graph from the FX
    # graph cache (``inductor_options``).
    autotuned: int = 0
    benchmarked: int = 0
    graph_cache: bool = False  # inductor's FX graph cache on (TORCHINDUCTOR_FX_GRAPH_CACHE=1 overrides a patch)


class AutotuneCount:
    """Counts max-autotune's timed choices while patched over inductor's choice cache (``lookup`` is
    where every choice that has candidates to time goes, whether it times them or finds their timings)."""

    def __init__(self) -> None:
        self.autotuned = 0
        self.benchmarked = 0

    def patch(self):
        from unittest import mock

        from torch._inductor.select_algorithm import AlgorithmSelectorCache

        real = AlgorithmSelectorCache.lookup
        count = self

        def lookup(cache, choices, op, inputs, benchmark, *args, **kwargs):
            if benchmark is None:  # a precompile probe of the cache, not a choice
                return real(cache, choices, op, inputs, benchmark, *args, **kwargs)
            count.autotuned += 1

            def timed(*a, **k):
                count.benchmarked += 1
                return benchmark(*a, **k)

            return real(cache, choices, op, inputs, timed, *args, **kwargs)

        return mock.patch.object(AlgorithmSelectorCache, "lookup", lookup)


class RecordingInductor:
    """Inductor, recording each graph it compiles so the proof can check that it is frozen."""

    def __init__(self, options: Mapping[str, bool] | None = None) -> None:
        self.graphs: list[CompiledGraph] = []
        self.options = dict(options or {})

    def __call__(self, gm, example_inputs):
        import torch
        import torch._inductor.config as inductor_config
        from torch._inductor.compile_fx import compile_fx, compile_fx_inner
        from torch._inductor.freezing_utils import has_frozen_params

        count = AutotuneCount()

        def inner(graph, inputs, **kwargs):
            tensors = sum(isinstance(x, torch.Tensor) for x in inputs)
            before = (count.autotuned, count.benchmarked)
            compiled = compile_fx_inner(graph, inputs, **kwargs)
            made = getattr(compiled, "fx_kwargs", None) or {}
            counters = getattr(compiled, "counter_deltas", None) or {}
            self.graphs.append(CompiledGraph(
                tensors, has_frozen_params(graph), cpp_wrapper=bool(made.get("cpp_wrapper")),
                max_autotune=bool(inductor_config.max_autotune),
                templated_kernels=int(counters.get("cpp_templated_kernel_counter", 0)),
                autotuned=count.autotuned - before[0], benchmarked=count.benchmarked - before[1],
                graph_cache=bool(inductor_config.fx_graph_cache)))
            return compiled

        # The options are read while inductor lowers and generates code, all inside compile_fx here
        # (unlike freezing, which dynamo reads while tracing); the proof checks each one took effect.
        with inductor_config.patch(inductor_options(self.options)), (
                count.patch() if self.options.get("max_autotune") else contextlib.nullcontext()):
            return compile_fx(gm, example_inputs, inner_compile=inner)


def inductor_options(options: Mapping[str, bool]) -> dict[str, bool]:
    """The variant's options as inductor is patched with them. With max-autotune the FX graph cache is
    off: a graph it serves is not lowered again, so nothing would show that kernels were chosen by
    timing (its autotune cache of timings stays on: a choice found there is still counted)."""
    return {**options, "fx_graph_cache": False} if options.get("max_autotune") else dict(options)


def freeze_compiled_graphs() -> None:
    """Compile frozen, process-wide: dynamo reads the flag while it traces, before any backend runs, so
    a per-backend patch would not apply. Each compiled graph's proof checks it."""
    import torch._inductor.config as inductor_config

    inductor_config.freezing = True


def refuse_silent_recompile_fallback(dynamo_config: Any = None) -> None:
    """Make dynamo raise past its recompile limit instead of running the frame eagerly."""
    if dynamo_config is None:
        import torch._dynamo.config as dynamo_config

    # Dynamo's limits count cache entries per code object across the whole process: every model
    # instance (weights are guarded by identity), dtype and dynamic-shape promotion adds one, so a
    # correctness worker compiling ~20 BERT-family models hit the default limits (measured: 8 and
    # then 32). The limits only have to be finite so that hitting them is loud, not a fallback.
    for limit, value in (("recompile_limit", 1024), ("cache_size_limit", 1024),
                         ("accumulated_recompile_limit", 8192), ("accumulated_cache_size_limit", 8192)):
        if hasattr(dynamo_config, limit):
            setattr(dynamo_config, limit, max(getattr(dynamo_config, limit), value))
    for flag in ("fail_on_recompile_limit_hit", "fail_on_cache_limit_hit"):
        if hasattr(dynamo_config, flag):
            setattr(dynamo_config, flag, True)
            return
    raise BuildError("this torch's dynamo has neither fail_on_recompile_limit_hit nor fail_on_cache_limit_hit: "
                     "past its recompile limit it would run the model eagerly without a word")


def prove_options(graphs: Sequence[CompiledGraph], options: Mapping[str, bool]) -> str:
    """Each inductor option the variant names took effect in every graph it compiled."""
    said = []
    if options.get("cpp_wrapper"):
        if not all(g.cpp_wrapper for g in graphs):
            raise ProofError("cpp_wrapper was asked for, but inductor generated a Python wrapper")
        said.append("C++ wrapper")
    if options.get("max_autotune"):
        if not all(g.max_autotune for g in graphs):
            raise ProofError("max_autotune was asked for, but was not in effect while inductor lowered the graph")
        chosen, timed = sum(g.autotuned for g in graphs), sum(g.benchmarked for g in graphs)
        if not chosen:  # nothing had two candidates: the build is compile_cpp under another name
            why = ("inductor's FX graph cache was on (TORCHINDUCTOR_FX_GRAPH_CACHE=1 overrides the variant's "
                   "setting), so a cached graph was not lowered and its choices cannot be seen; unset it"
                   if any(g.graph_cache for g in graphs) else
                   "nothing to choose between, or choices made without timing: the build is compile_cpp's")
            raise ProofError(f"max_autotune was in effect, but no kernel choice went through its timing ({why})")
        said.append(f"max-autotune ({chosen} kernel choice(s) by timing: {timed} timed in this process, "
                    f"{chosen - timed} from timings in inductor's autotune cache; "
                    f"{sum(g.templated_kernels for g in graphs)} C++ GEMM template kernel(s) chosen)")
    return "; " + ", ".join(said) if said else ""


def prove_compiled(graphs: Sequence[CompiledGraph], model_inputs: int, parameters: int) -> str:
    """A compile that ran: at least one graph, each frozen (its tensor inputs at most the model's inputs)."""
    if not graphs:
        raise ProofError("torch.compile produced no compiled graph: the model ran uncompiled")
    for i, graph in enumerate(graphs):
        if not graph.frozen or graph.tensor_inputs > model_inputs:
            raise ProofError(
                f"compiled graph {i} is not frozen: it takes {graph.tensor_inputs} tensor inputs for the "
                f"model's {model_inputs} (its {parameters} parameters are read at every call, not constants); "
                "inductor freezes only with torch._inductor.config.freezing set while dynamo traces, under no_grad")
    return (f"inductor compiled {len(graphs)} graph(s), whole model (fullgraph: no graph break), frozen "
            f"({parameters} parameters are constants; the graph takes {graphs[0].tensor_inputs} tensor inputs)")
