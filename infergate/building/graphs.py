"""Reading TorchScript graphs: which node kinds ran, counted, including nested blocks."""

from __future__ import annotations

from collections import Counter
from typing import Any


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
