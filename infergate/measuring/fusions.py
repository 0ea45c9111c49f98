"""Fusion expectations (``<class>/<lane>.fusions.json``: a lost signal fails, a new one is reported), and coverage."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any

import filelock

from ..building.cases import Case, Profile
from ..building.variants import VARIANTS, get_variant
from ..core.atomic import write_text
from ..core.datafile import InvalidData, describe, parse_json
from ..core.errors import DataFileError
from ..matrix.dtypes import DType
from ..matrix.zoo import ATTENTIONS, EAGER_ATTENTION, SDPA_ATTENTION
from .baselines import LOCK_TIMEOUT_S
from .fusion_patterns import PATTERN_BY_KEY, PATTERNS, label

# --------------------------------------------------------------------------------------------
# Comparing with expectations
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    signal: str
    before: int
    after: int

    def __str__(self) -> str:
        return f"{label(self.signal)} {self.before} -> {self.after}"


@dataclass(frozen=True)
class Verdict:
    case_id: str
    expected: bool  # False: nothing recorded for this case, so nothing to compare
    lost: tuple[Change, ...] = ()
    new: tuple[Change, ...] = ()

    @property
    def failed(self) -> bool:
        return bool(self.lost)

    def message(self) -> str:
        if not self.expected:
            return f"{self.case_id}: no fusion expectation recorded"
        parts = []
        if self.lost:
            parts.append("lost fusion(s) " + "; ".join(map(str, self.lost)))
        if self.new:
            parts.append("new fusion(s) " + "; ".join(map(str, self.new)))
        return f"{self.case_id}: " + (", ".join(parts) if parts else "fusions as expected")


def compare(case_id: str, expected: Mapping[str, int] | None, observed: Mapping[str, int]) -> Verdict:
    """A signal whose count went down is lost, one that went up (or appeared) is new."""
    if expected is None:
        return Verdict(case_id, expected=False)
    lost, new = [], []
    for signal in sorted(set(expected) | set(observed), key=_signal_order):
        before, after = expected.get(signal, 0), observed.get(signal, 0)
        if after < before:
            lost.append(Change(signal, before, after))
        elif after > before:
            new.append(Change(signal, before, after))
    return Verdict(case_id, True, tuple(lost), tuple(new))


def _signal_order(signal: str) -> tuple[int, str]:
    keys = [p.key for p in PATTERNS]
    return (keys.index(signal), "") if signal in keys else (len(keys), signal)


# --------------------------------------------------------------------------------------------
# Which cases
# --------------------------------------------------------------------------------------------

# The variants with a graph to read (the TorchScript ones), in registry order.
FUSION_VARIANTS = tuple(name for name, v in VARIANTS.items() if v.has_graph)
# Both precisions whatever the perf profile times: reading a graph costs a build, not a timing
# run, and BF16 is where IPEX's bf16-only rewrites (flash MHA, split_tensor) live. A variant that
# cannot run BF16 on this CPU skips it with its own reason.
FUSION_DTYPES = (DType.FP32, DType.BF16)


def fusion_cases(profile: Profile) -> list[Case]:
    specs = {spec.id: spec for sel in profile.perf for spec in sel.specs()}
    return [Case(spec, v, d) for spec in specs.values() for v in FUSION_VARIANTS for d in FUSION_DTYPES]


# --------------------------------------------------------------------------------------------
# Expectation files
# --------------------------------------------------------------------------------------------
#
# Format, version 2 (sorted keys, 2-space indent, trailing newline: reviewed in pull requests):
#
#   {"schema": "infergate-fusions", "version": 2, "history": ["1: ...", "2: ..."],
#    "machine_class": "...", "lane": "...",
#    "cases": {case_id: {"counts": {signal: int >= 0}, "recorded": ISO timestamp,
#                        "source": "recorded" | "imported ... from ..."}}}
#
# A version 1 case has no "source": it is read as recorded, and the file is rewritten as version 2
# on the next update. A bad file is one DataFileError naming it and is never overwritten; updates
# lock, re-read, merge and replace atomically (the helpers are the speedup baselines' own).

SCHEMA = "infergate-fusions"
VERSION = 2
READABLE_VERSIONS = (1, 2)
HISTORY: tuple[str, ...] = (
    "1: first format: per case the count of each fusion pattern and tracked node kind of the "
    "executed optimized TorchScript graph, and when it was recorded",
    "2: per case its 'source': 'recorded' by this tree's own run, or where an imported expectation "
    "came from (`python -m infergate baselines import`)",
)
RECORDED = "recorded"
_TOP_KEYS = frozenset({"schema", "version", "history", "machine_class", "lane", "cases"})
_CASE_KEYS = {1: frozenset({"counts", "recorded"}), 2: frozenset({"counts", "recorded", "source"})}


@dataclass(frozen=True)
class Expectation:
    counts: Mapping[str, int]
    recorded: str
    source: str = RECORDED

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", MappingProxyType(_counts(self.counts)))
        if not isinstance(self.source, str) or not self.source:
            raise InvalidData(f"source must be a non-empty string, got {describe(self.source)}")
        if not isinstance(self.recorded, str):
            raise InvalidData(f"recorded must be an ISO timestamp string, got {describe(self.recorded)}")
        try:
            datetime.fromisoformat(self.recorded)
        except ValueError:
            raise InvalidData(f"recorded must be an ISO timestamp, got {self.recorded!r}") from None


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise InvalidData(f"counts must be an object of signal -> count, got {describe(value)}")
    out = {}
    for signal, count in value.items():
        if not isinstance(signal, str) or not signal:
            raise InvalidData(f"counts keys must be non-empty strings, got {signal!r}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise InvalidData(f"counts[{signal!r}] must be an integer >= 0, got {describe(count)}")
        out[signal] = count
    return out


@dataclass(frozen=True)
class FusionFile:
    machine_class: str
    lane: str
    cases: Mapping[str, Expectation]
    history: tuple[str, ...] = HISTORY

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA, "version": VERSION, "history": list(self.history),
            "machine_class": self.machine_class, "lane": self.lane,
            "cases": {
                cid: {"counts": dict(e.counts), "recorded": e.recorded, "source": e.source}
                for cid, e in self.cases.items()
            },
        }


def fusions_path(root: Path, machine_class: str, lane: str) -> Path:
    return Path(root) / machine_class / f"{lane}.fusions.json"


def _from_json(path: Path, data: Any) -> FusionFile:
    def bad(problem: str) -> DataFileError:
        return DataFileError(f"fusion expectations file {path} {problem}")

    if not isinstance(data, dict):
        raise bad(f"must hold a JSON object, found {type(data).__name__}")
    if data.get("schema") != SCHEMA:
        raise bad(f"has schema {describe(data.get('schema'))}, expected {SCHEMA!r}")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise bad(f"has version {version!r}; expected an integer")
    if version not in READABLE_VERSIONS:
        hint = "upgrade infergate or move the file aside" if version > VERSION else "move the file aside"
        readable = ", ".join(map(str, READABLE_VERSIONS))
        raise bad(f"has version {version}; this infergate reads versions {readable} — {hint}")
    if missing := sorted(_TOP_KEYS - data.keys()):
        raise bad(f"is missing {', '.join(missing)}")
    if unknown := sorted(data.keys() - _TOP_KEYS):
        raise bad(f"has unknown field(s) {', '.join(map(repr, unknown))}")
    history = data["history"]
    if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
        raise bad(f"history must be a list of strings, got {describe(history)}")
    for name in ("machine_class", "lane"):
        if not isinstance(data[name], str) or not data[name]:
            raise bad(f"{name} must be a non-empty string, got {describe(data[name])}")
    if not isinstance(data["cases"], dict):
        raise bad(f"cases must be an object, got {describe(data['cases'])}")
    cases = {}
    keys = _CASE_KEYS[version]
    for case_id, raw in data["cases"].items():
        try:
            if not isinstance(raw, dict) or raw.keys() != keys:
                raise InvalidData(f"must be an object with exactly {sorted(keys)}, got {describe(raw)}")
            cases[case_id] = Expectation(raw["counts"], raw["recorded"], raw.get("source", RECORDED))
        except InvalidData as exc:
            raise bad(f"case {case_id!r} {exc}") from None
    return FusionFile(data["machine_class"], data["lane"], MappingProxyType(cases), tuple(history))


def load(path: Path | str) -> FusionFile | None:
    """The validated file, or None when there is none yet (a normal state, not an error)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DataFileError(
            f"fusion expectations file {path} could not be read: {exc.strerror or exc}"
        ) from None
    return _from_json(path, parse_json(path, raw, "fusion expectations"))


def dumps(fusion_file: FusionFile) -> str:
    return json.dumps(fusion_file.to_json(), indent=2, sort_keys=True) + "\n"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def update(path: Path | str, new_counts: Mapping[str, Mapping[str, int]], machine_class: str, lane: str,
           recorded: str | None = None, lock_timeout: float = LOCK_TIMEOUT_S) -> FusionFile:
    """Record ``new_counts`` per case, keeping every other case; re-read under the lock."""
    path = Path(path)
    stamp = recorded or now()
    new = {cid: Expectation(counts, stamp) for cid, counts in new_counts.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with filelock.FileLock(str(path) + ".lock", timeout=lock_timeout):
            current = load(path)  # a corrupt file raises here: it is never overwritten
            if current is not None and (current.machine_class, current.lane) != (machine_class, lane):
                raise DataFileError(
                    f"fusion expectations file {path} is for {current.machine_class!r} / {current.lane!r}, "
                    f"not {machine_class!r} / {lane!r}: refusing to mix them"
                )
            cases = dict(current.cases) if current else {}
            cases.update(new)
            merged = FusionFile(machine_class, lane, cases, merged_history(current))
            write_text(path, dumps(merged))
            return merged
    except filelock.Timeout:
        raise DataFileError(
            f"fusion expectations file {path} is locked by another run (over {lock_timeout:g}s)"
        ) from None


def merged_history(current: FusionFile | None) -> tuple[str, ...]:
    # An older file is rewritten in the current version; its history gains the newer lines.
    history = current.history if current is not None else ()
    known = {line.split(":", 1)[0] for line in history}
    return (*history, *(line for line in HISTORY if line.split(":", 1)[0] not in known))


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    case: Case
    counts: Mapping[str, int] | None  # None: skipped
    status: str


def _other_kinds(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k}×{n}" for k, n in counts.items() if k not in PATTERN_BY_KEY) or "—"


def table(rows: Iterable[Row]) -> tuple[list[str], list[list[str]]]:
    """Header and cells: one row per case, one column per pattern, the attention axis explicit."""
    header = ["model", "attention", "variant", "dtype", *(p.title for p in PATTERNS),
              "other fused kinds", "status"]
    cells = []
    for row in sorted(rows, key=lambda r: (r.case.spec.id.replace(f"-{r.case.spec.attention}_attn", ""),
                                           r.case.spec.attention, r.case.variant, r.case.dtype.value)):
        spec = row.case.spec
        model = spec.id.removesuffix(f"-{spec.attention}_attn")
        counts = row.counts
        patterns = [str(counts.get(p.key, "—")) if counts is not None else "·" for p in PATTERNS]
        other = _other_kinds(counts) if counts is not None else "·"
        cells.append([model, spec.attention, row.case.variant, row.case.dtype.value, *patterns, other,
                      row.status])
    return header, cells


def render_text(header: list[str], cells: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*header), fmt.format(*("-" * w for w in widths)), *(fmt.format(*c) for c in cells)]


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(header: list[str], cells: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in cells]
    return lines


def sdpa_cost(rows: Iterable[Row]) -> list[str]:
    """One line per model and variant with both attentions: what SDPA does to the MHA fusion."""
    by_model: dict[tuple[str, str, str], dict[str, int]] = {}
    for row in rows:
        if row.counts is None:
            continue
        spec = row.case.spec
        key = (spec.id.removesuffix(f"-{spec.attention}_attn"), row.case.variant, row.case.dtype.value)
        by_model.setdefault(key, {})[spec.attention] = row.counts.get("mha", 0)
    return [
        f"{model} {variant}/{dtype}: Multi-head attention fusions {attn[EAGER_ATTENTION]} with eager attention, "
        f"{attn[SDPA_ATTENTION]} with SDPA"
        for (model, variant, dtype), attn in sorted(by_model.items())
        if set(ATTENTIONS) <= attn.keys() and get_variant(variant).imports_ipex
    ]


# Markdown sections are replaced per lane so docs/fusions.md can hold every lane's table.
_SECTION = re.compile(
    r"<!-- fusions:(?P<lane>[^ ]+) begin -->.*?<!-- fusions:(?P=lane) end -->\n?", re.DOTALL
)


def replace_section(document: str, lane: str, body: str) -> str:
    section = f"<!-- fusions:{lane} begin -->\n{body.rstrip()}\n<!-- fusions:{lane} end -->\n"
    for match in _SECTION.finditer(document):
        if match.group("lane") == lane:
            return document[: match.start()] + section + document[match.end():]
    return document.rstrip("\n") + ("\n\n" if document.strip() else "") + section


def write_markdown(path: Path, lane: str, body: str) -> None:
    document = path.read_text(encoding="utf-8") if path.exists() else "# Fusion coverage\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, replace_section(document, lane, body))
