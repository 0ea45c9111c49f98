"""``baselines reference``: each variant's within-session, between-occasion and between-session
spread over eager and over ``jit``, and the detectable drop each reference's prior allows."""

from __future__ import annotations

import gzip
import math
import zlib
from collections.abc import Sequence
from pathlib import Path

from ..building.variants import COMPILE, EAGER, JIT, JIT_IPEX
from ..core.datafile import InvalidData, parse_json
from ..core.defaults import DEFAULT_FAMILY_ALPHA, DEFAULT_FLOOR, DEFAULT_REPEAT, RECORD_RUNS
from ..core.errors import DataFileError, UsageError
from ..measuring import baselines as bl
from ..measuring.reference_data import from_baselines, from_envprobe, from_summary, recipes, summary_unit
from ..measuring.reference_runs import ESTIMATORS, MS, PROPOSED_REFERENCE, SPEEDUP, AlignedRun, FormRun, align
from ..measuring.reference_spread import Spread, cells_for, pooled_prior, spreads
from ..measuring.session_gate import POOLED_PRIOR_SD, PRIOR_DF, Components, minimum_detectable_drop, predictive_se
from ..measuring.speedup_verdicts import family_confidence
from .baseline_sessions import baselines_files

RATIOS = ((JIT, EAGER), (JIT_IPEX, EAGER), (COMPILE, EAGER), (JIT_IPEX, JIT), (COMPILE, JIT))
SESSIONS = (1, 4, 8)
# The schemes compared: every variant over eager (today), and the proposal (reference_runs).
SCHEMES: tuple[tuple[str, dict[str, str]], ...] = ((EAGER, {}), (JIT, dict(PROPOSED_REFERENCE)))


def load_runs(root: Path, other_boots: Sequence[Path], occasions: Sequence[Path]) -> tuple[list[AlignedRun], list[str]]:
    """Every aligned run, and one line per source."""
    records: list[FormRun] = []
    notes: list[str] = []
    files: dict[str, bl.BaselineFile] = {}
    for path in baselines_files(root):
        f = bl.load(path)
        files[f"{f.machine_class}/{f.lane}"] = f
        records += from_baselines(f)
        notes.append(f"{path.relative_to(root)}: {len(f.sessions) or 1} session(s)")
    for path in other_boots:
        f = bl.load(path)
        records += from_baselines(f, session_prefix=f"{path}:")  # its own boot, whatever its session id
        notes.append(f"{path}: another boot of {f.machine_class}")
    for path in occasions:
        text = _read(path, "summary")
        try:
            unit = summary_unit(text)
            own = files.get(unit)
            if own is None or len(own.sessions) != 1:
                raise UsageError(f"{path}: an --occasion needs its class and lane's baselines file ({unit}) to "
                                 "hold exactly one session, the boot it was printed on")
            session = next(iter(own.sessions))
            records += from_summary(text, session, path.stem, recipes(own))
        except ValueError as exc:  # the summary's own problem, which does not say which file it is
            raise DataFileError(f"summary file {path}: {exc}") from None
        notes.append(f"{path}: an occasion of {unit}'s session {session}")
    runs = align(records)
    occasions_of: dict[tuple[str, str], dict[str, int]] = {}
    for r in runs:
        per = occasions_of.setdefault((r.unit, r.session), {})
        per[r.occasion] = per.get(r.occasion, 0) + r.processes
    for (unit, session), per in sorted(occasions_of.items()):
        notes.append(f"occasions of {unit}, session {session}: "
                     + ", ".join(f"{o} ({n} process(es))" for o, n in sorted(per.items())))
    models = {(r.unit, r.model) for r in runs}
    notes.append(f"aligned: {len(runs)} run(s) of {len(models)} model group(s); every form of a run carries "
                 "its worker's eager median (checked)")
    return runs, notes


def _read_bytes(path: Path, kind: str) -> bytes:
    """``path``'s bytes, or one DataFileError naming it: a missing file or a directory was a traceback."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataFileError(f"{kind} file {path} does not exist") from None
    except IsADirectoryError:
        raise DataFileError(f"{kind} file {path} is a directory: name a file") from None
    except OSError as exc:
        raise DataFileError(f"{kind} file {path} could not be read: {exc.strerror or exc}") from None


def _read(path: Path, kind: str) -> str:
    raw = _read_bytes(path, kind)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{kind} file {path} is not UTF-8 text (byte {exc.start}): corrupt?") from None


def envprobe_runs(path: Path) -> list[AlignedRun]:
    """The aligned runs of one ``envprobe --save`` file (gzipped when named ``.gz``)."""
    raw = _read_bytes(path, "envprobe")
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:  # not gzip, or cut short
            raise DataFileError(f"envprobe file {path} is not readable gzip data: {exc}") from None
    try:
        return align(from_envprobe(parse_json(path, raw, "envprobe"), path.name))
    except InvalidData as exc:
        raise DataFileError(f"envprobe file {path}: {exc}") from None


def _row(variant: str, reference: str, estimator: str, parts: tuple[Spread, Spread, Spread]) -> str:
    within, occasion, session = parts
    prior, df = pooled_prior(occasion, session)
    shown = f"{prior:.2%} (df {df})" if prior is not None else "-"
    return (f"| {variant} / {reference} | {estimator} | {within.describe()} | {occasion.describe()} | "
            f"{occasion.behind} | {session.describe()} | {session.behind} | {shown} |")


Found = dict[tuple[str, str, str], tuple[Spread, Spread, Spread]]  # (variant, reference, estimator) -> spreads


def spread_table(runs: Sequence[AlignedRun], confidence: float) -> tuple[list[str], Found]:
    lines = [f"sd of the log-ratio, [{confidence:.0%} chi-square interval]; prior = occasion and session "
             "contrasts pooled by df (docs/calibration.md, 'The between-session prior')",
             "| ratio | estimator | within-session sd (df) [CI] | between-occasion sd, one boot (df) [CI] | "
             "behind it | between-session sd (df) [CI] | behind it | prior (df) |",
             "|---|---|---|---|---|---|---|---|"]
    found = {}
    for estimator in ESTIMATORS:
        for variant, reference in RATIOS:
            parts = spreads(cells_for(runs, variant, reference, estimator), confidence)
            found[(variant, reference, estimator)] = parts
            lines.append(_row(variant, reference, estimator, parts))
    return lines, found


def source_table(runs: Sequence[AlignedRun], confidence: float) -> list[str]:
    """Where each contrast comes from: the occasion spread per boot and the boot spread per machine class."""
    lines = ["per source: between-occasion sd within each boot (speedup), between-session sd per class (ms)",
             "| ratio | source | between-occasion sd (df) [CI] | between-session sd (df) [CI] |", "|---|---|---|---|"]
    for variant, reference in RATIOS:
        for estimator, level in ((SPEEDUP, 1), (MS, 2)):
            cells = cells_for(runs, variant, reference, estimator)
            keys = sorted({(k[0], k[1]) if level == 1 else (k[0].split("/", 1)[0], "") for k in cells})
            for unit, session in keys:
                part = spreads({k: v for k, v in cells.items() if (k[0], k[1]) == (unit, session)
                                or (level == 2 and k[0].split("/", 1)[0] == unit)}, confidence)[level]
                if part.sd is None:
                    continue
                shown = [part.describe(), ""] if level == 1 else ["", part.describe()]
                where = f"{unit}, {session}" if session else f"{unit}, every boot"
                lines.append(f"| {variant} / {reference} | {where} | {shown[0]} | {shown[1]} |")
    return lines


def envprobe_table(paths: Sequence[Path], confidence: float) -> list[str]:
    """Each envprobe file on its own: the between-process sd of every ratio over its quiet workers."""
    lines = ["between-process sd within each envprobe file (quiet workers; settings and minutes mixed)",
             "| ratio | file | workers | within-session sd (df) [CI] |", "|---|---|---|---|"]
    for path in paths:
        runs = envprobe_runs(path)
        for variant, reference in RATIOS:
            within = spreads(cells_for(runs, variant, reference), confidence)[0]
            if within.sd is not None:
                lines.append(f"| {variant} / {reference} | {path.name} | {within.df + 1} | {within.describe()} |")
    return lines


def _mdd(within: Spread, prior: float, prior_df: int, sessions: int, today: int, conf: float) -> float:
    comp = Components(within.sd or 0.0, within.df, prior, float(prior_df + sessions - 1), sessions,
                      None if sessions < 2 else prior, prior, prior_df)
    se, df = predictive_se(comp, today, sessions, RECORD_RUNS)
    return minimum_detectable_drop(se, df, conf, floor=DEFAULT_FLOOR)


def _priors(found: Found, variant: str, reference: str) -> list[tuple[float, int, str]]:
    """The priors a ratio could be gated with: the shipped one, the data's across boots, within one boot."""
    out = [(POOLED_PRIOR_SD, PRIOR_DF, "shipped")]
    _, occasion, session = found[(variant, reference, MS)]
    sd, df = pooled_prior(occasion, session)
    if sd is not None and session.sd is not None:
        out.append((sd, df, "data: occasion and boot contrasts, ms"))
    boot = found[(variant, reference, SPEEDUP)][1]
    if boot.sd is not None:
        out.append((boot.sd, boot.df, "data: occasions of one boot, speedup"))
    return out


def reference_priors(found: Found) -> list[str]:
    """The ratios over one reference pooled into one prior; the df is the largest ratio's (they share occasions)."""
    lines = []
    for reference in (EAGER, JIT):
        ratios = [(v, r) for v, r in RATIOS if r == reference]
        for what, estimator, level in (("occasions of one boot, speedup", SPEEDUP, 1),
                                       ("occasions and boots, ms", MS, 0)):
            parts = []
            for v, r in ratios:
                _, occasion, session = found[(v, r, estimator)]
                parts.append(pooled_prior(occasion, session) if level == 0 else (occasion.sd, occasion.df))
            usable = [(sd, df) for sd, df in parts if sd is not None and df]
            if usable:
                var = sum(df * sd ** 2 for sd, df in usable) / sum(df for _, df in usable)
                lines.append(f"pooled prior over {reference} ({', '.join(v for v, _ in ratios)}), {what}: "
                             f"{math.sqrt(var):.2%} (df {max(df for _, df in usable)})")
    return lines


def mdd_table(found: Found, today: int, gated: int, proposed_priors: Sequence[tuple[float, int]] = ()) -> list[str]:
    conf = family_confidence(DEFAULT_FAMILY_ALPHA, gated)
    head = " | ".join(f"{s} session(s)" for s in SESSIONS)
    lines = [f"minimum detectable drop (session_gate: {today} run(s) today, {RECORD_RUNS} per recorded session "
             f"(or occasion, within one boot), one-sided {conf:.5f} = family alpha {DEFAULT_FAMILY_ALPHA:g} over "
             f"{gated} cases, the recorded sessions scattering as the prior says); within sd: the speedup estimator's",
             f"| ratio | within sd (df) | prior (df, source) | {head} |",
             "|---|---|---|" + "---|" * len(SESSIONS)]
    ratios = dict.fromkeys((v, proposed.get(v, EAGER)) for _, proposed in SCHEMES for v in (JIT, JIT_IPEX, COMPILE))
    for variant, reference in ratios:
        within = found[(variant, reference, SPEEDUP)][0]
        extra = [(sd, df, "proposed") for sd, df in proposed_priors]
        for prior, prior_df, what in _priors(found, variant, reference) + extra:
            cells = " | ".join(f"{_mdd(within, prior, prior_df, s, today, conf):.1%}" for s in SESSIONS)
            lines.append(f"| {variant} / {reference} | {within.sd or 0.0:.2%} (df {within.df}) | "
                         f"{prior:.2%} (df {prior_df}, {what}) | {cells} |")
    return lines


def report(root: Path, other_boots: Sequence[Path], occasions: Sequence[Path], confidence: float = 0.95,
           today: int = DEFAULT_REPEAT, gated: int = 15, priors: Sequence[tuple[float, int]] = (),
           envprobes: Sequence[Path] = ()) -> list[str]:
    if not 0.5 < confidence < 1 or math.isnan(confidence):
        raise UsageError(f"--confidence must be in (0.5, 1), got {confidence}")
    runs, notes = load_runs(root, other_boots, occasions)
    table, found = spread_table(runs, confidence)
    probes = envprobe_table(envprobes, confidence) + [""] if envprobes else []
    return (notes + [""] + table + [""] + source_table(runs, confidence) + [""] + probes + reference_priors(found)
            + [""] + mdd_table(found, today, gated, priors))
