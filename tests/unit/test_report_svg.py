"""Inline SVG charts: escaping, scales, markers."""

from __future__ import annotations

import re

from kit.report.svg import (
    Bar,
    Level,
    LineChart,
    Marker,
    Series,
    bar_chart,
    decimate,
    line_chart,
    overlaps,
    text_box,
    ticks,
    tint,
)

EVIL = '<script>alert("x")</script>'


def test_ticks_are_round_and_cover_the_top() -> None:
    assert ticks(9.3) == [0, 2, 4, 6, 8, 10]
    assert ticks(512) == [0, 200, 400, 600]
    assert ticks(0.37)[-1] >= 0.37


def test_decimate_keeps_both_ends() -> None:
    points = [(float(i), float(i)) for i in range(1000)]
    kept = decimate(points, 100)
    assert kept[0] == points[0] and kept[-1] == points[-1] and len(kept) <= 101
    assert decimate(points[:5]) == tuple(points[:5])


def test_tint_mixes_with_white() -> None:
    assert tint("#000000", 0.5) == "#808080" and tint("#2563eb", 0) == "#2563eb"


def test_bar_chart_escapes_labels_and_draws_the_cap() -> None:
    svg = str(bar_chart([Bar(EVIL, 100, "#000", 90, 110, text=EVIL, note="OOM-killed"),
                         Bar("b", 300, "#111")], "t", "MiB", cap=512, cap_text="cap 512 MiB"))
    assert "<script" not in svg and "&lt;script&gt;" in svg
    assert "cap 512 MiB" in svg and 'stroke="#dc2626"' in svg
    assert svg.count("<rect") == 2 and "OOM-killed" in svg
    assert bar_chart([], "t", "x") == ""


def test_line_chart_scales_levels_and_marks_kills() -> None:
    chart = LineChart("Memory", "s", "MiB", [Series(EVIL, "#000", ((0, 0), (5, 100), (10, 400)))],
                      levels=[Level(512, "cap 512 MiB")],
                      markers=[Marker(9.0, 510, f"{EVIL} killed"), Marker(9.1, 511, "again")])
    svg = str(line_chart(chart))
    assert "<script" not in svg
    assert svg.count("<circle") == 2 and svg.count(">OOM kill</text>") == 1  # one label per cluster
    assert "cap 512 MiB" in svg
    numbers = [float(v) for v in re.findall(r'y="([\d.]+)"', svg)]
    assert all(0 <= v <= 400 for v in numbers)  # inside the viewBox
    assert line_chart(LineChart("e", "x", "y", [Series("a", "#000", ())])) == ""


def test_a_chart_over_workers_ticks_whole_numbers_only() -> None:
    series = [Series("a", "#000000", ((1.0, 10.0), (2.0, 20.0)))]
    plain = line_chart(LineChart("t", "workers", "y", series))
    whole = line_chart(LineChart("t", "workers", "y", series, whole_x=True))
    assert ">0.5</text>" in plain and ">1.5</text>" in plain
    assert ">0.5</text>" not in whole and ">1.5</text>" not in whole and ">2</text>" in whole


def test_y_ticks_get_room_between_the_axis_title_and_the_plot() -> None:
    """Issue 26: "1,000" sat on the rotated axis title; the plot moves right for wide ticks."""
    chart = LineChart("Memory", "s", "MiB working set", [Series("a", "#000", ((0, 0), (10, 1200)))])
    svg = str(line_chart(chart))
    tick = re.search(r'<text x="([\d.]+)" y="[\d.]+" text-anchor="end" class="t-small">1,000</text>', svg)
    assert tick and float(tick.group(1)) - 5 * 11 * 0.56 * 1.15 >= 22   # right of the title's 8-21


def test_an_oom_kill_label_moves_off_the_cap_label() -> None:
    """Issue 26: a kill at the cap near the chart's right end: "OOM kill" no longer covers "cap 256 MiB"."""
    chart = LineChart("Memory", "s", "MiB", [Series("a", "#000", ((0, 0), (9.5, 250)))],
                      levels=[Level(256, "cap 256 MiB")], markers=[Marker(9.6, 255, "killed")])
    svg = str(line_chart(chart))
    boxes = []
    for x, y, anchor, text in re.findall(r'<text x="([\d.]+)" y="([\d.]+)" text-anchor="(\w+)" class="t-cap" '
                                         r'fill="[^"]+">([^<]+)</text>', svg):
        boxes.append(text_box(float(x), float(y), text, 11.5, anchor, bold=True))
    assert len(boxes) == 2 and not overlaps(*boxes)
    circle = re.search(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="7"', svg)
    assert circle
    cx, cy = float(circle.group(1)), float(circle.group(2))
    assert not any(overlaps(box, (cx - 8, cy - 8, cx + 8, cy + 8)) for box in boxes)   # nor on the kill's ⊗
