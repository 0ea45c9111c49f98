"""The fusion patterns as data (the guide's five plus prepacked linear, with IPEX's node kinds) and
``signals``: a TorchScript graph's kinds as pattern counts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ..building.graphs import IPEX_KIND_PREFIXES

if TYPE_CHECKING:
    import torch

# IPEX's linear post-ops with a prepacked kernel (ipex_prepack::linear_<op>_run in the .so).
_LINEAR_POST_OPS = (
    "abs", "add", "add_relu", "elu", "exp", "gelu", "hardsigmoid", "hardswish", "hardtanh",
    "leaky_relu", "log", "mish", "mul", "mul_add", "pow", "relu", "round", "sigmoid", "sqrt",
    "square", "swish", "tanh",
)
# insertPrePackedLinearOp: FP32 with MKL (IPEX's default here) -> mkl_sgemm_run, else oneDNN
# linear_run; its post-op fusions rewrite linear_run, so fused variants are prepacked linears too.
PREPACKED_LINEAR_KINDS: tuple[str, ...] = (
    "ipex_prepack::mkl_sgemm_run",
    "ipex_prepack::linear_run",
    *(f"ipex_prepack::linear_{op}_run" for op in _LINEAR_POST_OPS),
)
# Nodes that each compute one (possibly merged) linear layer; Concat Linear is counted with them.
LINEAR_KINDS: tuple[str, ...] = (
    "aten::linear",
    "torch_ipex::ipex_linear",  # ipex.optimize's module, before its graph passes prepack it
    "torch_ipex::ipex_MKLSGEMM",
    *PREPACKED_LINEAR_KINDS,
    "ipex::tpp_linear", "ipex::tpp_linear_bias", "ipex::tpp_linear_gelu", "ipex::tpp_linear_add",
)


# Fused kinds outside IPEX, reported for plain `jit` too. Each one line on why it counts.
NATIVE_FUSED_KINDS: Mapping[str, str] = MappingProxyType({
    "aten::linear": "matmul + bias in one GEMM call (torch's freeze folds matmul/add into it)",
    "aten::scaled_dot_product_attention": "fused attention kernel: the SDPA attention implementation",
    "aten::_addmm_activation": "addmm + gelu/relu in one call",
    "prim::FusionGroup": "the legacy TorchScript fuser's group",
    "prim::TensorExprGroup": "NNC (TensorExpr) fuser group; off on CPU unless enabled",
    "prim::oneDNNFusionGroup": "oneDNN Graph (LLGA) fuser group, torch.jit.enable_onednn_fusion",
})


@dataclass(frozen=True)
class Pattern:
    key: str  # stable: written into expectation files
    title: str  # the seed guide's name, used in tables and failures
    kinds: tuple[str, ...]
    why: str


# Concat Linear has no kind of its own: IPEX's FrozenConcatLinear merges linears that share one
# input (Q, K, V) into one linear and a split, so it shows as fewer linear nodes than linear calls.
CONCAT_LINEAR = "concat_linear"

PATTERNS: tuple[Pattern, ...] = (
    Pattern("mha", "Multi-head attention",
            ("ipex::mha_scores_calc", "ipex::mha_scores_calc_v2", "ipex::distil_mha_scores_calc",
             "ipex::vit_mha_scores_calc", "ipex::maskedfill_softmax", "ipex::bert_flash_mha",
             "ipex::sd_flash_mha", "ipex::transfree_vit_mha"),
            "FuseMHAScoreCalc / FusedTransFreeMha: matmul+div+add(mask)+softmax as one kernel; "
            "matches only eager attention's ops, not aten::scaled_dot_product_attention"),
    Pattern(CONCAT_LINEAR, "Concat Linear", (),
            "FrozenConcatLinear: linear calls in eager minus linear nodes in the graph"),
    Pattern("linear_add", "Linear+Add",
            ("ipex_prepack::linear_add_run", "ipex_prepack::linear_add_relu_run", "ipex::tpp_linear_add",
             "ipex::woq_linear_add", "ipex::woq_linear_add_add"),
            "fuseLinearAddRelu: rewrites the oneDNN linear_run only, never mkl_sgemm_run"),
    Pattern("linear_gelu", "Linear+Gelu",
            ("ipex_prepack::linear_gelu_run", "ipex::tpp_linear_gelu", "ipex::woq_linear_gelu",
             "ipex::woq_linear_new_gelu"),
            "fuseLinearWithEltwise: rewrites the oneDNN linear_run only, never mkl_sgemm_run"),
    Pattern("add_layernorm", "Add+LayerNorm", ("ipex::add_layernorm",),
            "FuseAddLayerNorm: aten::add followed by aten::layer_norm"),
    Pattern("prepacked_linear", "Prepacked linear", PREPACKED_LINEAR_KINDS,
            "insertPrePackedLinearOp: weights packed once at freeze, fused variants included"),
)
PATTERN_BY_KEY: Mapping[str, Pattern] = MappingProxyType({p.key: p for p in PATTERNS})
PATTERN_KINDS: frozenset[str] = frozenset(k for p in PATTERNS for k in p.kinds)


def is_tracked_kind(kind: str) -> bool:
    """Kinds reported one by one beside the patterns: every IPEX kind and the native fused ones."""
    return kind.startswith(IPEX_KIND_PREFIXES) or kind in NATIVE_FUSED_KINDS


def linear_nodes(kinds: Mapping[str, int]) -> int:
    return sum(kinds.get(k, 0) for k in LINEAR_KINDS)


def signals(kinds: Mapping[str, int], linear_calls: int | None) -> dict[str, int]:
    """Pattern counts (0 included) plus each tracked kind no pattern names. ``linear_calls``: the eager
    model's nn.Linear calls; None leaves Concat Linear out."""
    out: dict[str, int] = {}
    for pattern in PATTERNS:
        if pattern.key == CONCAT_LINEAR:
            if linear_calls is not None:
                out[pattern.key] = max(linear_calls - linear_nodes(kinds), 0)
            continue
        out[pattern.key] = sum(kinds.get(k, 0) for k in pattern.kinds)
    for kind, count in sorted(kinds.items()):
        if count and is_tracked_kind(kind) and kind not in PATTERN_KINDS:
            out[kind] = count
    return out


def label(signal: str) -> str:
    pattern = PATTERN_BY_KEY.get(signal)
    return pattern.title if pattern else signal


def count_linear_calls(model: torch.nn.Module, inputs: Mapping[str, torch.Tensor]) -> int:
    """How many nn.Linear forwards (calls, not modules) one eager call makes: Concat Linear's reference."""
    import torch

    calls = 0

    def hook(*_: Any) -> None:
        nonlocal calls
        calls += 1

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Linear)]
    try:
        with torch.no_grad():
            model(**inputs)
    finally:
        for handle in handles:
            handle.remove()
    return calls
