"""Run-aligned records of one model's forms, and each variant's ratio over any reference form.
``align`` refuses records that claim one run (worker) but differ in its eager ``median_ms``."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Protocol

from ..building.variants import COMPILE, EAGER, JIT, JIT_IPEX

SPEEDUP, MS = "speedup", "ms"
ESTIMATORS: Final = (SPEEDUP, MS)
# Relative: one float written twice agrees to the last digit; two workers' eager medians never do.
SAME_RUN_TOLERANCE: Final = 1e-9

# docs/calibration.md "A steadier reference": the form each variant's ratio would be taken over when
# a run is judged in its recording's own boot, once the prior over jit rests on enough occasions (the
# others stay over eager). Nothing gates with it yet.
PROPOSED_REFERENCE: Mapping[str, str] = MappingProxyType({COMPILE: JIT, JIT_IPEX: JIT})


class AlignmentError(ValueError):
    """Records that claim one worker process but cannot be one."""


@dataclass(frozen=True)
class FormRun:
    """One form's figures in one run (worker process) of a model."""

    unit: str  # machine class / lane: figures measured alike
    session: str  # host boot
    occasion: str  # one recording or one suite run within the boot
    model: str  # model, shape, dtype and process group: the forms one worker timed
    run: int  # position within the occasion
    form: str
    speedup: float | None  # eager / form, the median of round ratios; None where not recorded
    eager_ms: float
    form_ms: float
    processes: int = 1  # worker processes behind the figures (a summary row pools several)
    recipe: int = 1  # the form's recipe revision: figures of two revisions are different quantities
    source: str = ""  # where the figures were read (a case id), for messages

    @property
    def named(self) -> str:
        return self.source or self.form

    @property
    def key(self) -> tuple[str, str, str, str, int]:
        return self.unit, self.session, self.occasion, self.model, self.run


@dataclass(frozen=True)
class AlignedRun:
    """Every form one worker process timed, with the eager median that proves it was one process."""

    unit: str
    session: str
    occasion: str
    model: str
    run: int
    processes: int
    eager_ms: float
    speedups: Mapping[str, float | None]
    ms: Mapping[str, float]
    recipes: Mapping[str, int]

    @property
    def machine_class(self) -> str:
        return self.unit.split("/", 1)[0]


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=SAME_RUN_TOLERANCE, abs_tol=0.0)


def _where(r: FormRun) -> str:
    return f"{r.model} run {r.run} of occasion {r.occasion} (session {r.session}, {r.unit})"


def _check(first: FormRun, r: FormRun) -> None:
    if not _same(first.eager_ms, r.eager_ms) or first.processes != r.processes:
        raise AlignmentError(
            f"not run-aligned: {_where(r)} has eager median {first.eager_ms:.6g} ms in {first.named} and "
            f"{r.eager_ms:.6g} ms in {r.named}: these figures were not measured in one worker process")


def align(runs: Iterable[FormRun]) -> list[AlignedRun]:
    """Group records into runs; a form twice in one run must repeat the same figures."""
    grouped: dict[tuple[str, str, str, str, int], list[FormRun]] = {}
    for r in runs:
        if r.form_ms <= 0 or r.eager_ms <= 0 or (r.speedup is not None and not r.speedup > 0):
            raise ValueError(f"{_where(r)}: {r.form} figures must be > 0")
        grouped.setdefault(r.key, []).append(r)
    out = []
    for key, members in grouped.items():
        first = members[0]
        speedups: dict[str, float | None] = {EAGER: 1.0}
        ms: dict[str, float] = {EAGER: first.eager_ms}
        recipes: dict[str, int] = {EAGER: 1}
        for r in members:
            _check(first, r)
            if r.form in ms and r.form != EAGER and not (
                    _same(ms[r.form], r.form_ms) and speedups[r.form] == r.speedup):
                raise AlignmentError(f"not run-aligned: {_where(r)} holds two different figures of {r.form}")
            if r.form != EAGER:
                speedups[r.form], ms[r.form], recipes[r.form] = r.speedup, r.form_ms, r.recipe
        out.append(AlignedRun(*key[:4], key[4], first.processes, first.eager_ms,
                              MappingProxyType(speedups), MappingProxyType(ms), MappingProxyType(recipes)))
    return out


def log_ratio(run: AlignedRun, variant: str, reference: str, estimator: str = SPEEDUP) -> float | None:
    """log(variant's speedup over ``reference``) in this run; None if the run lacks either figure."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if variant not in run.ms or reference not in run.ms:
        return None
    if estimator == MS:
        return math.log(run.ms[reference] / run.ms[variant])
    v, ref = run.speedups[variant], run.speedups[reference]
    return None if v is None or ref is None else math.log(v / ref)


def rebased_speedups(variant: Sequence[tuple[float, float]], reference: Sequence[tuple[float, float]]) -> list[float]:
    """A variant's per-run speedups over another form. Both arguments hold ``(speedup over eager,
    eager median_ms)`` per run; run i of each must share the eager median, else ``AlignmentError``."""
    if len(variant) != len(reference):
        raise AlignmentError(f"not run-aligned: {len(variant)} run(s) of the variant against "
                             f"{len(reference)} of its reference")
    out = []
    for i, ((s_v, e_v), (s_r, e_r)) in enumerate(zip(variant, reference, strict=True)):
        if not _same(e_v, e_r):
            raise AlignmentError(f"not run-aligned: run {i} has eager median {e_v:.6g} ms beside the variant "
                                 f"and {e_r:.6g} ms beside its reference: not one worker process")
        if not (s_v > 0 and s_r > 0):
            raise ValueError(f"run {i}: speedups must be > 0, got {s_v} and {s_r}")
        out.append(s_v / s_r)
    return out


class RecordedRun(Protocol):
    """What ``rebase_runs`` reads of a run (``baseline_records.RunRecord`` has it)."""

    @property
    def session(self) -> str: ...
    @property
    def speedup(self) -> float: ...
    @property
    def median_ms(self) -> Mapping[str, float]: ...


def worker_partners(variant: Sequence[RecordedRun], reference: Sequence[RecordedRun]
                    ) -> list[tuple[RecordedRun, list[RecordedRun]]]:
    """Each run of ``variant`` with the runs of ``reference`` from the same worker: same session and
    identical eager median (one worker times eager once for all its forms). One partner is a pair;
    none or two is not."""
    partners: dict[tuple[str, float], list[RecordedRun]] = {}
    for r in reference:
        partners.setdefault((r.session, r.median_ms[EAGER]), []).append(r)
    return [(v, partners.get((v.session, v.median_ms[EAGER]), [])) for v in variant]


def rebase_runs(variant: Sequence[RecordedRun], reference: Sequence[RecordedRun]) -> list[tuple[str, float]]:
    """A baseline case's runs over another case's form, ``(session, speedup ratio)``, each paired by
    identical eager median within its session; none or two partners is ``AlignmentError``."""
    out = []
    for i, (v, found) in enumerate(worker_partners(variant, reference)):
        if len(found) != 1:
            raise AlignmentError(
                f"not run-aligned: run {i} of the variant (session {v.session}, eager median "
                f"{v.median_ms[EAGER]:.6g} ms) has {len(found)} run(s) of its reference from the same worker, not 1")
        out.append((v.session, v.speedup / found[0].speedup))
    return out


def reference_of(variant: str, proposed: Mapping[str, str] = PROPOSED_REFERENCE) -> str:
    """The form a gated variant's ratio is taken over: eager unless ``proposed`` names another."""
    return proposed.get(variant, EAGER)


