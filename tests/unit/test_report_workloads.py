"""The report for task workloads (issue 8): unit, workload description, and each workload's verdicts.

workload_count.json is a real tiny run (`kit run --workload count --count-to 100000 --items 6
-s python-sequential -s python-threads --runtime cgroup`); the payload, io and pi pages are that
run's file with the fields those workloads record, set to figures the rules can be checked on.
"""

from __future__ import annotations

import copy
import html
import re
from pathlib import Path
from typing import Any

import pytest

from kit.report import render_html
from kit.results.records import load

DATA = Path(__file__).resolve().parent.parent / "data" / "results"


def text(page: str, anchor: str | None = None) -> str:
    """The page's (or one section's) text with tags stripped and entities decoded."""
    if anchor:
        match = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
        assert match, anchor
        page = match.group(1)
    page = re.sub(r"<(style|svg)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture
def count() -> dict[str, Any]:
    return load(DATA / "workload_count.json")


def as_workload(data: dict[str, Any], name: str, task: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    data["workload"] = {**data["workload"], "name": name, "task": task, "verification": f"{name} rule"}
    data["config"]["workload"] = name
    for record in data["results"]:
        record["workload"] = name
    return data


def test_count_run_shows_tasks_workload_and_speedups(count: dict[str, Any]) -> None:
    page = render_html(count)
    whole = text(page)
    assert "images/s" not in whole and "tasks/s" in text(page, "results")
    assert "workload count" in whole
    reproduce = text(page, "reproduce")
    assert "count to 100000" in reproduce and "result equals count_to exactly" in reproduce
    verdicts = text(page, "workload-verdicts")
    assert "Speedup over sequential" in verdicts and "python-sequential 298 1.00×" in verdicts
    seq, threads = (r["throughput_items_per_second"] for r in count["results"])
    assert f"python-threads 288 {threads / seq:.2f}×" in verdicts


def test_task_workload_skips_image_claims_and_study_saying_why(count: dict[str, Any]) -> None:
    page = render_html(count)
    assert '<section id="claims">' not in page
    assert "are about resizing images" in text(page, "workload-verdicts")
    study = text(page, "study")
    assert "Not shown" in study and "do not compare" in study and "× fastest" not in study


def test_image_only_fields_are_hidden_for_tasks(count: dict[str, Any]) -> None:
    count["inputs"].update(resolution="3840x2160", generator_version="gen-7", source_dir="/srv/photos")
    page = render_html(count)
    assert "3840x2160" not in page and "gen-7" not in page and "/srv/photos" not in page


def test_pi_shows_its_calibration(count: dict[str, Any]) -> None:
    data = as_workload(count, "pi", {"iterations": 123000})
    data["workload"]["calibration"] = {"iterations": 123000, "target_seconds": 0.5, "cached": True}
    reproduce = text(render_html(data), "reproduce")
    assert "pi calibration 123000 iterations for about 0.5 s per task (cached)" in reproduce
    assert "verification pi rule" in reproduce


def test_payload_time_per_mib_moved(count: dict[str, Any]) -> None:
    data = as_workload(count, "payload", {"size_bytes": 100 * 2 ** 20})
    seq, other = data["results"]
    other["strategy"] = "python-processes"
    seq.update(work_seconds=1.0, bytes_moved_per_task=0)
    other.update(work_seconds=3.0, bytes_moved_per_task=100 * 2 ** 20)
    verdicts = text(render_html(data), "workload-verdicts")
    assert "Bytes moved per task" in verdicts and "100 MiB" in verdicts
    per_mib_ms = (3.0 - 1.0) / (6 * 100) * 1000     # 6 tasks, 100 MiB each
    assert f"{per_mib_ms:.2f} ms/MiB" in verdicts
    assert "(work − python-sequential's work) / (items ok × bytes moved per task / 2^20)" in verdicts


def test_io_concurrency_gained_and_server_start(count: dict[str, Any]) -> None:
    data = as_workload(count, "io", {"delay_seconds": 0.05})
    seq, threads = data["results"]
    seq.update(work_seconds=0.30)
    threads.update(work_seconds=0.10)
    data["concurrency"]["workers"]["python-threads"]["workload_session"] = {
        "start_seconds": 0.002, "first_answer_seconds": 0.051}
    verdicts = text(render_html(data), "workload-verdicts")
    assert "Concurrency gained" in verdicts and "Server start" in verdicts
    assert "python-threads 2 0.10 s 3.00× 0.05 s" in verdicts
    assert "python-sequential 1 0.30 s 1.00× –" in verdicts   # no session notes recorded


def test_skipped_items_shown_next_to_done(count: dict[str, Any]) -> None:
    count["results"][1]["items_skipped"] = 3
    results = text(render_html(count), "results")
    assert "6/6 (+3 skipped)" in results
    assert results.count("skipped") == 1


def test_old_results_without_workload_fields_read_as_images() -> None:
    data = load(DATA / "real_oom_repeats.json")
    assert "workload" not in data and "unit" not in data["results"][0]
    page = render_html(data)
    assert "images/s" in text(page, "results") and '<section id="claims">' in page
    assert 'id="workload-verdicts"' not in page and "workload images" in text(page)
