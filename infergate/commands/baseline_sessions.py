"""What ``baselines add``, ``import`` and ``show`` do (the parser is ``baselines_cli``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from ..building.machine import LANE_NAME, MACHINE_CLASS_NAME
from ..building.variants import REFERENCE
from ..core.datafile import describe
from ..core.defaults import DEFAULT_FAMILY_ALPHA, DEFAULT_FLOOR, DEFAULT_REPEAT
from ..core.errors import DataFileError, UsageError
from ..measuring import baselines as bl
from ..measuring import fusions, imported
from ..measuring.baseline_merge import merge, run_key
from ..measuring.baseline_records import CaseBaseline, InvalidBaseline, RunRecord, SessionInfo, valid_session_id
from ..measuring.baseline_rules import RECIPE, RERECORD, pooling_refusal
from ..measuring.session_gate import minimum_detectable_drop, predictive_se
from ..measuring.session_shift import SharedShift, pooled, shared_shift
from ..measuring.speedup_gate import current_cases, spreads
from ..measuring.speedup_verdicts import family_confidence
from ..measuring.staging import RECORD_CONFIDENCE

RESULTS_VERSIONS = (1,)


def read_results(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFileError(f"results file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFileError(f"results file {path} is not readable JSON: {exc}") from None
    info = data.get("machine_info", {}) if isinstance(data, dict) else {}
    if isinstance(info, dict) and isinstance(info.get("sources"), list):
        # Checked first: a merge keeps its sources' blocks under sources, so the next check's "not
        # written by --ig-json" would name the wrong cause.
        raise DataFileError(f"results file {path} is a merge of {len(info['sources'])} results files "
                            "(python -m infergate merge); history and baselines take one run's file: add each "
                            "runner's own --ig-json file")
    ig = info.get("infergate") if isinstance(info, dict) else None
    if not isinstance(ig, dict) or "results_version" not in ig:
        raise DataFileError(f"results file {path} has no machine_info.infergate: not written by --ig-json "
                            "of this infergate (or written before results carried their runs)")
    # type() is int: True and 1.0 equal 1 but are not a version this infergate wrote.
    version = ig["results_version"]
    if type(version) is not int or version not in RESULTS_VERSIONS:
        kind = "" if type(version) is int else f" ({type(version).__name__}, not a whole number)"
        raise DataFileError(f"results file {path} has results version {version!r}{kind}; this "
                            f"infergate reads {', '.join(map(str, RESULTS_VERSIONS))}")
    return data


def cases_from_results(
    path: Path, data: dict[str, Any]
) -> tuple[dict[str, CaseBaseline], tuple[str, SessionInfo]]:
    info = data["machine_info"]
    env = info.get("environment")
    env = {} if env is None else env
    if not isinstance(env, dict):
        raise DataFileError(f"results file {path}: machine_info.environment must be an object, got {describe(env)}")
    if env.get("injected_slowdown"):
        raise DataFileError(f"results file {path} comes from a run with the test-only slowdown hook "
                            f"({env['injected_slowdown']}); it is never a baseline")
    session = _session_of(path, info["infergate"])
    benchmarks = data.get("benchmarks", [])
    if not isinstance(benchmarks, list):
        raise DataFileError(f"results file {path}: benchmarks must be a list, got {describe(benchmarks)}")
    cases: dict[str, CaseBaseline] = {}
    at: dict[str, int] = {}
    for i, bench in enumerate(benchmarks):
        if (found := _case_of(path, i, bench, env, session[0])) is None:
            continue
        if found[0] in at:  # a dict kept the last copy, the other's runs lost without a word
            raise DataFileError(f"results file {path}: case {found[0]!r} is in it twice (benchmarks[{at[found[0]]}] "
                                f"and [{i}]): one case, one result")
        cases[found[0]], at[found[0]] = found[1], i
    if not cases:
        raise DataFileError(f"results file {path} holds no measured speedups")
    return cases, session


def _session_of(path: Path, ig: dict[str, Any]) -> tuple[str, SessionInfo]:
    try:
        # Not str(): a null session became the session "None", its origin lost.
        sid = valid_session_id(ig.get("session"))
        return sid, SessionInfo(**{**ig["session_info"], "source": f"added from {path.name}"})
    except (KeyError, TypeError, InvalidBaseline) as exc:
        raise DataFileError(f"results file {path}: machine_info.infergate session or session_info is not valid: "
                            f"{exc}") from None


def _case_of(path: Path, i: int, bench: Any, env: dict[str, Any], sid: str) -> tuple[str, CaseBaseline] | None:
    """benchmarks[i] as a case's runs of session ``sid``; None for eager (the reference, never a baseline)."""
    if not isinstance(bench, dict):
        raise DataFileError(f"results file {path}: benchmarks[{i}] must be an object, got {describe(bench)}")
    extra = bench.get("extra_info")
    if not isinstance(extra, dict):
        raise DataFileError(f"results file {path}: benchmarks[{i}].extra_info must be an object, got "
                            f"{describe(extra)}")
    if extra.get("variant") == REFERENCE:
        return None
    case_id = _case_id(path, i, extra)
    records = extra.get("run_records") or []
    recipe = extra.get("recipe")
    if not isinstance(recipe, int) or isinstance(recipe, bool):
        # Results written before variants had recipe revisions: which build they measured is
        # unknown, so they never become a baseline (compile's revision 1 was not frozen).
        raise DataFileError(f"results file {path}: case {case_id!r} does not say which recipe "
                            "revision of its variant it measured (written by an older infergate): re-run it")
    if not records:
        raise DataFileError(f"results file {path}: case {case_id!r} carries no runs")
    if not isinstance(records, list):
        raise DataFileError(f"results file {path}: case {case_id!r}: run_records must be a list, got "
                            f"{describe(records)}")
    try:
        runs = tuple(RunRecord.from_json(r) for r in records)
        case = CaseBaseline(runs=runs, confidence=RECORD_CONFIDENCE,
                            environment={**env, "torch_threads": _threads(path, case_id, extra), RECIPE: recipe},
                            estimator=extra.get("estimator", "median-of-round-ratios"))
    except (KeyError, TypeError, InvalidBaseline) as exc:
        raise DataFileError(f"results file {path}: case {case_id!r}: {exc}") from None
    # Every run is of the results' session (its host boot): one of another would be kept with no
    # description of where it was measured.
    others = sorted({r.session for r in runs} - {sid})
    if others:
        raise DataFileError(f"results file {path}: case {case_id!r} holds runs of session(s) "
                            f"{', '.join(others)}, not of the results' session {sid}")
    return case_id, case


def _case_id(path: Path, i: int, extra: dict[str, Any]) -> str:
    """benchmarks[i]'s case id, of a case that measured a variant (a null one was dropped without a word)."""
    case_id = extra.get("case_id")
    if not isinstance(case_id, str) or not case_id:
        raise DataFileError(f"results file {path}: benchmarks[{i}].extra_info.case_id must be a case id string, "
                            f"got {describe(case_id)}")
    variant = extra.get("variant")
    if not isinstance(variant, str) or not variant:
        raise DataFileError(f"results file {path}: case {case_id!r}: variant must be a variant name, got "
                            f"{describe(variant)}")
    return case_id


def _threads(path: Path, case_id: str, extra: dict[str, Any]) -> int | None:
    """The case's torch threads; null is unrecorded (as ``history add`` takes it), so never compared."""
    threads = extra.get("threads")
    # type() is int: True and 2.0 are not a thread count --ig-json writes.
    if threads is not None and (type(threads) is not int or threads < 1):
        raise DataFileError(f"results file {path}: case {case_id!r}: threads must be a positive whole number, "
                            f"got {describe(threads)}")
    return threads


class _Adding(NamedTuple):
    """One results file's runs as ``add`` writes them: each group of cases and whether it replaces."""

    target: Path
    machine_class: str
    lane: str
    session: tuple[str, SessionInfo]
    groups: tuple[tuple[dict[str, CaseBaseline], bool], ...]
    line: str


def add(path: Path, root: Path, replace: bool = False) -> list[str]:
    """``add_files`` of one results file."""
    return add_files([path], root, replace)


def add_files(paths: Sequence[Path], root: Path, replace: bool = False) -> list[str]:
    """Append each results file's runs as a session. ``replace``: its cases keep only the new runs (the
    runs there before this command, not an earlier file's). Every file, and every baselines file they
    would change, is checked before any is written: a bad second file had replaced the first's cases."""
    effective: dict[Path, bl.BaselineFile | None] = {}  # each target as the files before would leave it
    replaced: set[tuple[Path, str]] = set()
    planned = [_planned(path, root, replace, replaced, effective) for path in paths]
    lines = []
    for step in planned:
        notes = [note for group, replacing in step.groups if group
                 for note in bl.update(step.target, group, step.machine_class, step.lane, session=step.session,
                                       replace=replacing)]
        lines += [step.line, *notes]
    return lines


def _planned(path: Path, root: Path, replace: bool, replaced: set[tuple[Path, str]],
             effective: dict[Path, bl.BaselineFile | None]) -> _Adding:
    """``path``'s cases checked against its target as ``effective`` holds it, which then holds them too."""
    data = read_results(path)
    machine_class, lane = class_and_lane(path, data["machine_info"])
    cases, session = cases_from_results(path, data)
    target = bl.baseline_path(root, machine_class, lane)
    if target not in effective:
        effective[target] = bl.load_or_none(target)
    current = effective[target]
    # Keep the floors and fusion counts someone set by hand in the file.
    if current is not None:
        cases = {cid: CaseBaseline(c.runs, c.confidence, c.environment,
                                      current.cases[cid].floor if cid in current.cases else None,
                                      current.cases[cid].fusions if cid in current.cases else None, c.estimator)
                 for cid, c in cases.items()}
    fresh = {cid: c for cid, c in cases.items() if replace and (target, cid) not in replaced}
    again = {cid: c for cid, c in cases.items() if cid not in fresh}
    refused = [why for cid, c in cases.items()
               if (why := pooling_refusal(cid, current.cases.get(cid) if current else None, c, cid in fresh))]
    if refused:
        raise DataFileError(f"results file {path}: refusing to add it to {target}, which keeps its runs: "
                            f"{'; '.join(refused)} (re-record them on this machine class; for a set-up changed on "
                            "purpose, add with --replace to keep only these runs)")
    groups = ((fresh, True), (again, False))
    for group, replacing in groups:  # what update will write, in memory: it must merge, and the next file sees it
        if group:
            effective[target] = merge(target, effective[target], group, machine_class, lane, session, replacing)
    replaced |= {(target, cid) for cid in fresh}
    return _Adding(target, machine_class, lane, session, groups, _added_line(cases, fresh, current, session[0], target))


def _added_line(cases: dict[str, CaseBaseline], fresh: dict[str, CaseBaseline], current: bl.BaselineFile | None,
                sid: str, target: Path) -> str:
    runs = sum(len(c.runs) for c in cases.values())
    # A run already there (this file added before, or the run's own recording) is kept once, so
    # "added" counts only the others.
    seen = {(cid, run_key(r)) for cid, c in (current.cases.items() if current else ()) for r in c.runs}
    added = sum(1 for cid, c in cases.items() for r in c.runs if cid in fresh or (cid, run_key(r)) not in seen)
    what = f"{runs} run(s)" if added == runs else f"{added} of the file's {runs} run(s)"
    return f"added {what} of {len(cases)} case(s) as session {sid} to {target}"


# What building.machine names; checked before either names a directory or file.
_MACHINE_CLASS, _LANE = MACHINE_CLASS_NAME, LANE_NAME
FUSIONS_SUFFIX = ".fusions.json"


def class_and_lane(path: Path, info: dict[str, Any]) -> tuple[str, str]:
    """A results file's machine class and lane, refused unless infergate would name them so (they become paths)."""
    machine_class, lane = info.get("machine_class"), info.get("lane")
    if not isinstance(machine_class, str) or not isinstance(lane, str):
        raise DataFileError(f"results file {path} names no machine class and lane")
    _check_names(f"results file {path}", machine_class, lane)
    return machine_class, lane


def _check_names(what: str, machine_class: str, lane: str) -> None:
    if not _MACHINE_CLASS.fullmatch(machine_class) or not _LANE.fullmatch(lane):
        raise DataFileError(f"{what}: {machine_class!r} / {lane!r} is not a machine class and lane "
                            "infergate names (e.g. 'amd-epyc__avx512__2c2t' / 'torch-2.8.0__ipex-2.8.0__tf-4.57.6')")


def _check_origin(origin: str) -> str:
    origin = origin.strip()
    if not origin or not origin.isprintable() or len(origin) > 200:
        raise UsageError("--origin must be one line of 1-200 characters saying where the files were recorded "
                         "(e.g. \"runner amd-epyc__avx512__2c2t, recorded 2026-12-06 from c48a9e4\")")
    return origin


def _check_placed(path: Path, kind: str, machine_class: str, lane: str) -> None:
    """The file must say the class and lane its path names, and both must be names infergate makes."""
    named_lane = path.name.removesuffix(FUSIONS_SUFFIX if kind == "fusion expectations" else ".json")
    named = (path.parent.name, named_lane)
    if (machine_class, lane) != named:
        raise DataFileError(f"{kind} file {path} says machine class {machine_class!r} lane {lane!r}, but its path "
                            f"names {named[0]!r} {named[1]!r}: refusing to import it (renamed or moved by hand?)")
    _check_names(f"{kind} file {path}", machine_class, lane)


def _check_unhooked(path: Path, f: bl.BaselineFile) -> None:
    envs = [*(c.environment for c in f.cases.values()), *(s.environment for s in f.sessions.values())]
    hooked = next((e["injected_slowdown"] for e in envs if e.get("injected_slowdown")), None)
    if hooked:
        raise DataFileError(f"baselines file {path} holds runs of the test-only slowdown hook ({hooked}); "
                            "they are never a baseline")


def _load_import(path: Path) -> bl.BaselineFile | fusions.FusionFile:
    if path.name.endswith(FUSIONS_SUFFIX):
        ff = fusions.load(path)
        if ff is None:  # "none recorded yet" to a run; a file to import must be there
            raise DataFileError(f"fusion expectations file {path} does not exist")
        _check_placed(path, "fusion expectations", ff.machine_class, ff.lane)
        return ff
    if path.suffix != ".json":
        raise DataFileError(f"{path} is neither a baselines file (<lane>.json) nor a fusion expectations file "
                            f"(<lane>{FUSIONS_SUFFIX})")
    f = bl.load(path)
    _check_placed(path, "baselines", f.machine_class, f.lane)
    if f.version < 4:
        raise DataFileError(f"baselines file {path} is version {f.version}: it names no session (host boot), "
                            "so where it was measured cannot be kept; re-record it")
    _check_unhooked(path, f)
    return f


def _check_poolable(path: Path, data: bl.BaselineFile, target: Path, cases: dict[str, CaseBaseline]) -> None:
    """Refuses ``data`` if importing it would drop runs of ``cases`` (``target``'s); else updates them."""
    refused = [why for cid, c in data.cases.items() if (why := pooling_refusal(cid, cases.get(cid), c))]
    if refused:
        raise DataFileError(f"baselines file {path}: refusing to import it into {target}, which keeps its runs: "
                            f"{'; '.join(refused)} (measured otherwise than this tree's: re-record them so that "
                            "they match)")
    cases.update(data.cases)  # each passed: new, replacing a stale case, or of the same set-up


def import_files(paths: list[Path], root: Path, origin: str, today: str | None = None) -> list[str]:
    """Validate every file first (one bad file: nothing written), then merge each into ``root``."""
    origin = _check_origin(origin)
    day = today or datetime.now(timezone.utc).date().isoformat()
    loaded = [(path, _load_import(path)) for path in paths]
    effective: dict[Path, dict[str, CaseBaseline]] = {}  # each target's cases as the files before would leave them
    for path, data in loaded:  # the files they would land in must load too, and be of their class and lane
        if isinstance(data, fusions.FusionFile):
            target = fusions.fusions_path(root, data.machine_class, data.lane)
            current: bl.BaselineFile | fusions.FusionFile | None = fusions.load(target)
        else:
            target = bl.baseline_path(root, data.machine_class, data.lane)
            current = bl.load_or_none(target)
        if current is not None and (current.machine_class, current.lane) != (data.machine_class, data.lane):
            raise DataFileError(f"{target} is for machine class {current.machine_class!r} lane {current.lane!r}, "
                                f"not {data.machine_class!r} {data.lane!r}: refusing to import {path} into it")
        if isinstance(data, bl.BaselineFile):
            _check_poolable(path, data, target, effective.setdefault(
                target, dict(current.cases) if isinstance(current, bl.BaselineFile) else {}))
    lines = []
    for path, data in loaded:
        def source_of(was: str, path: Path = path) -> str:
            return f"imported {day} from {path} ({origin}); not measured on this tree; there: {was}"

        if isinstance(data, fusions.FusionFile):
            target = fusions.fusions_path(root, data.machine_class, data.lane)
            merged, present, newer = imported.merge_fusions(target, data, lambda e: source_of(e.source))
            line = f"imported {merged} of {len(data.cases)} fusion expectation(s) from {path} into {target}"
            extra = [f"{present} already there with the same counts and record time"] if present else []
            extra += [f"{newer} kept as recorded there more recently"] if newer else []
            lines.append(line + (f" ({'; '.join(extra)})" if extra else ""))
            continue
        target = bl.baseline_path(root, data.machine_class, data.lane)
        added, present, notes = imported.merge_sessions(target, data, lambda sid, info: source_of(info.source))
        sessions = ", ".join(data.sessions)
        if added:
            lines.append(f"imported {added} run(s) of {len(data.cases)} case(s), session(s) {sessions}, "
                         f"from {path} into {target}")
        if present:
            lines.append(f"{present} run(s) of session(s) {sessions} from {path} were already in {target}: "
                         "kept once" + ("" if added else ", nothing imported"))
        lines += notes
    return lines


def require_baselines_dir(root: Path) -> None:
    """What ``show`` and ``reference`` read: a mistyped --baselines printed an empty report and exit 0,
    as if the tree had no baselines."""
    if not root.is_dir():
        raise DataFileError(f"baselines directory {root} " + ("is not a directory" if root.exists()
                                                               else "does not exist"))


def baselines_files(root: Path) -> list[Path]:
    """The baselines files ``show`` and ``reference`` read; none (an empty directory, or a history or
    results directory given by mistake) printed a blank or all-zero report and exit 0."""
    require_baselines_dir(root)
    found = [p for p in sorted(root.glob("*/*.json")) if not p.name.endswith(FUSIONS_SUFFIX)]
    if not found:
        raise DataFileError(f"baselines directory {root} holds no baselines files (<machine class>/<lane>.json): "
                            "is it the right directory?")
    return found


def show(root: Path, today_runs: int = DEFAULT_REPEAT) -> list[str]:
    lines = []
    shifts: dict[str, list[SharedShift]] = {}
    for path in baselines_files(root):
        f = bl.load(path)
        # The gate's family and spreads: a stale case (an older recipe revision) is never judged,
        # so it neither widens the others' intervals nor lends them its spread.
        current = current_cases(f)
        conf = family_confidence(DEFAULT_FAMILY_ALPHA, max(1, len(current)))
        stale = len(f.cases) - len(current)
        lines.append(f"{path.relative_to(root)}: {len(f.cases)} case(s)"
                     + (f" ({stale} stale, not judged)" if stale else "") + f", {len(f.sessions)} session(s): "
                     + ", ".join(f"{sid} ({info.first[:10]}, {info.source})" for sid, info in f.sessions.items()))
        comps = spreads(f)
        for variant, estimator in sorted({(c.variant, c.estimator) for c in f.cases.values()}):
            comp = comps.get((variant, estimator))
            if comp is None:
                lines.append(f"  {variant:9} stale, not judged: every case recorded with an older recipe revision "
                             f"(re-record them: {RERECORD})")
                continue
            cases = [c for c in current.values() if c.variant == variant and c.estimator == estimator]
            per_session = [len(c.runs) / max(1, len(c.by_session())) for c in cases]
            n = sum(per_session) / len(per_session)
            sessions = round(sum(len(c.by_session()) for c in cases) / len(cases))
            se, df = predictive_se(comp, today_runs, max(1, sessions), n)
            mdd = minimum_detectable_drop(se, df, conf, floor=DEFAULT_FLOOR)
            lines.append(f"  {variant:9} {comp.describe()}; detectable drop with {today_runs} run(s) today at "
                         f"{conf:.4f}: {mdd:.1%}")
            shift = shared_shift([c.by_session() for c in cases], comp.within_sd)
            if shift is not None:
                lines.append(f"  {'':9} {shift.describe()}")
                shifts.setdefault(str(path.relative_to(root)), []).append(shift)
    split_count = sum(map(len, shifts.values()))
    if split_count >= 2:
        p = pooled(shifts)
        lines.append(
            f"pooled over the {split_count} variant(s) above whose cases share 2+ sessions: the "
            f"shared level sd {p.shared_sd:.2%} ({p.shared_contrasts} independent session contrast(s): a class's "
            f"variants share its sessions), each case's own {p.own_sd:.2%} (df {p.own_df_low}-{p.own_df_high}: a "
            "model's variants share its eager runs); compared with its peers' mean in the same session, a case "
            "would carry its own part and its runs' noise, times 1 + 1/peers, not the shared part "
            "(docs/calibration.md)")
    return lines
