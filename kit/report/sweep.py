"""What `kit sweep` and `kit floor` add to the report: scaling, the OOM map, memory floors.

Each section is None when the data does not call for it (a plain run renders as before).
Figures come from kit.results.summary.summarize, so they mean what the console table means:
warmups left out, throughput from completed repetitions only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markupsafe import Markup

from kit.report import fmt
from kit.report.svg import LineChart, Series, color, line_chart, tint
from kit.results.records import StrategyRecord
from kit.results.summary import Summary, summarize


def _cap_label(cap: int | None, several: bool) -> str:
    return f" cap {fmt.cap(cap)}" if several else ""


def scaling(summaries: Sequence[Summary], unit: str) -> dict[str, Any] | None:
    """Throughput against workers per (strategy, cap) spanning several worker counts, with speedup
    and parallel efficiency against that strategy's one-worker median; None without such a span."""
    lines: dict[tuple[str, int | None], list[Summary]] = {}
    for s in summaries:
        lines.setdefault((s.strategy, s.memory_limit_bytes), []).append(s)
    lines = {k: v for k, v in lines.items() if len({s.workers for s in v}) > 1}
    if not lines:
        return None
    several_caps = len({cap for _, cap in lines}) > 1
    series, rows, ideal = [], [], False
    for (strategy, cap), points in lines.items():
        label = strategy + _cap_label(cap, several_caps)
        caps = sorted((c or 0 for st, c in lines if st == strategy), reverse=True)
        hue = tint(color(strategy), min(0.3 * caps.index(cap or 0), 0.6))   # smaller caps lighter
        one = next((s.throughput.median for s in points if s.workers == 1 and s.throughput), None)
        drawn = tuple((float(s.workers), s.throughput.median) for s in points if s.throughput)
        series.append(Series(label, hue, drawn))
        if one is not None and drawn:
            ideal = True
            top = max(s.workers for s in points)
            series.append(Series(label + " ideal", hue, ((1.0, one), (float(top), one * top)),
                                 dashed=True, faint=True))
        for s in points:
            rate = s.throughput.median if s.throughput else None
            speedup = rate / one if rate is not None and one else None
            rows.append({
                "label": label, "color": hue, "workers": s.workers,
                "rate": fmt.rate(rate) if s.throughput is None or not s.throughput.spread
                else f"{fmt.rate(rate)} ({fmt.rate(s.throughput.low)}–{fmt.rate(s.throughput.high)})",
                "runs": f"{s.completed} of {s.repetitions}",
                "speedup": fmt.ratio(speedup),
                "efficiency": "–" if speedup is None else f"{speedup / s.workers:.0%}",
                "note": "" if s.throughput else s.outcome.replace("_", " "),
            })
    chart = line_chart(LineChart("Scaling: throughput against workers", "workers", f"{unit}/s (median)",
                                 series, whole_x=True))
    return {"chart": chart or Markup(""), "rows": rows,
            "ideal": ideal}


def _killed(s: Summary) -> int:
    return sum(1 for r in s.records if r.status == "oom_killed" or r.oom_kills)


def oom_map(summaries: Sequence[Summary]) -> dict[str, Any] | None:
    """Strategy x workers (rows) by cap (columns): survived or killed (k of n), with the highest
    peak working set; None unless the records span several caps."""
    caps = sorted({s.memory_limit_bytes for s in summaries}, key=lambda c: -1 if c is None else c)
    if len(caps) < 2:
        return None
    cells: dict[tuple[str, int], dict[int | None, Summary]] = {}
    for s in summaries:
        cells.setdefault((s.strategy, s.workers), {})[s.memory_limit_bytes] = s
    rows = []
    for (strategy, workers), by_cap in cells.items():
        row: list[dict[str, str] | None] = []
        for cap in caps:
            cell = by_cap.get(cap)
            if cell is None:
                row.append(None)
                continue
            killed = _killed(cell)
            state = "killed" if killed else ("survived" if cell.survived else cell.outcome.replace("_", " "))
            n = cell.repetitions
            row.append({"state": state, "tone": {"killed": "bad", "survived": "ok"}.get(state, "warn"),
                        "count": f"{killed} of {n}" if killed else f"{n} run" + ("s" if n != 1 else ""),
                        "peak": fmt.mib(cell.peak_memory_bytes.high if cell.peak_memory_bytes else None)})
        rows.append({"label": strategy, "color": color(strategy), "workers": workers, "cells": row})
    return {"caps": [fmt.cap(c) for c in caps], "rows": rows}


def _mib_or(value: Any, missing: str = "–") -> str:
    return fmt.mib(value) if isinstance(value, int | float) and not isinstance(value, bool) else missing


def floors(data: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The `floors` list kit/run/floor.py writes (Floor.to_json), one row each; None when absent."""
    raw = data.get("floors")
    if not isinstance(raw, list) or not raw:
        return None
    rows = []
    for f in raw:
        if not isinstance(f, dict):
            raise ValueError("a 'floors' entry is not an object")
        floor = f.get("floor_bytes")
        probes = [p for p in f.get("probes") or [] if isinstance(p, dict)]
        at_floor = next((p for p in probes if p.get("memory_limit_bytes") == floor), None)
        strategy = str(f.get("strategy", "?"))
        high = f.get("highest_failing_bytes")
        rows.append({
            "label": strategy, "color": color(strategy), "workers": str(f.get("workers", "?")),
            "floor": fmt.cap(floor) if isinstance(floor, int) and floor else "none found",
            "failing": fmt.cap(high) if isinstance(high, int) and high else "–",
            "peak": _mib_or(at_floor.get("peak_memory_bytes") if at_floor else None),
            "step": fmt.cap(step) if isinstance(step := f.get("step_bytes"), int) and step else "–",
            "confirmations": str(f.get("confirmations", "–")),
            "page_cache": str(f.get("page_cache", "–")),
            "probes": len(probes), "note": str(f.get("note") or ""),
        })
    return rows


def sections(data: dict[str, Any], records: Sequence[StrategyRecord], unit: str) -> dict[str, Any]:
    """The template's `scaling`, `oom_map` and `floors` (each None when absent)."""
    summaries = summarize(records)
    return {"scaling": scaling(summaries, unit), "oom_map": oom_map(summaries), "floors": floors(data)}
