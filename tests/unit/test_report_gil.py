"""Issue 16's report: speedup curves side by side (Go, GIL threads, free-threaded threads,
processes) and the two free-threading verdicts, each rule at its edges, on a pi page."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kit.report import render_html
from kit.report.gil import SCALES, SUBSTANTIAL, claim_single_thread_cost, claim_threads_scale, claims
from kit.report.speedup import curves, section
from kit.report.verdicts import CONFIRMED, NOT_MEASURED, REFUTED
from kit.results.records import StrategyRecord, load
from kit.results.summary import summarize
from tests.unit.test_report_verdicts import rec
from tests.unit.test_report_workloads import DATA, as_workload, text

CONCURRENCY = {"workers": {"python-threads-ft": {"python": "3.13.5", "gil_enabled": False},
                           "python-threads": {"python": "3.13.5", "gil_enabled": True}}}


def busy(record: StrategyRecord, cores: float) -> StrategyRecord:
    return replace(record, cpu_utilization=cores)


def four_lines(ft_at_2: float = 3.8, ft_at_1: float = 2.0) -> list[StrategyRecord]:
    """pi at 1 and 2 workers: goroutines and processes scale, GIL threads do not."""
    return [busy(rec("go-native", 1, 20.0, cap=None), 1.0), busy(rec("go-native", 2, 39.0, cap=None), 1.97),
            busy(rec("python-threads", 1, 2.4, cap=None), 1.0), busy(rec("python-threads", 2, 2.4, cap=None), 1.02),
            busy(rec("python-threads-ft", 1, ft_at_1, cap=None), 1.0),
            busy(rec("python-threads-ft", 2, ft_at_2, cap=None), 1.93),
            busy(rec("python-processes", 1, 2.4, cap=None), 1.0),
            busy(rec("python-processes", 2, 4.7, cap=None), 1.95)]


def test_speedup_curves_put_the_four_lines_side_by_side_in_a_fixed_order() -> None:
    groups = summarize(four_lines())
    assert curves(groups)[("python-threads", None)] == [(1, 1.0), (2, 1.0)]
    drawn = section(groups, "pi")
    assert drawn is not None and [r["label"] for r in drawn["rows"]] == [
        "go-native", "python-threads", "python-threads-ft", "python-processes"]
    ft = drawn["rows"][2]
    assert (ft["speedup"], ft["efficiency"], ft["cores"]) == ("1.90×", "95%", "1.93")
    assert drawn["absent"] == [] and "stroke-dasharray" in drawn["chart"]   # the ideal line
    assert 'stroke="#0ea5e9"' in drawn["chart"]   # python-threads-ft has a colour of its own


def test_a_run_without_the_free_threaded_interpreter_names_what_would_draw_it() -> None:
    groups = summarize([r for r in four_lines() if r.strategy != "python-threads-ft"])
    drawn = section(groups, "count")
    assert drawn is not None and drawn["absent"] == [
        "python-threads-ft: no curve in this run; it needs the free-threaded interpreter (kit setup --free-threaded)"]
    assert section(summarize([r for r in four_lines() if r.workers == 2]), "pi") is None   # no one-worker point


def test_threads_scaling_without_the_gil_by_speedup_then_by_cores_busy() -> None:
    claim = claim_threads_scale(summarize(four_lines()), CONCURRENCY, "pi")
    assert claim.verdict == CONFIRMED and "sped up 1.90× at 2 workers" in claim.summary
    assert "(python-threads: 1.00× over 1 worker, cores busy 1.00 → 1.02)" in claim.summary
    assert claim.figures[0] == "python-threads-ft ×2: 1.90× over 1 worker, cores busy 1.00 → 1.93"
    assert "python-threads-ft Python 3.13.5, GIL off" in claim.figures[-1]
    # the bar is SCALES x workers: 1.5 at 2 workers
    assert claim_threads_scale(summarize(four_lines(ft_at_2=2.0 * 2 * SCALES)), {}, "pi").verdict == CONFIRMED
    assert claim_threads_scale(summarize(four_lines(ft_at_2=2.9)), {}, "pi").verdict == REFUTED
    # no one-worker point: the sandbox's cores busy decide (the 1.5 cores at 2 workers)
    two_only = [r for r in four_lines() if r.workers == 2]
    claim = claim_threads_scale(summarize(two_only), {}, "pi")
    assert claim.verdict == CONFIRMED and "kept 1.93 cores busy" in claim.summary
    stuck = [busy(r, 1.1) if r.strategy == "python-threads-ft" else r for r in two_only]
    assert claim_threads_scale(summarize(stuck), {}, "pi").verdict == REFUTED


def test_single_thread_cost_against_the_gil_build() -> None:
    # 2.0 / 2.4 = 0.83: a 17% cost, "substantial" (>= 10%)
    claim = claim_single_thread_cost(summarize(four_lines()), CONCURRENCY, "pi")
    assert claim.verdict == CONFIRMED and "17% slower than one python-threads worker" in claim.summary
    assert "different Python versions" not in claim.summary
    cheap = claim_single_thread_cost(summarize(four_lines(ft_at_1=2.4 * (1 - SUBSTANTIAL) + 0.01)), {}, "pi")
    assert cheap.verdict == REFUTED
    # python-sequential is the GIL build's one worker when python-threads has no one-worker point
    records = [r for r in four_lines() if not (r.strategy == "python-threads" and r.workers == 1)]
    records.append(rec("python-sequential", 1, 2.5, cap=None))
    versions = {"workers": {**CONCURRENCY["workers"], "python-sequential": {"python": "3.11.2", "gil_enabled": True}}}
    claim = claim_single_thread_cost(summarize(records), versions, "pi")
    assert claim.verdict == CONFIRMED and "python-sequential" in claim.summary
    assert "different Python versions" in claim.summary


def test_without_free_threaded_records_both_verdicts_say_how_to_measure_them() -> None:
    groups = summarize([r for r in four_lines() if r.strategy != "python-threads-ft"])
    cards = claims(groups, "pi", {})
    assert [c.verdict for c in cards] == [NOT_MEASURED, NOT_MEASURED]
    assert "kit setup --free-threaded" in cards[0].summary
    assert claims(groups, "images", {}) == [] and claims(groups, "payload", {}) == []
    assert len(claims(summarize(four_lines()), "images", {})) == 2   # with --library pillow it runs


def test_pi_page_shows_the_speedup_chart_and_the_free_threading_cards() -> None:
    count: dict[str, Any] = load(DATA / "workload_count.json")
    data = as_workload(count, "pi", {"iterations": 9_000_000})
    base = data["results"][0]
    data["results"] = [{**base, "strategy": r.strategy, "workers": r.workers, "cpu_utilization": r.cpu_utilization,
                        "throughput_items_per_second": r.throughput_items_per_second} for r in four_lines()]
    data["concurrency"] = CONCURRENCY
    page = render_html(data)
    cards = text(page, "free-threading")
    assert "Threads scale once the GIL is gone" in cards and "confirmed" in cards
    assert "The free-threaded build is substantially slower single-threaded" in cards
    chart = text(page, "speedup")
    assert 'aria-label="Speedup over one worker (pi)"' in page
    assert "python-threads-ft 2 1.90× 95% 1.93" in chart and "python-threads 2 1.00× 50% 1.02" in chart
