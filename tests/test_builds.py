"""building.builds.build_variants: one error policy for perf, claims and the lane worker."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import pytest

from infergate.building import builds
from infergate.building.variants import Built
from infergate.core.errors import BuildError, ProofError
from infergate.matrix.dtypes import DType


@dataclass
class FakeVariant:
    name: str
    raises: Exception | None = None

    def build(self, model, inputs, dtype):
        if self.raises is not None:
            raise self.raises
        return Built(self.name, dtype, lambda x: (model,), f"{self.name} proven")


FAKES = {"ok": FakeVariant("ok"), "bad_build": FakeVariant("bad_build", BuildError("trace failed")),
         "bad_proof": FakeVariant("bad_proof", ProofError("not frozen")),
         "bug": FakeVariant("bug", RuntimeError("a bug in infergate"))}


@pytest.fixture(autouse=True)
def fake_variants(monkeypatch):
    monkeypatch.setattr(builds, "get_variant", FAKES.__getitem__)


def _build(names, skip=lambda n: None, **kw):
    return builds.build_variants("model", {}, DType.FP32, names, skip_reason=skip, watch=nullcontext, **kw)


def test_each_variant_is_built_failed_or_skipped_in_order() -> None:
    out = _build(["ok", "bad_build", "skip_me", "bad_proof"], skip=lambda n: "no ISA" if n == "skip_me" else None)
    assert [b.name for b in out] == ["ok", "bad_build", "skip_me", "bad_proof"]
    ok, bad_build, skipped, bad_proof = out
    assert ok.built is not None and ok.built.proof == "ok proven" and ok.error is None and ok.skipped is None
    assert (bad_build.built, bad_build.error) == (None, "BuildError: trace failed")
    assert (skipped.built, skipped.error, skipped.skipped) == (None, None, "no ISA")
    assert bad_proof.error == "ProofError: not frozen"


def test_any_other_error_propagates() -> None:
    with pytest.raises(RuntimeError, match="a bug in infergate"):
        _build(["ok", "bug"])


def test_a_skipped_variant_is_never_built() -> None:
    assert _build(["bug"], skip=lambda n: "unavailable")[0].skipped == "unavailable"


def test_an_injected_variant_is_built_from_a_slowed_copy(monkeypatch) -> None:
    monkeypatch.setattr("infergate.building.inject.slowed_copy", lambda model, fraction: f"{model} slowed {fraction}")
    out = _build(["ok"], inject={"ok": 0.1})[0]
    assert out.injected == 0.1 and out.built is not None and out.built({}) == ("model slowed 0.1",)
