"""The history's static site (``history publish``): an index of open regressions, a page of SVG series
per class x lane, ``regressions.json``. No network: no CDN, no fonts."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..core.atomic import write_text
from ..core.errors import DataFileError
from ..measuring.changepoints import DEFAULT_HOLD, Change, lock_differences
from ..measuring.history_analysis import CaseSeries, describe, stopped_note

WIDTH, HEIGHT, PAD = 640, 190, 34
BOTTOM = 22  # room under the plot for the dates
X_TICKS = 6  # dated nights on the x axis: first, last and evenly between
STYLE = """body{font-family:sans-serif;margin:1.5em;max-width:60em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;font-size:90%}.nw{white-space:nowrap}
.regression{color:#b00}.improvement{color:#070}.case{margin:1.2em 0}
svg{background:#fafafa;border:1px solid #ddd}"""
SCRIPT = """document.querySelectorAll('svg.series').forEach(function(s){
s.setAttribute('data-drawn', s.querySelectorAll('circle.night').length);
s.setAttribute('data-dated', s.querySelectorAll('text.xtick').length);});
document.body.setAttribute('data-series', document.querySelectorAll('svg.series').length);"""


def page_name(machine_class: str, lane: str) -> str:
    return f"{machine_class}__{lane}.html"


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head>\n<body>\n{body}\n<script>{SCRIPT}</script>\n</body></html>\n")


def _scale(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    margin = max(0.01, (high - low) * 0.1)
    return low - margin, high + margin


def tick_indices(n: int, ticks: int = X_TICKS) -> list[int]:
    """Which nights get a date on the x axis: all of a short series, else ``ticks`` evenly spaced."""
    if n <= ticks:
        return list(range(n))
    return sorted({round(k * (n - 1) / (ticks - 1)) for k in range(ticks)})


def _axes(s: CaseSeries, x: Callable[[float], float], y: Callable[[float], float], low: float,
          high: float) -> list[str]:
    """Dates under the plot (x: the nights, evenly spaced in order) and speedups at the left (y, log)."""
    parts = [f'<line class="axis" x1="{PAD}" x2="{WIDTH - PAD}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM}" '
             'stroke="#999"/>']
    for i in tick_indices(len(s.points)):
        parts.append(f'<line x1="{x(i):.1f}" x2="{x(i):.1f}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM + 4}" '
                     f'stroke="#999"/><text class="xtick" x="{x(i):.1f}" y="{HEIGHT - 6}" font-size="10" '
                     f'text-anchor="middle">{html.escape(s.points[i].night)}</text>')
    for v in (low, (low + high) / 2, high):
        parts.append(f'<line class="grid" x1="{PAD}" x2="{WIDTH - PAD}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                     f'stroke="#e4e4e4"/><text class="ytick" x="2" y="{y(v) + 3:.1f}" font-size="10">'
                     f"{math.exp(v):.3g}x</text>")
    return parts


def svg(s: CaseSeries) -> str:
    """One case's series: x the nights in order (dated), y the speedup (log scale)."""
    values = [p.value for p in s.points]
    low, high = _scale(values)
    n = len(values)

    def x(i: float) -> float:
        return PAD + (WIDTH - 2 * PAD) * (i / max(1, n - 1))

    def y(v: float) -> float:
        return HEIGHT - BOTTOM - 6 - (HEIGHT - BOTTOM - 14) * (v - low) / (high - low)

    parts = _axes(s, x, y, low, high)
    for i in s.fit.lock_starts:
        what = html.escape(", ".join(lock_differences(s.points[i - 1], s.points[i])))
        parts.append(f'<line class="lock" x1="{x(i - 0.5):.1f}" x2="{x(i - 0.5):.1f}" y1="0" y2="{HEIGHT - BOTTOM}" '
                     f'stroke="#888" stroke-dasharray="2,3"><title>set-up changed: {what}</title></line>')
    for c in s.changes:
        colour = {"regression": "#c00", "improvement": "#080"}.get(c.kind, "#c80")
        parts.append(f'<line class="change {c.kind}" x1="{x(c.index - 0.5):.1f}" x2="{x(c.index - 0.5):.1f}" '
                     f'y1="0" y2="{HEIGHT - BOTTOM}" stroke="{colour}" stroke-width="2"><title>'
                     f"{html.escape(describe(s, c))}</title></line>")
    ends = [*s.fit.bounds[1:], n]
    for a, b, mean in zip(s.fit.bounds, ends, s.fit.means, strict=True):
        parts.append(f'<line class="segment" x1="{x(a):.1f}" x2="{x(b - 1):.1f}" y1="{y(mean):.1f}" '
                     f'y2="{y(mean):.1f}" stroke="#36c" stroke-width="2"/>')
    for i, p in enumerate(s.points):
        parts.append(f'<circle class="night" cx="{x(i):.1f}" cy="{y(p.value):.1f}" r="2.5" fill="#333">'
                     f'<title>{html.escape(p.night)} {math.exp(p.value):.3f}x commit {html.escape(str(p.commit)[:10])}'
                     '</title></circle>')
    return (f'<svg class="series" data-case="{html.escape(s.case_id)}" data-points="{n}" width="{WIDTH}" '
            f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img">{"".join(parts)}</svg>')


def _where(s: CaseSeries, c: Change) -> str:
    """Whether ``c`` starts the newest segment: a later one (a fix, a lock change) may follow it."""
    newest = s.fit.bounds[-1]
    return "the newest segment starts there" if c.index == newest else (
        f"a later segment starts at night {html.escape(s.points[newest].night)}")


def _interval(c: Change) -> str:
    return f"{c.size:+.1%} [{c.low:+.1%}, {c.high:+.1%}] (95 % given the split)"


def verdict(s: CaseSeries, hold: int = DEFAULT_HOLD) -> str:
    """The case page's verdict: the open regression and its alert whatever came after it (the index
    lists it), then the latest change point when it is another one."""
    parts = []
    drop = s.open_regression
    if drop is not None:
        held = (f"ALERT, held {drop.nights_held} night(s)" if s.alerting(drop, hold)
                else f"held {drop.nights_held} night(s), {html.escape(stopped_note(s))}" if s.stopped
                else f"held {drop.nights_held} night(s), alerts after {hold}")
        parts.append(f'<span class="regression">open regression: {_interval(drop)} since night '
                     f"{html.escape(drop.after.night)} ({held}; {_where(s, drop)})</span>")
    last: Change | None = s.changes[-1] if s.changes else None
    if last is None:
        parts.append("no change point")
    elif last is not drop:
        fixed = "not open; " if last.kind == "regression" else ""
        parts.append(f'<span class="{last.kind}">latest change: {last.kind} {_interval(last)} at night '
                     f"{html.escape(last.after.night)} ({fixed}{_where(s, last)})</span>")
    return "; ".join(parts)


def class_page(machine_class: str, lane: str, found: Sequence[CaseSeries]) -> str:
    nights = sorted({p.night for s in found for p in s.points})
    body = [f"<h1>{html.escape(machine_class)} · {html.escape(lane)}</h1>",
            f'<p><a href="index.html">all classes</a> · {len(found)} case(s), nights {nights[0]} .. {nights[-1]}. '
            "Dots: nightly session means; blue: segment means; red/green lines: change points (regression / "
            "improvement); grey dashes: the set-up changed (lock, recipe or threads).</p>"]
    for s in found:
        gate = html.escape(s.gate_verdict or "not recorded")
        body.append(f'<div class="case"><h3>{html.escape(s.case_id)}</h3>{svg(s)}<p>{verdict(s)}; noise sd '
                    f"{s.fit.sd:.2%}; the speedup gate on night {html.escape(s.points[-1].night)}: {gate}</p></div>")
    return _page(f"infergate {machine_class} {lane}", "\n".join(body))


def regressions(found: Sequence[CaseSeries]) -> list[dict[str, object]]:
    out = []
    for s in found:
        c = s.open_regression
        if c is not None:
            out.append({"machine_class": s.machine_class, "lane": s.lane, "case_id": s.case_id, "size": c.size,
                        "interval": [c.low, c.high], "since_night": c.after.night, "commit": c.after.commit,
                        "before_night": c.before.night, "before_commit": c.before.commit,
                        "nights_held": c.nights_held, "alerts": s.alerting(c), "lock_changes": list(c.lock_changes),
                        "measured_last": s.points[-1].night, "stopped": s.stopped})
    return out


def _alert_cell(r: Mapping[str, object]) -> str:
    if r["alerts"]:
        return "ALERT"
    if r["stopped"]:
        return f"no: not measured since {html.escape(str(r['measured_last']))}"
    return "not yet held"


def index_page(found: Sequence[CaseSeries], open_: list[dict[str, object]]) -> str:
    # Class names and dates unbroken: wrapped at their hyphens they read as two words.
    rows = "".join(f"<tr><td class=nw>{html.escape(str(r['machine_class']))}</td><td>{html.escape(str(r['lane']))}</td>"
                   f"<td>{html.escape(str(r['case_id']))}</td><td class=regression>{float(str(r['size'])):+.1%}</td>"
                   f"<td class=nw>{html.escape(str(r['since_night']))}</td><td>{r['nights_held']}</td>"
                   f"<td>{_alert_cell(r)}</td></tr>" for r in open_)
    pages = sorted({(s.machine_class, s.lane) for s in found})
    links = "".join(f'<li><a href="{html.escape(page_name(c, lane))}">{html.escape(c)} · {html.escape(lane)}</a>'
                    "</li>" for c, lane in pages)
    table = ("<table><tr><th>class</th><th>lane</th><th>case</th><th>size</th><th>since night</th><th>nights held"
             f"</th><th>alert</th></tr>{rows}</table>") if open_ else "<p>No open regression.</p>"
    return _page("infergate nightly history", f"<h1>infergate nightly history</h1><h2>Open regressions "
                 f"({len(open_)})</h2>{table}<h2>Classes and lanes</h2><ul>{links}</ul>"
                 '<p><a href="regressions.json">regressions.json</a></p>')


def publish(found: Sequence[CaseSeries], out: Path) -> list[Path]:
    pairs = sorted({(s.machine_class, s.lane) for s in found})
    for machine_class, lane in pairs:
        # The history's reader checks the names; the site is written from them all the same, so a name
        # that is a path (../..) is refused here too, before anything is written.
        name = page_name(machine_class, lane)
        if Path(name).name != name or name.startswith("."):
            raise DataFileError(f"machine class {machine_class!r} lane {lane!r} would name a page outside "
                                f"{out}: nothing published")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for machine_class, lane in pairs:
        mine = [s for s in found if (s.machine_class, s.lane) == (machine_class, lane)]
        path = out / page_name(machine_class, lane)
        write_text(path, class_page(machine_class, lane, mine))
        written.append(path)
    open_ = regressions(found)
    write_text(out / "regressions.json", json.dumps(open_, indent=1, sort_keys=True) + "\n")
    write_text(out / "index.html", index_page(found, open_))
    return [*written, out / "regressions.json", out / "index.html"]
