"""Building task models from the zoo with seeded, reproducible weights and no download."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .zoo import NUM_SEQ_LABELS, NUM_TOKEN_LABELS, Arch, Size, Task

if TYPE_CHECKING:
    import torch

# Heads are drawn wider than the trunk so that task answers are decisive, as in a trained model.
# With the trunk's 0.02 a random head gives near-ties everywhere and an argmax check means nothing.
TRUNK_STD = 0.02
HEAD_STD = 0.5
HEAD_PREFIXES = ("qa_outputs", "classifier", "pre_classifier", "pooler")


@dataclass(frozen=True)
class ModelSpec:
    arch: Arch
    task: Task
    size: Size
    attention: str
    seed: int = 0
    checkpoint: str | None = None  # a local directory: weights come from it, heads are seeded
    label: str | None = None  # short name of a checkpoint, used in ids instead of the arch

    @property
    def id(self) -> str:
        name = self.label or self.arch.name
        return f"{name}-{self.task.value}-{self.size.name}-{self.attention}_attn"


def num_labels(task: Task) -> int:
    return {Task.QA: 2, Task.SEQ_CLS: NUM_SEQ_LABELS, Task.TOKEN_CLS: NUM_TOKEN_LABELS}[task]


def seeded_init_(model: "torch.nn.Module", seed: int, head_names: tuple[str, ...] = HEAD_PREFIXES) -> None:
    """Overwrite every parameter from one seeded generator, in name order.

    Independent of transformers' own init, so the same spec gives the same weights in every lane:
    that is what lets two lanes' outputs be compared at all.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            noise = torch.randn(param.shape, generator=gen, dtype=torch.float32)
            leaf = name.rsplit(".", 1)[-1]
            is_norm = "norm" in name.lower() and leaf in ("weight", "bias")
            if is_norm and leaf == "weight":
                value = 1.0 + TRUNK_STD * noise
            elif any(part in head_names for part in name.split(".")):
                value = HEAD_STD * noise
            else:
                value = TRUNK_STD * noise
            param.copy_(value.to(param.dtype))


def build_config(spec: ModelSpec):
    from transformers import AutoConfig

    kwargs = spec.arch.config_kwargs(spec.size)
    for key in ("hidden_dropout_prob", "attention_probs_dropout_prob", "dropout", "attention_dropout",
                "classifier_dropout", "qa_dropout", "seq_classif_dropout"):
        kwargs[key] = 0.0
    return AutoConfig.for_model(
        spec.arch.model_type, num_labels=num_labels(spec.task), return_dict=False, **kwargs
    )


def build_model(spec: ModelSpec) -> "torch.nn.Module":
    import transformers

    if spec.checkpoint is not None:
        from .checkpoint import load_task_model

        return load_task_model(spec)
    config = build_config(spec)
    auto = getattr(transformers, spec.task.auto_class)
    model = auto.from_config(config, attn_implementation=spec.attention)
    seeded_init_(model, spec.seed)
    return model.eval()


@functools.cache
def task_model_class(model_type: str, task: Task) -> type:
    import transformers
    from transformers import AutoConfig

    auto = getattr(transformers, task.auto_class)
    return auto._model_mapping[type(AutoConfig.for_model(model_type))]


def attention_problem(spec: ModelSpec) -> str | None:
    """Why this lane's transformers cannot build ``spec`` with its attention implementation.

    The zoo declares what an architecture has in the newest lane; older transformers lack some
    (measured: ELECTRA has no SDPA in 4.57.6, has it in 5.24.0).
    """
    if spec.attention != "sdpa":
        return None
    cls = task_model_class(spec.arch.model_type, spec.task)
    if getattr(cls, "_supports_sdpa", False):
        return None
    import transformers

    return f"{cls.__name__} has no SDPA attention in transformers {transformers.__version__}"
