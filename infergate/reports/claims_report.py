"""The claims report: Markdown tables and one PNG from ``ClaimMeasurement`` rows; reasons are numbered in a legend."""

from __future__ import annotations

import math
import statistics
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..building.variants import COMPILE, COMPILE_AUTOTUNE, COMPILE_CPP, JIT, JIT_IPEX, REFERENCE
from ..core.paths import REPO_ROOT
from ..measuring.claims import (
    BENEFIT,
    BENEFIT_MARKS,
    CONFIDENCE,
    HEADLINE_SEQ,
    LEAVE_MARKS,
    LEAVE_WITHIN,
    MIN_SESSIONS,
    NO_MARKS,
    NOT_ASSESSABLE,
    HostSpread,
    Marks,
    Speedup,
    benefit_counts,
    can_leave_ipex,
    disturbed,
    fusion_share,
    shown,
    shown_span,
    speedup,
    two_sided_t,
)
from ..measuring.claims_hosts import HOST_RATIOS, PROCESS_DTYPES, PROCESS_RATIOS, HostFigures, read_hosts, utc_today
from ..measuring.claims_measure import ClaimMeasurement, timings
from ..measuring.claims_time import time_lines
from ..measuring.fusion_patterns import label as fusion_label

WIDTH = 120  # prose lines; table rows are as wide as their cells
BASELINES = REPO_ROOT / "baselines"
FACTS_ORDER = ("command", "rendered by", "date", "wall time", "machine class", "lane", "CPU", "torch threads", "rows",
               "variants")


def _wrap(text: str, indent: str = "") -> list[str]:
    return textwrap.wrap(text, WIDTH, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)


class Legend:
    """Reasons (skips, failures, fusion sets), numbered in the order first cited; a line each."""

    def __init__(self) -> None:
        self.reasons: dict[tuple[str, str], int] = {}
        self.uses: dict[int, int] = {}
        self.variants: dict[int, list[str]] = {}

    def cite(self, kind: str, reason: str, variant: str | None = None) -> str:
        n = self.reasons.setdefault((kind, reason), len(self.reasons) + 1)
        self.uses[n] = self.uses.get(n, 0) + 1
        if variant is not None and variant not in self.variants.setdefault(n, []):
            self.variants[n].append(variant)
        return f"{kind} [{n}]"

    def lines(self) -> list[str]:
        out = []
        for (kind, reason), n in self.reasons.items():
            who = f"{', '.join(self.variants[n])}; " if self.variants.get(n) else ""
            out += _wrap(f"- {kind} [{n}] ({who}{self.uses[n]} cell(s)): {reason}", "  ")
        return out


def _est(est: Speedup | None, marks: Marks = NO_MARKS) -> str:
    if est is None:
        return "—"
    return shown_span(est, marks)


def _why_missing(m: ClaimMeasurement, legend: Legend, *variants: str) -> str:
    for v in variants:
        if v in m.skipped:
            return legend.cite("skip", m.skipped[v], v)
        if v in m.failed:
            return legend.cite("FAILED", m.failed[v], v)
    if "worker" in m.failed:
        return legend.cite("FAILED", m.failed["worker"], "worker")
    return "—"


def _cell(m: ClaimMeasurement, faster: str, slower: str, legend: Legend, hosts: HostSpread | None = None) -> str:
    est = speedup(m, faster, slower)
    if est is None:
        return _why_missing(m, legend, faster, slower)
    if (faster, slower) == (COMPILE, JIT_IPEX):
        return _est(est, LEAVE_MARKS)
    if not (faster == JIT_IPEX and slower == JIT):
        return _est(est)
    mark = " **≥5 %**" if benefit_counts(est) else ""
    if hosts is not None:
        wide = speedup(m, faster, slower, hosts=hosts)
        assert wide is not None
        mark += (f"; hosts [{shown(wide.low, BENEFIT_MARKS.low)}, {shown(wide.high)}]"
                 + (" **≥5 %**" if benefit_counts(wide) else ""))
    return _est(est, BENEFIT_MARKS) + mark


def _fired(m: ClaimMeasurement, legend: Legend) -> str:
    """The IPEX fusions that fired, as a set cited from the legend (few distinct sets, long text)."""
    sig = m.fusions.get(JIT_IPEX, {})
    # Sorted, so a report re-rendered from its JSON (written with sorted keys) reads the same.
    fired = [f"{fusion_label(k)} ×{n}" for k, n in sorted(sig.items()) if n]
    if not fired:
        return "—" if JIT_IPEX not in m.fusions else "none"
    return legend.cite("fused", ", ".join(fired))


def _eager_ms(m: ClaimMeasurement) -> str:
    medians = [t.median_ms(REFERENCE) for t in timings(m) if REFERENCE in t.times_ns]
    return f"{statistics.median(medians):.1f}" if medians else "—"


def speedup_table(rows: Sequence[ClaimMeasurement], legend: Legend, fusions: Legend,
                  spreads: Mapping[tuple[str, str], HostSpread | None] | None = None) -> list[str]:
    spreads = spreads or {}
    fusion_hosts, leave_hosts = spreads.get((JIT_IPEX, JIT)), spreads.get((COMPILE, JIT_IPEX))
    lines = ["| model | shape | eager ms | jit vs eager | jit_ipex vs jit (fusions) | jit_ipex vs eager "
             "| compile vs eager | compile vs jit_ipex | can leave IPEX | IPEX fusions fired |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for m in rows:
        here = can_leave_ipex(m)
        leave = f"**{here.answer}**"
        # An interval widened for other hosts cannot leave "undecided": said only where this host decided.
        if leave_hosts is not None and here.answer in ("yes", "no"):
            leave += f"; hosts: {can_leave_ipex(m, across_hosts=True, hosts=leave_hosts).answer}"
        if here.answer in ("no", "undecided") and "×" not in here.why:
            leave += f": {here.why}"
        flag = " ⚠" if disturbed(m) else ""
        lines.append(
            f"| {m.model_id}{flag} | {m.shape} | {_eager_ms(m)} | {_cell(m, JIT, REFERENCE, legend)} "
            f"| {_cell(m, JIT_IPEX, JIT, legend, fusion_hosts)} | {_cell(m, JIT_IPEX, REFERENCE, legend)} "
            f"| {_cell(m, COMPILE, REFERENCE, legend)} | {_cell(m, COMPILE, JIT_IPEX, legend)} "
            f"| {leave} | {_fired(m, fusions)} |")
    return lines


OPTION_RATIOS = ((COMPILE_CPP, COMPILE), (COMPILE_AUTOTUNE, COMPILE),
                 (COMPILE_CPP, JIT_IPEX), (COMPILE_AUTOTUNE, JIT_IPEX))


def options_table(rows: Sequence[ClaimMeasurement], legend: Legend) -> list[str]:
    """compile's inductor options against plain compile and jit_ipex; empty when none built."""
    rows = [m for m in rows if any(v in m.costs or v in m.failed or v in m.skipped for v, _ in OPTION_RATIOS)]
    if not rows:
        return []
    head = " | ".join(f"{a} vs {b}" for a, b in OPTION_RATIOS)
    lines = [f"| model | shape | dtype | {head} |", "|---|---|---|" + "---|" * len(OPTION_RATIOS)]
    for m in rows:
        lines.append(f"| {m.model_id} | {m.shape} | {m.dtype} | "
                     + " | ".join(_cell(m, a, b, legend) for a, b in OPTION_RATIOS) + " |")
    return lines


def _variants(rows: Sequence[ClaimMeasurement]) -> list[str]:
    """The variants the rows built or tried, in the order they are built (the registry's)."""
    from ..building.variants import VARIANTS

    seen = {v for m in rows for v in (*m.costs, *m.skipped, *m.failed) if v != "worker"}
    return [v for v in VARIANTS if v in seen]


def cost_table(rows: Sequence[ClaimMeasurement]) -> list[str]:
    """One line per row, one figure per variant in each cell (the order is in the header)."""
    variants = _variants(rows)
    order = " / ".join(variants)
    lines = [f"| model | shape | dtype | build s ({order}) | first call s | peak rise MiB | held MiB |",
             "|---|---|---|---|---|---|---|"]

    def figures(m: ClaimMeasurement, field: str, fmt: str) -> str:
        return " / ".join(format(getattr(m.costs[v], field), fmt) if v in m.costs else "—" for v in variants)

    for m in rows:
        if not m.costs:
            continue
        lines.append(f"| {m.model_id} | {m.shape} | {m.dtype} | {figures(m, 'build_s', '.1f')} "
                     f"| {figures(m, 'first_call_s', '.2f')} | {figures(m, 'peak_rise_mib', '.0f')} "
                     f"| {figures(m, 'held_mib', '.0f')} |")
    return lines


def answers_lines(rows: Sequence[ClaimMeasurement]) -> list[str]:
    """How many checks gave eager FP32's answers; a table line for each that did not."""
    checks = [(m, v, a) for m in rows for v, a in m.answers.items() if not (v == REFERENCE and m.dtype == "fp32")]
    differ = [(m, v, a) for m, v, a in checks if not a.same]
    worst = max((a.max_abs for _, _, a in checks if math.isfinite(a.max_abs)), default=float("nan"))
    out = _wrap(f"{len(checks) - len(differ)} of {len(checks)} variant outputs gave eager FP32's answers "
                f"(tolerance table and task answers); the largest output difference among them {worst:.2g}. "
                "Every figure per row and variant is in claims.json.")
    if differ:
        out += ["", "| model | shape | dtype | variant | max abs diff | task answers | why |",
                "|---|---|---|---|---|---|---|"]
        out += [f"| {m.model_id} | {m.shape} | {m.dtype} | {v} | {a.max_abs:.2g} | {a.agreed}/{a.total} "
                f"| {a.why_not()} |" for m, v, a in differ]
    return out


def proof_lines(rows: Sequence[ClaimMeasurement]) -> list[str]:
    """Per variant and dtype: how many rows proved it, and one proof (each row's is in claims.json)."""
    seen: dict[tuple[str, str], list[str]] = {}
    for m in rows:
        for v, p in m.proofs.items():
            seen.setdefault((v, m.dtype), []).append(p)
    out = []
    for (v, dtype), proofs in sorted(seen.items()):  # a re-render reads as the first (JSON reorders)
        out += _wrap(f"- {v} {dtype.upper()}, {len(proofs)} row(s), e.g.: {proofs[0]}", "  ")
    return out


def _beside_ipex(m: ClaimMeasurement) -> bool:
    """A version 1 BF16 row: its eager, jit and compile shared the process with jit_ipex."""
    return (not m.trials and m.dtype == "bf16" and m.timing is not None and JIT_IPEX in m.timing.times_ns
            and len(m.timing.times_ns) > 1)


def _process_spread(lane: str | None, hosts: HostFigures) -> str:
    """What another process does to the fusion ratio, from the baselines' runs, for the caveat."""
    if lane is None:
        return "another process moves these ratios by more than the rounds show"
    for faster, slower in PROCESS_RATIOS:  # a lane without IPEX has the second only
        said = [f"{dtype.upper()} sd {got[0]:.1%} ({got[1]} df)" for dtype in PROCESS_DTYPES
                for got in [hosts.process.get((dtype, faster, slower))] if got is not None]
        if said:
            return (f"between processes of one session, log({faster}/{slower}) moves by {', '.join(said)} in "
                    f"{hosts.source} as read on {hosts.read_on} (its small models' run-aligned speedups)")
    return "how far another process moves them is not in this class's baselines yet"


def _caveats(rows: Sequence[ClaimMeasurement], lane: str | None, hosts: HostFigures) -> list[str]:
    one = [m for m in rows if timings(m) and not m.trials]
    shared_bf16 = [m for m in one if _beside_ipex(m)]
    out = []
    if one:
        out += _wrap(f"- **One-process intervals**: {len(one)} row(s) come from claims.json version 1: all "
                     "variants timed in one worker process, the interval a bootstrap of its rounds. It covers that "
                     f"process's noise only: {_process_spread(lane, hosts)}. Such an interval "
                     "is too narrow for the session, let alone the class.", "  ")
    if shared_bf16:
        out += _wrap(f"- **BF16 timed beside IPEX**: in {len(shared_bf16)} BF16 row(s) eager, jit and compile were "
                     "timed in the same process as jit_ipex. Importing IPEX replaces torch's CPU autocast kernels "
                     "for the whole process, so these rows do not measure plain torch BF16; they are to be "
                     "re-measured (BF16 jit_ipex in a worker of its own) on a native-BF16 CPU.", "  ")
    return out


def _hosts_lines(spreads_by_dtype: Mapping[str, Mapping[tuple[str, str], HostSpread | None]],
                 hosts: HostFigures) -> list[str]:
    said = []
    for dtype, spreads in spreads_by_dtype.items():
        for (a, b), hs in spreads.items():
            if (a, b) not in ((JIT_IPEX, JIT), (COMPILE, JIT_IPEX)):
                continue
            if hs is None:
                said.append(f"{a} vs {b} {dtype.upper()}: {NOT_ASSESSABLE}")
                continue
            sd = f"sd {hs.sd:.1%}" if hs.resolved else f"sd not resolved, taken at the runs' {hs.sd:.1%}"
            part = f"; {hs.floored} case(s) at their runs'" if 0 < hs.floored < hs.cases else ""
            said.append(f"{a} vs {b} {dtype.upper()}: {sd} ({hs.sessions} sessions, {hs.cases} case(s), "
                        f"{hs.dof} df{part})")
    where = f"{hosts.source} (as read on {hosts.read_on}: `claims --render DIR --refresh-hosts` reads it again)"
    return _wrap("**Across hosts of the class**: a prediction for another host, widened by twice the between-session "
                 "variance of the ratio (that host's offset and this one's; a one-process row also by the baselines' "
                 f"spread between processes), measured in {where} where it holds at least {MIN_SESSIONS} sessions, "
                 f"else {NOT_ASSESSABLE}. The cases of one host share its offset, so the sd rests on sessions - 1 df, "
                 "and the interval's t takes the smaller of that df and the processes' (at 1 df, "
                 f"{two_sided_t(CONFIDENCE, 1) / two_sided_t(CONFIDENCE, 2):.1f} times its 2-df value at "
                 f"{CONFIDENCE:.0%}). An estimate below what the "
                 "sessions' runs resolve is taken at that resolution. \"Can leave IPEX\" adds \"hosts: ...\" where "
                 "this host's answer is yes or no (undecided stays undecided). " + "; ".join(said) + ".")


def _method_lines(version_1_rows: bool = False) -> list[str]:
    """How the report counts and what its symbols mean (version 1 rows: one process's bootstrap)."""
    need = 1 / (1 + LEAVE_WITHIN)
    which, v1 = (("Intervals of claims.json version 2 rows are", " Version 1 rows' intervals are one process's "
                  "bootstrap (see above).") if version_1_rows else ("Intervals are", ""))
    return _wrap(
        f"Counted over one row per model at sequence {HEADLINE_SEQ} (QA's 384 rows are extra evidence); the share's "
        "interval is Wilson's on k of n models. Every ratio is \"× faster\": the first variant named over the "
        f"second (slower time / faster time). A fusion benefit counts when `jit_ipex` is faster than `jit` with its "
        f"{CONFIDENCE:.0%} interval above 1 and by at least {BENEFIT:.0%}. {which} across the row's worker "
        "processes (per-process log speedups, t with df = processes - 1); `jit_ipex` vs `jit` in BF16 pairs "
        "process i's IPEX worker with process i's plain-torch worker, timed in lockstep rounds from claims.json "
        f"version 3 on (each process's ratio the median of per-round ratios).{v1} \"Can leave IPEX\": `compile` "
        "gives eager "
        f"FP32's answers and is at least {need:.3f}× as fast as `jit_ipex` (at most {LEAVE_WITHIN:.0%} slower) over "
        "its whole interval (`yes`), below that over all of it (`no`), else `undecided`; where `jit_ipex` misses "
        "eager FP32's tolerance too, compile may be as far off as it or eager BF16 if its answers agree. ⚠: something "
        "competed "
        "for the CPUs while the row was timed (sampled from /proc/stat between rounds; listed below the tables).")


def common_ending(ids: Sequence[str]) -> str:
    """The "-"-separated parts every id ends with (e.g. "-base-eager_attn": every claims row is at base
    size with eager attention), which the tables leave out; "" for fewer than two ids or none shared."""
    parts = [i.split("-") for i in ids]
    if len(parts) < 2:
        return ""
    k = 0
    while all(len(p) > k + 1 for p in parts) and len({p[-1 - k] for p in parts}) == 1:
        k += 1
    return "-" + "-".join(parts[0][-k:]) if k else ""


def _shortened(lines: Sequence[str], ids: set[str], ending: str) -> list[str]:
    """Table lines whose first cell is a row's model id, without ``ending`` (said once above them)."""
    out = []
    for line in lines:
        first, _, rest = line[2:].partition(" ")
        out.append(f"| {first[:-len(ending)]} {rest}" if ending and line.startswith("| ") and first in ids
                   else line)
    return out


def _cost_lines(rows: Sequence[ClaimMeasurement]) -> list[str]:
    """The cost per variant (each variant's first worker) and where the whole run's time went."""
    lines = ["## Cost per variant", ""]
    lines += _wrap(f"Built in the order {', '.join(_variants(rows))} in each worker; \"peak rise\" is the resident "
                   "set's highest point above its level when the build began (build, proof, warm-up calls), \"held\" "
                   "what stayed resident after it. Memory glibc keeps from an earlier build may be reused by a later "
                   "one, so later variants' figures are lower bounds. From each variant's first worker.")
    lines += ["", *cost_table(rows), ""]
    table, note = time_lines(rows, _variants(rows))
    if table:
        lines += ["## Where the time went", ""]
        lines += _wrap("Summed over every row's workers, from each worker's first build to its last timed round "
                       "(a lockstep pair's shared rounds counted once); process start-up and imports are outside.")
        lines += ["", *table, ""] + ([*_wrap(note), ""] if note else [])
    return lines


def render(rows: Sequence[ClaimMeasurement], facts: Mapping[str, str], machine_class: str,
           dtypes: Sequence[str], lane: str | None = None, sources: Sequence[Mapping] = (),
           hosts: HostFigures | None = None, baselines: Path = BASELINES) -> str:
    """claims.md; ``hosts``: the spreads claims.json keeps, else read from ``baselines`` now."""
    hosts = hosts or read_hosts(baselines, machine_class, lane, dtypes, utc_today())
    legend, fusions = Legend(), Legend()
    spreads = {d: {r: hosts.spread(d, *r) for r in HOST_RATIOS} for d in dtypes}
    lines = [f"# The guide's claim, measured: {machine_class}", ""]
    # A fixed order: claims.json keeps its keys sorted, and a re-render must read as the first.
    for k in sorted(facts, key=lambda k: (FACTS_ORDER.index(k) if k in FACTS_ORDER else len(FACTS_ORDER), k)):
        lines += _wrap(f"- **{k}**: {facts[k]}", "  ")
    if sources:
        lines += ["", "## Sources", "", "| file | format | rows | origin | command | wall time |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| `{s['path']}` | claims.json v{s['version']} | {s['rows']} | {s['origin']} | {s['command']} "
                  f"| {s['wall time']} |" for s in sources]
    lines += ["", "## The guide's \"about 70 %\"", ""]
    beside_ipex = {m.dtype for m in rows if timings(m) and not m.trials and _beside_ipex(m)}
    for dtype in dtypes:
        said = fusion_share(rows, dtype, spreads[dtype][(JIT_IPEX, JIT)]).sentence(machine_class) + (
            "; timed beside IPEX, not plain torch: to be re-measured" if dtype in beside_ipex else "")
        lines += _wrap(f"- {said}", "  ")
    caveats = _caveats(rows, lane, hosts)
    if caveats:
        lines += ["", *caveats]
    lines += ["", *_method_lines(any(timings(m) and not m.trials for m in rows))]
    lines += ["", *_hosts_lines(spreads, hosts), ""]
    ending = common_ending(sorted({m.model_id for m in rows}))
    if ending:  # 18 models x 3 tables of one repeated ending kept the whole matrix over 30 KB
        lines += [*_wrap(f"Model ids in the tables below leave out `{ending}`, which every row's id ends with."), ""]
    tables_from = len(lines)
    for dtype in dtypes:
        sel = [m for m in rows if m.dtype == dtype]
        if sel:
            lines += [f"## Speedups, {dtype.upper()}", "", *speedup_table(sel, legend, fusions, spreads[dtype]), ""]
    noisy = [(m, disturbed(m)) for m in rows if disturbed(m)]
    if noisy:
        lines += ["Disturbed while timed (⚠): a row's eager ms and its ratios may disagree.", ""]
        for m, why in noisy:
            lines += _wrap(f"- {m.model_id} {m.shape} {m.dtype}: {'; '.join(why)}", "  ")
        lines.append("")
    options = options_table(rows, legend)
    if options:
        lines += ["## compile's inductor options", ""]
        lines += _wrap("`compile_cpp`: inductor's C++ wrapper; `compile_autotune`: C++ wrapper and max-autotune (both "
                       "frozen, each proven to have taken effect). × faster as above; \"can leave IPEX\" is judged "
                       "on plain `compile`.")
        lines += ["", *options, ""]
    if fusions.reasons:
        lines += ["## IPEX fusions fired", "", "In `jit_ipex`'s executed graph (fusion_patterns.py), per set of rows:",
                  "", *fusions.lines(), ""]
    if legend.reasons:
        lines += ["## Skips and failures", "", *legend.lines(), ""]
    lines += _cost_lines(rows)
    lines += ["## Answers against eager FP32", "", *answers_lines(rows), "",
              "## Proofs", "", *proof_lines(rows)]
    lines[tables_from:] = _shortened(lines[tables_from:], {m.model_id for m in rows}, ending)
    return "\n".join(lines) + "\n"


def summary_table(reports: Sequence[tuple[str, str, Sequence[str], Sequence[ClaimMeasurement]]],
                  unmeasured: Sequence[str] = (),
                  hosts: Callable[[str, str, str], HostSpread | None] | None = None) -> list[str]:
    """Per class, lane and dtype: the share of models with a fusion benefit (Wilson), the same count
    across hosts (``hosts(class, lane, dtype)``: the class's measured between-session spread of `jit_ipex`
    over `jit`, or None) and "can leave IPEX"; then each class in ``unmeasured`` (it has baselines,
    no claims report) as one "not measured" row."""
    from ..measuring.claims import wilson

    lines = [f"| machine class | lane | dtype | fusion benefit ≥ {BENEFIT:.0%} "
             f"| share, {CONFIDENCE:.0%} Wilson interval | across hosts | intervals "
             "| can leave IPEX (rows: yes / no / undecided) |",
             "|---|---|---|---|---|---|---|---|"]
    for cls, lane, dtypes, rows in reports:
        for dtype in dtypes:
            share = fusion_share(rows, dtype)
            if not share.measured:
                lines.append(f"| {cls} | {lane} | {dtype.upper()} | not measured ({share.skipped} skipped) "
                             "| — | — | — | — |")
                continue
            low, high = wilson(share.counted, share.measured)
            spread = hosts(cls, lane, dtype) if hosts else None
            across = (NOT_ASSESSABLE if spread is None else
                      f"{fusion_share(rows, dtype, spread).counted_across_hosts} of {share.measured} "
                      f"({spread.sessions} sessions, {spread.dof} df)")
            kinds = sorted({f"{e.processes} process(es)" for m in rows if m.dtype == dtype
                            for e in [speedup(m, JIT_IPEX, JIT)] if e is not None})
            if any(_beside_ipex(m) for m in rows if m.dtype == dtype):
                kinds.append("BF16 timed beside IPEX")
            verdicts = [can_leave_ipex(m).answer for m in rows if m.dtype == dtype]
            tally = " / ".join(str(verdicts.count(a)) for a in ("yes", "no", "undecided"))
            lines.append(f"| {cls} | {lane} | {dtype.upper()} | {share.counted} of {share.measured} models"
                         f"{share.disturbed_note()} | {share.fraction:.0%} [{low:.0%}, {high:.0%}] | {across} "
                         f"| {', '.join(kinds)} | {tally} |")
    lines += [f"| {cls} | — | FP32, BF16 | not measured: no claims report for this class yet | — | — | — | — |"
              for cls in unmeasured]
    return lines


def plot(rows: Sequence[ClaimMeasurement], path: Path, title: str) -> Path | None:
    from .report_parts import _interval_plot

    timed = [m for m in rows if timings(m)]
    if not timed:
        return None
    labels = [f"{m.model_id} {m.shape} {m.dtype}" + (" ⚠" if disturbed(m) else "") for m in timed]
    # What the intervals are, as claims.md says: their level and the boundary they cross.
    counts = {len({t.process for t in m.trials}) for m in timed}  # 0: a version 1 row's one process
    many = sorted(c for c in counts if c > 1)
    across = f"across {many[0]}-{many[-1]} processes" if many and many[0] < many[-1] else \
        f"across {many[0]} processes" if many else ""
    one = "one process's bootstrap" + (" (version 1 rows)" if many else "") if counts - set(many) else ""
    basis = " and ".join(b for b in (across, one) if b)
    title = f"{title}: {CONFIDENCE:.0%} intervals {basis}" + (
        "; ⚠ disturbed while timed" if any(disturbed(m) for m in timed) else "")

    def finite(est: Speedup | None) -> Speedup | None:
        return est if est is not None and math.isfinite(est.high) else None

    series = [(name, [finite(speedup(m, a, b)) for m in timed]) for name, a, b in (
        ("jit_ipex vs jit (the fusions)", JIT_IPEX, JIT),
        ("compile vs jit_ipex", COMPILE, JIT_IPEX),
        ("compile vs eager", COMPILE, REFERENCE),
    )]
    series = [(n, s) for n, s in series if any(e is not None for e in s)]
    if not series:
        return None
    return _interval_plot(labels, series, "× faster (the first named over the second)", 1.0, path, title,
                          reference_label="as fast as each other",
                          marks=((1.0 + BENEFIT, f"{1 + BENEFIT:.2f}: a fusion benefit that counts"),
                                 (1 / (1 + LEAVE_WITHIN), f"{1 / (1 + LEAVE_WITHIN):.3f}: compile may replace jit_ipex "
                                                          "from here up")))
