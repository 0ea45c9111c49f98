"""A user's models as data: ``[tool.infergate]`` in the rootdir's ``pyproject.toml`` or ``--ig-config``,
read and validated, stdlib only; every refusal is one ``ConfigError`` line naming key and file."""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..core.errors import UsageError
from .dtypes import DType
from .inputs import Shape
from .zoo import ATTENTIONS, EAGER_ATTENTION, Task

if sys.version_info >= (3, 11):
    import tomllib
else:  # 3.10, which pyproject still supports: tomli is tomllib's own backport (a 3.10-only dependency)
    import tomli as tomllib

T = TypeVar("T")
CONFIG_VERSION = 1  # of the [tool.infergate] table; a file may say ``version = 1``
TABLE = "tool.infergate"
MODEL_KEYS = ("id", "source", "tasks", "shapes", "dtypes", "variants", "attention", "tolerance", "skip")
SKIP_KEYS = ("variant", "dtype", "reason")
TOLERANCE_KEYS = ("atol", "rtol")
# Model ids become the first part of test ids and baseline keys: no "-", which separates their parts.
_ID = re.compile(r"^[a-z0-9][a-z0-9_.]*$")
_SHAPE = re.compile(r"^([1-9][0-9]*)x([1-9][0-9]*)$")
_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class ConfigError(UsageError):
    """A config key that is unknown or has a bad value."""


def config_error(path: Path, key: str, problem: str) -> ConfigError:
    return ConfigError(f"{path}: {key}: {problem}")


@dataclass(frozen=True)
class Skip:
    variant: str | None  # None: every variant
    dtype: DType | None  # None: every dtype
    reason: str


@dataclass(frozen=True)
class UserModel:
    id: str
    source: str  # as written: a directory, pkg:module/relative, a hub id, or package.module:factory
    tasks: tuple[Task, ...]  # empty: the checkpoint's own task
    shapes: tuple[Shape, ...]
    dtypes: tuple[DType, ...]
    variants: tuple[str, ...] | None  # None: the matrix's default variants
    attention: str
    tolerances: tuple[tuple[DType, float, float], ...]  # (dtype, atol, rtol) overrides
    skips: tuple[Skip, ...]
    key: str  # where it was declared, e.g. tool.infergate.models[0], for later messages
    path: Path

    @property
    def is_factory(self) -> bool:
        # pkg:module/dir names a package's directory; a path that exists is a directory, whatever its name.
        return (not self.source.startswith("pkg:") and _FACTORY.match(self.source) is not None
                and not (self.path.parent / self.source).exists())


@dataclass(frozen=True)
class UserConfig:
    path: Path
    models: tuple[UserModel, ...]
    baselines: Path | None = None  # the project's baselines directory, relative to the file; --ig-baselines wins


DEFAULT_SHAPES = (Shape(1, 128),)
DEFAULT_DTYPES = (DType.FP32,)


def load_config(path: Path, required: bool) -> UserConfig | None:
    """The ``[tool.infergate]`` table of ``path``; None for a pyproject without one, unless ``required``."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except OSError as exc:  # a directory, no permission: the file named, not an INTERNALERROR
        raise ConfigError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    table = data.get("tool", {}).get("infergate") if isinstance(data.get("tool"), dict) else None
    if table is None:
        if required:
            raise config_error(path, TABLE, "missing: the file must have a [tool.infergate] table")
        return None
    return parse_config(table, path)


def project_baselines(project: Path, fallback: Path) -> Path:
    """The baselines directory the perf run of ``project`` (its pyproject.toml) reads: its
    ``[tool.infergate] baselines``, else ``fallback``. The commands that read or write baselines
    outside pytest default to it, so that they never write where the run does not look."""
    pyproject = project / "pyproject.toml"
    config = load_config(pyproject, required=False) if pyproject.is_file() else None
    return config.baselines if config is not None and config.baselines is not None else fallback


def parse_config(table: Any, path: Path) -> UserConfig:
    check_table(table, TABLE, path)
    check_known(table, TABLE, ("version", "baselines", "models"), path)
    version = table.get("version", CONFIG_VERSION)
    if isinstance(version, bool) or version != CONFIG_VERSION:
        raise config_error(path, f"{TABLE}.version", f"{version!r}: this infergate reads version {CONFIG_VERSION}")
    models = table.get("models", [])
    if not isinstance(models, list) or not models:
        raise config_error(path, f"{TABLE}.models", "must be a non-empty array of tables ([[tool.infergate.models]])")
    parsed = tuple(_model(m, f"{TABLE}.models[{i}]", path) for i, m in enumerate(models))
    seen: set[str] = set()
    for m in parsed:
        if m.id in seen:
            raise config_error(path, f"{m.key}.id", f"{m.id!r} is declared twice")
        seen.add(m.id)
    return UserConfig(path, parsed, _baselines(table, path))


def _baselines(table: dict, path: Path) -> Path | None:
    if "baselines" not in table:
        return None
    value = table["baselines"]
    if not isinstance(value, str) or not value:
        raise config_error(path, f"{TABLE}.baselines", f"{value!r}: must be a directory path (relative to this file)")
    where = path.parent / value
    if where.exists() and not where.is_dir():
        raise config_error(path, f"{TABLE}.baselines", f"{value!r} exists and is not a directory")
    return where


def _model(raw: Any, key: str, path: Path) -> UserModel:
    check_table(raw, key, path)
    check_known(raw, key, MODEL_KEYS, path)
    for required in ("id", "source"):
        if required not in raw:
            raise config_error(path, f"{key}.{required}", "missing")
    model_id = check_string(raw["id"], f"{key}.id", path)
    if not _ID.match(model_id):
        raise config_error(path, f"{key}.id", f"{model_id!r} must be lower-case letters, digits, '_' or '.' "
                                              "(no '-': it separates the parts of test ids)")
    attention = raw.get("attention", EAGER_ATTENTION)
    if attention not in ATTENTIONS:
        raise config_error(path, f"{key}.attention", f"{attention!r}; valid: {', '.join(ATTENTIONS)}")
    variants = raw.get("variants")
    model = UserModel(
        id=model_id, source=check_string(raw["source"], f"{key}.source", path),
        tasks=each(raw, "tasks", [], parse_task, key, path, nonempty=False),
        shapes=each(raw, "shapes", ["1x128"], parse_shape, key, path),
        dtypes=each(raw, "dtypes", ["fp32"], parse_dtype, key, path),
        variants=None if variants is None else each(raw, "variants", None, check_string, key, path),
        attention=attention,
        tolerances=_tolerances(raw.get("tolerance", {}), f"{key}.tolerance", path),
        skips=tuple(_skip(s, f"{key}.skip[{i}]", path)
                    for i, s in enumerate(check_array(raw.get("skip", []), f"{key}.skip", path))),
        key=key, path=path,
    )
    if "attention" in raw and model.is_factory:  # it would be accepted and never applied
        raise config_error(path, f"{key}.attention",
                           "a factory's module chooses its own attention; this key applies to checkpoints only")
    return model


def each(raw: dict, name: str, default: Any, parse: Callable[[Any, str, Path], T], key: str, path: Path,
         nonempty: bool = True) -> tuple[T, ...]:
    """``raw[name]`` (or ``default``), an array, each item parsed; errors name ``key.name``. An item
    listed twice is refused: it would make two cases with one id and one baseline key."""
    full = f"{key}.{name}"
    parsed: list[T] = []
    for item in check_array(raw.get(name, default), full, path, nonempty):
        value = parse(item, full, path)
        if value in parsed:
            raise config_error(path, full, f"{item!r} is listed twice")
        parsed.append(value)
    return tuple(parsed)


def _tolerances(raw: Any, key: str, path: Path) -> tuple[tuple[DType, float, float], ...]:
    check_table(raw, key, path)
    out = []
    for name, bounds in raw.items():
        dtype = parse_dtype(name, key, path)
        check_table(bounds, f"{key}.{name}", path)
        check_known(bounds, f"{key}.{name}", TOLERANCE_KEYS, path)
        if set(bounds) != set(TOLERANCE_KEYS):
            raise config_error(path, f"{key}.{name}", "needs both atol and rtol")
        values = [_positive(bounds[k], f"{key}.{name}.{k}", path) for k in TOLERANCE_KEYS]
        out.append((dtype, values[0], values[1]))
    return tuple(out)


def _skip(raw: Any, key: str, path: Path) -> Skip:
    check_table(raw, key, path)
    check_known(raw, key, SKIP_KEYS, path)
    if not str(raw.get("reason", "")).strip():
        raise config_error(path, f"{key}.reason", "missing: a skip says why")
    reason = check_string(raw["reason"], f"{key}.reason", path).strip()
    variant = raw.get("variant")
    dtype = raw.get("dtype")
    return Skip(None if variant is None else check_string(variant, f"{key}.variant", path),
                None if dtype is None else parse_dtype(dtype, f"{key}.dtype", path), reason)


def check_table(value: Any, key: str, path: Path) -> None:
    if not isinstance(value, dict):
        raise config_error(path, key, f"must be a table, got {type(value).__name__}")


def check_known(table: dict, key: str, allowed: tuple[str, ...], path: Path) -> None:
    for name in table:
        if name not in allowed:
            raise config_error(path, f"{key}.{name}", f"unknown key; valid: {', '.join(allowed)}")


def check_array(value: Any, key: str, path: Path, nonempty: bool = False) -> list:
    if not isinstance(value, list) or (nonempty and not value):
        raise config_error(path, key, f"must be a{' non-empty' if nonempty else 'n'} array, got {value!r}")
    return value


def check_string(value: Any, key: str, path: Path) -> str:
    if not isinstance(value, str) or not value:
        raise config_error(path, key, f"must be a non-empty string, got {value!r}")
    return value


def _positive(value: Any, key: str, path: Path) -> float:
    # Finite too: TOML has inf, and an infinite bound passes every output (1e30 against 0).
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise config_error(path, key, f"must be a finite positive number, got {value!r}")
    return float(value)


def parse_task(value: Any, key: str, path: Path) -> Task:
    try:
        return Task(value)
    except ValueError:
        raise config_error(path, key, f"unknown task {value!r}; valid: {', '.join(t.value for t in Task)}") from None


def parse_dtype(value: Any, key: str, path: Path) -> DType:
    try:
        return DType(value)
    except ValueError:
        raise config_error(path, key, f"unknown dtype {value!r}; valid: {', '.join(d.value for d in DType)}") from None


def parse_shape(value: Any, key: str, path: Path) -> Shape:
    m = _SHAPE.match(value) if isinstance(value, str) else None
    if m is None:
        raise config_error(path, key, f"{value!r} is not BATCHxSEQUENCE, e.g. \"1x128\"")
    return Shape(int(m.group(1)), int(m.group(2)))
