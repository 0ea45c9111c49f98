"""Can the correctness checks fail? A variant that skipped a whole encoder layer must miss the
tolerance table on every tiny zoo model: FP32's does; BF16's misses it on all but three (below)."""

from __future__ import annotations

import copy

import pytest

from infergate.building.harness import example_inputs
from infergate.matrix.agreement import closeness
from infergate.matrix.dtypes import DType
from infergate.matrix.models import build_model
from infergate.matrix.spec import ModelSpec
from infergate.matrix.tolerances import TOLERANCES
from infergate.matrix.zoo import ARCHS, EAGER_ATTENTION, SIZES, Task

torch = pytest.importorskip("torch")

# ALBERT runs one shared layer group at every depth: no layer of its own to leave out.
LAYERED = [a for a in ARCHS if a != "albert"]


def _without_last_layer(model):
    """A copy whose last encoder layer returns its input: the layer's work skipped, the shapes kept."""
    broken = copy.deepcopy(model)
    stacks = [m for n, m in broken.named_modules() if n.endswith(("encoder.layer", "transformer.layer"))]
    assert stacks, "no encoder layer list found"
    last = stacks[0][-1]
    original = last.forward

    def skipped(*args, **kwargs):
        out = original(*args, **kwargs)
        hidden = args[0] if args else next(iter(kwargs.values()))
        return (hidden, *out[1:]) if isinstance(out, tuple) else hidden

    last.forward = skipped
    return broken


# A known limit, kept visible: on these tiny models (trunk drawn at HF's 0.02, where each of the two
# layers is near an identity) leaving out the last layer moves the outputs by about as much as the
# BF16 tolerance allows (0.3 + 5 % of the reference), and the BF16 check passes them. strict: the
# day the check catches them, this fails and the mark goes.
# Tried and not kept (2026-12-07): a whole-tensor bound, ||out - ref|| / ||ref||, as a shift over the
# whole output should stand out of rounding. Over 8 weight seeds of these models a correct BF16
# eager and one without its last layer overlapped at the trace shape (sequence classification at
# batch 1 is 3 numbers), and at 8 x 32 no bound left the 2x headroom the table keeps on both sides;
# BF16 jit_ipex, which cannot be built on AVX2, went unmeasured. A larger trunk sd (0.08) separated
# them but flipped 13 BF16 QA answers. The blind spot is a property of near-identity layers.
BF16_BLIND = {("bert", Task.QA), ("distilbert", Task.SEQ_CLS), ("roberta", Task.QA)}
CASES = [(a, t) for a in LAYERED for t in Task]


def _outputs(arch: str, task: Task):
    spec = ModelSpec(ARCHS[arch], task, SIZES["tiny"], EAGER_ATTENTION)
    model = build_model(spec)
    inputs = example_inputs(spec)
    broken = _without_last_layer(model)
    with torch.no_grad():
        reference, fp32 = tuple(model(**inputs)), tuple(broken(**inputs))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            intact, bf16 = tuple(model(**inputs)), tuple(broken(**inputs))
    return reference, fp32, intact, bf16, inputs["attention_mask"]


@pytest.mark.lane_independent
@pytest.mark.parametrize(("arch", "task"), CASES, ids=[f"{a}-{t.value}" for a, t in CASES])
def test_a_variant_missing_an_encoder_layer_misses_the_fp32_tolerance(arch: str, task: Task) -> None:
    reference, fp32, _, _, mask = _outputs(arch, task)
    assert not closeness(reference, fp32, TOLERANCES[DType.FP32], mask, task).ok


@pytest.mark.lane_independent
@pytest.mark.parametrize(("arch", "task"), [
    pytest.param(a, t, marks=pytest.mark.xfail(strict=True, reason="BF16 tolerance blind to a missing layer here"))
    if (a, t) in BF16_BLIND else (a, t) for a, t in CASES], ids=[f"{a}-{t.value}" for a, t in CASES])
def test_a_variant_missing_an_encoder_layer_misses_the_bf16_tolerance(arch: str, task: Task) -> None:
    reference, _, intact, bf16, mask = _outputs(arch, task)
    assert closeness(reference, intact, TOLERANCES[DType.BF16], mask, task).ok  # BF16 itself passes: the check is fair
    assert not closeness(reference, bf16, TOLERANCES[DType.BF16], mask, task).ok
