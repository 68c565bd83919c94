"""The report's four charts, from groups of records (svg.py only knows bars and lines)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from kit.report import fmt
from kit.report.layout import Axes
from kit.report.svg import Bar, Level, LineChart, Marker, Series, bar_chart, color, decimate, line_chart, tint
from kit.results.summary import GroupKey, Summary

MAX_TIMELINE_GROUPS = 8
VICTIM_TEXT = {"main": "the main worker", "pool_worker": "a pool process"}


@dataclass(frozen=True, slots=True)
class Style:
    color: str
    dashed: bool


def styles(groups: Sequence[Summary]) -> dict[GroupKey, Style]:
    """A colour per group: its strategy's, lighter and dashed for the smaller settings of a sweep."""
    keys: dict[str, list[GroupKey]] = {}
    for g in groups:  # sorted by workers, then cap: the last is the largest setting
        keys.setdefault(g.strategy, []).append(g.key)
    out = {}
    for strategy, group_keys in keys.items():
        for index, key in enumerate(group_keys):
            rank = len(group_keys) - 1 - index
            out[key] = Style(tint(color(strategy), min(0.3 * rank, 0.6)), rank > 0)
    return out


def time_chart(groups: Sequence[Summary], axes: Axes, style: dict[GroupKey, Style]) -> Markup:
    """Work time per group (median, min-max whisker), whole sandbox life as a lighter bar behind."""
    bars = []
    for g in groups:
        work = g.timed_stat(lambda r: r.work_seconds)
        wall = g.timed_stat(lambda r: r.wall_seconds)
        if work is None and wall is None:
            continue
        value = work.median if work else 0.0
        killed = ("OOM-killed" if g.oom_killed else g.records[-1].status.replace("_", " ")) if g.partial else ""
        bars.append(Bar(axes.label(g), value, style[g.key].color, work.low if work else None,
                        work.high if work else None, wall.median if wall else None,
                        f"{fmt.seconds(work.median if work else None)} / "
                        f"{fmt.seconds(wall.median if wall else None)}", killed,
                        faded=g.partial))
    return bar_chart(bars, "Time per strategy", "seconds (lower is better)",
                     legend=[("#334155", "work: first to last item"),
                             ("#cbd5e1", "whole sandbox life")])


def memory_chart(groups: Sequence[Summary], axes: Axes, style: dict[GroupKey, Style]) -> Markup:
    """Peak working set per group with the memory cap drawn (when the run has one cap)."""
    bars = []
    for g in groups:
        peak = g.all_stat(lambda r: r.peak_memory_bytes)
        if peak is None:
            continue
        bars.append(Bar(axes.label(g), peak.median / 2**20, style[g.key].color, peak.low / 2**20,
                        peak.high / 2**20, text=fmt.mib(peak.median),
                        note="OOM-killed" if g.oom_killed else "", faded=g.partial))
    caps = {g.memory_limit_bytes for g in groups}
    cap = next(iter(caps)) if len(caps) == 1 else None
    return bar_chart(bars, "Peak memory per strategy", "MiB, peak working set (lower is better)",
                     cap=cap / 2**20 if cap else None, cap_text=f"cap {fmt.cap(cap)}")


def timeline_groups(groups: Sequence[Summary], primary: Sequence[Summary]) -> list[Summary]:
    """Every group while the chart stays readable; in a large sweep, the primary setting's."""
    return list(groups) if len(groups) <= MAX_TIMELINE_GROUPS else list(primary)


def memory_timeline(groups: Sequence[Summary], axes: Axes, style: dict[GroupKey, Style]) -> Markup:
    """Working set over time per record, each cap as a dashed line, each OOM kill marked."""
    series, markers = [], []
    for g in groups:
        for index, r in enumerate(g.records):
            points = [(s.t_seconds, s.working_set_bytes / 2**20) for s in r.samples]
            series.append(Series(axes.label(g), style[g.key].color, decimate(points), style[g.key].dashed,
                                 faint=index > 0))
            for event in r.oom_events:
                victim = VICTIM_TEXT.get(event.victim, event.victim)
                markers.append(Marker(event.t_seconds, event.usage_bytes / 2**20,
                                      f"{axes.label(g)}: OOM kill of {victim} at {event.t_seconds:.1f} s, "
                                      f"{fmt.mib(event.usage_bytes)}, {event.items_ok} done"))
    levels = [Level(cap / 2**20, f"cap {fmt.cap(cap)}")
              for cap in sorted({g.memory_limit_bytes for g in groups if g.memory_limit_bytes})]
    return line_chart(LineChart("Memory over time", "seconds since the sandbox started",
                                "MiB working set", series, levels, markers))


def cpu_points(r: Any) -> list[tuple[float, float]]:
    """Cores busy between successive samples: delta cpu_seconds over delta t."""
    points = []
    for before, after in zip(r.samples, r.samples[1:], strict=False):
        dt = after.t_seconds - before.t_seconds
        if dt > 0:
            points.append((after.t_seconds, max(after.cpu_seconds - before.cpu_seconds, 0.0) / dt))
    return points


def cpu_timeline(groups: Sequence[Summary], axes: Axes, style: dict[GroupKey, Style], cores: int | None,
                 cpus: float | None) -> Markup:
    """CPU cores in use over time per record, with the machine's cores (and any CPU cap) drawn."""
    series = []
    for g in groups:
        for index, r in enumerate(g.records):
            series.append(Series(axes.label(g), style[g.key].color, decimate(cpu_points(r)),
                                 style[g.key].dashed, faint=index > 0))
    levels = []
    if cores:
        levels.append(Level(float(cores), f"{cores} cores on this machine", "#64748b"))
    if cpus:
        levels.append(Level(cpus, f"CPU cap {cpus:g}"))
    return line_chart(LineChart("CPU use over time", "seconds since the sandbox started", "cores busy",
                                series, levels, y_text=lambda v: f"{v:g}"))
