"""The history command's analysis actions: detect, promote, publish, simulate, calibrate (and their parsers)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core import exit_codes
from ..core.defaults import CHANGE_ALARM_Z as DEFAULT_ALARM_Z
from ..core.defaults import CHANGE_HOLD as DEFAULT_HOLD
from ..core.defaults import CHANGE_PENALTY as DEFAULT_PENALTY
from ..core.defaults import MAX_SESSIONS
from ..core.errors import DataFileError, UsageError
from ..core.paths import REPO_ROOT
from ..core.validate import directory, fraction_type, whole_number
from .front import BASELINES_DEFAULT_HELP, default_baselines

if TYPE_CHECKING:
    from ..measuring.baseline_records import CaseBaseline, SessionInfo
    from ..measuring.history import History
    from ..measuring.history_analysis import CaseSeries
    from ..measuring.history_replay import Recorded

    Promoted = list[tuple[str, SessionInfo, dict[str, CaseBaseline]]]  # (session id, its description, cases)

CALIBRATION_SDS = (0.010, 0.013, 0.017, 0.030)  # 1.3 %: AMD jit between three calibration sessions (--sds for others)
# Detectors measured beside the default at 1.7 %: (penalty, alarm z). The one used until 2026-12-06,
# the threshold either side, the tail test off (inf: the fit alone) and firing every night (-inf: how
# often a drop is placed within a night of the step at all, whatever the false rate).
CALIBRATION_VARIANTS = ((2.5, 2.4), (DEFAULT_PENALTY, 2.0), (DEFAULT_PENALTY, 2.6), (DEFAULT_PENALTY, math.inf),
                        (DEFAULT_PENALTY, -math.inf))
WARM = 60  # quiet nights before the step: two months of nightly history, the tail test's pre-change window
YEAR = 365
STEPS = ((0.05, 2), (0.03, 5))  # step, the target delay in nights
PERSISTENCE_SDS = CALIBRATION_SDS[:3]  # the sds the targets are stated at
PERSISTENCE_STEPS = (0.03, 0.05, 0.10)


def add_parsers(sub: Any) -> None:
    p_detect = sub.add_parser("detect", help="change points per case; exit 1 when a regression alerts")
    p_detect.add_argument("--hold", type=whole_number(1, 30), default=DEFAULT_HOLD,
                          help=f"nights a regression must hold before it alerts. Default: {DEFAULT_HOLD}")
    p_detect.add_argument("--new-against", type=Path, metavar="BEFORE", help="list only what is new against "
                          "BEFORE, a copy of the history taken before tonight's runs were added (an empty directory "
                          "on the first night: everything is new; a missing one is refused): change points it did "
                          "not report, regressions that alert now only")
    p_promote = sub.add_parser("promote", help="the last K sessions of a class x lane into a baselines file")
    which = p_promote.add_mutually_exclusive_group(required=True)
    which.add_argument("--class", dest="machine_class", metavar="MACHINE_CLASS", help="with --lane")
    which.add_argument("--all", action="store_true", help="every class x lane in the history")
    p_promote.add_argument("--lane", help="the lane's name as results give it (torch-...__tf-...)")
    p_promote.add_argument("--sessions", type=whole_number(1, MAX_SESSIONS), default=MAX_SESSIONS,
                           help=f"how many of each case's newest sessions. Default: {MAX_SESSIONS}, "
                                "as many as a case keeps")
    p_promote.add_argument("--baselines", type=directory, default=None,
                           help="where the baselines are written: the history's sessions join the files there "
                                "(a rolling window: give a directory of its own). Default: "
                                f"{BASELINES_DEFAULT_HELP}, the committed files")
    p_promote.add_argument("--simulated", action="store_true",
                           help="also promote nights made by history simulate, their sessions' source saying so "
                                "(experiments: refused into this checkout's baselines/). Default: refused")
    p_pub = sub.add_parser("publish", help="the static site: a page per class x lane, open regressions")
    p_pub.add_argument("--out", type=directory, required=True, metavar="DIR")
    p_sim = sub.add_parser("simulate", help="append nights built from recorded sessions, a drop injected")
    p_sim.add_argument("--out", type=directory, required=True, metavar="DIR", help="where the results files go")
    p_sim.add_argument("--nights", type=whole_number(2, 1000), default=30, help="nights appended. Default: 30")
    p_sim.add_argument("--at", type=whole_number(0, 1000), default=20,
                       help="the night the drop starts, from 0 to --nights - 1. Default: 20")
    p_sim.add_argument("--step", type=fraction_type, default=0.05, help="the drop. Default: 0.05")
    p_sim.add_argument("--sd", type=fraction_type, default=0.013, help="night-to-night sd. Default: 0.013")
    p_sim.add_argument("--lock-at", type=whole_number(1, 1000), default=None,
                       help="the night the lock digest changes (simulated-lock-a to simulated-lock-b), from 1 to "
                            "--nights - 1. Default: none, one lock throughout")
    p_sim.add_argument("--seed", type=whole_number(0, 2**31), default=1, help="the generator's seed. Default: 1")
    p_sim.add_argument("--baselines", type=Path, default=REPO_ROOT / "baselines",
                       help="the recorded sessions the nights are built from. Default: the committed baselines/")
    _add_calibrate_parser(sub)


def _add_calibrate_parser(sub: Any) -> None:
    p_cal = sub.add_parser("calibrate", help="detection delay and false change points on replayed nights")
    p_cal.add_argument("--replays", type=whole_number(20, 5000), default=400,
                       help="independent replays per row (20-5000). Default: 400")
    p_cal.add_argument("--seed", type=whole_number(0, 2**31), default=1,
                       help="the generator's seed; 1 is the one the detector was tuned on, 2 held out. Default: 1")
    p_cal.add_argument("--baselines", type=Path, default=REPO_ROOT / "baselines",
                       help="the recorded sessions the nights are built from. Default: the committed baselines/")
    p_cal.add_argument("--variants", type=_detector_variants, default=None, metavar="P/Z,...",
                       help="the rows at 1.7 %% after the default detector's: change penalty / alarm z pairs "
                            "(inf / -inf: tail test off / firing every night). Default: 2.5/2.4 (the detector "
                            "before 2026-12-06), 3/2.0, 3/2.6, 3/inf, 3/-inf; none: no such rows")
    p_cal.add_argument("--sds", type=_night_sds, default=None, metavar="SD,...",
                       help="the night-to-night sds the default detector is replayed at, as fractions (a class's "
                            "measured between-session sd, say). Default: "
                            + ",".join(f"{sd:g}" for sd in CALIBRATION_SDS) + "; with --persistence "
                            + ",".join(f"{sd:g}" for sd in PERSISTENCE_SDS))
    p_cal.add_argument("--lock-before", type=whole_number(0, WARM - 1), default=None, metavar="NIGHTS",
                       help="a lock change NIGHTS before each replay's step (0: on the step's night; the unchanged "
                            "replays change on the same night), one that moves nothing: detection across an "
                            "upgrade. Only the replay table, not the year of nights. Default: no lock change")
    p_cal.add_argument("--year-replays", type=whole_number(5, 2000), default=None, metavar="N",
                       help="independent unchanged series of a year of nights per sd in the false-rate table "
                            "(5-2000; each costs about as much as 40 replays). Default: --replays / 40, at least 5")
    p_cal.add_argument("--persistence", type=whole_number(2, YEAR), default=None, metavar="NIGHTS",
                       help="instead of the tables above: whether a step, once detected, stays reported on every "
                            "night up to NIGHTS after it (the default detector; steps of 3, 5 and 10 %%)")


def run(args: argparse.Namespace) -> list[str]:
    from ..measuring import history as hi
    from ..measuring.history_analysis import analyse
    from ..reports import dashboard
    from .history_simulate import simulate

    if args.action == "detect":
        if args.new_against is not None:
            return new_lines(args.history, args.new_against, args.hold)
        return detect_lines(args.history, args.hold)
    if args.action == "promote":
        committed = default_baselines()
        args.baselines = args.baselines or committed
        if args.simulated and args.baselines.resolve() == committed.resolve():
            raise UsageError("history promote --simulated writes invented nights: give --baselines a directory of "
                             f"its own, not the project's {committed}, which the gate judges real runs against")
        if args.all and args.lane is not None:  # --all used to drop it in silence and promote every lane
            raise UsageError("history promote --all takes every class x lane: --lane applies with --class only")
        if args.all:
            return promote_all(args.history, args.sessions, args.baselines, args.simulated)
        if args.lane is None:
            raise UsageError("history promote --class needs --lane")
        return promote(args.history, args.machine_class, args.lane, args.sessions, args.baselines, args.simulated)
    if args.action == "publish":
        found = analyse(hi.load_runs(args.history, "publish"))
        return [f"wrote {p}" for p in dashboard.publish(found, args.out)]
    if args.action == "simulate":
        return simulate(args.baselines, args.out, args.history, args.nights, args.step, args.at, args.sd,
                        seed=args.seed, lock_at=args.lock_at)
    if args.action == "calibrate":
        return _calibrate(args)
    raise AssertionError(f"unknown history action {args.action}")


def _calibrate(args: argparse.Namespace) -> list[str]:
    """``history calibrate``: the replay tables, or with --persistence the persistence table."""
    if args.year_replays is not None and (args.persistence is not None or args.lock_before is not None):
        raise UsageError("--year-replays sizes the year-of-nights table, which --persistence and --lock-before "
                         "do not print")
    if args.persistence is not None:
        if args.variants is not None:
            raise UsageError("--persistence replays the default detector: --variants does not apply to it")
        if args.lock_before is not None:
            raise UsageError("--persistence replays series without a lock change: --lock-before does not apply "
                             "to it")
        return persistence_lines(args.baselines, args.replays, args.seed, args.persistence,
                                 sds=PERSISTENCE_SDS if args.sds is None else args.sds)
    return calibration_lines(args.baselines, args.replays, args.seed,
                             sds=CALIBRATION_SDS if args.sds is None else args.sds,
                             variants=CALIBRATION_VARIANTS if args.variants is None else args.variants,
                             lock_before=args.lock_before, year_replays=args.year_replays)


def exit_code(args: argparse.Namespace, lines: list[str]) -> int:
    from ..measuring.history_analysis import MEASURED_AGAIN, OPEN_AGAIN

    alerted = args.action == "detect" and any(
        line.startswith((f"{OPEN_AGAIN} ", f"{MEASURED_AGAIN} ", "NEW REGRESSION ALERT", "REGRESSION ALERT"))
        for line in lines)
    return exit_codes.REGRESSION if alerted else exit_codes.OK


def detect_lines(root: Path, hold: int) -> list[str]:
    from ..measuring import changepoints as cp
    from ..measuring import history as hi
    from ..measuring.history_analysis import analyse, describe

    found = analyse(hi.load_runs(root, "detect"))
    lines = [describe(s, c, hold) for s in found for c in s.changes]
    alerts = sum(1 for s in found for _ in s.alerts(hold))
    nights = sum(cp.nights(s.points) for s in found)  # sessions of one night are one case-night
    lines.append(f"{len(found)} case series, {nights} case-nights: {len(lines)} change point(s), "
                 f"{alerts} regression alert(s) (held >= {hold} nights)" + _unjudged(found))
    return lines


def _unjudged(found: list[CaseSeries]) -> str:
    """What the summary's counts do not cover: series with one night (nothing to compare it with: a
    first nightly judged nothing, which must not read as a quiet history) and stopped series."""
    from ..measuring.changepoints import nights

    single = sum(1 for s in found if nights(s.points) < 2)
    stopped = sum(1 for s in found if s.stopped)
    parts = ([f"{single} series with one night (nothing to compare it with yet"
              + ("; nothing was judged" if single == len(found) else "") + ")"] if single else []) + (
        [f"{stopped} series no longer measured (their open regressions do not alert)"] if stopped else [])
    return "; " + "; ".join(parts) if parts else ""


def new_lines(root: Path, before: Path, hold: int) -> list[str]:
    from ..measuring import history as hi
    from ..measuring.history_analysis import MEASURED_AGAIN, OPEN_AGAIN, analyse, describe, new_changes

    if not before.is_dir():  # a mistyped path read as "no history before" listed every change point as new
        raise UsageError(f"--new-against {before} is not a directory: give the copy of the history taken before "
                         "tonight's runs were added (on the first night, an empty directory)")
    now = analyse(hi.load_runs(root, "detect"))  # BEFORE may be empty (a first night), tonight's may not
    earlier = hi.load(before)
    if not earlier.runs and any(before.iterdir()):  # a baselines directory, say: every change point read as new
        raise UsageError(f"--new-against {before} holds no history (no class directory of month files) and is not "
                         "empty: give the copy of the history taken before tonight's runs were added (on the first "
                         "night, an empty directory)")
    then = analyse(earlier)
    fresh = new_changes(now, then, hold)
    lines = [f"{OPEN_AGAIN} (read as back before tonight; the level it is judged on since night "
             f"{s.points[s.fit.bounds[-1]].night}, commit {s.points[s.fit.bounds[-1]].commit or 'not recorded'}) "
             f"{describe(s, c, hold)}" if label == OPEN_AGAIN else
             f"{MEASURED_AGAIN} (its series had stopped; open all along) {describe(s, c, hold)}"
             if label == MEASURED_AGAIN else f"NEW {describe(s, c, hold)}" for s, c, label in fresh]
    alerts = sum(1 for s, c, _ in fresh if s.alerting(c, hold))
    again = sum(1 for *_, label in fresh if label == OPEN_AGAIN)
    lines.append(f"{len(fresh)} change point(s) new tonight, {alerts} of them regression alert(s) "
                 f"(held >= {hold} nights)" + (f", {again} of those a drop open again after reading as back"
                                               if again else "")
                 + f"; compared with {len(then)} case series before tonight's runs")
    return lines


def promote(root: Path, machine_class: str, lane: str, sessions: int, baselines: Path,
            simulated: bool = False) -> list[str]:
    from ..measuring import history as hi

    chosen = _promotable(hi.load(root, machine_class), root, machine_class, lane, sessions, simulated)
    _check_target(chosen, machine_class, lane, baselines)
    return _write_promoted(chosen, machine_class, lane, baselines)


def promote_all(root: Path, sessions: int, baselines: Path, simulated: bool = False) -> list[str]:
    from ..measuring import history as hi

    history = hi.load_runs(root, "promote")
    pairs = history.classes_and_lanes()
    # Every class x lane is chosen and checked before one is written: a refused one leaves all as they were.
    chosen = [(c, lane, _promotable(history, root, c, lane, sessions, simulated)) for c, lane in pairs]
    for c, lane, sessions_of in chosen:
        _check_target(sessions_of, c, lane, baselines)
    return [line for c, lane, sessions_of in chosen for line in _write_promoted(sessions_of, c, lane, baselines)]


def _promotable(history: History, root: Path, machine_class: str, lane: str, sessions: int,
                simulated: bool) -> Promoted:
    """The sessions promote would write; refused when there are none, or when any was simulated
    unless ``simulated`` allows them (their source then says so, as ``baselines show`` lists it)."""
    import dataclasses

    from ..measuring.history_analysis import window
    from .history_simulate import SIMULATED

    chosen = window(history, machine_class, lane, sessions)
    if not chosen:
        lanes = [held for c, held in history.classes_and_lanes() if c == machine_class]
        there = f"its lanes of that class: {', '.join(lanes)}" if lanes else "no run of that class"
        raise DataFileError(f"history {root} holds no runs of machine class {machine_class!r} lane {lane!r} "
                            f"({there}; --lane is the name results give, torch-...__tf-..., not a lock's)")
    invented = {r.session for r, _ in history.of(machine_class, lane) if r.commit == SIMULATED}
    if simulated:
        return [(sid, dataclasses.replace(info, source=f"simulated by history simulate; {info.source}"), cases)
                if sid in invented else (sid, info, cases) for sid, info, cases in chosen]
    if made_up := [sid for sid, _, _ in chosen if sid in invented]:
        named = ", ".join(made_up) if len(made_up) <= 4 else f"{made_up[0]} … {made_up[-1]}"
        raise DataFileError(f"history {root}: {len(made_up)} of the {len(chosen)} session(s) of machine class "
                            f"{machine_class!r} lane {lane!r} promote would write were made by history simulate "
                            f"({named}; their runs record commit {SIMULATED!r}): invented nights never become "
                            "baselines unasked, the gate would judge real runs against them; promote from a "
                            "history of measured nights, or into a baselines directory of its own with --simulated")
    return chosen


def _check_target(chosen: Promoted, machine_class: str, lane: str, baselines: Path) -> None:
    """The sessions merged into the class x lane's baselines file in memory, as ``_write_promoted`` will:
    a file it could not read or join (emptied, another class's, its class's path a file) is refused
    before any file, or any file's lock, is written (with --all, another class x lane's)."""
    from ..measuring import baselines as bl
    from ..measuring.baseline_merge import merge

    target = bl.baseline_path(baselines, machine_class, lane)
    if target.parent.exists() and not target.parent.is_dir():
        raise DataFileError(f"baselines directory {baselines}: {target.parent} is not a directory of baselines files")
    current = bl.load_or_none(target)
    for sid, info, cases in chosen:
        current = merge(target, current, cases, machine_class, lane, session=(sid, info))


def _write_promoted(chosen: Promoted, machine_class: str, lane: str, baselines: Path) -> list[str]:
    """Joins the sessions to the class x lane's baselines file and says which of them it kept: the
    file keeps each case's newest sessions only, so older promoted ones can age out at once."""
    from ..measuring import baselines as bl

    target = bl.baseline_path(baselines, machine_class, lane)
    lines = []
    for sid, info, cases in chosen:
        lines += bl.update(target, cases, machine_class, lane, session=(sid, info))
    held = {r.session for case in bl.load(target).cases.values() for r in case.runs}
    kept = [sid for sid, _, _ in chosen if sid in held]
    aged = (f"; {len(chosen) - len(kept)} of the {len(chosen)} aged out at once, older than the newest "
            f"{MAX_SESSIONS} session(s) its cases keep" if len(kept) < len(chosen) else "")
    lines.append(f"promoted {len(kept)} session(s) ({', '.join(kept) or 'none'}) into {target}{aged}")
    return lines


def _recorded(root: Path) -> Recorded:
    from .history_simulate import baseline_files, recorded_sessions

    return recorded_sessions(root, baseline_files(root))


def _detector_variants(text: str) -> tuple[tuple[float, float], ...]:
    if text == "none":
        return ()
    try:
        pairs = tuple((float(p), float(z)) for p, z in (item.split("/") for item in text.split(",")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected PENALTY/Z pairs, comma-separated, e.g. 3/2.2") from None
    if any(not (p > 0 and math.isfinite(p)) or math.isnan(z) for p, z in pairs):
        raise argparse.ArgumentTypeError(f"{text!r}: a penalty is a positive number, z a number, inf or -inf")
    return pairs


def _sd_label(sd: float) -> str:
    """How every replay table names a night-to-night sd's rows (``--sds`` refuses two of one label)."""
    return f"{sd:.1%}"


def _night_sds(text: str) -> tuple[float, ...]:
    """Night-to-night sds as fractions, comma-separated: each in (0, 0.5), so 2.3 % is 0.023."""
    sds = tuple(fraction_type(item) for item in text.split(","))
    if any(not 0.0 < sd < 0.5 for sd in sds):
        raise argparse.ArgumentTypeError(f"{text!r}: each sd is a fraction in (0, 0.5), e.g. 0.023 for 2.3%")
    labels = [_sd_label(sd) for sd in sds]  # two sds of one label would be two rows of one name
    if len(set(labels)) < len(labels):
        raise argparse.ArgumentTypeError(f"{text!r}: each sd once, no two that round to one row label (the rows read "
                                         f"{', '.join(labels)})")
    return sds


def calibration_lines(root: Path, replays: int, seed: int, warm: int = WARM, runs: int = 3,
                      year: int = YEAR, variants: tuple[tuple[float, float], ...] = CALIBRATION_VARIANTS,
                      sds: tuple[float, ...] = CALIBRATION_SDS, lock_before: int | None = None,
                      year_replays: int | None = None) -> list[str]:
    from ..measuring.changepoints import LOCATE
    from ..measuring.history_replay import calibrate, false_rate_long

    data = _recorded(root)
    lock = ("" if lock_before is None else
            f", the lock changing {lock_before} night(s) before the drop (in the unchanged replays on the same night)")
    lines = [f"replays of {warm} quiet nights then a drop{lock}, {runs} runs a night, built from {len(data.levels)} "
             f"recorded case(s) / {data.sessions} case-session(s) under {root} (within-session sd "
             f"{data.within_sd:.2%}); {replays} independent replays per row and as many unchanged ones, seed "
             f"{seed}; intervals 95 % over the replays (Wilson for shares, t over the unchanged series' counts)",
             "| night-to-night sd | penalty | alarm z | step | detected within target, placed ±1 night "
             "| placed ±2 | missed (of all replays): none reported near the step / one placed 2-"
             f"{LOCATE} nights off | median delay (nights) | false change points per 100 case-nights |",
             "|---|---|---|---|---|---|---|---|---|"]
    rows = [(sd, DEFAULT_PENALTY, DEFAULT_ALARM_Z) for sd in sds]
    rows += [(0.017, *variant) for variant in variants]
    for sd, penalty, alarm_z in rows:
        for step, target in STEPS:
            r = calibrate(data, sd, penalty, alarm_z, step, target, replays, warm, runs, seed, lock_before)
            lines.append(_calibration_row(r, target, data.within_sd**2 / runs > sd * sd))
    if lock_before is not None:  # the year of nights is the unchanged series' own: no lock change in it
        return lines
    # A year of nights, every night detected: O(n²) numpy steps each, so fewer than the replays by default.
    long_replays = max(5, replays // 40) if year_replays is None else year_replays
    lines += ["", f"over {year} unchanged nights (365: a year), detection on every night, {long_replays} independent "
              "replays per row (the default detector):",
              "| night-to-night sd | penalty | alarm z | false change points per 100 case-nights |",
              "|---|---|---|---|"]
    for sd in sds:
        rate, (low, high) = false_rate_long(data, sd, DEFAULT_PENALTY, year, long_replays, runs, seed)
        lines.append(f"| {_sd_label(sd)} | {DEFAULT_PENALTY:g} | {DEFAULT_ALARM_Z:g} | "
                     f"{rate:.2f} [{low:.2f}, {high:.2f}] |")
    return lines


def _share(k: int, n: int) -> str:
    """k of n as a share with its 95 % Wilson interval: every replay table's share column."""
    from ..measuring.claims import wilson

    if n == 0:
        return "-"
    low, high = wilson(k, n, 0.95)
    return f"{k / n:.1%} [{low:.1%}, {high:.1%}]"


def persistence_lines(root: Path, replays: int, seed: int, watch: int, warm: int = WARM, runs: int = 3,
                      sds: tuple[float, ...] = PERSISTENCE_SDS) -> list[str]:
    from ..measuring.history_replay import persistence_row

    data = _recorded(root)
    lines = [f"replays of {warm} quiet nights then a drop, {runs} runs a night, built from {len(data.levels)} recorded "
             f"case(s) under {root}; detection on every night up to {watch} after the step (the default detector, "
             f"penalty {DEFAULT_PENALTY:g}, alarm z {DEFAULT_ALARM_Z:g}); {replays} independent replays per row, seed "
             f"{seed}. After the night a step is first detected (a regression at its night ±1), a gap night reports "
             "no regression there; per 100 of those later nights, 95 % intervals over the replays (Wilson for "
             "shares, t of the ratio over the replays' counts)",
             f"| night-to-night sd | step | detected within {watch} nights | detected replays with a gap night "
             "| gap nights per 100 | nights with a regression elsewhere (not ±1) per 100 "
             "| nights the open drop (what alerts) is not the step per 100 | post-detection nights |",
             "|---|---|---|---|---|---|---|---|"]

    def rate(r: tuple[float, float, float]) -> str:
        return f"{r[0]:.2f} [{r[1]:.2f}, {r[2]:.2f}]"

    for sd in sds:
        for step in PERSISTENCE_STEPS:
            r = persistence_row(data, sd, step, watch, replays, warm, runs, seed, DEFAULT_PENALTY)
            lines.append(f"| {_sd_label(sd)} | {step:.0%} | {_share(r.detected, r.replays)} "
                         f"| {_share(r.with_gap, r.detected)} | {rate(r.gaps)} | {rate(r.wrong)} "
                         f"| {rate(r.unalerted)} | {r.nights} |")
    return lines


def _calibration_row(r: Any, target: int, narrow: bool) -> str:
    def share(x: float) -> str:
        return _share(round(x * r.replays), r.replays)

    delay = "-" if r.median_delay is None else f"{r.median_delay:g}"
    low = " (recorded within-session spread alone is wider)" if narrow else ""
    z = ("off (the fit alone)" if r.alarm_z == math.inf else "fires every night" if r.alarm_z == -math.inf
         else f"{r.alarm_z:g}")
    default = " (default)" if (r.penalty, r.alarm_z) == (DEFAULT_PENALTY, DEFAULT_ALARM_Z) else ""
    return (f"| {_sd_label(r.sd)}{low} | {r.penalty:g}{default} | {z} | {r.step:.0%} | "
            f"{share(r.within)} within {target} | {share(r.within_2)} | "
            f"{r.missed_none:.1%} / {r.missed_elsewhere:.1%} | {delay} | {r.false_per_100:.2f} "
            f"[{r.false_interval[0]:.2f}, {r.false_interval[1]:.2f}] |")
