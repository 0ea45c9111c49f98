"""The guide-recipe report: one line per model for the terminal, and the Markdown page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..core.defaults import DEFAULT_CONFIDENCE
from ..measuring.guide_recipe import COMPARISONS, GUIDE_FLAGS, TRACED, RecipeRow, speedup
from ..measuring.stats import Estimate


def _est(est: Estimate | None) -> str:
    return "—" if est is None else f"{est.point:.2f}x [{est.low:.2f}, {est.high:.2f}]"


# The facts in the order they are written: a JSON file keeps them sorted, and a re-render must
# reproduce the report.
FACTS_ORDER = ("command", "wall time", "machine class", "lane", "packages", "models", "torch threads")


def ordered(flags: Mapping[str, bool]) -> dict[str, bool]:
    """The guide's flags in the guide's order (a JSON file keeps them sorted)."""
    return {f: flags[f] for f in (*GUIDE_FLAGS, *sorted(flags)) if f in flags}


def flags_text(flags: Mapping[str, bool]) -> str:
    return ", ".join(f"--{f} {'exists' if ok else 'GONE'}" for f, ok in ordered(flags).items())


def what_it_did(row: RecipeRow) -> str:
    """The Trainer's outcome in words: traced (frozen or not, IPEX kinds or none) or why not."""
    if row.status != TRACED:
        return f"{row.status}: {row.reason}" if row.reason else row.status
    frozen = "frozen" if row.parameters == 0 else f"not frozen ({row.parameters} parameters)"
    if not row.ipex_imported:
        ipex = "IPEX not imported"
    else:
        ipex = "IPEX imported, " + (f"IPEX kinds {', '.join(row.ipex_kinds)}" if row.ipex_kinds else "no IPEX kinds")
    return f"traced: ScriptModule, {frozen}, {ipex}"


def busy(row: RecipeRow) -> str:
    """What else ran while the row was timed (inrun_noise): quiet, or the sampler's reasons."""
    if row.timing is None:
        return "—"
    reasons = row.timing.noise.reasons()
    return f"{row.timing.rounds} rounds; " + ("busy: " + "; ".join(reasons) if reasons else "quiet")


def line(row: RecipeRow) -> str:
    if row.timing is None and not row.failed:  # nothing was timed: the outcome is the whole row
        return f"{row.model_id} {row.shape}: {what_it_did(row)}"
    parts = [f"{label.replace('_vs_', ' vs ')} " + (f"{_est(e)} faster" if (e := speedup(row, a, b)) else "—")
             for label, a, b in COMPARISONS]
    failed = "; suite FAILED: " + "; ".join(f"{k}: {v}" for k, v in row.failed.items()) if row.failed else ""
    return f"{row.model_id} {row.shape}: {what_it_did(row)}; {', '.join(parts)}{failed} (row {row.wall_s:.0f} s)"


def render(rows: Sequence[RecipeRow], facts: Mapping[str, str], flags_by_lane: Mapping[str, Mapping[str, bool]]) -> str:
    out = ["# The guide's Trainer recipe, run", "",
           "`Trainer.evaluate()` with the seed guide's flags (`--no_cuda --jit_mode_eval`, and `--use_ipex`) "
           "as `TrainingArguments` parses them, where they exist. *Traced* means the model the Trainer's "
           "`prediction_step` received is a `torch.jit.ScriptModule`; anything else is *fell back*, with the "
           "Trainer's own logged warning as the reason. Speedups (\"× faster\": above 1, the first ran faster) are the "
           "median of per-round time ratios (the second's time over the first's) over "
           f"shuffled same-process rounds with a {DEFAULT_CONFIDENCE:.0%} paired-bootstrap interval (this process's "
           "noise only): "
           "`trainer` is the model the Trainer evaluated with, called as `prediction_step` calls it "
           "(not its evaluation loop); `jit` is the suite's variant (trace + freeze, IPEX passes pinned off); "
           "`eager` the `nn.Module`. Same model, weights and inputs (no labels).", ""]
    order = sorted(facts, key=lambda k: (FACTS_ORDER.index(k) if k in FACTS_ORDER else len(FACTS_ORDER), k))
    out += [f"- {k}: {facts[k]}" for k in order]
    flags_by_lane = {lane: ordered(flags) for lane, flags in flags_by_lane.items()}
    out += ["", "## The guide's flags on `TrainingArguments`, per lane", "",
            "| lane | " + " | ".join(f"`--{f}`" for f in next(iter(flags_by_lane.values()), {})) + " |",
            "|---|" + "---|" * len(next(iter(flags_by_lane.values()), {}))]
    out += [f"| {lane} | " + " | ".join("exists" if ok else "**gone**" for ok in flags.values()) + " |"
            for lane, flags in flags_by_lane.items()]
    out += ["", "## What the Trainer did, per model", "",
            "| model | shape | Trainer | Trainer's jit time (s) | trainer vs eager (× faster) "
            "| jit vs eager (× faster) | trainer vs jit (× faster) | max abs vs eager | while timed |",
            "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        cells = [_est(speedup(row, a, b)) for _, a, b in COMPARISONS]
        jit_s = "—" if row.jit_compilation_s is None else f"{row.jit_compilation_s:.1f}"
        diff = "—" if row.max_abs_vs_eager is None else f"{row.max_abs_vs_eager:.1e}"
        did = what_it_did(row) + ("; suite FAILED: " + "; ".join(f"{k}: {v}" for k, v in row.failed.items())
                                  if row.failed else "")
        out.append(f"| {row.model_id} | {row.shape} | {did} | {jit_s} | " + " | ".join(cells)
                   + f" | {diff} | {busy(row)} |")
    return "\n".join(out) + "\n"
