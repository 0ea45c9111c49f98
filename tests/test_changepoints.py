"""Change points on a case's nightly series: found where they are, sized with an interval, forced at
lock changes, alerting only once held; the replays the penalty was chosen on."""

from __future__ import annotations

import math
import random

from infergate.commands import history_actions
from infergate.commands import history_add as history_cli
from infergate.commands.main import main
from infergate.measuring.changepoints import Point, detect
from tests.test_history import results


def _series(step_at: int | None, nights: int = 26, step: float = 0.05, sd: float = 0.01, seed: int = 3,
            lock_at: int | None = None) -> list[Point]:
    rng = random.Random(seed)
    out = []
    for n in range(nights):
        drop = math.log1p(-step) if step_at is not None and n >= step_at else 0.0
        lock = "b" if lock_at is not None and n >= lock_at else "a"
        out.append(Point(f"night-{n:02d}", math.log(1.5) + rng.gauss(0, sd) + drop, f"c{n}", lock,
                         {"torch": "2.9" if lock == "b" else "2.8"}))
    return out


def test_a_step_is_found_at_its_night_with_its_size_inside_the_interval() -> None:
    fit = detect(_series(step_at=20))
    assert [c.index for c in fit.changes] == [20]
    change = fit.changes[0]
    assert change.kind == "regression" and change.low < -0.05 < change.high
    assert (change.before.night, change.after.night, change.after.commit) == ("night-19", "night-20", "c20")
    assert change.nights_held == 6 and change.alerts(2) and not change.alerts(7)


def test_a_quiet_series_has_no_change_point_and_a_one_night_drop_does_not_alert() -> None:
    assert detect(_series(step_at=None)).changes == ()
    fresh = detect(_series(step_at=25, step=0.10))
    assert fresh.changes and fresh.changes[-1].kind == "regression" and not fresh.changes[-1].alerts(2)


def test_a_lock_change_starts_a_segment_and_names_the_packages_when_the_speed_moved() -> None:
    quiet = detect(_series(step_at=None, lock_at=12))
    assert 12 in quiet.bounds and quiet.changes == ()
    moved = detect(_series(step_at=12, lock_at=12))
    assert [c.index for c in moved.changes] == [12]
    assert moved.changes[0].lock_changes == ("torch 2.8 -> 2.9",)


def test_detect_reads_a_history_and_exits_1_on_an_alert(tmp_path, capsys) -> None:
    root = tmp_path / "history"
    for n, value in enumerate([1.5] * 12 + [1.5 * 0.9] * 3):
        jitter = 1 + 0.004 * ((n * 7) % 5 - 2)
        history_cli.add([results(tmp_path / f"r{n}.json", night=f"2026-11-{n + 1:02d}", speedup=value * jitter,
                                 session=f"h-{n}")], root)
    assert main(["history", "--history", str(root), "detect"]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION ALERT m__avx2__2c2t torch-x bert-jit: -9." in out and "and night 2026-11-13" in out


def test_the_calibration_replays_print_a_table_from_the_committed_sessions() -> None:
    lines = history_actions.calibration_lines(history_actions.REPO_ROOT / "baselines", replays=20, seed=1)
    assert "recorded case(s)" in lines[0] and lines[1].startswith("| night-to-night sd")
    rows = 3 + 2 * (len(history_actions.CALIBRATION_SDS) + len(history_actions.CALIBRATION_PENALTIES) - 1)
    assert len(lines) == rows + 4 + len(history_actions.CALIBRATION_SDS) and "over a year" in lines[rows + 1]
