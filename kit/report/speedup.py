"""Speedup curves: each strategy's throughput at W workers over its own at one worker, against W.

Issue 16's question per workload: with the GIL (python-threads), without it (python-threads-ft),
with processes and with goroutines, how does one strategy's throughput grow with its workers? The
lines are drawn side by side with the ideal (speedup = W); a strategy in HEADLINE that this run
has no curve for is named with what would draw it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markupsafe import Markup

from kit.report import fmt
from kit.report.svg import LineChart, Series, color, line_chart, tint
from kit.results.summary import Summary

# The four ways of running CPU-bound Python (and Go) the issue compares, in the legend's order.
HEADLINE = ("go-native", "python-threads", "python-threads-ft", "python-processes")
FT_HOW = "it needs the free-threaded interpreter (kit setup --free-threaded)"
FT_HOW_IMAGES = "it runs images with --library pillow only (no free-threaded OpenCV wheel) and needs the " \
    "free-threaded interpreter (kit setup --free-threaded)"


def _how(name: str, workload: str) -> str:
    if name == "python-threads-ft":
        return FT_HOW_IMAGES if workload == "images" else FT_HOW
    return f"kit sweep --workload {workload} -s {name} --workers 1,2 draws it"


def curves(summaries: Sequence[Summary]) -> dict[tuple[str, int | None], list[tuple[int, float]]]:
    """(strategy, cap) -> [(workers, speedup)] from 1 worker up, for every strategy with a
    one-worker point and at least one more worker count at the same cap."""
    lines: dict[tuple[str, int | None], dict[int, float]] = {}
    for s in summaries:
        if s.throughput is not None:
            lines.setdefault((s.strategy, s.memory_limit_bytes), {})[s.workers] = s.throughput.median
    out = {}
    for key, points in lines.items():
        one = points.get(1)
        if one and len(points) > 1:
            out[key] = [(w, rate / one) for w, rate in sorted(points.items())]
    return out


def _order(key: tuple[str, int | None]) -> tuple[int, str, int]:
    strategy, cap = key
    return (HEADLINE.index(strategy) if strategy in HEADLINE else len(HEADLINE), strategy, -(cap or 0))


def section(summaries: Sequence[Summary], workload: str) -> dict[str, Any] | None:
    """The chart, a row per line (speedup at its largest W and cores busy there) and the headline
    strategies without a curve; None when no strategy has one."""
    found = curves(summaries)
    if not found:
        return None
    several_caps = len({cap for _, cap in found}) > 1
    series, rows = [], []
    top = max(w for line in found.values() for w, _ in line)
    for key in sorted(found, key=_order):
        strategy, cap = key
        label = strategy + (f" cap {fmt.cap(cap)}" if several_caps else "")
        hue = color(strategy) if not several_caps else tint(color(strategy), 0.0 if cap is None else 0.3)
        line = found[key]
        series.append(Series(label, hue, tuple((float(w), v) for w, v in line)))
        workers, speedup = line[-1]
        busy = next((s.cpu_utilization.median for s in summaries
                     if (s.strategy, s.memory_limit_bytes, s.workers) == (strategy, cap, workers)
                     and s.cpu_utilization), None)
        rows.append({"label": label, "color": hue, "workers": workers, "speedup": fmt.ratio(speedup),
                     "efficiency": f"{speedup / workers:.0%}",
                     "cores": "–" if busy is None else f"{busy:.2f}"})
    series.append(Series("ideal (speedup = workers)", "#94a3b8", ((1.0, 1.0), (float(top), float(top))),
                         dashed=True, faint=True))
    drawn = {strategy for strategy, _ in found}
    absent = [f"{name}: no curve in this run; {_how(name, workload)}" for name in HEADLINE if name not in drawn]
    chart = line_chart(LineChart(f"Speedup over one worker ({workload})", "workers", "speedup (×)", series,
                                 whole_x=True))
    return {"chart": chart or Markup(""), "rows": rows, "absent": absent}
