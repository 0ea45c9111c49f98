"""What a whole perf run decided: its exit code and its closing lines, from the cases' verdicts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..core import exit_codes
from ..measuring.case_result import CaseResult
from ..measuring.verdicts import INCONCLUSIVE, JUDGED, UNVERIFIED
from .summary import outcome_counts

RERECORDED = "re-recorded"


@dataclass(frozen=True)
class RunOutcome:
    results: Sequence[CaseResult]
    floor: float
    machine_class: str
    lane: str
    record_command: str
    inconclusive_fails: bool = True
    unverified_fails: bool = True
    fusions_compared: int = 0
    recording: bool = False
    # Inconclusive for a baseline of another build or set-up, and re-recorded by this (recording) run.
    rerecorded: frozenset[str] = frozenset()
    skipped: tuple[str, ...] = ()  # the skip reason of each perf case that was selected and skipped
    failed: int = 0  # perf cases that failed: their failure is the run's outcome

    @property
    def unmeasured(self) -> bool:
        """Perf cases selected and none measured against eager (each skipped, or eager alone), none failed."""
        return not self.measured and not self.failed and bool(self.skipped or self.results)

    @property
    def measured(self) -> list[CaseResult]:
        return [r for r in self.results if r.verdict != "reference"]

    @property
    def judged(self) -> list[CaseResult]:
        return [r for r in self.measured if r.verdict in JUDGED]

    @property
    def nothing_judged(self) -> bool:
        """Cases measured, none gated and no fusion compared: whatever left them undecided (no baseline,
        an inconclusive case under --ig-inconclusive pass), such a run has checked nothing."""
        if self.judged or self.fusions_compared:
            return False
        return self.unmeasured or (not self.recording and bool(self.measured))

    @property
    def counts(self) -> dict[str, int]:
        """The verdicts' counts, a re-recorded case apart: the re-record its message prescribed was done."""
        counts = outcome_counts(self.results)
        done = sum(1 for r in self.measured if r.verdict == INCONCLUSIVE and r.case_id in self.rerecorded)
        if done:
            counts[INCONCLUSIVE] -= done
            counts[RERECORDED] = done
        return {k: n for k, n in counts.items() if n}

    @property
    def exit_code(self) -> int:
        """For a run in which no test failed: the most serious of what was left undecided."""
        counts = self.counts
        if counts.get("regression"):
            return exit_codes.REGRESSION
        if counts.get(INCONCLUSIVE) and self.inconclusive_fails:
            return exit_codes.INCONCLUSIVE
        # A recording run's purpose is the new session: that older ones cannot see the floor is reported.
        if counts.get(UNVERIFIED) and self.unverified_fails and not self.recording:
            return exit_codes.UNVERIFIED
        if self.nothing_judged:
            return exit_codes.NOTHING_JUDGED
        return exit_codes.OK

    def _drop(self, cases: Sequence[CaseResult]) -> str:
        """The drop ``cases`` were judged at: the run's floor, or a case's own from its baseline, each
        named with how many cases it held for (a pass rules out its case's floor, not --ig-floor)."""
        floors: dict[float, int] = {}
        for r in cases:
            floor = r.floor if r.floor is not None else self.floor
            floors[floor] = floors.get(floor, 0) + 1
        if set(floors) <= {self.floor}:
            return f"a {self.floor:.0%} drop"
        return "a drop of their floor (" + ", ".join(
            f"{n} at {f:.0%}" + (" (--ig-floor)" if f == self.floor else " (the case's own)")
            for f, n in sorted(floors.items())) + ")"

    def _unmeasured_why(self) -> str:
        """Each skip reason with how many cases it skipped, and the eager (reference) cases."""
        reasons: dict[str, int] = {}
        for reason in self.skipped:
            reasons[reason] = reasons.get(reason, 0) + 1
        parts = [f"{n} skipped: {reason}" for reason, n in reasons.items()]
        eager = len(self.results)
        return "; ".join(parts + ([f"{eager} eager case(s), the reference itself"] if eager else []))

    def lines(self) -> list[str]:
        measured, judged = self.measured, self.judged
        counts = self.counts
        if self.nothing_judged and self.unmeasured:
            return ["!" * 100,
                    f"!!! NOTHING JUDGED on machine class {self.machine_class} lane {self.lane}: no perf case was "
                    f"measured against eager ({self._unmeasured_why()}), no fusion expectation compared (exit code "
                    f"{exit_codes.NOTHING_JUDGED})",
                    "!" * 100]
        if self.nothing_judged and counts.get("no-baseline") == len(measured):
            return ["!" * 100,
                    f"!!! NOTHING JUDGED: no baselines for machine class {self.machine_class} lane {self.lane}: "
                    f"{len(measured)} case(s) measured, none gated, no fusion expectation compared "
                    f"(exit code {exit_codes.NOTHING_JUDGED}); record them on a quiet machine of this class: "
                    f"{self.record_command}",
                    "!" * 100]
        if self.nothing_judged and not (counts.get(INCONCLUSIVE) and self.inconclusive_fails):
            undecided = ", ".join(f"{counts[v]} {v}" for v in (INCONCLUSIVE, "no-baseline") if counts.get(v))
            return ["!" * 100,
                    f"!!! NOTHING JUDGED on machine class {self.machine_class} lane {self.lane}: {len(measured)} "
                    f"case(s) measured, none gated ({undecided}), no fusion expectation compared (exit code "
                    f"{exit_codes.NOTHING_JUDGED}, whatever --ig-inconclusive says); the case lines say why",
                    "!" * 100]
        # Verified means the floor was ruled out (pass, improvement); an unverified case may have seen
        # the floor and still not ruled it out, so it is counted with its detectable drop.
        verified = [r for r in judged if r.verdict in ("pass", "improvement")]
        only_mdd = [r for r in judged if r.verdict == UNVERIFIED]
        parts = [f"{counts[v]} {v}" for v in ("pass", UNVERIFIED, "improvement", "regression", INCONCLUSIVE,
                                             RERECORDED, "no-baseline") if counts.get(v)]
        sees = [r.mdd or 0.0 for r in only_mdd]
        out = [f"infergate: {len(judged)} of {len(measured)} case(s) gated ({', '.join(parts) or 'none'}); "
               f"{len(verified)} ruled out {self._drop(verified)}, {len(only_mdd)} could not (unverified"
               + (f": they see drops of {min(sees):.1%}-{max(sees):.1%})" if sees else ")")]
        if counts.get(UNVERIFIED):
            effect = (f"the run exits with code {exit_codes.UNVERIFIED}" if self.unverified_fails and not self.recording
                      else "reported only (" + ("a recording run" if self.recording else "--ig-unverified pass") + ")")
            out.append(f"!!! {counts[UNVERIFIED]} case(s) UNVERIFIED: no significant drop, but {self._drop(only_mdd)} "
                       f"could not be ruled out (record more sessions to see smaller drops); {effect}")
        if counts.get(RERECORDED):
            out.append(f"infergate: {counts[RERECORDED]} case(s) re-recorded: their baseline measured another "
                       "build or set-up, so they were not judged, and this run replaced it with its runs")
        if counts.get(INCONCLUSIVE):
            effect = (f"the run exits with code {exit_codes.INCONCLUSIVE}" if self.inconclusive_fails
                      else "reported only (--ig-inconclusive pass)")
            out.append(f"!!! {counts[INCONCLUSIVE]} case(s) INCONCLUSIVE: the gate could not judge them; {effect}")
        return out
