"""A user's own module through a factory ``build(task, dtype, shape) -> (module, inputs)``: ``task`` is
"qa", "seqcls" or "tokcls", ``dtype`` ``torch.float32`` (variants convert it), ``shape`` (batch,
sequence); ``module(**inputs)`` returns a tuple of tensors laid out as its task's answers are read
(``OUTPUT_LAYOUT``). Anything else is that case's BuildError.
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING, Any

from ..core.errors import BuildError
from .inputs import Shape
from .zoo import Task

if TYPE_CHECKING:
    import torch


def load_factory(ref: str) -> Any:
    module_name, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BuildError(f"factory {ref}: cannot import {module_name}: {exc} (it must be importable, e.g. "
                         "from the rootdir with pytest's pythonpath = [\".\"])") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise BuildError(f"factory {ref}: {module_name} has no callable {attr!r}")
    return factory


# What the task-answer check reads from a factory's outputs (agreement.task_agreement): anything
# else would fail there as a bare IndexError or a shape mismatch, far from its cause.
OUTPUT_LAYOUT = {
    Task.QA: "outputs[0] and outputs[1]: start and end logits, each [batch, sequence]",
    Task.SEQ_CLS: "outputs[0]: class logits [batch, classes], classes >= 2",
    Task.TOKEN_CLS: "outputs[0]: tag logits [batch, sequence, tags], tags >= 2",
}


def layout_problem(task: Task, outputs: tuple[torch.Tensor, ...], shape: Shape) -> str | None:
    """Why ``outputs`` do not fit ``task``'s layout at ``shape``, or None."""
    b, s = shape.batch, shape.seq_len
    shapes = [tuple(o.shape) for o in outputs]
    if task is Task.QA:
        fits = len(shapes) >= 2 and shapes[0] == shapes[1] == (b, s)
    elif task is Task.SEQ_CLS:
        fits = len(shapes[0]) == 2 and shapes[0][0] == b and shapes[0][1] >= 2
    else:
        fits = len(shapes[0]) == 3 and shapes[0][:2] == (b, s) and shapes[0][2] >= 2
    if fits:
        return None
    return (f"{task.value} reads {OUTPUT_LAYOUT[task]} (here batch {b}, sequence {s}); "
            f"the module returned {len(shapes)} output(s) of shape {', '.join(str(list(x)) for x in shapes)}")


@functools.cache
def factory_build(ref: str, task: Task, shape: Shape) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    """The factory's module (in eval mode) and inputs at ``shape``, checked against the contract."""
    import torch

    try:
        result = load_factory(ref)(task.value, torch.float32, (shape.batch, shape.seq_len))
    except BuildError:
        raise
    except Exception as exc:  # the user's code: any error is this case's build error, with its text
        raise BuildError(f"factory {ref} raised {type(exc).__name__}: {exc}") from exc
    if not (isinstance(result, tuple) and len(result) == 2):
        raise BuildError(f"factory {ref} must return (module, inputs), got {type(result).__name__}")
    module, inputs = result
    if not isinstance(module, torch.nn.Module):
        raise BuildError(f"factory {ref}: the module is a {type(module).__name__}, not a torch.nn.Module")
    if not (isinstance(inputs, dict) and inputs and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                        for k, v in inputs.items())):
        raise BuildError(f"factory {ref}: the inputs must be a non-empty dict of tensors by argument name")
    module.eval()
    try:
        with torch.no_grad():
            outputs = module(**inputs)
    except Exception as exc:  # the user's module, as the factory's call above: this case's build error
        raise BuildError(f"factory {ref}: module(**inputs) raised {type(exc).__name__}: {exc}") from exc
    if not (isinstance(outputs, tuple) and outputs and all(isinstance(o, torch.Tensor) for o in outputs)):
        raise BuildError(f"factory {ref}: module(**inputs) must return a tuple of tensors, "
                         f"got {type(outputs).__name__}")
    problem = layout_problem(task, outputs, shape)
    if problem:
        raise BuildError(f"factory {ref}: {problem}")
    return module, inputs
