"""Small static SVG charts, drawn here: no script, no font, no external request. Every label is
escaped; sizes are in the SVG's own units and the SVG scales to its container."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from harness.history.text import shown

#: Releases newest first take these colours in order; the last ones repeat.
PALETTE = ("#1f4e79", "#2e75b6", "#5b9bd5", "#9dc3e6", "#548235", "#a9d18e", "#bf9000", "#ffd966", "#c55a11",
           "#f4b183", "#7030a0", "#b4a7d6")
GREY = "#c8c8c8"
STATUS_COLOURS = {"ok": "#2e7d32", "partial": "#f9a825", "failed": "#c62828", "malformed-address": "#9e9e9e",
                  None: "#eeeeee"}
GATE_COLOURS = {"passed": "#2e7d32", "incomplete": "#f9a825", "failed": "#c62828", "error": "#6a1b9a", None: "#9e9e9e"}
FONT = "font-family:system-ui,-apple-system,'Segoe UI',sans-serif"


def _e(value: object, limit: int = 80) -> str:
    return escape(shown(value, limit), quote=True)


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
            f'style="max-width:{width}px;{FONT}" role="img" aria-label="{_e(title, 200)}">'
            f"<title>{_e(title, 200)}</title>{''.join(body)}</svg>")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def legend(items: Sequence[tuple[str, str]], x: int, y: int, width: int) -> tuple[list[str], int]:
    """Legend swatches wrapped to ``width``; (elements, height used)."""
    out, cx, cy = [], x, y
    for label, colour in items:
        w = 18 + 7 * len(shown(label, 40))
        if cx + w > x + width and cx > x:
            cx, cy = x, cy + 18
        out.append(f'<rect x="{cx}" y="{cy}" width="11" height="11" fill="{colour}"/>'
                   f'<text x="{cx + 15}" y="{cy + 10}" font-size="11">{_e(label, 40)}</text>')
        cx += w
    return out, (cy - y) + 18


def stacked_columns(columns: Sequence[tuple[str, Sequence[tuple[str, float]]]], colours: dict[str, str],
                    title: str, *, width: int = 860, height: int = 260, unit: str = "") -> str:
    """One column per x label, stacked by series; a legend below."""
    left, right, top, bottom = 44, 10, 14, 40
    series_order: list[str] = []
    for _, parts in columns:
        for name, _value in parts:
            if name not in series_order:
                series_order.append(name)
    leg, leg_h = legend([(s, colours.get(s, GREY)) for s in series_order], left, height - bottom + 26, width - left)
    total_h = height + leg_h
    plot_h = height - top - bottom
    top_value = _nice_max(max((sum(v for _, v in parts) for _, parts in columns), default=0))
    n = max(len(columns), 1)
    slot = (width - left - right) / n
    bar = max(4.0, min(46.0, slot * 0.7))
    body = []
    for i in range(5):
        value = top_value * i / 4
        y = top + plot_h - plot_h * i / 4
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>'
                    f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{value:g}{_e(unit)}</text>')
    every = max(1, math.ceil(n / 12))
    for index, (label, parts) in enumerate(columns):
        x = left + slot * index + (slot - bar) / 2
        y = top + plot_h
        for name, value in parts:
            h = plot_h * value / top_value
            y -= h
            body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                        f'fill="{colours.get(name, GREY)}"><title>{_e(label)}: {_e(name)} {value:g}</title></rect>')
        if index % every == 0:
            body.append(f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 14}" font-size="10" '
                        f'text-anchor="middle">{_e(label, 16)}</text>')
    return _svg(width, total_h, title, body + leg)


def horizontal_bars(rows: Sequence[tuple[str, float, str, str]], title: str, *, width: int = 860,
                    maximum: float = 100.0, unit: str = "%") -> str:
    """One bar per row: (label, value, annotation, colour)."""
    label_w, row_h, top = 300, 18, 6
    height = top + row_h * max(len(rows), 1) + 20
    plot_w = width - label_w - 120
    body = []
    for i, (label, value, note, colour) in enumerate(rows):
        y = top + row_h * i
        w = plot_w * max(0.0, min(value, maximum)) / maximum
        body.append(f'<text x="{label_w - 6}" y="{y + 12}" font-size="11" text-anchor="end">{_e(label, 44)}</text>'
                    f'<rect x="{label_w}" y="{y + 2}" width="{plot_w}" height="{row_h - 5}" fill="#f1f1f1"/>'
                    f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row_h - 5}" fill="{colour}">'
                    f'<title>{_e(label)}: {value:g}{_e(unit)}</title></rect>'
                    f'<text x="{label_w + plot_w + 6}" y="{y + 12}" font-size="11">{value:g}{_e(unit)} '
                    f'{_e(note, 30)}</text>')
    axis_y = top + row_h * max(len(rows), 1) + 12
    for i in range(5):
        x = label_w + plot_w * i / 4
        body.append(f'<text x="{x:.1f}" y="{axis_y}" font-size="10" text-anchor="middle">'
                    f'{maximum * i / 4:g}{_e(unit)}</text>')
    return _svg(width, height, title, body)


def histogram(series: dict[str, Sequence[float]], colours: dict[str, str], title: str, *, width: int = 860,
              height: int = 220) -> str:
    """Counts per response-time bucket (log-spaced, in seconds), one bar group per bucket."""
    edges = [0.0, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, math.inf]
    labels = ["<50 ms", "50-100 ms", "0.1-0.2 s", "0.2-0.5 s", "0.5-1 s", "1-2 s", "2-5 s", "5-10 s", "≥10 s"]
    counts = {name: [sum(1 for v in values if lo <= v < hi) for lo, hi in zip(edges, edges[1:])]
              for name, values in series.items()}
    left, right, top, bottom = 44, 10, 14, 40
    plot_h = height - top - bottom
    top_value = _nice_max(max((max(c) for c in counts.values() if c), default=0))
    slot = (width - left - right) / len(labels)
    group = slot * 0.8
    bar = group / max(len(series), 1)
    body = []
    for i in range(5):
        y = top + plot_h - plot_h * i / 4
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>'
                    f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">'
                    f'{top_value * i / 4:g}</text>')
    for b, label in enumerate(labels):
        x0 = left + slot * b + (slot - group) / 2
        for s, name in enumerate(series):
            value = counts[name][b]
            h = plot_h * value / top_value
            body.append(f'<rect x="{x0 + bar * s:.1f}" y="{top + plot_h - h:.1f}" width="{bar - 1:.1f}" '
                        f'height="{h:.1f}" fill="{colours.get(name, GREY)}"><title>{_e(name)} {label}: {value}'
                        f'</title></rect>')
        body.append(f'<text x="{x0 + group / 2:.1f}" y="{top + plot_h + 14}" font-size="10" '
                    f'text-anchor="middle">{label}</text>')
    leg, leg_h = legend([(name, colours.get(name, GREY)) for name in series], left, height - bottom + 24,
                        width - left)
    return _svg(width, height + leg_h - 6, title, body + leg)


def lines(x_labels: Sequence[str], series: dict[str, Sequence[float | None]], colours: dict[str, str], title: str,
          *, width: int = 860, height: int = 220, unit: str = "") -> str:
    """One line per series over the x labels (None: a gap)."""
    left, right, top, bottom = 50, 14, 14, 40
    plot_h, plot_w = height - top - bottom, width - left - right
    values = [v for s in series.values() for v in s if v is not None]
    top_value = _nice_max(max(values, default=0))
    n = max(len(x_labels), 1)
    step = plot_w / max(n - 1, 1)
    body = []
    for i in range(5):
        y = top + plot_h - plot_h * i / 4
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>'
                    f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">'
                    f'{top_value * i / 4:g}{_e(unit)}</text>')
    every = max(1, math.ceil(n / 12))
    for i, label in enumerate(x_labels):
        if i % every == 0:
            body.append(f'<text x="{left + step * i:.1f}" y="{top + plot_h + 14}" font-size="10" '
                        f'text-anchor="middle">{_e(label, 16)}</text>')
    for name, points in series.items():
        colour = colours.get(name, GREY)
        path, pen = [], "M"
        for i, v in enumerate(points):
            if v is None:
                pen = "M"
                continue
            x, y = left + step * i, top + plot_h - plot_h * v / top_value
            path.append(f"{pen}{x:.1f},{y:.1f}")
            pen = "L"
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"><title>{_e(name)} '
                        f'{_e(x_labels[i])}: {v:g}{_e(unit)}</title></circle>')
        if path:
            body.append(f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="2"/>')
    leg, leg_h = legend([(name, colours.get(name, GREY)) for name in series], left, height - bottom + 24,
                        width - left)
    return _svg(width, height + leg_h - 6, title, body + leg)


def grid(rows: Sequence[tuple[str, Sequence[tuple[str | None, str]]]], x_labels: Sequence[str],
         colours: dict[str | None, str], title: str, *, width: int = 860) -> str:
    """A row of cells per label, one cell per x label: (state, tooltip)."""
    label_w, cell_h, top = 260, 14, 4
    n = max(len(x_labels), 1)
    cell_w = max(3.0, min(60.0, (width - label_w - 10) / n))
    height = top + cell_h * max(len(rows), 1) + 22
    body = []
    for r, (label, cells) in enumerate(rows):
        y = top + cell_h * r
        body.append(f'<text x="{label_w - 6}" y="{y + 10}" font-size="10" text-anchor="end">{_e(label, 40)}</text>')
        for c, (state, tip) in enumerate(cells):
            body.append(f'<rect x="{label_w + cell_w * c:.1f}" y="{y}" width="{cell_w - 1:.1f}" height="{cell_h - 2}" '
                        f'fill="{colours.get(state, colours.get(None, GREY))}"><title>{_e(tip, 160)}</title></rect>')
    every = max(1, math.ceil(n / 10))
    for c, label in enumerate(x_labels):
        if c % every == 0:
            body.append(f'<text x="{label_w + cell_w * c:.1f}" y="{height - 6}" font-size="10">{_e(label, 16)}</text>')
    return _svg(width, height, title, body)
