"""Issue 23: the stacked bar of where each strategy's CPU time goes, from the records' stage_seconds."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from kit.report import render_html
from kit.report.layout import axes
from kit.report.stages import REMAINDER, per_item, stage_bars, stage_chart
from kit.results.summary import parse_records, summarize
from tests.unit.test_report import fixture

IMAGES = {"read": 0.2, "decode": 4.0, "resize": 1.0, "encode": 2.0, "write": 0.4}


def with_stages(data: dict[str, Any], stages: dict[str, float] | None, **only: str) -> dict[str, Any]:
    for record in data["results"]:
        if all(record.get(k) == v for k, v in only.items()):
            record["stage_seconds"] = stages
    return data


def bars(data: dict[str, Any]) -> dict[str, dict[str, float]]:
    groups = summarize(parse_records(data))
    return {bar.label: dict(bar.parts) for bar in stage_bars(groups, axes(groups))}


def test_each_stage_and_the_remainder_per_item() -> None:
    data = fixture("contended_stages.json")
    data["results"] = [r for r in data["results"] if r["strategy"] == "python-threads"]
    record = data["results"][0]
    record.update(stage_seconds=IMAGES, cpu_seconds=10.0, items_ok=20)
    parts = bars(data)["python-threads"]
    assert list(parts) == ["read", "decode", "resize", "encode", "write", REMAINDER]   # pipeline order
    assert parts["decode"] == pytest.approx(4.0 / 20) and parts["write"] == pytest.approx(0.4 / 20)
    assert parts[REMAINDER] == pytest.approx((10.0 - 7.6) / 20)      # cpu_seconds minus the stages
    assert sum(parts.values()) == pytest.approx(10.0 / 20)


def test_the_median_over_repetitions_of_each_part() -> None:
    data = fixture("real_oom_repeats.json")   # python-threads: two completed repetitions
    for record, decode in zip([r for r in data["results"] if r["strategy"] == "python-threads"], (1.0, 3.0),
                              strict=True):
        record.update(stage_seconds={"decode": decode}, cpu_seconds=5.0, items_ok=10)
    assert bars(data)["python-threads"] == pytest.approx({"decode": 0.2, REMAINDER: 0.3})


def test_payload_stages_and_no_chart_without_stages() -> None:
    data = fixture("workload_count.json")
    assert stage_bars(summarize(parse_records(data)), axes(summarize(parse_records(data)))) == []
    assert 'id="stages"' not in render_html(data)                     # count: stage_seconds null
    data = with_stages(data, {"serialize": 0.01, "transfer": 0.02, "deserialize": 0.01})
    groups = summarize(parse_records(data))
    bar = stage_bars(groups, axes(groups))[0]
    record = next(r for r in parse_records(data) if r.strategy == "python-sequential")
    # transfer is wall time: beside the bar, neither stacked nor taken from the CPU's remainder
    assert [name for name, _ in bar.parts] == ["serialize", "deserialize", REMAINDER]
    assert dict(bar.parts)[REMAINDER] == pytest.approx((record.cpu_seconds - 0.02) / record.items_ok)
    assert bar.wall == (("transfer", pytest.approx(0.02 / record.items_ok)),)
    assert " wall" in str(stage_chart(groups, axes(groups), "tasks"))
    for old in ("real_oom_repeats.json", "sweep_every_strategy.json", "interrupted_old.json"):
        assert 'id="stages"' not in render_html(fixture(old)), old   # files from before the field


def test_no_items_or_no_mapping_is_no_bar() -> None:
    record = parse_records(fixture("contended_stages.json"))[0]
    assert per_item(record) is not None
    for changed in ({"stage_seconds": None}, {"stage_seconds": {}}, {"items_ok": 0}):
        data = fixture("contended_stages.json")
        data["results"] = [{**data["results"][0], **changed}]
        assert per_item(parse_records(data)[0]) is None


def test_the_chart_in_the_report() -> None:
    page = render_html(fixture("contended_stages.json"))
    card = re.search(r'<div class="card chart-card wide" id="stages">(.*?)</div>', page, re.S)
    assert card
    svg = html.unescape(card.group(1))
    assert 'aria-label="Where the CPU time goes, per item"' in svg and "CPU ms per image" in svg
    for legend in ("read", "decode", "resize", "encode", "write", "rest: start-up, pools, the kit's own work"):
        assert f">{legend}</text>" in svg, legend
    for strategy in ("python-sequential", "python-threads", "python-processes", "go-gocv"):
        assert f">{strategy}</text>" in svg
    assert "OOM-killed" in svg                 # the killed attempt is drawn faded, and says why
    assert "<title>python-threads: decode" in svg


def test_stages_above_the_cpu_are_said_and_the_remainder_kept_at_zero() -> None:
    data = fixture("contended_stages.json")
    data["results"] = [r for r in data["results"] if r["strategy"] == "go-gocv"]
    data["results"][0].update(stage_seconds={"decode": 5.0}, cpu_seconds=4.0)
    groups = summarize(parse_records(data))
    [bar] = stage_bars(groups, axes(groups))
    assert bar.over and dict(bar.parts)[REMAINDER] == 0
    assert "(stages &gt; CPU)" in str(stage_chart(groups, axes(groups), "images"))
