"""Charts as inline SVG strings, drawn in Python so the page needs no JavaScript and no network.

Every text that reaches the SVG passes through `esc`; the results file is untrusted input.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

from markupsafe import Markup

PALETTE = {
    "python-sequential": "#64748b", "python-threads": "#2563eb", "python-processes": "#ea580c",
    "go-native": "#0d9488", "go-gocv": "#16a34a", "python-pool-imap": "#7c3aed",
    "python-pool-imap-unordered": "#ca8a04", "python-asyncio": "#db2777",
    "python-threads-ft": "#0ea5e9",   # threads again, without the GIL: python-threads' blue, lighter
}
EXTRA = ("#0891b2", "#4d7c0f", "#be123c", "#9333ea", "#b45309", "#0369a1")
CAP_COLOR = "#dc2626"
OFF_SCALE = 2.5   # a level higher than this times the data's top is named, not drawn
INK, MUTED, GRID = "#0f172a", "#64748b", "#e2e8f0"


def color(strategy: str) -> str:
    """A fixed colour per contract strategy; later ones get a stable colour from their name."""
    if strategy in PALETTE:
        return PALETTE[strategy]
    return EXTRA[sum(strategy.encode()) % len(EXTRA)]


def tint(hex_color: str, amount: float) -> str:
    """Mix a #rrggbb colour with white (amount 0 = unchanged, 1 = white)."""
    rgb = [int(hex_color[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (255 - c) * amount):02x}" for c in rgb)


def esc(text: object) -> str:
    return escape(str(text), quote=True)


def nice_step(span: float, target: int = 5) -> float:
    """A 1/2/5 x 10^n step giving about `target` ticks over `span`."""
    if span <= 0:
        return 1.0
    raw = span / target
    power = 10.0 ** math.floor(math.log10(raw))
    for mult in (1, 2, 5, 10):
        if raw <= mult * power:
            return mult * power
    return 10 * power


def ticks(top: float, target: int = 5) -> list[float]:
    step = nice_step(top, target)
    count = int(math.ceil(top / step - 1e-9))
    return [i * step for i in range(count + 1)]


def _tick_text(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: the median, its min-max whisker, an optional lighter bar behind (e.g. wall time)."""

    label: str
    value: float
    color: str
    low: float | None = None
    high: float | None = None
    behind: float | None = None
    text: str = ""          # the value as printed at the bar's end
    note: str = ""          # e.g. "OOM-killed", drawn in red after the value
    faded: bool = False     # figures from attempts that did not complete


def _text_width(text: str, size: float = 12.5) -> float:
    """A rough rendered width (no font metrics in Python): enough to place labels."""
    return len(text) * size * 0.56


Box = tuple[float, float, float, float]   # x0, y0, x1, y1 in the viewBox


def text_box(x: float, y: float, text: str, size: float, anchor: str = "start", bold: bool = False) -> Box:
    """Where a text drawn at baseline (x, y) lands, roughly, with a little room around it; bold
    text and wide fonts (DejaVu Sans) run longer than `_text_width`'s estimate, so err wide."""
    width = _text_width(text, size) * (1.2 if bold else 1.1)
    x0 = x - width if anchor == "end" else x - width / 2 if anchor == "middle" else x
    return (x0 - 2, y - size - 1, x0 + width + 2, y + size * 0.3 + 1)


def overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place(candidates: Sequence[tuple[float, float, str]], text: str, size: float, taken: list[Box],
          inside: Box, bold: bool = True) -> tuple[float, float, str]:
    """The first (x, y, anchor) whose text box stays inside `inside` and clear of `taken` (else the
    first one); the chosen box joins `taken` so later labels avoid it."""
    def fits(box: Box) -> bool:
        return (box[0] >= inside[0] and box[2] <= inside[2] and box[1] >= inside[1] and box[3] <= inside[3]
                and not any(overlaps(box, other) for other in taken))
    chosen = next((c for c in candidates if fits(text_box(*c[:2], text, size, c[2], bold))), candidates[0])
    taken.append(text_box(*chosen[:2], text, size, chosen[2], bold))
    return chosen


def bar_chart(bars: Sequence[Bar], title: str, axis: str, cap: float | None = None,
              cap_text: str = "", legend: Sequence[tuple[str, str]] = ()) -> Markup:
    """Horizontal bars, one row per group, with an optional vertical cap line."""
    if not bars:
        return Markup("")
    width, row, top, bottom = 560, 34, 34, 40
    left = int(min(max(max(_text_width(b.label, 14.2) for b in bars) + 16, 110), 280))
    right = int(min(max(max(_text_width(b.text + " " + b.note, 12) for b in bars) + 12, 70), 170))
    height = top + row * len(bars) + bottom
    peak = max([b.high or b.value for b in bars] + [b.behind or 0 for b in bars] + [cap or 0]) or 1.0
    axis_ticks = ticks(peak * 1.02)
    scale_max = axis_ticks[-1] or 1.0
    plot = width - left - right

    def x(value: float) -> float:
        return left + plot * value / scale_max

    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{esc(title)}</title>']
    lx = float(left)
    for swatch, text in legend:
        parts.append(f'<rect x="{lx:.0f}" y="8" width="12" height="12" rx="2" fill="{esc(swatch)}"/>'
                     f'<text x="{lx + 18:.0f}" y="18" class="t-small">{esc(text)}</text>')
        lx += 30 + _text_width(text, 11)
    for tick in axis_ticks:
        tx = x(tick)
        parts.append(f'<line x1="{tx:.1f}" y1="{top - 4}" x2="{tx:.1f}" y2="{height - bottom}" '
                     f'stroke="{GRID}"/><text x="{tx:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                     f'class="t-small">{_tick_text(tick)}</text>')
    parts.append(f'<text x="{left + plot / 2:.1f}" y="{height - 6}" text-anchor="middle" '
                 f'class="t-axis">{esc(axis)}</text>')
    for i, bar in enumerate(bars):
        y = top + i * row
        opacity = ' fill-opacity="0.45"' if bar.faded else ""
        parts.append(f'<text x="{left - 10}" y="{y + 21}" text-anchor="end" class="t-label">'
                     f'{esc(bar.label)}</text>')
        if bar.behind:
            parts.append(f'<rect x="{left}" y="{y + 6}" width="{max(x(bar.behind) - left, 1):.1f}" '
                         f'height="21" rx="3" fill="{esc(bar.color)}" fill-opacity="0.22"/>')
        parts.append(f'<rect x="{left}" y="{y + 6}" width="{max(x(bar.value) - left, 1):.1f}" height="21" '
                     f'rx="3" fill="{esc(bar.color)}"{opacity}/>')
        end = max(bar.value, bar.behind or 0)
        if bar.low is not None and bar.high is not None and bar.high > bar.low:
            x1, x2 = x(bar.low), x(bar.high)
            parts.append(f'<path d="M{x1:.1f} {y + 16.5}H{x2:.1f}M{x1:.1f} {y + 10}V{y + 23}'
                         f'M{x2:.1f} {y + 10}V{y + 23}" stroke="{INK}" stroke-width="1.5" fill="none"/>')
            end = max(end, bar.high)
        label = esc(bar.text)
        if bar.note:
            label += f' <tspan fill="{CAP_COLOR}" font-weight="600">{esc(bar.note)}</tspan>'
        parts.append(f'<text x="{x(end) + 6:.1f}" y="{y + 21}" class="t-value">{label}</text>')
    if cap:
        cx = x(cap)
        parts.append(f'<line x1="{cx:.1f}" y1="{top - 8}" x2="{cx:.1f}" y2="{height - bottom}" '
                     f'stroke="{CAP_COLOR}" stroke-width="2" stroke-dasharray="6 4"/>'
                     f'<text x="{cx - 5:.1f}" y="{top - 12}" text-anchor="end" class="t-cap" '
                     f'fill="{CAP_COLOR}">{esc(cap_text)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    color: str
    points: tuple[tuple[float, float], ...]
    dashed: bool = False
    faint: bool = False     # a further repetition: drawn thinner


@dataclass(frozen=True, slots=True)
class Marker:
    """A point event on a line chart, e.g. an OOM kill."""

    x: float
    y: float
    label: str
    color: str = CAP_COLOR


@dataclass(frozen=True, slots=True)
class Level:
    """A horizontal line across the plot: a memory cap, the machine's cores."""

    y: float
    label: str
    color: str = CAP_COLOR


@dataclass(frozen=True, slots=True)
class LineChart:
    title: str
    x_axis: str
    y_axis: str
    series: Sequence[Series]
    levels: Sequence[Level] = ()
    markers: Sequence[Marker] = ()
    y_text: Callable[[float], str] = field(default=_tick_text)
    whole_x: bool = False       # x counts things (workers): ticks on whole numbers only


def decimate(points: Sequence[tuple[float, float]], limit: int = 400) -> tuple[tuple[float, float], ...]:
    """Keep at most about `limit` points, always the first and the last (and so the shape)."""
    if len(points) <= limit:
        return tuple(points)
    step = len(points) / limit
    kept = [points[int(i * step)] for i in range(limit)]
    return tuple(kept + [points[-1]])


@dataclass(frozen=True, slots=True)
class _Frame:
    """A line chart's geometry: where the plot sits and how values map onto it."""

    width: float
    height: float
    left: float
    right: float
    top: float
    plot_h: float
    x_max: float
    y_max: float

    @property
    def plot_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def box(self) -> Box:
        return (self.left, self.top - 2, self.width - self.right + 2, self.top + self.plot_h)

    def px(self, value: float) -> float:
        return self.left + self.plot_w * value / self.x_max

    def py(self, value: float) -> float:
        return self.top + self.plot_h - self.plot_h * value / self.y_max


def line_chart(chart: LineChart) -> Markup:
    """Lines over time with horizontal levels (caps) and event markers (OOM kills)."""
    drawn = [s for s in chart.series if s.points]
    if not drawn:
        return Markup("")
    seen: list[Series] = []
    for s in drawn:
        if not s.faint and all(s.label != other.label for other in seen):
            seen.append(s)
    data_ys = [p[1] for s in drawn for p in s.points] + [m.y for m in chart.markers]
    # A level far above the data (a 1 GiB cap over 50 MiB lines) would flatten the lines: name it instead.
    shown = [lv for lv in chart.levels if lv.y <= OFF_SCALE * (max(data_ys) or 1.0)]
    off_scale = [lv for lv in chart.levels if lv not in shown]
    frame, x_ticks, y_ticks, column = _frame(chart, drawn, seen, data_ys + [lv.y for lv in shown])
    taken: list[Box] = []   # labels drawn so far: later ones move out of their way
    parts = [f'<svg class="chart" viewBox="0 0 {frame.width} {frame.height}" role="img" '
             f'aria-label="{esc(chart.title)}" xmlns="http://www.w3.org/2000/svg"><title>{esc(chart.title)}</title>']
    parts += _axes(frame, chart, x_ticks, y_ticks)
    parts += _levels(frame, shown, off_scale, chart.markers, taken)
    for s in drawn:
        path = "M" + "L".join(f"{frame.px(x):.1f} {frame.py(y):.1f}" for x, y in s.points)
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        parts.append(f'<path d="{path}" fill="none" stroke="{esc(s.color)}" '
                     f'stroke-width="{1.2 if s.faint else 2.2}" stroke-opacity="{0.45 if s.faint else 1}" '
                     f'stroke-linejoin="round"{dash}/>')
    parts += _markers(frame, chart.markers, taken)
    parts += _legend(frame, seen, column)
    parts.append("</svg>")
    return Markup("".join(parts))


def _frame(chart: LineChart, drawn: list[Series], seen: list[Series],
           ys: list[float]) -> tuple[_Frame, list[float], list[float], float]:
    """The geometry, the ticks and the legend's column width: room for the legend's rows below the
    plot and for the widest y tick at its left."""
    width, left, right, top, bottom, plot_h = 560, 52, 16, 16, 44, 220
    column = max(_text_width(s.label, 12) for s in seen) + 40 if seen else 170
    legend_rows = math.ceil(len(seen) / max(1, int((width - left) // column)))
    xs = [p[0] for s in drawn for p in s.points] + [m.x for m in chart.markers]
    x_ticks, y_ticks = ticks(max(xs) or 1.0, 6), ticks((max(ys) or 1.0) * 1.05, 5)
    if chart.whole_x:   # 0, 1, 2 workers, not 0, 0.5, 1, 1.5, 2
        x_ticks = [t for t in x_ticks if float(t).is_integer()] if x_ticks[-1] > 1 else x_ticks
    # Room for the widest y tick ("1,000") between the rotated axis title (x about 8-21) and the plot.
    wide = math.ceil(24 + max(_text_width(chart.y_text(t), 11) * 1.15 for t in y_ticks) + 8)
    frame = _Frame(width, top + plot_h + bottom + 18 * legend_rows, max(left, wide), right, top, plot_h,
                   x_ticks[-1] or 1.0, y_ticks[-1] or 1.0)
    return frame, x_ticks, y_ticks, column


def _axes(f: _Frame, chart: LineChart, x_ticks: list[float], y_ticks: list[float]) -> list[str]:
    """Grid lines and ticks, the x axis and both axis titles."""
    parts = []
    for tick in y_ticks:
        ty = f.py(tick)
        parts.append(f'<line x1="{f.left}" y1="{ty:.1f}" x2="{f.width - f.right}" y2="{ty:.1f}" '
                     f'stroke="{GRID}"/><text x="{f.left - 8}" y="{ty + 4:.1f}" text-anchor="end" '
                     f'class="t-small">{esc(chart.y_text(tick))}</text>')
    bottom = f.top + f.plot_h
    for tick in x_ticks:
        tx = f.px(tick)
        parts.append(f'<line x1="{tx:.1f}" y1="{bottom}" x2="{tx:.1f}" y2="{bottom + 5}" '
                     f'stroke="{MUTED}"/><text x="{tx:.1f}" y="{bottom + 18}" text-anchor="middle" '
                     f'class="t-small">{_tick_text(tick)}</text>')
    parts.append(f'<line x1="{f.left}" y1="{bottom}" x2="{f.width - f.right}" y2="{bottom}" '
                 f'stroke="{MUTED}"/><text x="{f.left + f.plot_w / 2:.1f}" y="{bottom + 36}" '
                 f'text-anchor="middle" class="t-axis">{esc(chart.x_axis)}</text>'
                 f'<text transform="translate(14 {f.top + f.plot_h / 2:.1f}) rotate(-90)" text-anchor="middle" '
                 f'class="t-axis">{esc(chart.y_axis)}</text>')
    return parts


def _levels(f: _Frame, shown: list[Level], off_scale: list[Level], markers: Sequence[Marker],
            taken: list[Box]) -> list[str]:
    """Caps as dashed lines with their labels (named at the top when above the scale)."""
    parts = []
    for i, level in enumerate(off_scale):
        text = f"{level.label} (above the scale)"
        taken.append(text_box(f.width - f.right - 4, f.top + 12 + 14 * i, text, 11.5, "end", bold=True))
        parts.append(f'<text x="{f.width - f.right - 4}" y="{f.top + 12 + 14 * i}" text-anchor="end" class="t-cap" '
                     f'fill="{esc(level.color)}">{esc(text)}</text>')
    # The kills' symbols first, so that no level's label covers one.
    taken.extend((f.px(m.x) - 8, f.py(m.y) - 8, f.px(m.x) + 8, f.py(m.y) + 8) for m in markers)
    for level in shown:
        ly = f.py(level.y)
        # above the line at the right end; else at the left end, else under the line
        tx, ty, anchor = place([(f.width - f.right - 4, ly - 5, "end"), (f.left + 6, ly - 5, "start"),
                                (f.width - f.right - 4, ly + 15, "end"), (f.left + 6, ly + 15, "start")],
                               level.label, 11.5, taken, f.box)
        parts.append(f'<line x1="{f.left}" y1="{ly:.1f}" x2="{f.width - f.right}" y2="{ly:.1f}" '
                     f'stroke="{esc(level.color)}" stroke-width="1.5" stroke-dasharray="6 4"/>'
                     f'<text x="{tx:.1f}" y="{ty:.1f}" text-anchor="{anchor}" class="t-cap" '
                     f'fill="{esc(level.color)}">{esc(level.label)}</text>')
    return parts


def _markers(f: _Frame, markers: Sequence[Marker], taken: list[Box]) -> list[str]:
    """OOM kills: a symbol each, one label per cluster of kills, clear of the levels' labels."""
    parts = []
    labelled: list[tuple[float, float]] = []
    for marker in markers:
        mx, my = f.px(marker.x), f.py(marker.y)
        near = any(abs(mx - lx) < 34 and abs(my - ly) < 16 for lx, ly in labelled)
        parts.append(f'<g><title>{esc(marker.label)}</title><circle cx="{mx:.1f}" cy="{my:.1f}" r="7" '
                     f'fill="#fff" stroke="{esc(marker.color)}" stroke-width="2"/><path d="M{mx - 3.5:.1f} '
                     f'{my - 3.5:.1f}l7 7m0 -7l-7 7" stroke="{esc(marker.color)}" stroke-width="2"/></g>')
        if not near:
            labelled.append((mx, my))
            half = _text_width("OOM kill", 11.5) * 0.6 + 2
            cx = min(max(mx, f.left + half), f.width - f.right - half)   # centred, but inside the plot
            tx, ty, anchor = place([(cx, my - 13, "middle"), (cx, my + 22, "middle"), (mx - 12, my + 4, "end"),
                                    (mx + 12, my + 4, "start"), (mx - 10, my + 20, "end"),
                                    (mx - 10, my - 10, "end")], "OOM kill", 11.5, taken, f.box)
            parts.append(f'<text x="{tx:.1f}" y="{ty:.1f}" text-anchor="{anchor}" class="t-cap" '
                         f'fill="{esc(marker.color)}">OOM kill</text>')
    return parts


def _legend(f: _Frame, seen: list[Series], column: float) -> list[str]:
    """One entry per labelled series, in rows under the x axis."""
    columns = max(1, int((f.width - 52) // column))
    parts = []
    for i, s in enumerate(seen):
        lx = f.left + (i % columns) * column
        ly = f.top + f.plot_h + 52 + 18 * (i // columns)
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        parts.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 18}" y2="{ly - 4}" stroke="{esc(s.color)}" '
                     f'stroke-width="3"{dash}/><text x="{lx + 24}" y="{ly}" class="t-legend">'
                     f'{esc(s.label)}</text>')
    return parts
