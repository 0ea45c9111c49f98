"""Building task models: from the zoo with seeded weights (``spec``), or from a real checkpoint."""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING, Any

from .checkpoint import load_task_model
from .spec import ModelSpec, num_labels, seeded_init_
from .zoo import Task

if TYPE_CHECKING:
    import torch

def build_config(spec: ModelSpec):
    from transformers import AutoConfig

    kwargs = spec.arch.config_kwargs(spec.size)
    for key in ("hidden_dropout_prob", "attention_probs_dropout_prob", "dropout", "attention_dropout",
                "classifier_dropout", "qa_dropout", "seq_classif_dropout"):
        kwargs[key] = 0.0
    return AutoConfig.for_model(
        spec.arch.model_type, num_labels=num_labels(spec.task), return_dict=False, **kwargs
    )


def build_model(spec: ModelSpec) -> torch.nn.Module:
    import transformers

    if spec.checkpoint is not None:
        return load_task_model(spec)
    if spec.factory is not None:
        from .factory import factory_build
        from .inputs import TRACE_SHAPE

        return factory_build(spec.factory, spec.task, spec.shape or TRACE_SHAPE)[0]
    config = build_config(spec)
    auto = getattr(transformers, spec.task.auto_class)
    # seeded_init_ overwrites every parameter next, so transformers' own initialisation is skipped:
    # it is most of from_config's time at base size, paid by every claims worker and perf build, and
    # changes no weight (tests/test_variants.py compares both ways, tied weights and buffers too).
    with library_init_skipped():
        model = auto.from_config(config, attn_implementation=spec.attention)
    seeded_init_(model, spec.seed)
    return model.eval()


def library_init_skipped() -> contextlib.AbstractContextManager[Any]:
    """transformers' switch that skips its weight initialisation (its module moved in 5.0); where a
    version has none, a no-op: the weights are the same either way, only slower to make. The lanes'
    test asserts the switch is found, so a lane that loses it shows."""
    try:
        from transformers.initialization import no_init_weights  # transformers 5
    except ImportError:
        try:
            from transformers.modeling_utils import no_init_weights  # type: ignore[attr-defined,no-redef]  # 4.x
        except ImportError:
            return contextlib.nullcontext()
    return no_init_weights()


@functools.cache
def task_model_class(model_type: str, task: Task) -> type:
    import transformers
    from transformers import AutoConfig

    auto = getattr(transformers, task.auto_class)
    return auto._model_mapping[type(AutoConfig.for_model(model_type))]


def attention_problem(spec: ModelSpec) -> str | None:
    """Why this lane's transformers cannot build ``spec`` with its attention implementation, or None."""
    if spec.attention != "sdpa" or spec.factory is not None:
        return None
    cls = task_model_class(spec.arch.model_type, spec.task)
    if getattr(cls, "_supports_sdpa", False):
        return None
    import transformers

    return f"{cls.__name__} has no SDPA attention in transformers {transformers.__version__}"
