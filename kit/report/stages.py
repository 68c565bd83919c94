"""Where the CPU time goes: each strategy's pipeline stages (the records' `stage_seconds`) and the
remainder, per item, as one stacked horizontal bar per group.

The remainder is the record's `cpu_seconds` (the whole sandbox, from the cgroup) minus the stages'
sum: interpreter start-up, pools, pickling between processes that no stage measured, and the kit's
own work. Dividing by `items_ok` lets runs of different sizes compare; each part is the median over
the repetitions that completed (every attempt when none did, drawn faded as in the time chart).
Payload's `transfer` is wall time (the pipe, and the wait for a free worker), so it is named beside
the bar rather than stacked into the CPU.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from kit.report.layout import Axes
from kit.report.svg import CAP_COLOR, INK, MUTED, esc, ticks
from kit.report.svg import _text_width as text_width
from kit.report.svg import _tick_text as tick_text
from kit.results.records import StrategyRecord
from kit.results.summary import Summary

TITLE = "Where the CPU time goes, per item"
REMAINDER = "rest"   # start-up, pools, the kit: cpu_seconds minus the stages
STAGE_COLORS = {      # in pipeline order; payload's three reuse decode / resize / encode's hues
    "read": "#0ea5e9", "decode": "#6366f1", "resize": "#f59e0b", "encode": "#10b981", "write": "#ec4899",
    "serialize": "#6366f1", "transfer": "#f59e0b", "deserialize": "#10b981",
}
OTHER_COLORS = ("#8b5cf6", "#14b8a6", "#f97316", "#84cc16")   # stages a later worker may add
REMAINDER_COLOR = "#cbd5e1"
# Stages timed by the wall clock, not the CPU (payload's trip through the pipe, waiting included):
# named beside the bar, never stacked into the CPU nor taken from the remainder.
WALL_STAGES = frozenset({"transfer"})
REMAINDER_TEXT = "rest: start-up, pools, the kit's own work"   # the words of claim 3's card


@dataclass(frozen=True, slots=True)
class StageBar:
    """One group's bar: (stage, CPU seconds per item) in pipeline order, the remainder last."""

    label: str
    parts: tuple[tuple[str, float], ...]
    faded: bool = False          # no repetition completed: the attempts' figures
    note: str = ""               # then why, e.g. "OOM-killed"
    over: bool = False           # the stages summed above the record's CPU (remainder shown as 0)
    wall: tuple[tuple[str, float], ...] = ()   # WALL_STAGES' seconds per item, shown as text

    @property
    def total(self) -> float:
        return sum(value for _, value in self.parts)


def per_item(record: StrategyRecord) -> dict[str, float] | None:
    """One record's stages and remainder per item, or None without stages or items."""
    stages = record.stage_seconds
    if not isinstance(stages, dict) or not stages or record.items_ok <= 0:
        return None
    values = {name: float(v) / record.items_ok for name, v in stages.items() if isinstance(v, int | float)}
    values[REMAINDER] = record.cpu_seconds / record.items_ok - sum(
        v for name, v in values.items() if name not in WALL_STAGES)
    return values


def stage_order(names: set[str]) -> list[str]:
    known = [name for name in STAGE_COLORS if name in names]
    return known + sorted(names - set(known) - {REMAINDER}) + [REMAINDER]


def stage_bars(groups: Sequence[Summary], axes: Axes) -> list[StageBar]:
    """A bar per group with stages; the median of each part over the group's timed records."""
    bars = []
    for g in groups:
        measured = [values for r in g.timed if (values := per_item(r)) is not None]
        if not measured:
            continue
        names = stage_order({name for values in measured for name in values})
        medians = {name: statistics.median(values.get(name, 0.0) for values in measured) for name in names}
        note = ("OOM-killed" if g.oom_killed else g.records[-1].status.replace("_", " ")) if g.partial else ""
        bars.append(StageBar(axes.label(g), tuple((name, max(medians[name], 0.0)) for name in names
                                                  if name not in WALL_STAGES),
                             faded=g.partial, note=note, over=medians[REMAINDER] < 0,
                             wall=tuple((name, medians[name]) for name in names if name in WALL_STAGES)))
    return bars


def _scale(top_seconds: float) -> tuple[float, str]:
    """Seconds to the unit that keeps the axis's numbers readable."""
    if top_seconds >= 1:
        return 1.0, "s"
    if top_seconds >= 1e-3:
        return 1e3, "ms"
    return 1e6, "µs"


def number(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def colors(names: Sequence[str]) -> dict[str, str]:
    extra = iter(OTHER_COLORS * 4)
    return {name: REMAINDER_COLOR if name == REMAINDER else STAGE_COLORS.get(name) or next(extra, MUTED)
            for name in names}


def _legend(names: Sequence[str], swatch: dict[str, str], left: int, width: int) -> tuple[list[str], float]:
    """Swatch and name per stage, wrapped over as many rows as the width needs; and the last row's y."""
    legend, lx, ly = [], float(left), 18.0
    for name in names:
        text = REMAINDER_TEXT if name == REMAINDER else name
        step = 30 + text_width(text, 12)
        if lx + step > width and lx > left:
            lx, ly = float(left), ly + 18
        legend.append(f'<rect x="{lx:.0f}" y="{ly - 10:.0f}" width="12" height="12" rx="2" fill="{swatch[name]}"/>'
                      f'<text x="{lx + 18:.0f}" y="{ly:.0f}" class="t-small">{esc(text)}</text>')
        lx += step
    return legend, ly


def stage_chart(groups: Sequence[Summary], axes: Axes, unit: str) -> Markup:
    """The stacked bars with a legend; empty when no record carries stage_seconds."""
    bars = stage_bars(groups, axes)
    if not bars:
        return Markup("")
    names = stage_order({name for bar in bars for name, _ in bar.parts})   # the stacked ones
    swatch = colors(names)
    factor, symbol = _scale(max(bar.total for bar in bars))
    width, row, bottom = 860, 34, 40   # drawn across the charts' grid: 1:1 at its usual width
    values = [f"{number(bar.total * factor)} {symbol}" + (" (stages > CPU)" if bar.over else "")
              + "".join(f"; {name} {number(v * factor)} {symbol} wall" for name, v in bar.wall if v > 0)
              for bar in bars]
    width_of = [text_width(v + (f" {b.note}" if b.note else ""), 12) for v, b in zip(values, bars, strict=True)]
    left = int(min(max(max(text_width(b.label, 14.2) for b in bars) + 16, 110), 280))
    right = int(min(max(max(width_of) + 14, 60), 260))
    plot = width - left - right
    legend, ly = _legend(names, swatch, left, width)
    top = int(ly) + 16
    height = top + row * len(bars) + bottom
    axis_ticks = ticks(max(bar.total for bar in bars) * factor * 1.02)
    scale_max = axis_ticks[-1] or 1.0

    def x(seconds: float) -> float:
        return left + plot * seconds * factor / scale_max

    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{esc(TITLE)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{esc(TITLE)}</title>', *legend]
    for tick in axis_ticks:
        tx = left + plot * tick / scale_max
        text = tick_text(tick)
        parts.append(f'<line x1="{tx:.1f}" y1="{top - 4}" x2="{tx:.1f}" y2="{height - bottom}" stroke="#e2e8f0"/>'
                     f'<text x="{tx:.1f}" y="{height - bottom + 16}" text-anchor="middle" class="t-small">'
                     f'{text}</text>')
    parts.append(f'<text x="{left + plot / 2:.1f}" y="{height - 6}" text-anchor="middle" class="t-axis">'
                 f'CPU {esc(symbol)} per {esc(unit.removesuffix("s") or unit)}</text>')
    for i, (bar, value_text) in enumerate(zip(bars, values, strict=True)):
        y = top + i * row
        opacity = ' fill-opacity="0.45"' if bar.faded else ""
        parts.append(f'<text x="{left - 10}" y="{y + 21}" text-anchor="end" class="t-label">{esc(bar.label)}</text>')
        start = 0.0
        for name, value in bar.parts:
            if value <= 0:
                continue
            share = value / bar.total if bar.total else 0.0
            parts.append(f'<rect x="{x(start):.1f}" y="{y + 6}" width="{max(x(start + value) - x(start), 0.5):.1f}" '
                         f'height="21" fill="{swatch[name]}"{opacity}><title>{esc(bar.label)}: {esc(name)} '
                         f'{number(value * factor)} {esc(symbol)} per item ({share:.0%})</title></rect>')
            start += value
        parts.append(f'<text x="{x(bar.total) + 6:.1f}" y="{y + 21}" class="t-value" fill="{INK}">'
                     f'{esc(value_text)}' + (f' <tspan fill="{CAP_COLOR}" font-weight="600">{esc(bar.note)}</tspan>'
                                             if bar.note else "") + '</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
