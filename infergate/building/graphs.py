"""Reading TorchScript graphs: which node kinds ran, counted, including nested blocks."""

from __future__ import annotations

from collections import Counter
from typing import Any

# The namespaces of IPEX's own ops in an executed graph (its fused ops, prepacked kernels, and
# the torch_ipex:: ops some versions register): what plain jit must not hold, and the fusion table's
# tracked kinds.
IPEX_KIND_PREFIXES = ("ipex::", "ipex_prepack::", "torch_ipex::")
# The namespaces only IPEX's TorchScript graph passes create: jit_ipex's proof that they ran.
# Not torch_ipex::: ipex.optimize swaps every nn.Linear for a module that traces to
# torch_ipex::ipex_MKLSGEMM / ipex_linear, so that kind is in the graph even when no pass ran.
IPEX_JIT_PASS_PREFIXES = ("ipex::", "ipex_prepack::")


def node_kinds(graph: Any) -> Counter[str]:
    """Count node kinds of a torch._C.Graph, descending into blocks and fallback subgraphs."""
    counts: Counter[str] = Counter()
    stack = [graph]
    seen: set[int] = set()
    while stack:
        g = stack.pop()
        if id(g) in seen:
            continue
        seen.add(id(g))
        for node in g.nodes():
            counts[node.kind()] += 1
            stack.extend(node.blocks())
            # The profiling executor hides the specialized graph in a fallback/fusion subgraph.
            if node.hasAttribute("Subgraph"):
                stack.append(node.g("Subgraph"))
    return counts


def last_executed_kinds() -> Counter[str]:
    import torch

    graph = torch.jit.last_executed_optimized_graph()
    return node_kinds(graph)
