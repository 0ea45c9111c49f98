"""A lane gate's result as data (``CaseComparison``, ``Correctness``, ``GateResult``) with its headline
and JSON form. Stdlib only: the gate's front starts under a Python without numpy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ..core import fields as f
from ..core.datafile import InvalidData
from ..core.errors import DataFileError

GATE_SCHEMA = "infergate-lane-gate"
# 3 added CaseComparison.to_variant and GateResult.replaced; 4 added GateResult.one_sided (the
# intervals' ends are one-sided bounds) and CaseComparison.order_first; 5 added GateResult.revisions;
# 6 added GateResult.config; 7 added GateResult.bisection and CaseComparison.latency_pair_numbers
GATE_VERSION = 7
# A version-2 result is a version-3 one that replaced nothing; 2 and 3 are two-sided.
READABLE_VERSIONS = (2, 3, 4, 5, 6, 7)
# The latency verdicts that decided something (lane_compare.change_status); "inconclusive" did not.
DECIDED = ("pass", "improvement", "regression")


@dataclass
class CaseComparison:
    case: str
    model: str
    variant: str
    dtype: str
    status: str  # pass | improvement | regression | inconclusive | unavailable | reference
    from_ms: float | None = None
    to_ms: float | None = None
    latency: tuple[float, float, float] | None = None  # to/from (point, low, high); see GateResult.one_sided
    latency_pairs: list[float] = field(default_factory=list)
    latency_status: str | None = None
    speedup_from: float | None = None  # median over pairs of each pair's speedup over eager
    speedup_to: float | None = None
    speedup_change: tuple[float, float, float] | None = None  # from/to: > 1 means "to" lost speedup
    speedup_status: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)  # status, max_abs, agreement, detail
    fusions_from: dict[str, int] = field(default_factory=dict)
    fusions_to: dict[str, int] = field(default_factory=dict)
    lost_fusions: list[str] = field(default_factory=list)
    proofs: dict[str, str] = field(default_factory=dict)  # side -> what was built
    note: str | None = None
    to_variant: str | None = None  # what "to" timed in ``variant``'s place (gate --replace), else None
    # per pair, as latency_pairs: side -> calls of the case where that side went first (version 4 on)
    order_first: list[dict[str, int]] = field(default_factory=list)
    # per latency_pairs entry, the worker pair it came from (1 to pairs; version 7 on): a pair that
    # lost the case has no entry, so the entries' positions are not their pairs. [] before version 7
    latency_pair_numbers: list[int] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The case, and what stood in for its variant in "to" when something did."""
        return f"{self.case} (to: {self.to_variant})" if self.to_variant else self.case

    @property
    def beyond(self) -> float | None:
        if self.latency is None:
            return None
        return max(self.latency[2] - 1.0, 1.0 - self.latency[1])


@dataclass
class Correctness:
    ran: bool
    returncode: int | None = None
    summary: str = ""
    log: str | None = None

    @property
    def failed(self) -> bool:
        # pytest: 0 all passed, 5 nothing collected (the -k expression matched no correctness case).
        return self.ran and self.returncode not in (0, 5)

    @property
    def checked_nothing(self) -> bool:
        """It ran and no test passed (none matched ``--cases``, or all skipped): not a failure, not a check."""
        return self.ran and (self.returncode == 5 or (self.returncode == 0 and " passed" not in f" {self.summary}"))


@dataclass
class GateResult:
    from_lane: str
    to_lane: str
    from_id: str
    to_id: str
    machine_class: str
    threads: int
    pairs: int
    rounds: int
    confidence: float
    floor: float
    min_change: float
    cases: list[CaseComparison]
    correctness: Correctness
    regressions: list[str]
    warnings: list[str]
    environment: dict[str, Any] = field(default_factory=dict)  # measuring env, cpus, per worker
    timing: dict[str, Any] = field(default_factory=dict)  # wall time, calls, what a minute bought
    injected: dict[str, float] = field(default_factory=dict)  # TEST ONLY: slowdowns put into "to"
    replaced: dict[str, str] = field(default_factory=dict)  # variant -> what "to" timed in its place
    # True: low and high are each a one-sided bound at ``confidence`` (version 4 on); False: a
    # two-sided interval at ``confidence`` (versions 2 and 3, which lack the field)
    one_sided: bool = False
    # Two revisions of the user's code in one lane (version 5 on; gate.revisions.describe): the lane,
    # each side's ref, commit and config; {} for a gate between two lanes
    revisions: dict[str, Any] = field(default_factory=dict)
    # The configured models' file both lanes built from (version 6 on); None: the built-in profile
    config: str | None = None
    # gate --bisect's lines, as printed (version 7 on): kept here, not only in report.md, so that
    # `report gate.json` re-renders them; [] when the gate was not bisected (or is older)
    bisection: list[str] = field(default_factory=list)

    @property
    def inconclusive(self) -> list[str]:
        return [c.case for c in self.cases if c.status == "inconclusive"]

    @property
    def passed(self) -> bool:
        return not self.regressions

    @property
    def nothing_judged(self) -> bool:
        """No gated case got a decided latency verdict: every one was skipped or unbuilt in a lane
        (e.g. ``--cases bf16`` on a CPU without native BF16, or jit_ipex with no IPEX in "from"), or
        timed and left inconclusive. Such a run ruled nothing out, so it must never read as a pass
        (as a perf run whose every case is inconclusive exits 7 under --ig-inconclusive pass)."""
        return not any(c.latency_status in DECIDED for c in self.cases if c.status != "reference")

    def headline(self) -> str:
        """FAIL, INCONCLUSIVE or NOTHING JUDGED (never a pass), or PASS with the largest change the run
        could still hide."""
        if self.regressions:
            return f"FAIL ({len(self.regressions)} regression(s))"
        if self.inconclusive:
            # A case "from" could not build was never timed: saying it "could not rule out a
            # slowdown" would name the wrong cause (its note holds the build error).
            unbuilt = sum(c.status == "inconclusive" and c.from_ms is None for c in self.cases)
            timed = len(self.inconclusive) - unbuilt
            parts = ([f"{timed} case(s) could not rule out a {self.floor:.0%} slowdown"] if timed else []) + (
                [f"{unbuilt} case(s) not measured ('from' could not build them)"] if unbuilt else [])
            # No case judged at all: --inconclusive pass cannot make that a pass (exit 7, gate_cli.exit_code).
            never = "; no case was judged (exit 7 under --inconclusive pass)" if self.nothing_judged else ""
            return "INCONCLUSIVE: " + "; ".join(parts) + never
        if self.nothing_judged:
            return f"NOTHING JUDGED (no gated case was timed in both lanes: {self._why_unjudged()})"
        widths = [c.beyond for c in self.cases if c.beyond is not None and c.status == "pass"]
        faster = sum(c.status == "improvement" for c in self.cases)
        text = f"PASS (no case changed beyond ±{max(widths) * 100:.1f}%)" if widths else "PASS"
        return text + (f", {faster} case(s) faster" if faster else "")

    def _why_unjudged(self) -> str:
        gated = [c for c in self.cases if c.status != "reference"]
        if not gated:
            return "no case was selected"
        notes = sorted({c.note or c.status for c in gated})
        return f"{len(gated)} case(s); " + "; ".join(notes)

    def to_json(self) -> dict[str, Any]:
        return {"schema": GATE_SCHEMA, "version": GATE_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> GateResult:
        version = doc.get("version")
        # type(): True == 1 and 2.0 == 2 would pass `in` as versions
        if doc.get("schema") != GATE_SCHEMA or type(version) is not int or version not in READABLE_VERSIONS:
            raise DataFileError(
                f"not a lane gate result of version {' or '.join(map(str, READABLE_VERSIONS))} "
                f"(schema {doc.get('schema')!r}, version {doc.get('version')!r})"
            )
        fields = {k: v for k, v in doc.items() if k not in ("schema", "version")}
        try:
            # What the reports read, checked before they read it: a wrong type or length would
            # otherwise be a TypeError or IndexError in the middle of rendering.
            _GATE_SHAPE("", fields)
            gate = cls._from_fields(fields)
            _check_pair_numbers(gate)
            return gate
        except InvalidData as exc:
            raise DataFileError(f"a lane gate result with a malformed field: {exc}") from None
        except KeyError as exc:
            raise DataFileError(f"a lane gate result without its field {exc}") from None
        except (TypeError, ValueError) as exc:  # a dataclass's own words name the field ("missing ... 'case'")
            said = str(exc).split("__init__() ", 1)[-1]
            raise DataFileError(f"a lane gate result with a malformed or missing field: {said}") from None

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> GateResult:
        cases = []
        for c in fields["cases"]:
            c = dict(c)
            for key in ("latency", "speedup_change"):  # JSON has no tuples
                if c.get(key) is not None:
                    c[key] = tuple(c[key])
            cases.append(CaseComparison(**c))
        fields["cases"] = cases
        fields["correctness"] = Correctness(**fields["correctness"])
        return cls(**fields)



_TRIPLE = f.optional(f.list_of(f.number, 3))  # (point, low, high)
_CASE_SHAPE = f.obj({
    **dict.fromkeys(("case", "model", "variant", "dtype", "status"), f.text),
    **dict.fromkeys(("from_ms", "to_ms", "speedup_from", "speedup_to"), f.optional(f.number)),
    **dict.fromkeys(("latency_status", "speedup_status", "note", "to_variant"), f.optional(f.text)),
    "latency": _TRIPLE, "speedup_change": _TRIPLE, "latency_pairs": f.list_of(f.number),
    "latency_pair_numbers": f.list_of(f.integer),
    "outputs": f.obj({"status": f.optional(f.text), "max_abs": f.number, "agreement": f.number,
                      "detail": f.optional(f.text)}),
    "fusions_from": f.dict_of(f.integer), "fusions_to": f.dict_of(f.integer), "lost_fusions": f.list_of(f.text),
    "proofs": f.dict_of(f.anything), "order_first": f.list_of(f.dict_of(f.integer)),
})
_SIDE = f.obj({"ref": f.text, "commit": f.text, "config": f.optional(f.text)}, required=("ref", "commit"))
_REVISIONS = f.obj({"lane": f.text, "from": _SIDE, "to": _SIDE, "infergate": f.obj({}, required=("from", "to"))},
                   required=("lane", "from", "to", "uncommitted_changes", "infergate"))


def _revisions(where: str, value: Any) -> None:
    if value != {}:  # {}: a gate between two lanes
        _REVISIONS(where, value)


_GATE_SHAPE = f.obj({
    **dict.fromkeys(("from_lane", "to_lane", "from_id", "to_id", "machine_class"), f.text),
    **dict.fromkeys(("threads", "pairs", "rounds"), f.integer),
    **dict.fromkeys(("confidence", "floor", "min_change"), f.number),
    "cases": f.list_of(_CASE_SHAPE),
    "correctness": f.obj({"ran": f.flag, "returncode": f.optional(f.integer), "summary": f.text,
                          "log": f.optional(f.text)}),
    "regressions": f.list_of(f.text), "warnings": f.list_of(f.text), "bisection": f.list_of(f.text),
    "environment": f.obj({"measuring": f.obj({"settings": f.list_of(f.text),
                                              "env": f.optional(f.dict_of(f.anything))})}),
    "timing": f.obj({"seconds": f.number}), "injected": f.dict_of(f.number), "replaced": f.dict_of(f.text),
    "one_sided": f.flag, "revisions": _revisions, "config": f.optional(f.text),
})


def _check_pair_numbers(gate: GateResult) -> None:
    """Each case's pair numbers, where recorded, name its latency_pairs' own pairs, once each."""
    for i, c in enumerate(gate.cases):
        numbers = c.latency_pair_numbers
        if numbers and (len(numbers) != len(c.latency_pairs) or len(set(numbers)) != len(numbers)
                        or not all(1 <= n <= gate.pairs for n in numbers)):
            raise InvalidData(f"cases[{i}].latency_pair_numbers: {numbers} are not {len(c.latency_pairs)} "
                              f"different pairs of 1 to {gate.pairs}")
