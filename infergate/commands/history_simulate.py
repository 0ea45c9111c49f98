"""``history simulate``: a month (or a year) of nights built from recorded sessions, appended to a
history directory through ``history add``, with a drop injected into one case at night N.

Every case of the committed baselines file of a class and lane gives its recorded speedup level;
each night adds a between-night draw (``--sd``) and the mean of ``--runs`` within-session
deviations resampled from the recorded sessions (measuring/history_replay.py). The results files
say they are simulated: session ``sim-NNN-DRAW``, commit ``simulated``, source ``simulated-*.json``;
the history keeps the commit, and ``history promote`` refuses those nights unless given ``--simulated``.
DRAW names the draw's settings (seed, sd, step, --at, --lock-at, runs), so another draw into the same
history is new runs, not the first draw's nights "already in the history".
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ..building.variants import REFERENCE
from ..core.errors import DataFileError, UsageError
from ..measuring import baselines as bl
from ..measuring import history as hi
from ..measuring.baseline_rules import recipe_of
from ..measuring.history_replay import Recorded, recorded
from .history_add import add_counted, check_history

# The commit every simulated night records, kept by the history as its run's commit: a measured run's
# is a git hash or null, so this marks the nights as invented wherever they go (promote refuses them).
SIMULATED = "simulated"


def baseline_files(root: Path) -> list[bl.BaselineFile]:
    """The baselines files under ``root`` (its fusion expectations files hold no sessions)."""
    if not root.is_dir():  # read as no files, it was refused as "no recorded session has two runs"
        raise DataFileError(f"baselines directory {root} {'is not a directory' if root.exists() else 'does not exist'}")
    return [bl.load(p) for p in sorted(root.glob("*/*.json")) if not p.name.endswith(".fusions.json")]


def recorded_sessions(root: Path, files: Sequence[bl.BaselineFile]) -> Recorded:
    """What simulate and calibrate resample: a ``--baselines`` with no session of two runs (an empty
    directory, say) is one line and exit 2, not a ValueError's traceback."""
    try:
        return recorded(c for f in files for c in f.cases.values())
    except ValueError as exc:
        raise DataFileError(f"baselines under {root}: {exc}") from None


def _check_history(root: Path, files: Sequence[bl.BaselineFile]) -> None:
    """What ``add`` would refuse in the history, refused before the results files are written to --out:
    the paths ``append`` writes, and the classes' month files it reads first."""
    classes = {f.machine_class for f in files}
    check_history(root, classes)
    if root.is_dir():
        for machine_class in sorted(classes):
            hi.load(root, machine_class)


def _run(variant: str, speedup: float, stamp: str, session: str) -> dict[str, Any]:
    eager_ms = 10.0
    return {"speedup": speedup, "ci": [speedup * 0.99, speedup * 1.01], "rounds": 200,
            "median_ms": {REFERENCE: eager_ms, variant: eager_ms / speedup}, "recorded": stamp, "session": session}


def draw_tag(seed: int, sd: float, step: float, at: int, lock_at: int | None, runs: int) -> str:
    """What tells one draw's nights from another's: a run id is its class, lane, session and run
    timestamps, and every draw's night N has the same timestamps."""
    text = json.dumps([seed, sd, step, at, lock_at, runs])
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def night_results(f: bl.BaselineFile, night: int, day: date, values: dict[str, list[float]], lock: str,
                  draw: str) -> dict:
    stamp = f"{day.isoformat()}T02:{night % 60:02d}:00+00:00"
    session = f"sim-{night:03d}-{draw}"
    info = {"machine_class": f.machine_class, "lane": f.lane, "cpu": "simulated", "environment": {},
            "provenance": {"commit": SIMULATED, "lock": lock, "packages": {"lock": lock}, "cpu_flags": []},
            "infergate": {"results_version": 1, "session": session, "estimator": "median-of-round-ratios",
                          "session_info": {"host": session, "kernel": "simulated", "first": stamp, "last": stamp,
                                           "environment": {}, "source": "simulated"}}}
    benches = [{"extra_info": {"case_id": cid, "variant": f.cases[cid].variant, "threads": 1,
                               "recipe": recipe_of(f.cases[cid].environment),
                               "estimator": "median-of-round-ratios", "verdict": "not gated (simulated)",
                               "run_records": [_run(f.cases[cid].variant, v, stamp, session) for v in runs]}}
               for cid, runs in values.items()]
    return {"machine_info": info, "benchmarks": benches}


def simulate(baselines: Path, out: Path, history: Path, nights: int, step: float, at: int, sd: float,
             runs: int = 3, seed: int = 1, start: date = date(2026, 11, 1), lock_at: int | None = None) -> list[str]:
    """Writes ``nights`` results files to ``out`` and appends them to ``history``; the first case
    (sorted) of each file drops by ``step`` from night ``at``; the lock changes at ``lock_at``."""
    # Checked before anything is written: a night past the last was reported as if it had been injected.
    if not 0 <= at < nights:
        raise UsageError(f"--at {at} is not one of the {nights} simulated nights: give 0 to {nights - 1}")
    if lock_at is not None and not 1 <= lock_at < nights:
        raise UsageError(f"--lock-at {lock_at} is not one of the {nights} simulated nights after the first: "
                         f"give 1 to {nights - 1}")
    rng = random.Random(seed)
    draw = draw_tag(seed, sd, step, at, lock_at, runs)
    files = baseline_files(baselines)
    data = recorded_sessions(baselines, files)
    between = math.sqrt(max(0.0, sd * sd - data.within_sd**2 / runs))
    _check_history(history, files)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(nights):
        day = start + timedelta(days=n)
        lock = "simulated-lock-b" if lock_at is not None and n >= lock_at else "simulated-lock-a"
        for k, f in enumerate(files):
            values: dict[str, list[float]] = {}
            for i, (cid, case) in enumerate(sorted(f.cases.items())):
                level = math.log(case.speedup) + rng.gauss(0.0, between)
                level += math.log1p(-step) if i == 0 and n >= at else 0.0
                values[cid] = [math.exp(level + rng.choice(data.deviations)) for _ in range(runs)]
            path = out / f"simulated-{n:03d}-{k}.json"
            path.write_text(json.dumps(night_results(f, n, day, values, lock, draw)))
            paths.append(path)
    _, added = add_counted(paths, history)
    # A draw already simulated into this history (the same settings) adds nothing: said, not implied.
    kept = (f"; {len(paths) - added} of them already in the history (draw {draw} simulated into it before): "
            "kept once" if added < len(paths) else "")
    return [f"simulated {nights} night(s) of {len(files)} class x lane file(s) from {baselines} into {history} "
            f"(draw {draw}: night-to-night sd {sd:.1%}, {runs} runs a night, a {step:.0%} drop of each file's "
            f"first case from night {at}, {start + timedelta(days=at)}): added {added} of {len(paths)} run(s)"
            f"{kept}"]
