"""Pieces every report shares: verdict icons, interval text, the point-and-interval plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

_ICON = {"pass": "✅ pass", "unverified": "⚠️ unverified", "regression": "❌ regression",
         "improvement": "🟢 improvement", "noisy": "⚠️ noisy", "inconclusive": "⚠️ INCONCLUSIVE",
         "no-baseline": "— no baseline",
         "reference": "reference", "unavailable": "— unavailable", None: "—"}


def _pct(ratio: float) -> str:
    return f"{(ratio - 1.0) * 100:+.1f}%"


def _est(est: Sequence[float] | None, fmt: str = "{:.2f}") -> str:
    if not est:
        return "—"
    p, lo, hi = est
    return f"{fmt.format(p)} [{fmt.format(lo)}, {fmt.format(hi)}]"


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def require_plotting() -> None:
    """Import matplotlib now: a command calls this before writing anything, so that a Python without
    it leaves no half of the outputs behind (commands.main turns the ImportError into one line)."""
    _plt()


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _interval_plot(labels: list[str], series: Sequence[tuple[str, Sequence[Sequence[float] | None]]],
                   xlabel: str, reference: float, path: Path, title: str,
                   marks: Sequence[tuple[float, str]] = (), fmts: Sequence[str] = (),
                   reference_label: str = "no change") -> Path:
    """Horizontal point-and-interval plot, a row per label, a marker per series; ``marks``: labelled vertical lines;
    ``fmts``: per series, its marker and a ':' for dotted bars (default a dot, solid bars); the dashed
    ``reference`` line is labelled ``reference_label`` in the legend every plot has."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(labels) + 1.6), layout="constrained")
    n = len(series)
    for s, (name, ests) in enumerate(series):
        offset = (s - (n - 1) / 2) * 0.25
        ys, xs, lo, hi = [], [], [], []
        for i, est in enumerate(ests):
            if est:
                ys.append(i + offset)
                xs.append(est[0])
                lo.append(est[0] - est[1])
                hi.append(est[2] - est[0])
        fmt = fmts[s] if s < len(fmts) else "o"
        bars = ax.errorbar(xs, ys, xerr=[lo, hi], fmt=fmt.rstrip(":"), capsize=3, label=name)
        if fmt.endswith(":"):
            bars[2][0].set_linestyle(":")
    ax.axvline(reference, color="grey", linestyle="--", linewidth=1, label=f"{reference:g}: {reference_label}")
    for (x, text), color in zip(marks, ("tab:red", "tab:purple", "tab:brown"), strict=False):
        ax.axvline(x, color=color, linestyle=":", linewidth=1, label=text)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    # Below the axes: inside, it hid points (a claims plot lost one behind it). Always: a single-series
    # plot without marks left its dashed line and its markers unexplained (the gate's speedups plot).
    fig.legend(fontsize=8, loc="outside lower center", ncol=2, frameon=False)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
