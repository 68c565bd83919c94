"""The claim rules at their edges, on records built for each case."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from kit.report.layout import at_setting, axes, primary_setting
from kit.report.verdicts import (
    CONFIRMED,
    INCONCLUSIVE,
    NOT_MEASURED,
    REFUTED,
    claim_gocv,
    claim_processes,
    claim_threads,
    headlines,
)
from kit.results.records import OomEvent, StrategyRecord, load, record_from_json
from kit.results.stats import spread as stat
from kit.results.summary import summarize as group_records

DATA = Path(__file__).resolve().parent.parent / "data" / "results"
MiB = 2**20
BASE = record_from_json(load(DATA / "sweep_every_strategy.json")["results"][0])


def rec(strategy: str, workers: int, throughput: float | None, cap: int | None = 512 * MiB, rep: int = 0,
        status: str = "ok", warmup: bool = False) -> StrategyRecord:
    """A record whose throughput (items/s over 10 s of work) is `throughput`; killed when status says so."""
    killed = status == "oom_killed"
    # one OpenCV build on every side (claim 3 compares like for like), a quiet machine
    return replace(BASE, strategy=strategy, workers=workers, memory_limit_bytes=cap, repetition=rep,
                   status=status, warmup=warmup, work_seconds=10.0, library_version="4.6.0",
                   jpeg_library="libjpeg-turbo 2.1.5", contended=False,
                   items_ok=int((throughput or 0) * 10), throughput_items_per_second=None if killed else throughput,
                   throughput_per_mib=None if killed or throughput is None else throughput / 100,
                   oom_kills=1 if killed else 0,
                   oom_events=[OomEvent(1.0, cap or 0, 3, "pool_worker")] if killed else [],
                   verified=None if killed else True)


def test_stat_median_and_range() -> None:
    value = stat([3.0, None, 1.0, 2.0])
    assert value and (value.median, value.low, value.high, value.n, value.spread) == (2.0, 1.0, 3.0, 3, True)
    assert stat([None]) is None
    single = stat([5])
    assert single and not single.spread


def test_groups_by_strategy_workers_and_cap_and_drop_warmups() -> None:
    records = [rec("python-threads", 4, 10, rep=0), rec("python-threads", 4, 12, rep=1),
               rec("python-threads", 4, 99, warmup=True), rec("python-threads", 1, 3),
               rec("python-threads", 4, 8, cap=256 * MiB), rec("go-gocv", 4, 30), rec("python-fibers", 2, 1)]
    groups = group_records(records)
    assert [g.key for g in groups] == [("python-threads", 1, 512 * MiB), ("python-threads", 4, 256 * MiB),
                                       ("python-threads", 4, 512 * MiB), ("go-gocv", 4, 512 * MiB),
                                       ("python-fibers", 2, 512 * MiB)]
    threads4 = groups[2]
    assert len(threads4.records) == 2 and threads4.throughput and threads4.throughput.median == 11
    ax = axes(groups)
    assert ax.workers and ax.caps and ax.label(groups[1]) == "python-threads ×4 · 256 MiB"
    assert primary_setting(groups) == (4, 512 * MiB)
    assert {g.strategy for g in at_setting(groups, (4, 512 * MiB))} == {"python-threads", "go-gocv"}


@pytest.mark.parametrize("many, verdict", [(7.9, CONFIRMED), (8.0, REFUTED), (9.5, REFUTED)])
def test_claim_threads_bar_is_point_eight_w(many: float, verdict: str) -> None:
    """4 workers against one: the bar is 0.8 x 4 = 3.2x the one-worker throughput (2.5 -> 8.0)."""
    result = claim_threads(group_records([rec("python-threads", 1, 2.5), rec("python-threads", 4, many)]))
    assert result.verdict == verdict
    assert "bar 3.2×" in result.figures[0]


def test_claim_threads_needs_both_points_at_the_same_cap() -> None:
    assert claim_threads(group_records([rec("python-threads", 4, 9)])).verdict == NOT_MEASURED
    other_cap = [rec("python-threads", 1, 2.5, cap=None), rec("python-threads", 4, 9)]
    assert claim_threads(group_records(other_cap)).verdict == NOT_MEASURED
    killed_one = [rec("python-threads", 1, None, status="oom_killed"), rec("python-threads", 4, 9)]
    assert claim_threads(group_records(killed_one)).verdict == NOT_MEASURED


def test_claim_threads_says_when_the_threads_ran_but_did_not_complete() -> None:
    """Killed at 2+ workers is not "not run": the line says so, and what gives it room."""
    killed = [rec("python-threads", 1, 2.5), rec("python-threads", 4, None, status="oom_killed")]
    result = claim_threads(group_records(killed))
    assert result.verdict == NOT_MEASURED
    assert "python-threads ×4 did not complete (oom_killed) (raise --mem-limit)" in result.summary
    never_ran = claim_threads(group_records([rec("python-threads", 1, 2.5)]))
    assert "needs python-threads at 2 or more workers" in never_ran.summary


def test_claim_processes_rules() -> None:
    killed = rec("python-processes", 4, None, status="oom_killed")
    gocv_ok, gocv_killed = rec("go-gocv", 4, 30), rec("go-gocv", 4, None, status="oom_killed")
    assert claim_processes(group_records([killed, gocv_ok])).verdict == CONFIRMED
    assert claim_processes(group_records([killed, gocv_killed])).verdict == NOT_MEASURED
    # the rival must be at the same workers
    assert claim_processes(group_records([killed, rec("go-gocv", 2, 30)])).verdict == NOT_MEASURED
    # without go-gocv in the run, python-threads is the rival
    assert claim_processes(group_records([killed, rec("python-threads", 4, 9)])).verdict == CONFIRMED
    # go-gocv present but killed: python-threads surviving does not stand in for it
    with_both = [killed, gocv_killed, rec("python-threads", 4, 9)]
    assert claim_processes(group_records(with_both)).verdict == NOT_MEASURED
    survived = claim_processes(group_records([rec("python-processes", 4, 9), gocv_ok]))
    assert survived.verdict == REFUTED and "survived 512 MiB" in survived.summary
    uncapped = claim_processes(group_records([rec("python-processes", 4, 9, cap=None)]))
    assert uncapped.verdict == NOT_MEASURED and "without a memory cap" in uncapped.summary


def test_claim_gocv_ratio_paired_by_repetition() -> None:
    records = [rec("go-gocv", 4, 30, rep=0), rec("go-gocv", 4, 40, rep=1),
               rec("python-processes", 4, 10, rep=0), rec("python-processes", 4, 10, rep=1),
               rec("python-threads", 4, 5, rep=0), rec("python-threads", 4, 5, rep=1)]
    result = claim_gocv(group_records(records))
    assert result.verdict == INCONCLUSIVE  # 3.0 and 4.0: the pairs fall on both sides of 3.7
    assert result.summary.startswith("spread across the bar") and "--repeat 5" in result.summary
    assert "go-gocv / python-processes = 3.50× (range 3.00–4.00, 2 pairs)" in result.figures[0]
    above = [replace(r, throughput_items_per_second=38.0 + r.repetition) if r.strategy == "go-gocv" else r
             for r in records]
    assert claim_gocv(group_records(above)).verdict == CONFIRMED   # 3.8 and 3.9: every pair reaches it
    below = claim_gocv(group_records([rec("go-gocv", 4, 30), rec("python-threads", 4, 10)]))
    assert below.verdict == REFUTED and "3.00×" in below.summary   # one repetition decides


def test_a_claim_on_contended_or_short_records_is_inconclusive_and_says_what_decides_it() -> None:
    quiet = [rec("python-threads", 1, 2.5), rec("python-threads", 4, 9.5)]
    assert claim_threads(group_records(quiet)).verdict == REFUTED
    busy = [quiet[0], replace(quiet[1], contended=True, other_cpu_seconds=3.0, steal_seconds=0.5)]
    claim = claim_threads(group_records(busy))
    assert claim.verdict == INCONCLUSIVE and "contended" in claim.line() and "--retry-contended 3" in claim.summary
    assert "python-threads ×4" in claim.summary and "3.5 CPU-s" in claim.summary
    short = [quiet[0], replace(quiet[1], work_seconds=0.9, items_total=8)]
    claim = claim_threads(group_records(short))
    assert claim.verdict == INCONCLUSIVE and claim.summary.startswith("too short")
    assert "0.90 s" in claim.summary and "--images 32" in claim.summary   # 8 x 3 s / 0.9 s, by 8s
    gocv = [rec("go-gocv", 4, 30), replace(rec("python-threads", 4, 5), contended=True)]
    assert "contended" in claim_gocv(group_records(gocv)).line()


def test_claim_3_compares_like_builds_only() -> None:
    unlike = [rec("go-gocv", 4, 30), replace(rec("python-threads", 4, 5), library_version="5.0.0",
                                             jpeg_library="libjpeg-turbo 3.1.2")]
    claim = claim_gocv(group_records(unlike))
    assert claim.verdict == INCONCLUSIVE and claim.summary.startswith("unlike builds")
    assert "OpenCV 4.6.0 with libjpeg-turbo 2.1.5" in claim.summary and "OpenCV 5.0.0" in claim.summary
    assert "--runtime docker" in claim.summary
    assert any("builds:" in figure and "libjpeg-turbo 3.1.2" in figure for figure in claim.figures)
    assert not any("CPU ms per image" in figure for figure in claim.figures)   # no stages recorded
    stages = {"read": 0.1, "decode": 4.0, "resize": 0.3, "encode": 0.8, "write": 0.1}
    timed = [replace(r, stage_seconds=stages, cpu_seconds=6.0) for r in unlike]   # 300 and 50 items
    side = next(f for f in claim_gocv(group_records(timed)).figures if "CPU ms per image" in f)
    assert "go-gocv vs python-threads: read 0.3 vs 2.0, decode 13.3 vs 80.0" in side and "rest 2.3 vs 14.0" in side
    jpeg_only = [unlike[0], replace(unlike[1], library_version="4.6.0")]
    assert claim_gocv(group_records(jpeg_only)).verdict == INCONCLUSIVE
    unrecorded = [unlike[0], replace(unlike[1], library_version="4.6.0", jpeg_library=None)]
    assert claim_gocv(group_records(unrecorded)).summary.startswith("unlike builds")


def test_claim_2_killed_in_some_repetitions_only_is_inconclusive() -> None:
    mixed = [rec("python-processes", 4, None, status="oom_killed", rep=0), rec("python-processes", 4, 9, rep=1),
             rec("go-gocv", 4, 30)]
    claim = claim_processes(group_records(mixed))
    assert claim.verdict == INCONCLUSIVE and "1 of 2" in claim.summary and "kit floor" in claim.summary
    alone = claim_processes(group_records([rec("python-processes", 4, None, status="oom_killed")]))
    assert alone.verdict == NOT_MEASURED and "did not run" in alone.summary   # never "did not survive"


def test_verdict_lines_wrap_between_words_with_the_verdict_first() -> None:
    busy = [rec("python-threads", 1, 2.5), replace(rec("python-threads", 4, 9.5), contended=True)]
    claim = claim_threads(group_records(busy))
    lines = claim.lines(80)
    assert lines[0].startswith("Claim 1 inconclusive: ") and len(lines) > 1
    assert all(len(line) <= 80 for line in lines) and " ".join(x.strip() for x in lines) == claim.line()


def test_claim_gocv_not_measured() -> None:
    assert claim_gocv(group_records([rec("python-threads", 4, 10)])).verdict == NOT_MEASURED
    other_workers = group_records([rec("go-gocv", 8, 30), rec("python-threads", 4, 10)])
    assert claim_gocv(other_workers).verdict == NOT_MEASURED
    killed = group_records([rec("go-gocv", 4, None, status="oom_killed"), rec("python-threads", 4, 10)])
    result = claim_gocv(killed)
    assert result.verdict == NOT_MEASURED and "did not complete" in result.summary


def test_headlines() -> None:
    groups = group_records([rec("python-threads", 4, 10), rec("go-gocv", 4, 30),
                            rec("python-processes", 4, None, status="oom_killed")])
    found = {f.label: f for f in headlines(groups, axes(groups), "images")}
    assert found["Fastest"].value == "go-gocv" and "30.0 images/s" in found["Fastest"].detail
    assert found["Most memory-efficient"].value == "go-gocv"
    assert found["OOM-killed"].value == "python-processes" and "512 MiB" in found["OOM-killed"].detail
    none = group_records([rec("python-threads", 4, 10, cap=None)])
    assert "no memory cap" in {f.label: f for f in headlines(none, axes(none), "images")}["OOM-killed"].detail


def test_claim_threads_shows_the_gil_probes_ceiling_beside_the_measured_speedup() -> None:
    """f = 0.75 caps threads at 1/(1-0.75) = 4x one thread on any machine; the verdict itself
    still comes from the measured points."""
    records = [replace(rec("python-threads", 1, 2.5), gil_free_fraction=0.75),
               replace(rec("python-threads", 2, 4.8), gil_free_fraction=0.75), rec("go-gocv", 2, 9)]
    claim = claim_threads(group_records(records))
    assert claim.verdict == REFUTED
    assert any("f = 0.75" in figure and "4.0×" in figure for figure in claim.figures)
    without = claim_threads(group_records([rec("python-threads", 1, 2.5), rec("python-threads", 2, 4.8)]))
    assert not any("GIL-free" in figure for figure in without.figures)


def test_a_gil_probe_on_a_busy_machine_keeps_its_number_but_gives_no_ceiling() -> None:
    groups = group_records([rec("python-threads", 1, 2.5), rec("python-threads", 2, 4.8)])
    quiet = claim_threads(groups, {"fraction": 0.9, "round_fractions": [0.88, 0.9, 0.93], "contended": False})
    assert any("10.0×" in figure and "rounds 0.88–0.93" in figure for figure in quiet.figures)
    # Amdahl at the run's workers beside the measured speedup: 1/(0.1 + 0.9/2) = 1.82, measured 4.8/2.5
    assert any("at ×2 Amdahl predicts 1.82×; measured 1.92×" in figure for figure in quiet.figures)
    busy = claim_threads(groups, {"fraction": 0.06, "contended": True})
    assert busy.verdict == quiet.verdict == REFUTED    # the probe never decides claim 1
    assert any("f = 0.06" in figure and "no ceiling" in figure for figure in busy.figures)
    assert not any("Amdahl" in figure for figure in busy.figures)
    never = claim_threads(group_records([replace(rec("python-threads", 2, 4.8), gil_free_fraction=1.0)]))
    assert never.verdict == NOT_MEASURED and any("unbounded" in figure for figure in never.figures)


def test_the_terminal_answer_is_one_wrapped_line_per_claim() -> None:
    from kit.report.answer import verdict_lines

    records = [rec("python-threads", 1, 2.5), rec("python-threads", 4, 9.5), rec("go-gocv", 4, 30),
               rec("python-processes", 4, None, status="oom_killed")]
    lines = verdict_lines(records, {}, {"name": "images"}, 80)
    starts = [line for line in lines if not line.startswith("  ")]
    assert [line.split(":")[0] for line in starts] == ["Claim 1 refuted", "Claim 2 confirmed", "Claim 3 refuted"]
    assert all(len(line) <= 80 for line in lines)
    assert verdict_lines([], {}, {"name": "images"}, 80) == []
    # warmups are no evidence
    assert verdict_lines([replace(r, warmup=True) for r in records], {}, {"name": "images"}, 80) == []
