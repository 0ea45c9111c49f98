"""A user's configured models as cases, ids ``<id>-<task>-real-...`` or ``<id>-<task>-custom-...``."""

from __future__ import annotations

from ..core.errors import UsageError
from ..matrix.user_config import UserConfig, UserModel, config_error
from ..matrix.user_models import UserSpecs, missing_package, unresolved_specs, user_specs
from .cases import Case
from .variants import default_variants, get_variant


def configured(config: UserConfig | None, elsewhere: bool = False) -> tuple[UserSpecs, ...]:
    """Every configured model's specs, checked: a bad variant name is refused naming its key.
    ``elsewhere``: the models are built by other pythons (the gate's lanes), so a ``pkg:``
    checkpoint this one lacks is left to them (``unresolved_specs``)."""
    if config is None:
        return ()
    out = []
    for model in config.models:
        for name in model.variants or ():
            _checked(name, model.path, f"{model.key}.variants")
        _check_applies(model)
        package = missing_package(model.source) if elsewhere else None
        out.append(unresolved_specs(model, package) if package else user_specs(model))
    return tuple(out)


def _check_applies(model: UserModel) -> None:
    """Refuse, naming its key, a skip or tolerance for a variant or dtype the model does not run."""
    runs = model.variants or default_variants()
    for i, skip in enumerate(model.skips):
        key = f"{model.key}.skip[{i}]"
        if skip.variant is not None:
            _checked(skip.variant, model.path, f"{key}.variant")
            if skip.variant not in runs:
                raise config_error(model.path, f"{key}.variant",
                                   f"{skip.variant!r} is not among this model's variants ({', '.join(runs)})")
        if skip.dtype is not None and skip.dtype not in model.dtypes:
            raise config_error(model.path, f"{key}.dtype", f"{skip.dtype.value!r} is not among this model's dtypes "
                                                           f"({', '.join(d.value for d in model.dtypes)})")
    for dtype, _, _ in model.tolerances:
        if dtype not in model.dtypes:
            raise config_error(model.path, f"{model.key}.tolerance.{dtype.value}",
                               f"this model does not run {dtype.value} (dtypes: "
                               f"{', '.join(d.value for d in model.dtypes)})")


def _checked(name: str, path, key: str) -> None:
    try:
        get_variant(name)
    except UsageError as exc:
        raise config_error(path, key, str(exc)) from None


def user_cases(models: tuple[UserSpecs, ...], perf: bool) -> list[Case]:
    """Correctness cases at each model's first shape (its example shape); perf cases at every shape."""
    cases = []
    for configured_model in models:
        model = configured_model.model
        for spec in configured_model.specs:
            for shape in model.shapes if perf else (None,):
                for variant in model.variants or default_variants():
                    for dtype in model.dtypes:
                        cases.append(Case(spec, variant, dtype) if shape is None else Case(spec, variant, dtype, shape))
    return cases


def notes(models: tuple[UserSpecs, ...]) -> list[str]:
    return [note for m in models for note in m.notes]
