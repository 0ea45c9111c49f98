"""Change points of every case in a history: the series of session means per class × lane × case,
with lock, recipe and thread changes as forced segment starts."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from ..core.defaults import DEFAULT_CONFIDENCE as RECORD_CONFIDENCE  # what reports.summary records at
from . import history as hi
from .baseline_records import CaseBaseline, SessionInfo
from .baseline_rules import RECIPE
from .changepoints import DEFAULT_HOLD, DEFAULT_PENALTY, Change, Fit, Point, detect, open_drop
from .session_gate import components, prior_for
from .session_shift import SharedShift, shared_shift

# Nights of its class without a case before its series counts as stopped: a shard that failed for a night
# or two is not a stop, and its open regression keeps alerting meanwhile.
STOPPED_AFTER = 3


@dataclass(frozen=True)
class CaseSeries:
    machine_class: str
    lane: str
    case_id: str
    variant: str
    points: tuple[Point, ...]
    fit: Fit
    gate_verdict: str | None = None  # the speedup gate's verdict on the newest night
    # The class's nights (any lane) after this series' last one: a case removed or renamed, a shard
    # dropped, a lane left behind by an upgrade or the next canary release stop their series there.
    nights_missed: int = 0

    @property
    def stopped(self) -> bool:
        """Not measured on the class's newest ``STOPPED_AFTER`` nights: its open regression is shown as
        such and no longer alerts (else a series nobody runs would fail every nightly for ever)."""
        return self.nights_missed >= STOPPED_AFTER

    def alerts(self, hold: int = DEFAULT_HOLD) -> list[Change]:
        return [c for c in self.changes if self.alerting(c, hold)]

    def alerting(self, c: Change, hold: int = DEFAULT_HOLD) -> bool:
        """Only the open regression of a series still measured alerts: detect's exit code and the
        dashboard say the same."""
        return c is self.open_regression and c.alerts(hold) and not self.stopped

    @functools.cached_property
    def open_regression(self) -> Change | None:
        """The newest drop the series has not come back from, as it stands tonight (changepoints.open_drop)."""
        return open_drop(self.points, self.fit)

    @functools.cached_property
    def changes(self) -> tuple[Change, ...]:
        """The fit's change points with the open regression as it stands tonight (held to the newest
        night, its size the newest segment's): what detect, new_changes and the dashboard report."""
        o = self.open_regression
        return tuple(o if o is not None and c.index == o.index else c for c in self.fit.changes)

    def reopened(self, c: Change) -> bool:
        """Whether ``c`` is the open regression with a later segment after its own (a partial fix, a lock
        change): its size is then the newest segment's against the nights before the drop."""
        return c is self.open_regression and c.index != self.fit.bounds[-1]


def points_of(records: list[tuple[hi.RunInfo, hi.CaseRecord]]) -> tuple[Point, ...]:
    return tuple(Point(run.night, case.mean_log, run.commit, hi.set_up_key(run, case), run.packages)
                 for run, case in records)


def analyse(history: hi.History, penalty: float = DEFAULT_PENALTY) -> list[CaseSeries]:
    out = []
    # A class's nights over all its lanes: a lane left behind (an upgraded "current", last month's
    # canary: lane ids carry their versions) has no nights of its own after its last one.
    class_nights: dict[str, set[str]] = {}
    for machine_class, lane in history.classes_and_lanes():
        class_nights.setdefault(machine_class, set()).update(run.night for run, _ in history.of(machine_class, lane))
    for machine_class, lane in history.classes_and_lanes():
        every = sorted(hi.series(history, machine_class, lane).items())
        nights = sorted(class_nights[machine_class])
        for case_id, records in every:
            points = points_of(records)
            missed = len(nights) - 1 - nights.index(points[-1].night)
            out.append(CaseSeries(machine_class, lane, case_id, records[-1][1].variant, points,
                                  detect(points, penalty), records[-1][1].verdict, missed))
    return out


def stopped_note(s: CaseSeries) -> str:
    """Why a stopped series' open regression does not alert."""
    return (f"not measured on its class's newest {s.nights_missed} night(s), since night {s.points[-1].night}: "
            "not alerting")


def describe(s: CaseSeries, c: Change, hold: int = DEFAULT_HOLD) -> str:
    flag = (" ALERT" if s.alerting(c, hold) else f" ({stopped_note(s)})" if c is s.open_regression and s.stopped
            else f" (alerts after {hold} nights)" if c is s.open_regression
            else " (not open)" if c.kind == "regression" else "")
    lock = f"; set-up changed: {', '.join(c.lock_changes)}" if c.lock_changes else ""
    given = ("95 % given the split; the newest segment against the one before the drop" if s.reopened(c)
             else "95 % given the split")
    return (f"{c.kind.upper()}{flag} {s.machine_class} {s.lane} {s.case_id}: {c.size:+.1%} "
            f"[{c.low:+.1%}, {c.high:+.1%}] ({given}) between night {c.before.night} "
            f"(commit {str(c.before.commit)[:10]}) "
            f"and night {c.after.night} (commit {str(c.after.commit)[:10]}), held {c.nights_held} night(s){lock}")


def window(history: hi.History, machine_class: str, lane: str,
           sessions: int) -> list[tuple[str, SessionInfo, dict[str, CaseBaseline]]]:
    """Each case's last ``sessions`` sessions of a class × lane as baseline sessions, oldest first.
    Per case, not per class × lane: every nightly shard is a session of its own, so the newest K
    sessions of the lane would give each case one at most. Each case keeps only records of its newest
    set-up (lock, recipe, threads): a baseline never pools runs of another lock."""
    newest: dict[str, str] = {}
    for run, case in history.of(machine_class, lane):
        newest[case.case_id] = hi.set_up_key(run, case)
    pairs = [(r, c) for r, c in history.of(machine_class, lane) if hi.set_up_key(r, c) == newest[c.case_id]]
    measured: dict[str, list[str]] = {}
    for r, c in pairs:
        if r.session not in (ids := measured.setdefault(c.case_id, [])):
            ids.append(r.session)
    kept = {(case_id, sid) for case_id, ids in measured.items() for sid in ids[-sessions:]}
    pairs = [(r, c) for r, c in pairs if (c.case_id, r.session) in kept]
    out = []
    for sid in dict.fromkeys(r.session for r, _ in pairs):
        runs = [(r, c) for r, c in pairs if r.session == sid]
        first, last = min(r.recorded for r, _ in runs), max(r.recorded for r, _ in runs)
        info = SessionInfo(host=sid, kernel="not kept in the history", first=first, last=last,
                           source=f"promoted from the history (nights {runs[0][0].night}..{runs[-1][0].night})")
        cases = {c.case_id: CaseBaseline(c.runs, RECORD_CONFIDENCE,
                                         {**c.environment, "torch_threads": c.threads, RECIPE: c.recipe})
                 for _, c in runs}
        out.append((sid, info, cases))
    return out


# What the step summary calls an entry of new_changes.
NEW, OPEN_AGAIN, MEASURED_AGAIN = "NEW", "OPEN AGAIN", "MEASURED AGAIN"


def new_changes(now: list[CaseSeries], before: list[CaseSeries],
                hold: int = DEFAULT_HOLD) -> list[tuple[CaseSeries, Change, str]]:
    """The change points of ``now`` that ``before`` (the same history before tonight's runs were
    appended) did not report, and the regressions that alert now and did not then: what the
    nightly's step summary lists. A change point matches one of before of the same kind whose first
    point is within one point of its own (a split may move by a night as nights are added). The
    point is found as itself, not by its night: two sessions of one night are two points.

    Each is NEW, OPEN_AGAIN or MEASURED_AGAIN. Open again: before had the regression, held long
    enough to alert, and read it as back (a partial fix, while its newest nights were too few to tell
    a residual drop from none; or a fix followed by a new drop, which the newest level cannot tell
    apart: the step summary names where that level starts). Measured again: before had it open but
    not alerting, its series stopped (no nights of its own), and tonight measured it again."""
    old = {(s.machine_class, s.lane, s.case_id): s for s in before}
    out = []
    for s in now:
        prior = old.get((s.machine_class, s.lane, s.case_id))
        position = {_key(p): i for i, p in enumerate(s.points)}
        for c in s.changes:
            match = [] if prior is None else [
                b for b in prior.changes
                if b.kind == c.kind and abs(position.get(_key(b.after), -9) - c.index) <= 1]
            alerted = prior is not None and any(prior.alerting(b, hold) for b in match)
            if not match or (s.alerting(c, hold) and not alerted):
                out.append((s, c, _label(prior, match, hold)))
    return out


def _label(prior: CaseSeries | None, match: list[Change], hold: int) -> str:
    was_open = getattr(prior and prior.open_regression, "index", None)
    if any(b.alerts(hold) and b.index != was_open for b in match):
        return OPEN_AGAIN
    if prior is not None and prior.stopped and any(b.alerts(hold) and b.index == was_open for b in match):
        return MEASURED_AGAIN
    return NEW


def _key(p: Point) -> tuple[str, float, str | None, str | None]:
    """A point as itself (its night, session mean, commit and set-up): one a night no longer names."""
    return p.night, p.value, p.commit, p.lock


def night_split(history: hi.History, machine_class: str, lane: str) -> list[tuple[str, str, bool, SharedShift]]:
    """Per variant, how much of its cases' night-to-night spread they share (``session_shift``), on
    the nights of one set-up (lock, recipe, threads): an upgrade moves every case at once and is a
    change, not a host's night. The newest set-up where 2 cases share 2 nights; an older one while
    the newest has fewer (the flag says which). Nights are the unit, whichever shard measured a
    case; a case run twice on one night counts its newest run (two sessions' gap is not run noise).
    (variant, set-up key, newest?, split) per variant that has such a set-up."""
    by_variant: dict[str, list[tuple[hi.RunInfo, hi.CaseRecord]]] = {}
    for run, case in history.of(machine_class, lane):
        by_variant.setdefault(case.variant, []).append((run, case))
    out = []
    for variant, pairs in sorted(by_variant.items()):
        # set-up key -> case -> night -> the newest run's speedups (pairs are oldest first)
        cells: dict[str, dict[str, dict[str, list[float]]]] = {}
        for run, case in pairs:
            cells.setdefault(hi.set_up_key(run, case), {}).setdefault(case.case_id, {})[run.night] = [
                r.speedup for r in case.runs]
        newest_first = list(dict.fromkeys(hi.set_up_key(r, c) for r, c in reversed(pairs)))
        for key in newest_first:
            cases = list(cells[key].values())
            within = components([list(c.values()) for c in cases], len({n for c in cases for n in c}),
                                prior_for(variant)).within_sd
            split = shared_shift(cases, within)
            if split is not None:
                out.append((variant, key, key == newest_first[0], split))
                break
    return out
