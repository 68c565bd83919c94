"""The report's sweep and floor sections: scaling, OOM map, memory floors (absent when not called for)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from kit.report import render_html
from tests.unit.test_report import fixture, section


@pytest.fixture(scope="module")
def sweep() -> str:
    return render_html(fixture("sweep_every_strategy.json"))


@pytest.fixture(scope="module")
def caps() -> str:
    return render_html(fixture("sweep_two_caps_floors.json"))


def test_scaling_speedup_and_efficiency_against_one_worker(sweep: str) -> None:
    text = section(sweep, "scaling")
    # threads medians: 4.9511 at x1, 19.1636 at x4 -> 3.87x, 97%
    assert re.search(r"python-threads 1 4\.95 \(4\.94–5\.05\) 3 of 3 1\.00× 100%", text)
    assert re.search(r"python-threads 4 19\.2 \(19\.1–19\.6\) 3 of 3 3\.87× 97%", text)
    assert "ideal linear scaling" in text
    # strategies measured at one worker count only have no scaling line
    assert "go-native" not in text and "python-processes" not in text


def test_scaling_chart_draws_measured_and_ideal_lines(sweep: str) -> None:
    chart = re.search(r'<section id="scaling">.*?(<svg.*?</svg>)', sweep, re.S)
    assert chart
    svg = chart.group(1)
    assert "Scaling: throughput against workers" in svg
    assert svg.count("<path") == 2      # threads measured + its ideal line
    assert 'stroke-dasharray="5 3"' in svg


def test_scaling_leaves_out_warmups_and_splits_by_cap(caps: str) -> None:
    text = section(caps, "scaling")
    assert "99" not in text   # the warmups' throughput
    for cap in ("256 MiB", "512 MiB"):
        assert f"python-threads cap {cap} 1 5.10 (5.00–5.20) 2 of 2 1.00× 100%" in text
        assert f"python-threads cap {cap} 2 9.10 (9.00–9.20) 2 of 2 1.78× 89%" in text


def test_scaling_without_a_one_worker_point_has_no_speedup() -> None:
    data: dict[str, Any] = fixture("sweep_two_caps_floors.json")
    data["results"] = [r for r in data["results"] if r["workers"] != 1]
    for r in data["results"]:
        if r["memory_limit_bytes"] == 256 * 2**20:
            r["workers"], r["memory_limit_bytes"] = 4, 512 * 2**20   # one cap: x2 and x4, no x1
    data.pop("floors")
    page = render_html(data)
    text = section(page, "scaling")
    assert "No strategy has a one-worker point" in text
    assert "×" not in text and "ideal linear" not in text


def test_oom_map_is_strategy_workers_by_cap(caps: str) -> None:
    text = section(caps, "oom-map")
    assert "cap 256 MiB cap 512 MiB" in text
    assert "python-threads 1 survived 2 runs, peak 121 MiB survived 2 runs, peak 121 MiB" in text
    assert "python-processes 2 killed 1 of 2, peak 256 MiB survived 2 runs, peak 231 MiB" in text
    assert re.search(r'<section id="oom-map">.*?<span class="pill bad">killed</span>', caps, re.S)


def test_memory_floors_table(caps: str) -> None:
    text = section(caps, "floors")
    assert ("python-threads 2 176 MiB 168 MiB fails 163 MiB 8 MiB steps, 3 runs per probe, 5 probes "
            "warm page cache") in text
    assert ("python-processes 2 none found 512 MiB fails – 8 MiB steps, 3 runs per probe, 1 probe "
            "cold page cache no floor up to 512 MiB") in text


def test_floor_note_is_escaped(caps: str) -> None:
    assert "&lt;b&gt;warm&lt;/b&gt;" in caps and "<b>warm</b>" not in caps


def test_hostile_strategy_name_is_escaped_in_the_scaling_chart() -> None:
    data = fixture("sweep_two_caps_floors.json")
    for r in data["results"]:
        if r["strategy"] == "python-threads":
            r["strategy"] = "<svg onload=x>"
    page = render_html(data)
    assert "<svg onload" not in page and "&lt;svg onload=x&gt;" in page


def test_plain_run_has_no_sweep_sections() -> None:
    page = render_html(fixture("real_oom_repeats.json"))
    for anchor in ("scaling", "oom-map", "floors"):
        assert f'<section id="{anchor}">' not in page


def test_one_cap_sweep_has_no_oom_map_or_floors(sweep: str) -> None:
    assert '<section id="oom-map">' not in sweep and '<section id="floors">' not in sweep


def test_scaling_lines_of_two_caps_are_told_apart_by_colour(caps: str) -> None:
    svg = re.search(r'<section id="scaling">.*?(<svg.*?</svg>)', caps, re.S)
    assert svg
    strokes = set(re.findall(r'<path d="[^"]*" fill="none" stroke="(#[0-9a-f]{6})"', svg.group(1)))
    assert len(strokes) == 2   # threads at 512 MiB in its colour, at 256 MiB lighter
