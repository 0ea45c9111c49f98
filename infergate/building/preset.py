"""The built-in preset (``builtin_preset.toml``): the zoo's profiles, checked by the user config's rules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import UsageError
from ..matrix.user_config import (
    CONFIG_VERSION,
    TABLE,
    check_array,
    check_known,
    check_string,
    check_table,
    config_error,
    each,
    parse_dtype,
    parse_shape,
    parse_task,
    tomllib,
)
from ..matrix.zoo import ARCHS, ATTENTIONS, SDPA_ATTENTION, SIZES
from .variants import get_variant

PRESET = Path(__file__).with_name("builtin_preset.toml")
PROFILE_KEYS = ("name", "help", "correctness", "perf")
SELECTION_KEYS = ("sizes", "archs", "tasks", "attentions", "variants", "dtypes", "shapes", "real_checkpoint")
EACH_ARCH = "each"  # archs = "each": one selection per zoo architecture, in the zoo's order
PREFERRED = "preferred"  # attentions = "preferred": the one transformers picks by default


@dataclass(frozen=True)
class ProfileData:
    name: str
    help: str
    correctness: tuple[dict[str, Any], ...]  # Selection keyword arguments, typed
    perf: tuple[dict[str, Any], ...]


def preferred_attention(arch_name: str) -> str:
    """The attention transformers picks by default: SDPA where the architecture has it."""
    attns = ARCHS[arch_name].attentions
    return SDPA_ATTENTION if SDPA_ATTENTION in attns else attns[0]


def load_preset(path: Path = PRESET) -> tuple[ProfileData, ...]:
    table = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("infergate")
    check_table(table, TABLE, path)
    check_known(table, TABLE, ("version", "profiles"), path)
    if table.get("version") != CONFIG_VERSION:
        raise config_error(path, f"{TABLE}.version", f"this infergate reads version {CONFIG_VERSION}")
    key = f"{TABLE}.profiles"
    return tuple(_profile(p, f"{key}[{i}]", path) for i, p in enumerate(check_array(table.get("profiles"), key,
                                                                                    path, nonempty=True)))


def _profile(raw: Any, key: str, path: Path) -> ProfileData:
    check_table(raw, key, path)
    check_known(raw, key, PROFILE_KEYS, path)
    return ProfileData(
        check_string(raw.get("name"), f"{key}.name", path), check_string(raw.get("help"), f"{key}.help", path),
        *(tuple(s for i, sel in enumerate(check_array(raw.get(suite), f"{key}.{suite}", path, nonempty=True))
                for s in _selections(sel, f"{key}.{suite}[{i}]", path)) for suite in ("correctness", "perf")),
    )


def _selections(raw: Any, key: str, path: Path) -> list[dict[str, Any]]:
    check_table(raw, key, path)
    check_known(raw, key, SELECTION_KEYS, path)
    each_arch = raw.get("archs") == EACH_ARCH
    archs = tuple(ARCHS) if each_arch else (None,)
    return [_selection(raw, key, path, arch) for arch in archs]


def _selection(raw: dict, key: str, path: Path, arch: str | None) -> dict[str, Any]:
    real = raw.get("real_checkpoint", False)
    if not isinstance(real, bool):
        raise config_error(path, f"{key}.real_checkpoint", f"must be true or false, got {real!r}")
    out: dict[str, Any] = {"sizes": each(raw, "sizes", [], _named(SIZES), key, path, nonempty=not real),
                           "real_checkpoint": real}
    if arch is not None:
        out["archs"] = (arch,)
    elif "archs" in raw:
        out["archs"] = each(raw, "archs", None, _named(ARCHS), key, path)
    if raw.get("attentions") == PREFERRED:
        if arch is None:
            raise config_error(path, f"{key}.attentions", f"{PREFERRED!r} needs archs = {EACH_ARCH!r}")
        out["attentions"] = (preferred_attention(arch),)
    elif "attentions" in raw:
        out["attentions"] = each(raw, "attentions", None, _named(ATTENTIONS), key, path)
    for name, parse in (("tasks", parse_task), ("dtypes", parse_dtype), ("shapes", parse_shape),
                        ("variants", _variant)):
        if name in raw:
            out[name] = each(raw, name, None, parse, key, path)
    return out


def _named(valid):
    def parse(value: Any, key: str, path: Path) -> str:
        if value not in valid:
            raise config_error(path, key, f"unknown name {value!r}; valid: {', '.join(valid)}")
        return value

    return parse


def _variant(value: Any, key: str, path: Path) -> str:
    try:
        return get_variant(check_string(value, key, path)).name
    except UsageError as exc:
        raise config_error(path, key, str(exc)) from None
