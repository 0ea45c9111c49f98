"""A user's configured model as model specs: a checkpoint's own task unless the config names others
(whose heads are seeded, and said to be), or a factory's module (``factory.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import UsageError
from .checkpoint import (
    PICKLE_NAMES,
    SAFETENSORS_NAME,
    checkpoint_size,
    read_checkpoint_config,
    resolve_checkpoint,
    weights_file,
)
from .dtypes import DType
from .spec import ModelSpec
from .user_config import UserModel, config_error
from .zoo import ARCHS, EAGER_ATTENTION, Arch, Size, Task

# transformers' head classes end in these; ``architectures`` in a checkpoint's config names them.
HEAD_SUFFIXES = {"ForQuestionAnswering": Task.QA, "ForSequenceClassification": Task.SEQ_CLS,
                 "ForTokenClassification": Task.TOKEN_CLS}
# A factory's module has no architecture, size or attention of ours: placeholders, kept out of ids.
FACTORY_ARCH = Arch("custom", "custom", (EAGER_ATTENTION,), False, 0)
FACTORY_SIZE = Size("custom", layers=0, hidden=0, heads=0, intermediate=0, vocab=0)


@dataclass(frozen=True)
class UserSpecs:
    model: UserModel
    specs: tuple[ModelSpec, ...]
    notes: tuple[str, ...]  # for the report: which heads are random


def checkpoint_tasks(config: dict) -> tuple[Task, ...]:
    """The tasks whose heads the checkpoint has, from its config's ``architectures`` (a list, as
    read_checkpoint_config gives it)."""
    found = []
    for name in config.get("architectures") or ():
        for suffix, task in HEAD_SUFFIXES.items():
            if str(name).endswith(suffix) and task not in found:
                found.append(task)
    return tuple(found)


def user_specs(model: UserModel) -> UserSpecs:
    if not model.is_factory:
        return _checkpoint_specs(model)
    if not model.tasks:
        raise config_error(model.path, f"{model.key}.tasks", "missing: a factory's model names its tasks")
    specs = tuple(ModelSpec(FACTORY_ARCH, task, FACTORY_SIZE, EAGER_ATTENTION, factory=model.source,
                            label=model.id, shape=model.shapes[0], other_shapes=model.shapes[1:],
                            tolerances=model.tolerances, skips=_skips(model))
                  for task in model.tasks)
    return UserSpecs(model, specs, ())


def missing_package(source: str) -> str | None:
    """The package a ``pkg:`` source names when this python has not installed it, else None."""
    import importlib.util

    from .checkpoint import PACKAGE_PREFIX

    if not source.startswith(PACKAGE_PREFIX):
        return None
    module = source[len(PACKAGE_PREFIX):].partition("/")[0]
    try:
        return None if importlib.util.find_spec(module) is not None else module
    except (ImportError, ValueError):
        return module


def unresolved_specs(model: UserModel, package: str) -> UserSpecs:
    """A ``pkg:`` checkpoint this python lacks, as the ids its config keys give (tasks named): each
    lane's worker resolves it, or fails its variants with the cause."""
    if not model.tasks:
        raise config_error(model.path, f"{model.key}.tasks",
                           f"missing: {model.source} is not installed here (no package {package!r}), so its "
                           "tasks cannot be read from its checkpoint; name them to gate it between lanes")
    arch = Arch(f"unresolved:{model.source}", "", (model.attention,), False, 0)
    size = Size("real", layers=0, hidden=0, heads=0, intermediate=0, vocab=0)
    specs = tuple(ModelSpec(arch, task, size, model.attention, checkpoint=model.source, label=model.id,
                            shape=model.shapes[0], tolerances=model.tolerances, skips=_skips(model))
                  for task in model.tasks)
    return UserSpecs(model, specs, ())


def _checkpoint_specs(model: UserModel) -> UserSpecs:
    key = f"{model.key}.source"
    try:
        directory = resolve_checkpoint(model.source, model.path.parent)  # as baselines: beside the file
    except UsageError as exc:
        raise config_error(model.path, key, str(exc)) from None
    try:
        config = read_checkpoint_config(directory)
    except UsageError as exc:
        raise config_error(model.path, key, str(exc)) from None
    arch = _arch(config, model, key)
    if weights_file(directory) is None:  # found now, not as a traceback once the session builds it
        raise config_error(model.path, key, f"{directory} has neither {SAFETENSORS_NAME} nor {PICKLE_NAMES[0]}")
    _check_positions(config, model, directory)
    if model.attention not in arch.attentions:
        raise config_error(model.path, f"{model.key}.attention",
                           f"{arch.name} supports attention {', '.join(arch.attentions)}, not {model.attention!r}")
    own = checkpoint_tasks(config)
    heads = ", ".join(config.get("architectures") or ()) or "none named"
    if not model.tasks and not own:
        raise config_error(model.path, f"{model.key}.tasks",
                           f"missing: {directory.name} has no task head (architectures: {heads}); name the tasks "
                           "to run, and their heads are seeded at random")
    size = checkpoint_size(config)
    specs, notes = [], []
    if arch.name not in ARCHS:  # the zoo's architectures have every task; another may lack one
        _check_heads(arch, model.tasks or own, model)
    for task in model.tasks or own:
        specs.append(ModelSpec(arch, task, size, model.attention, checkpoint=str(directory), label=model.id,
                               shape=model.shapes[0], own_head=task in own, tolerances=model.tolerances,
                               skips=_skips(model)))
        if task not in own:
            notes.append(f"{model.id}: the {task.value} head is random (seeded), not trained: {directory.name} "
                         f"has no {task.value} head (architectures: {heads})")
    return UserSpecs(model, tuple(specs), tuple(notes))


def _check_positions(config: dict, model: UserModel, directory) -> None:
    """A shape longer than the checkpoint's position table would fail in every case's forward."""
    limit = config.get("max_position_embeddings", 0)
    for shape in model.shapes:
        if limit and shape.seq_len > limit:
            raise config_error(model.path, f"{model.key}.shapes",
                               f"{shape.batch}x{shape.seq_len}: sequence {shape.seq_len} is longer than "
                               f"{directory.name}'s max_position_embeddings ({limit})")


def _arch(config: dict, model: UserModel, key: str) -> Arch:
    model_type = str(config.get("model_type", ""))
    for arch in ARCHS.values():
        if arch.model_type == model_type:
            return arch
    from transformers import CONFIG_MAPPING  # collection already imports transformers (attention_problem)

    if model_type not in CONFIG_MAPPING:
        raise config_error(model.path, key, f"model_type {model_type!r} is not one transformers knows")
    # Not one of the zoo's: its inputs come from its tokenizer; these fields serve the property tests.
    return Arch(model_type, model_type, ("eager", "sdpa"), config.get("type_vocab_size", 0) > 1,
                config.get("vocab_size", 0))


def _check_heads(arch: Arch, tasks: tuple[Task, ...], model: UserModel) -> None:
    from .models import task_model_class

    for task in tasks:
        try:
            task_model_class(arch.model_type, task)
        except (KeyError, ValueError):
            raise config_error(model.path, f"{model.key}.tasks", f"transformers has no {task.auto_class} "
                                                                 f"for model_type {arch.model_type!r}") from None


def _skips(model: UserModel) -> tuple[tuple[str | None, DType | None, str], ...]:
    return tuple((s.variant, s.dtype, s.reason) for s in model.skips)
