"""A user's own module through a factory ``build(task, dtype, shape) -> (module, inputs)``: ``task`` is
"qa", "seqcls" or "tokcls", ``dtype`` ``torch.float32`` (variants convert it), ``shape`` (batch,
sequence); ``module(**inputs)`` returns a tuple of tensors. Anything else is that case's BuildError.
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
    with torch.no_grad():
        outputs = module(**inputs)
    if not (isinstance(outputs, tuple) and outputs and all(isinstance(o, torch.Tensor) for o in outputs)):
        raise BuildError(f"factory {ref}: module(**inputs) must return a tuple of tensors, "
                         f"got {type(outputs).__name__}")
    return module, inputs
