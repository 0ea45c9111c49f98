"""Variants: each builds a runnable form of a model and proves what it built; never a fall-back to eager."""

from __future__ import annotations

import abc
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..core.errors import BuildError, ProofError, UsageError
from ..matrix.dtypes import DType
from . import inductor
from .capabilities import Capabilities, import_ipex, ipex_jit_fusion, major_minor
from .graphs import IPEX_JIT_PASS_PREFIXES, IPEX_KIND_PREFIXES, last_executed_kinds

if TYPE_CHECKING:
    import torch

Inputs = Mapping[str, "torch.Tensor"]
Outputs = tuple["torch.Tensor", ...]

# TorchScript's profiling executor specializes on the 2nd call and runs the optimized graph from
# the 3rd; IPEX's docs ask for at least two warm-up calls too. Compile compiles on the 1st.
WARMUP_CALLS = 3



@dataclass
class Built:
    """A runnable, proven variant of one model at one dtype."""

    variant: str
    dtype: DType
    call: Callable[[Inputs], Outputs]
    proof: str
    kinds: Counter[str] = field(default_factory=Counter)  # executed graph kinds (TorchScript only)
    artifact: Any = None
    warmup_s: tuple[float, ...] = ()  # each warm-up call's seconds; the first is the first-call latency

    def __call__(self, inputs: Inputs) -> Outputs:
        return self.call(inputs)


def _as_tuple(out: Any) -> Outputs:
    if isinstance(out, tuple):
        return out
    if isinstance(out, list):
        return tuple(out)
    raise BuildError(f"model returned {type(out).__name__}; models must be built with return_dict=False")


def _caller(fn: Callable[..., Any], dtype: DType, ipex_fusion: bool | None = None) -> Callable[[Inputs], Outputs]:
    """A call under no_grad and the dtype's autocast, with IPEX's passes pinned (``ipex_fusion``) for TorchScript."""
    import contextlib

    import torch

    def call(inputs: Inputs) -> Outputs:
        fusion = contextlib.nullcontext() if ipex_fusion is None else ipex_jit_fusion(ipex_fusion)
        with fusion, torch.no_grad(), dtype.autocast():
            return _as_tuple(fn(**inputs))

    return call


def prove_frozen_script(module: Any) -> str:
    import torch

    if not isinstance(module, torch.jit.ScriptModule):
        raise ProofError(f"expected a TorchScript module, got {type(module).__name__}")
    n_params = sum(1 for _ in module.parameters())
    if n_params:
        raise ProofError(f"ScriptModule is not frozen: it still holds {n_params} parameters as attributes")
    return "frozen ScriptModule (0 parameter attributes)"


def prove_ipex_fused(kinds: Counter[str]) -> str:
    """IPEX's TorchScript passes ran: the executed graph holds a kind only they create (a
    torch_ipex:: linear alone comes from ipex.optimize's module swap, with no pass run)."""
    fused = sorted(k for k in kinds if k.startswith(IPEX_JIT_PASS_PREFIXES))
    if not fused:
        kinds_text = ", ".join(f"{p}*" for p in IPEX_JIT_PASS_PREFIXES)
        others = sorted(k for k in kinds if k.startswith(IPEX_KIND_PREFIXES))
        seen = f" (only {', '.join(others)}, which ipex.optimize puts there without them)" if others else ""
        raise ProofError(f"no IPEX node kind of its TorchScript passes ({kinds_text}) in the executed "
                         f"optimized graph{seen}")
    return "IPEX kinds executed: " + ", ".join(fused)


def prove_output_dtype(label: str, outputs: Outputs, dtype: DType) -> str:
    """Every floating output is in the case's dtype (a BF16 case that silently ran in FP32 fails here)."""
    found = sorted({str(o.dtype).removeprefix("torch.") for o in outputs
                    if hasattr(o, "is_floating_point") and o.is_floating_point()})
    want = str(dtype.torch_dtype).removeprefix("torch.")
    if found != [want]:
        raise ProofError(f"{label}: the outputs are {', '.join(found) or 'not floating point'}, not {want}: "
                         f"{dtype.value} did not apply")
    return f"outputs {want}"


def _warm_up(call: Callable[[Inputs], Outputs], example: Inputs) -> tuple[float, ...]:
    """The warm-up calls, timed; the first is reported as the variant's first-call latency."""
    import time

    seconds = []
    for _ in range(WARMUP_CALLS):
        t0 = time.perf_counter()
        call(example)
        seconds.append(time.perf_counter() - t0)
    return tuple(seconds)


# What a baseline recorded without a recipe revision was measured with: revision 1 of every variant.
FIRST_RECIPE = 1


class Variant(abc.ABC):
    name: ClassVar[str]
    # Bumped whenever how the variant is built changes what it measures: a baseline recorded with
    # another revision is not comparable (perf says so and does not judge it; recording drops it).
    recipe: ClassVar[int] = FIRST_RECIPE
    in_default_matrix: ClassVar[bool] = True  # part of a selection that names no variants
    # A worker's limit for one case: generous, so that only a hang trips it (a cold cache, a
    # base-size model and a loaded machine multiply a build's usual seconds).
    timeout_s: ClassVar[float] = 300.0
    # Whether --ig-isolate auto runs its correctness cases in a worker: a variant whose kernels can
    # abort (IPEX's oneDNN on ISA gaps) would otherwise take the whole session down.
    crash_prone: ClassVar[bool] = False
    # Whether building it imports IPEX, which swaps torch's CPU autocast kernels for the whole
    # process (so BF16 timings beside it, and later BF16 cases in the process, change).
    imports_ipex: ClassVar[bool] = False
    # Whether it leaves a TorchScript graph whose executed node kinds can be read (fusion table).
    has_graph: ClassVar[bool] = False
    # Whether its BF16 runs under torch's CPU autocast (so a CPU or process where autocast BF16 is
    # broken or emulated cannot run it); IPEX's own BF16 path converts the weights instead.
    bf16_by_autocast: ClassVar[bool] = True

    def unavailable(self, dtype: DType, caps: Capabilities) -> str | None:
        """Why this variant cannot run at ``dtype`` here (a precise skip reason), or None."""
        return None

    def build(self, model: torch.nn.Module, example: Inputs, dtype: DType) -> Built:
        try:
            built = self._build(model, example, dtype)
            built.proof += "; " + prove_output_dtype(f"{self.name}/{dtype.value}", built(example), dtype)
        except (BuildError, ProofError):
            raise
        except Exception as exc:  # the cause goes into the case's failure, never a fallback
            raise BuildError(f"{self.name}/{dtype.value} build failed: {type(exc).__name__}: {exc}") from exc
        return built

    @abc.abstractmethod
    def _build(self, model: torch.nn.Module, example: Inputs, dtype: DType) -> Built: ...


class Eager(Variant):
    name = "eager"

    def _build(self, model, example, dtype):
        call = _caller(model, dtype)
        warmup = _warm_up(call, example)
        return Built(self.name, dtype, call, "eager nn.Module", artifact=model, warmup_s=warmup)


def _trace_and_freeze(model, example: Inputs, dtype: DType):
    import torch

    with torch.no_grad(), dtype.autocast():
        traced = torch.jit.trace(model, example_kwarg_inputs=dict(example), strict=False, check_trace=False)
        return torch.jit.freeze(traced)


class Jit(Variant):
    name = "jit"
    has_graph = True

    def _build(self, model, example, dtype):
        with ipex_jit_fusion(False):
            frozen = _trace_and_freeze(model, example, dtype)
        proof = prove_frozen_script(frozen)
        call = _caller(frozen, dtype, ipex_fusion=False)
        warmup = _warm_up(call, example)
        kinds = last_executed_kinds()
        # Plain TorchScript: with IPEX imported in the process its passes are pinned off, and the
        # executed graph must show it (an IPEX kind here would make jit_ipex/jit measure nothing).
        ipex_kinds = sorted(k for k in kinds if k.startswith(IPEX_KIND_PREFIXES))
        if ipex_kinds:
            raise ProofError(f"jit/{dtype.value}: the executed graph holds IPEX kinds ({', '.join(ipex_kinds)}) "
                             "although IPEX's TorchScript passes were pinned off")
        proof += "; no IPEX kinds in the executed graph"
        return Built(self.name, dtype, call, proof, kinds=kinds, artifact=frozen, warmup_s=warmup)


class JitIpex(Variant):
    name = "jit_ipex"
    crash_prone = True  # IPEX's kernels can abort (oneDNN on ISA gaps); a native library can crash on import
    imports_ipex = True
    has_graph = True
    bf16_by_autocast = False  # ipex.optimize(dtype=bfloat16) converts and prepacks the weights

    def __init__(self, fusion: bool = True) -> None:
        # ``fusion=False`` exists so tests can show a lost fusion is caught.
        self.fusion = fusion

    def unavailable(self, dtype, caps):
        if dtype is DType.BF16:
            return caps.ipex_bf16_problem()
        return caps.ipex_problem

    def _build(self, model, example, dtype):
        ipex = import_ipex()
        optimized = ipex.optimize(model.eval(), dtype=dtype.torch_dtype, inplace=False)
        with ipex_jit_fusion(self.fusion):
            frozen = _trace_and_freeze(optimized, example, dtype)
        proof = prove_frozen_script(frozen)
        call = _caller(frozen, dtype, ipex_fusion=self.fusion)
        warmup = _warm_up(call, example)
        kinds = last_executed_kinds()
        proof += "; " + prove_ipex_fused(kinds)
        return Built(self.name, dtype, call, proof, kinds=kinds, artifact=frozen, warmup_s=warmup)


class Compile(Variant):
    """torch.compile as PyTorch's CPU inference guidance configures it: inductor with freezing."""

    name = "compile"
    timeout_s = 600.0  # a compile build is 5-45 s on 2 cores, minutes on a cold cache at base size
    # 2: inductor freezing applies (revision 1 set it only inside the backend, where it did not:
    # its graphs read every parameter at each call).
    recipe = 2
    # Inductor options beyond freezing (the guidance's measured options: the C++ wrapper, which
    # drops the Python wrapper's per-call overhead, and max-autotune, which benchmarks GEMM kernels).
    options: ClassVar[Mapping[str, bool]] = {}

    def _build(self, model, example, dtype):
        import torch

        inductor.refuse_silent_recompile_fallback()
        inductor.freeze_compiled_graphs()
        backend = inductor.RecordingInductor(self.options)
        # fullgraph: a graph break would run part of the model eagerly, the silent partial fallback
        # this project never takes; with it dynamo raises, naming the break, and the build fails.
        compiled = torch.compile(model, backend=backend, fullgraph=True)
        call = _caller(compiled, dtype)
        warmup = _warm_up(call, example)
        parameters = sum(1 for _ in model.parameters())
        proof = (inductor.prove_compiled(backend.graphs, len(example), parameters)
                 + inductor.prove_options(backend.graphs, self.options))
        return Built(self.name, dtype, call, proof, artifact=compiled, warmup_s=warmup)


class CompileCpp(Compile):
    """compile with inductor's C++ wrapper."""

    name = "compile_cpp"
    recipe = 1
    in_default_matrix = False
    options = {"cpp_wrapper": True}


class CompileAutotune(Compile):
    """compile with the C++ wrapper and max-autotune: what the guidance calls the fastest setting."""

    name = "compile_autotune"
    recipe = 1
    in_default_matrix = False
    options = {"cpp_wrapper": True, "max_autotune": True}
    # Measured on amd-epyc__avx2__2c2t: torch 2.8's max-autotune CPU GEMM template does not compile
    # (CppCompileError in its generated C++, with or without the C++ wrapper); 2.13's does.
    _FIRST_TORCH = (2, 9)

    def unavailable(self, dtype, caps):
        if caps.torch_version and major_minor(caps.torch_version) < self._FIRST_TORCH:
            return (f"max-autotune needs torch >= {'.'.join(map(str, self._FIRST_TORCH))}: torch "
                    f"{caps.torch_version}'s inductor generates CPU GEMM template C++ that does not "
                    "compile (CppCompileError, measured on amd-epyc__avx2__2c2t)")
        return None


# The registered variants' names, for the rules and reports that name one: other modules use these,
# never a string literal, so a renamed variant cannot leave a comparison silently false.
EAGER, JIT, JIT_IPEX, COMPILE = Eager.name, Jit.name, JitIpex.name, Compile.name
COMPILE_CPP, COMPILE_AUTOTUNE = CompileCpp.name, CompileAutotune.name
# The variant every speedup is measured against (eager / variant), in the same rounds.
REFERENCE = EAGER
TORCH_GROUP, IPEX_GROUP = "torch", "ipex"  # process_group's answers
VARIANTS: dict[str, Variant] = {
    v.name: v for v in (Eager(), Jit(), JitIpex(), Compile(), CompileCpp(), CompileAutotune())}


def default_variants() -> tuple[str, ...]:
    """Every registered variant that is ``in_default_matrix``, read at call time."""
    return tuple(n for n, v in VARIANTS.items() if v.in_default_matrix)



def process_group(variant: str, dtype: DType) -> str:
    """Which variants may be timed in one process: all, except BF16 ones that import IPEX (``jit_ipex``),
    which swap torch's CPU autocast kernels for the whole process."""
    return IPEX_GROUP if dtype is DType.BF16 and get_variant(variant).imports_ipex else TORCH_GROUP



def get_variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise UsageError(f"unknown variant {name!r}; valid: {', '.join(VARIANTS)}") from None
