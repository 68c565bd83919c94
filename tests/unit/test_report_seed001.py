"""Seed 001's claims as verdict cards: the rules at their edges, and the cards on a task page."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from kit.report import render_html
from kit.report.seed001 import (
    SEED_MS_PER_MIB,
    claim_scaling,
    claim_serialization,
    claims,
)
from kit.report.verdicts import CONFIRMED, NOT_MEASURED, REFUTED
from kit.results.records import StrategyRecord, load
from kit.results.summary import summarize as group_records
from kit.worker.workloads.pi import CALIBRATION_CLOCK
from tests.unit.test_report_verdicts import rec
from tests.unit.test_report_workloads import DATA, as_workload, text

MiB = 2**20
CALIBRATION = {"iterations": 9_000_000, "target_seconds": 0.5, "go_speed_per_iteration": 9.1,
               "languages": {"python": {"iterations": 9_000_000}, "go": {"iterations": 81_000_000}}}


def pi_records(python_at_2: float, go_at_2: float = 4.0) -> list[StrategyRecord]:
    return [rec("python-processes", 1, 2.0, cap=None), rec("python-processes", 2, python_at_2, cap=None),
            rec("go-native", 1, 2.0, cap=None), rec("go-native", 2, go_at_2, cap=None)]


def test_processes_scaling_like_go_confirms_and_shows_the_seeds_figures_as_ratios() -> None:
    claim = claim_scaling(group_records(pi_records(3.9)), CALIBRATION)
    assert claim.verdict == CONFIRMED and "1.95×" in claim.summary and "2.00×" in claim.summary
    line = claim.figures[0]
    assert line.startswith("×2 at no cap: python-processes 1.95×") and "Python / Go = 0.97" in line
    # seed 001 at 2: 100.77/51.44 = 1.96x and 102.75/51.85 = 1.98x
    assert "seed 001 1.96× and 1.98× (ratio 1.00 and 1.01)" in line
    assert "Go is 9.1× faster per iteration here against seed 001's 317×" in claim.figures[1]
    assert claim.figures[1].startswith("iterations per ~0.5 s task")   # a wall-clock calibration (older results)
    cpu_clock = {**CALIBRATION, "clock": CALIBRATION_CLOCK}   # what the calibration writes today
    assert claim_scaling(group_records(pi_records(3.9)), cpu_clock).figures[1].startswith(
        "iterations per ~0.5 CPU s task: Python 9000000, Go 81000000")


def test_processes_falling_behind_go_refutes_and_missing_points_are_not_measured() -> None:
    # 1.7 / 2.0 = 0.85 < 0.9: refuted; exactly 0.9 x Go's speedup is "like Go"
    assert claim_scaling(group_records(pi_records(3.4))).verdict == REFUTED
    assert claim_scaling(group_records(pi_records(3.6))).verdict == CONFIRMED
    only_two = [r for r in pi_records(3.9) if r.workers == 2]
    claim = claim_scaling(group_records(only_two))
    assert claim.verdict == NOT_MEASURED and "at 1 worker and at 2 or more" in claim.summary
    assert claim.figures[0] == "python-processes measured at workers: 2; go-native measured at workers: 2"
    other_cap = pi_records(3.9)[:3] + [rec("go-native", 2, 4.0, cap=256 * MiB)]
    assert claim_scaling(group_records(other_cap)).verdict == NOT_MEASURED


def payload_records(go_work_seconds: float) -> list[StrategyRecord]:
    python = replace(rec("python-processes", 2, 2.0, cap=None), bytes_moved_per_task=MiB)   # 20 tasks in 10 s
    go = replace(rec("go-native", 2, 2.0, cap=None), work_seconds=go_work_seconds, bytes_moved_per_task=0)
    return [python, go]


def test_serialization_per_mib_against_go_confirms_above_the_bar() -> None:
    claim = claim_serialization(group_records(payload_records(0.01)), {"size_bytes": MiB})
    # 10 s / 20 MiB = 500 ms/MiB against 0.01 s / 20 MiB = 0.5 ms/MiB: 1000x
    assert claim.verdict == CONFIRMED and "500.000 ms per MiB" in claim.summary and "1000×" in claim.summary
    ratio = 500 / SEED_MS_PER_MIB["python-processes"]
    assert f"ratio {ratio:.2f}" in claim.figures[0] and "(seed 001: 818×)" in claim.figures[0]
    assert round(SEED_MS_PER_MIB["python-processes"], 2) == 17.86


def test_serialization_below_the_bar_refutes_and_without_go_is_not_measured() -> None:
    assert claim_serialization(group_records(payload_records(2.0)), {"size_bytes": MiB}).verdict == REFUTED
    python_only = payload_records(0.01)[:1]
    assert claim_serialization(group_records(python_only), {"size_bytes": MiB}).verdict == NOT_MEASURED
    assert claims(group_records(python_only), "io", {}) == []
    # count is CPU-bound too: the same scaling rule, without seed 001's (pi) figures beside it
    [count] = claims(group_records(pi_records(3.9)), "count", {})
    assert count.verdict == CONFIRMED and "judged here on count" in count.study
    assert "seed 001 1.96×" not in count.figures[0]


def test_pi_page_shows_the_seed_card() -> None:
    count: dict[str, Any] = load(DATA / "workload_count.json")
    data = as_workload(count, "pi", {"iterations": 9_000_000})
    data["workload"]["calibration"] = copy.deepcopy(CALIBRATION)
    base = data["results"][0]
    data["results"] = []
    for strategy in ("python-processes", "go-native"):
        for workers, throughput in ((1, 2.0), (2, 3.9)):
            data["results"].append({**base, "strategy": strategy, "workers": workers,
                                    "throughput_items_per_second": throughput})
    page = text(render_html(data), "workload-verdicts")
    assert "Seed 001's claims on this machine" in page
    assert "Python multiprocessing scales like Go on CPU-bound work" in page and "confirmed" in page
    assert "Go is 9.1× faster per iteration" in page
    reproduce = text(render_html(data), "reproduce")
    assert "Python 9000000, Go 81000000 iterations for about 0.5 s per task (Go 9.1× faster per iteration)" in reproduce
