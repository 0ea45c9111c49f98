"""The claims command's files: claims.json written, read back (refusing unknown versions), and
rendered again, one run or several of one class and lane into one report."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from pathlib import Path

from ..measuring.claims_hosts import HostFigures, hosts_from_json, read_hosts, utc_today
from ..measuring.claims_measure import ClaimMeasurement
from .claims_rows import header_problem, lockstep_flag, raw_row_problem, row_problem, unpaired_lockstep

SCHEMA, VERSION = "infergate-claims", 4
# 1: one process per row (``timing``); 2: ``trials``, one per worker process, and ``sources``;
# 3: a trial's ``lockstep`` (a BF16 row's two workers timed in lockstep rounds, ``claims_pair``);
# 4: ``hosts``, the baselines' spreads the report was rendered with (``claims_hosts``), and
#    ``rows_version``: the version its rows were written in, when older (a file given hosts later).
READABLE_VERSIONS = (1, 2, 3, 4)
HOSTS_SINCE = 4


def rows_version(data: dict) -> int:
    """The version a file's rows were written in: its own, unless it was given hosts later."""
    return data.get("rows_version", data["version"])


def _finite(value):
    """JSON has no NaN or infinity: a NaN output difference is written as null."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _write(out_dir: Path, results: Sequence[ClaimMeasurement], facts: dict, cls: str, lane: str,
           dtypes: Sequence[str], hosts: HostFigures, sources: Sequence[dict] = (), rows_too: bool = True,
           written_in: int = VERSION) -> None:
    """The report; with ``rows_too`` also claims.json (a re-render in place leaves its rows as they are)."""
    from ..core.validate import refuse_non_files
    from ..reports.claims_report import plot, render
    from ..reports.summary import write_json

    # The rows first: measured ones (minutes each) must survive a report that fails to render; rows
    # read back from a file were validated by load_rows before they get here.
    refuse_non_files(out_dir, ("claims.json", "claims.md", "claims.png"))
    out_dir.mkdir(parents=True, exist_ok=True)
    if rows_too:
        older = {"rows_version": written_in} if written_in < VERSION else {}
        write_json(out_dir / "claims.json", {"schema": SCHEMA, "version": VERSION, **older, "facts": facts,
                                             "dtypes": list(dtypes), "machine_class": cls, "lane": lane,
                                             "sources": list(sources), "hosts": hosts.to_json(),
                                             "rows": [_finite(dataclasses.asdict(m)) for m in results]})
    (out_dir / "claims.md").write_text(render(results, facts, cls, dtypes, lane=lane, sources=sources,
                                                              hosts=hosts),
                                       encoding="utf-8")
    plot(results, out_dir / "claims.png", f"{cls}, {lane}")


def _timing(raw: dict):
    from ..measuring.sampling import ModelMeasurement

    return ModelMeasurement.from_dict(raw)


def load_rows(path: Path) -> tuple[dict, list[ClaimMeasurement]]:
    """A claims.json back into rows (refusing another schema or an unknown version)."""
    from ..core.errors import DataFileError
    from ..measuring.claims_measure import Answers, Trial
    from ..measuring.sampling import Cost

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataFileError(f"claims file {path}: cannot read it: {exc}") from None
    # type() is int: True and 1.0 equal 1 but are not a version this infergate wrote.
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or type(version) is not int \
            or version not in READABLE_VERSIONS:
        raise DataFileError(f"claims file {path}: not an {SCHEMA} file of version "
                            f"{' or '.join(map(str, READABLE_VERSIONS))}")
    written = data.get("rows_version", version)
    if type(written) is not int or written not in READABLE_VERSIONS or written > version \
            or (written != version and version < HOSTS_SINCE):
        raise DataFileError(f"claims file {path}: rows_version {json.dumps(written)} is not a version before its "
                            f"own ({version}) that this infergate reads")
    if not isinstance(data.get("rows"), list) or not data["rows"]:
        raise DataFileError(f"claims file {path}: its rows must be a non-empty list, got "
                            f"{json.dumps(data.get('rows'))[:60]}")
    problem = header_problem(data) or next(
        (f"row {i + 1}: {why}" for i, raw in enumerate(data["rows"]) for why in [raw_row_problem(raw)] if why), None)
    if problem:  # the renderer reads these: a traceback, or a Python error's words, otherwise
        raise DataFileError(f"claims file {path}: {problem}")
    rows = []
    try:
        for raw in data["rows"]:
            raw = dict(raw)
            timing = raw.pop("timing")
            trials = [Trial(t["process"], t["group"], _timing(t["timing"]), t.get("ipex_imported", False),
                            lockstep_flag(t, written)) for t in raw.pop("trials", [])]
            answers = {k: Answers(**{**v, "max_abs": float("nan") if v["max_abs"] is None else v["max_abs"],
                                     "disagreements": tuple(v["disagreements"])})
                       for k, v in raw.pop("answers").items()}
            costs = {k: Cost(**{f: float("nan") if x is None else x for f, x in v.items()})
                     for k, v in raw.pop("costs").items()}
            rows.append(ClaimMeasurement(**raw, timing=None if timing is None else _timing(timing),
                                         trials=trials, answers=answers, costs=costs))
        for m in rows:
            problem = row_problem(m) or unpaired_lockstep(m)
            if problem:
                raise DataFileError(f"claims file {path}: row {m.model_id} {m.shape} {m.dtype}: {problem}")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DataFileError(f"claims file {path}: a malformed row ({type(exc).__name__}: {exc})") from None
    stored_hosts(path, data)
    return data, rows


def stored_hosts(path: Path, data: dict) -> HostFigures | None:
    """The spreads a file's report was rendered with (version 4 on), or None when it keeps none."""
    from ..core.errors import DataFileError

    if "hosts" not in data:
        return None
    if data["version"] < HOSTS_SINCE:
        raise DataFileError(f"claims file {path}: hosts in a version {data['version']} file (they are version "
                            f"{HOSTS_SINCE} on)")
    try:
        return hosts_from_json(data["hosts"])
    except ValueError as exc:
        raise DataFileError(f"claims file {path}: {exc}") from None


def _hosts_for(loaded: Sequence, dtypes: Sequence[str], refresh: bool,
               in_place: bool) -> tuple[HostFigures, str, dict | None]:
    """A single file's own spreads unless ``refresh`` (a file without them reads the baselines, and
    keeps what it read when rendered in place: the document to write once the report is); several
    files' merge reads the baselines: a new report."""
    from ..reports.claims_report import BASELINES

    path, data, _, cls, lane = loaded[0]
    kept = stored_hosts(path, data) if len(loaded) == 1 and not refresh else None
    if kept is not None:
        return kept, f"across hosts as read on {kept.read_on}, kept in claims.json", None
    hosts = read_hosts(BASELINES, cls, lane, dtypes, utc_today())
    said = f"across hosts read from {hosts.source} today" + (", kept in claims.json" if in_place else "")
    if not in_place:
        return hosts, said, None
    # The rows stay as they are, and so does the version they were written in.
    return hosts, said, {**data, "version": VERSION, "rows_version": rows_version(data), "hosts": hosts.to_json()}


def _source(path: Path, data: dict, origin: str | None) -> list[dict]:
    """Where a file's rows come from: its own sources when it has them, else the file itself."""
    if data.get("sources"):
        return list(data["sources"])
    facts = data.get("facts", {})
    return [{"path": str(path), "version": rows_version(data), "command": facts.get("command", "—"),
             "wall time": facts.get("wall time", "—"), "rows": len(data["rows"]),
             "origin": origin or facts.get("date", "not recorded in the file")}]


# What docs/claims/<class>/<lane>/ names look like (building.machine): cpu__isa__NcNt, torch-…__…__tf-….
CLASS_NAME = re.compile(r"[a-z0-9-]+__[a-z0-9_]+__\d+c\d+t")
LANE_NAME = re.compile(r"torch-[^_]+__[^_]+__tf-[^_]+")


def refuse_misnamed(target: Path, cls: str, lane: str) -> None:
    """docs/claims/<class>/<lane>/ is where readers look a report up: rows of one class or lane under
    another's name would be read as that one's answer. A partial run's own directory name is free."""
    from ..core.errors import UsageError

    parent, name = target.resolve().parent.name, target.resolve().name
    if CLASS_NAME.fullmatch(parent) and parent != cls:
        raise UsageError(f"--out {target}: its rows are of machine class {cls}, not {parent}")
    if LANE_NAME.fullmatch(name) and name != lane:
        raise UsageError(f"--out {target}: its rows are of lane {lane}, not {name}")


def _same_rows(existing: Path, results: Sequence[ClaimMeasurement]) -> bool:
    """Whether the report at ``existing`` holds exactly these rows (as written): replacing it then
    loses no measurement, as when the docs' commands rebuild a committed merged report from its runs
    (its facts, sources and hosts are the new render's)."""
    def written(rows) -> list[str]:
        return sorted(json.dumps(r, sort_keys=True) for r in rows)

    try:
        there = json.loads(existing.read_text(encoding="utf-8"))["rows"]
        return written(there) == written(json.loads(json.dumps([_finite(dataclasses.asdict(m)) for m in results])))
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _refuse_target(target: Path, cls: str, lane: str, in_place: bool, results: Sequence[ClaimMeasurement]) -> None:
    """Rows go under their own class and lane's name, and never over another report's rows: a report
    there is replaced only by one of the same rows."""
    from ..core.errors import UsageError

    refuse_misnamed(target, cls, lane)
    existing = target / "claims.json"
    if not in_place and existing.exists() and not _same_rows(existing, results):
        raise UsageError(f"--out {target} already holds a claims report: its rows would be replaced by these; "
                         "render into a new directory (or render that one in place)")


def _refuse_twice(loaded) -> None:
    """One model's row in two files would count that model twice in the share."""
    from ..core.errors import DataFileError

    seen: dict[tuple[str, str, str], Path] = {}
    for path, _, rows, _, _ in loaded:
        for m in rows:
            key = (m.model_id, m.shape, m.dtype)
            if key in seen:
                raise DataFileError(f"claims file {path}: row {' '.join(key)} is also in {seen[key]}: "
                                    "render each row once")
            seen[key] = path


def _facts_and_sources(loaded: Sequence, rows: int, origin: str | None, command: str | None,
                       in_place: bool) -> tuple[dict, list[dict]]:
    """One file keeps its own facts and sources (``origin`` then names it as the source); several
    files' merge gets facts of its own and each file as a source."""
    from ..core.errors import UsageError

    first = loaded[0]
    if len(loaded) == 1:
        if origin and in_place:
            raise UsageError("--origin is kept in claims.json: render into another --out")
        return first[1]["facts"], _source(first[0], first[1], origin) if origin else first[1].get("sources") or []
    facts = {"machine class": first[3], "lane": first[4], "CPU": first[1]["facts"].get("CPU", "—"),
             "torch threads": first[1]["facts"].get("torch threads", "—"),
             "rows": f"{rows}, from {len(loaded)} runs (see Sources)"}
    if command:
        facts["rendered by"] = f"`{command}`"
    return facts, [s for path, data, *_ in loaded for s in _source(path, data, origin)]


def render_again(directories: Sequence[Path], out_dir: Path | None = None, origin: str | None = None,
                 command: str | None = None, refresh_hosts: bool = False) -> int:
    """Render one or several claims.json of one class and lane into one report; another class or lane is refused."""
    from ..core.errors import DataFileError, UsageError

    if len(directories) > 1:  # the merged rows are a new report: never over one of its inputs
        if out_dir is None:
            raise UsageError("--render of several directories writes one new report: name it with --out")
        inputs = {d.resolve() for d in directories}
        if out_dir.resolve() in inputs:
            raise UsageError(f"--out {out_dir} is one of the directories rendered: their rows would be "
                             "replaced by the merged ones; name a new directory")
    loaded = []
    for directory in directories:
        path = directory / "claims.json"
        data, results = load_rows(path)
        try:
            stored = data["facts"]  # the first reports named class, lane and dtypes only among their facts
            cls = data.get("machine_class") or stored["machine class"]
            lane = data.get("lane") or stored["lane"]
        except (KeyError, TypeError) as exc:
            raise DataFileError(f"claims file {path}: no {exc} among its facts") from None
        loaded.append((path, data, results, cls, lane))
    first = loaded[0]
    if origin:  # a rendered report's sources carry their own origins: one TEXT would be kept for none of them
        for path, data, *_ in loaded:
            if data.get("sources"):
                raise UsageError(f"--origin: {path} was rendered from several files, each with its origin "
                                 "kept in its sources; render it without --origin")
    for path, _, _, cls, lane in loaded[1:]:
        if (cls, lane) != (first[3], first[4]):
            raise DataFileError(f"claims file {path}: {cls}, {lane}, not {first[3]}, {first[4]} as "
                                f"{first[0]}: one report is one class and lane")
    results = [m for _, _, rows, _, _ in loaded for m in rows]
    _refuse_twice(loaded)
    dtypes = list(dict.fromkeys(d for _, data, rows, _, _ in loaded
                                for d in (data.get("dtypes") or [m.dtype for m in rows])))
    in_place = len(loaded) == 1 and (out_dir is None or out_dir.resolve() == directories[0].resolve())
    facts, sources = _facts_and_sources(loaded, len(results), origin, command, in_place)
    target = out_dir or directories[0]
    _refuse_target(target, first[3], first[4], in_place, results)
    hosts, said, keep = _hosts_for(loaded, dtypes, refresh_hosts, in_place)
    _write(target, results, facts, first[3], first[4], dtypes, hosts, sources, rows_too=not in_place,
           written_in=max(rows_version(data) for _, data, *_ in loaded))
    if keep is not None:  # after the report: a render refused or failed leaves the file as it was
        from ..core.atomic import write_json

        write_json(first[0], {k: v for k, v in keep.items() if k != "rows_version" or v < VERSION})
    print(f"infergate claims: rendered {target / 'claims.md'} from {len(results)} rows of {len(loaded)} file(s); "
          f"{said}")
    return 0


def print_summary(root: Path, baselines: Path | None = None) -> int:
    """The cross-class table; a class with baselines but no claims report is listed as not measured,
    so a class nobody has run claims on is visible rather than absent. Across hosts: each report's own
    spreads, as its claims.md shows them (the baselines read now for a file that keeps none)."""
    from ..building.variants import JIT, JIT_IPEX
    from ..measuring.claims import host_spread
    from ..reports.claims_report import summary_table

    reports, lanes, kept = [], {}, {}
    for path in sorted(root.glob("*/*/claims.json")):
        data, rows = load_rows(path)
        # A partial run lives under its own directory name; its lane is in its facts.
        lane = data.get("lane") or (data.get("facts") or {}).get("lane") or path.parent.name
        shown = lane if lane == path.parent.name else f"{lane} ({path.parent.name})"
        lanes[(path.parent.parent.name, shown)] = lane
        kept[(path.parent.parent.name, shown)] = stored_hosts(path, data)
        reports.append((path.parent.parent.name, shown,
                        data.get("dtypes") or list(dict.fromkeys(m.dtype for m in rows)), rows))
    measured = {cls for cls, *_ in reports}
    classes = sorted(p.name for p in baselines.iterdir() if p.is_dir()) if baselines and baselines.is_dir() else []
    unmeasured = [c for c in classes if c not in measured]

    def hosts(cls: str, shown: str, dtype: str):
        own = kept[(cls, shown)]
        if own is not None:
            return own.spread(dtype, JIT_IPEX, JIT)
        return host_spread(baselines, cls, lanes[(cls, shown)], JIT_IPEX, JIT, dtype) if baselines else None

    print("\n".join(summary_table(reports, unmeasured, hosts)))
    return 0


