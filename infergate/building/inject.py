"""TEST ONLY: a real in-graph slowdown (``--ig-inject-slowdown``): every encoder layer of a model
copy gets ``h + (h @ A) @ B`` with zero ``A``, ``B``, sized to ``fraction`` of a layer's GEMM FLOPs.
Outputs are unchanged; a run that uses it never records baselines."""

from __future__ import annotations

import argparse
from typing import Any

LAYER_FLOPS_PER_HIDDEN2 = 12


def _layers(model: Any) -> Any:
    """The encoder's layers: the largest ModuleList in the model."""
    import torch

    lists = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList) and len(m) > 0]
    if not lists:
        raise ValueError(f"{type(model).__name__} has no ModuleList of layers to slow down")
    return max(lists, key=len)


def extra_width(hidden: int, fraction: float) -> int:
    """k such that 2 * hidden * k FLOPs per token are ``fraction`` of a layer's 12 hidden^2."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    return max(1, round(fraction * LAYER_FLOPS_PER_HIDDEN2 * hidden / 2))


def _after_layer(module: Any, args: Any, output: Any) -> Any:
    extra = module.infergate_extra_work
    if isinstance(output, tuple):
        return (output[0] + extra(output[0]), *output[1:])
    return output + extra(output)


def slowed_copy(model: Any, fraction: float) -> Any:
    """A deep copy of ``model`` whose every encoder layer does the extra work; the original is untouched."""
    import copy

    import torch

    slow = copy.deepcopy(model)
    hidden = int(slow.config.hidden_size)
    k = extra_width(hidden, fraction)
    for layer in _layers(slow):
        down, up = torch.nn.Linear(hidden, k, bias=False), torch.nn.Linear(k, hidden, bias=False)
        with torch.no_grad():
            down.weight.zero_()
            up.weight.zero_()
        work = torch.nn.Sequential(down, up)
        layer.infergate_extra_work = work.to(next(slow.parameters()).dtype)
        layer.register_forward_hook(_after_layer)
    return slow.eval()


def injection_type(value: str) -> tuple[str, float]:
    """VARIANT=FRACTION, e.g. compile=0.10."""
    from ..core.validate import fraction_type
    from .variants import REFERENCE, VARIANTS

    variant, sep, fraction = value.partition("=")
    if not sep or variant not in VARIANTS or variant == REFERENCE:
        names = ", ".join(v for v in VARIANTS if v != REFERENCE)
        raise argparse.ArgumentTypeError(f"{value!r} must be VARIANT=FRACTION with VARIANT one of {names}")
    number = fraction_type(fraction)
    if number == 0.0:
        raise argparse.ArgumentTypeError("an injected slowdown of 0 injects nothing; leave the option out")
    return variant, number
