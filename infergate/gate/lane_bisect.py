"""``gate --bisect``: which package's move (one top-level pin, or pins that only move together) carries
a regression between two lanes, each intermediate lane gated against "from" (docs/upgrade-gate.md).
A lane that cannot install or start a worker is reported and skipped, never a crash."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import InfergateError

# Packages that move only together with another (the key follows the value).
MOVES_WITH = {"intel-extension-for-pytorch": "torch"}
COMMON_INCLUDE = re.compile(r"^-r\s+")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def bisect_lane_name(from_lane: str, move: Move) -> str:
    """The intermediate lane's name: a lane name's characters only (a grouped move's name joins its
    packages with "+", which a lane name refuses: torch and IPEX, the ipex lane's main move, were
    never measured)."""
    return f"bisect-{_norm(Path(from_lane).stem)}-{re.sub(r'[^a-z0-9]+', '-', move.name.lower())}"


def read_pins(path: Path) -> dict[str, str]:
    """name -> version of every ``name==version`` line (``-r`` includes and comments skipped)."""
    pins = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or COMMON_INCLUDE.match(line):
            continue
        name, sep, version = line.partition("==")
        if sep:  # a hashed lock continues the pin's line with " \"
            pins[_norm(name)] = version.rstrip("\\").strip()
    return pins


@dataclass(frozen=True)
class Move:
    packages: tuple[tuple[str, str | None, str | None], ...]  # (name, from version, to version)

    @property
    def name(self) -> str:
        return "+".join(p for p, _, _ in self.packages)

    def describe(self) -> str:
        return ", ".join(f"{p} {a or 'absent'} -> {b or 'absent'}" for p, a, b in self.packages)


def moves(from_in: Path, to_in: Path) -> list[Move]:
    """The top-level pins that differ, grouped so that paired packages move together."""
    a, b = read_pins(from_in), read_pins(to_in)
    changed = sorted(n for n in set(a) | set(b) if a.get(n) != b.get(n))
    groups: dict[str, list[str]] = {}
    for name in changed:
        groups.setdefault(MOVES_WITH.get(name, name), []).append(name)
    return [Move(tuple((n, a.get(n), b.get(n)) for n in sorted(g, key=lambda x: x != lead)))
            for lead, g in groups.items()]


def intermediate_lock(from_lock: Path, to_lock: Path, move: Move, name: str,
                      others: Sequence[Move] = ()) -> str:
    """The "from" lock with ``move`` applied; the ``others`` moves' packages keep their "from" pins;
    any other pin the two locks disagree on floats."""
    a, b = read_pins(from_lock), read_pins(to_lock)
    moved = {p for p, _, _ in move.packages}
    held = {p for m in others for p, _, _ in m.packages} - moved
    from .lanes import BISECTION_HEADER

    lines = [f"{BISECTION_HEADER}{name}': {from_lock.stem} with {move.describe()}; dependencies whose pins "
             f"{from_lock.stem} and {to_lock.stem} disagree on are resolved by pip (infergate.gate.lane_bisect)"]
    for pkg in sorted(set(a) | {p for p, _, to in move.packages if to}):
        if pkg in moved:
            to_version = b.get(pkg)
            if to_version:
                lines.append(f"{pkg}=={to_version}")
        elif pkg in b and a[pkg] != b[pkg] and pkg not in held:
            lines.append(pkg)
        else:
            lines.append(f"{pkg}=={a[pkg]}")
    return "\n".join(lines) + "\n"


def _in_file(lane: str) -> Path:
    from .lane_venvs import resolve_lane

    return resolve_lane(lane).lock.with_suffix(".in")


@dataclass
class MoveResult:
    move: str
    lane: str
    status: str  # measured | skipped
    reason: str | None = None
    changes: dict[str, tuple[float, float, float]] | None = None  # case -> latency to/from of the move alone
    shares: dict[str, float] | None = None  # case -> share of the whole upgrade's log change


def regressed_cases(gate: Any) -> dict[str, float]:
    """case -> the whole upgrade's latency change, for cases whose latency regressed."""
    return {c.case: c.latency[0] for c in gate.cases if c.latency_status == "regression" and c.latency}


def remove_bisect_venv(lock: str) -> str | None:
    """Remove an intermediate lane's venv (gigabytes each: the ipex lock's is ~7 GB; only a bisection
    into the same --out would reuse it); what was removed, or None when there was none."""
    import shutil

    from .lane_venvs import resolve_lane

    venv = resolve_lane(lock).venv
    if not venv.name.startswith("bisect-") or not venv.is_dir():
        return None
    size = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file() and not f.is_symlink())
    shutil.rmtree(venv, ignore_errors=True)
    if venv.exists():
        return f"could not remove its venv {venv} whole: remove it by hand"
    return f"removed its venv {venv} ({size / 1e9:.1f} GB)"


def bisect_after(gate: Any, args: argparse.Namespace, out: Path, *, run: Callable[..., Any],
                 write: Callable[[Any, Path], Any] | None = None, start: Any = None,
                 lane_python: Callable[[str], Path] | None = None,
                 ensure: Callable[[str], Any] | None = None,
                 remove: Callable[[str], str | None] = remove_bisect_venv) -> list[str]:
    """Bisect a finished gate, gating once per move. ``run``, ``write``: lanegate's run_gate and
    write_outputs, passed in so this module does not import the gate; without ``write`` the
    intermediate gates' reports are not written. Each intermediate venv is removed after its gate
    (``remove``) unless ``args.keep_bisect_venvs``."""
    from . import lanes as lanes_mod

    ensure = ensure or (lambda lane: lanes_mod.ensure(lane, on_install=lambda m: print(m, flush=True)))
    lane_python = lane_python or (lambda lane: lanes_mod.lane_python(lane))
    regressed = regressed_cases(gate)
    if not regressed:
        return ["bisect: no latency regression to trace"]
    try:
        all_moves = moves(_in_file(args.from_lane), _in_file(args.to_lane))
    except (OSError, InfergateError) as exc:
        return [f"bisect: cannot read the lanes' top-level pins: {exc}"]
    if not all_moves:
        return ["bisect: the lanes' top-level pins are the same; the regression is not a package move "
                "(compare their locks' dependencies, or the machine)"]
    if len(all_moves) == 1:
        return [f"bisect: the lanes differ in one move ({all_moves[0].describe()}); it carries the regression"]
    lines = [f"bisect: {len(all_moves)} moves between '{args.from_lane}' and '{args.to_lane}': "
             + "; ".join(m.describe() for m in all_moves)]
    results: list[MoveResult] = []
    lock_dir = out / "bisect-lanes"
    lock_dir.mkdir(parents=True, exist_ok=True)
    for move in all_moves:
        results.append(_measure_move(move, all_moves, regressed, args, out, lock_dir, run=run, write=write,
                                     start=start, lane_python=lane_python, ensure=ensure))
        lines += _move_lines(results[-1], regressed)
        if not getattr(args, "keep_bisect_venvs", False):
            try:
                removed = remove(str(lock_dir / f"{results[-1].lane}.lock"))
            except (OSError, InfergateError) as exc:
                removed = f"could not remove its venv: {exc}"
            if removed:
                lines.append(f"bisect: {results[-1].lane}: {removed} (--keep-bisect-venvs keeps them)")
    lines += culprit_lines(results, regressed)
    _record(gate, out, lines)
    return lines


def _measure_move(move: Move, all_moves: Sequence[Move], regressed: Mapping[str, float], args: argparse.Namespace,
                  out: Path, lock_dir: Path, *, run: Callable[..., Any], write: Callable[[Any, Path], Any] | None,
                  start: Any, lane_python: Callable[[str], Path], ensure: Callable[[str], Any]) -> MoveResult:
    """The gate of "from" against the lane with this one move, on the regressed cases."""
    from .lane_venvs import resolve_lane

    name = bisect_lane_name(args.from_lane, move)
    lock = lock_dir / f"{name}.lock"
    try:
        from_lock = resolve_lane(args.from_lane).lock
        to_lock = resolve_lane(args.to_lane).lock
        lock.write_text(intermediate_lock(from_lock, to_lock, move, name, all_moves), encoding="utf-8")
        ensure(str(lock))
        pythons = {"from": lane_python(args.from_lane), "to": lane_python(str(lock))}
        # The exact regressed cases: a -k expression of their ids would also match every id that
        # contains one (bert-... inside distilbert-... and albert-...), timing extra models and
        # widening each move's Bonferroni correction.
        sub = argparse.Namespace(**{**vars(args), "to_lane": str(lock), "no_correctness": True,
                                    "cases": " or ".join(regressed), "exact_cases": sorted(regressed),
                                    "bisect": False})
        sub_gate, _ = run(sub, pythons, out / name, start=start, progress=lambda m: print(m, flush=True))
        if write is not None:
            write(sub_gate, out / name)  # each intermediate gate's own report beside the main one
    except (InfergateError, OSError, ValueError) as exc:  # this move's answer; the others go on
        return MoveResult(move.describe(), name, "skipped", str(exc).splitlines()[0])
    by_case = {c.case: c for c in sub_gate.cases}
    changes, shares = {}, {}
    for case, total in regressed.items():
        c = by_case.get(case)
        if c is None or c.latency is None:
            continue
        changes[case] = tuple(c.latency)
        shares[case] = math.log(c.latency[0]) / math.log(total) if total != 1.0 else math.nan
    return MoveResult(move.describe(), name, "measured", changes=changes, shares=shares)


def _move_lines(result: MoveResult, regressed: Mapping[str, float]) -> list[str]:
    if result.status == "skipped":
        return [f"bisect: {result.move}: could not be measured, skipped ({result.reason})"]
    changes, shares = result.changes or {}, result.shares or {}
    return [f"bisect: {result.move} alone: {case} latency {(p - 1) * 100:+.1f}% "
            f"[{(lo - 1) * 100:+.1f}%, {(hi - 1) * 100:+.1f}%], "
            f"{shares[case] * 100:.0f}% of the upgrade's {(regressed[case] - 1) * 100:+.1f}%"
            for case, (p, lo, hi) in changes.items()]


def culprit_lines(results: Sequence[MoveResult], regressed: Mapping[str, float]) -> list[str]:
    """Per regressed case: the move whose own change is a significant slowdown and carries the
    largest share; "undecided" when none or several moves are significantly slower on their own."""
    out = []
    skipped = [r.move for r in results if r.status == "skipped"]
    caveat = f"; not measured: {', '.join(skipped)}" if skipped else ""
    for case in regressed:
        slower = [r for r in results if r.changes and case in r.changes and r.changes[case][1] > 1.0]
        if len(slower) == 1:
            r = slower[0]
            assert r.changes is not None and r.shares is not None  # measured moves carry both
            out.append(f"bisect: CULPRIT for {case}: {r.move} (alone {(r.changes[case][0] - 1) * 100:+.1f}%, "
                       f"{r.shares[case] * 100:.0f}% of the regression{caveat})")
        elif not slower:
            out.append(f"bisect: {case}: no single move is significantly slower on its own "
                       "(the regression needs both, or a move could not be measured)")
        else:
            out.append(f"bisect: {case}: several moves are slower on their own: "
                       + ", ".join(r.move for r in slower))
    return out


def _record(gate: Any, out: Path, lines: Sequence[str]) -> None:
    """The bisection into the gate's gate.json and report.md: in gate.json too, so that
    ``report gate.json`` re-renders it rather than dropping it."""
    from .gate_outputs import write_outputs

    gate.bisection = list(lines)
    write_outputs(gate, out)
