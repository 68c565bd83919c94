"""Seed 000's published table beside this run, each normalised to its own fastest strategy.

Absolute figures do not travel between machines (6C/12T Ryzen vs whatever ran this); ratios to
the fastest strategy of the same run do, roughly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kit.report import fmt
from kit.results.summary import Summary, strategy_rank

STUDY_ITEMS = 1000
STUDY_MACHINE = "AMD Ryzen 5 5500, 6 cores / 12 threads, 32 GB; 1,000 4K images"
# strategy -> (seconds, megabytes) as published; "MB" as the study wrote it.
STUDY_TABLE: dict[str, tuple[float, float]] = {
    "python-threads": (49.56, 938.27),
    "python-processes": (43.54, 2041.40),
    "go-native": (144.0, 5344.95),
    "go-gocv": (11.76, 1575.48),
}


@dataclass(frozen=True, slots=True)
class StudyRow:
    strategy: str
    study_time: str
    study_time_ratio: str
    study_memory: str
    study_memory_ratio: str
    run_time: str
    run_time_ratio: str
    run_memory: str
    run_memory_ratio: str
    run_note: str          # "OOM-killed", "not run", ...


def _study_fastest() -> str:
    return min(STUDY_TABLE, key=lambda s: STUDY_TABLE[s][0])


def side_by_side(groups: Sequence[Summary]) -> tuple[list[StudyRow], str | None, str]:
    """Rows for every strategy of the study or of this run (groups at one setting), this run's
    fastest strategy, and the study's."""
    mine = {g.strategy: g for g in groups}
    done = {s: g for s, g in mine.items() if g.ok}

    def work(g: Summary) -> float:
        value = g.timed_stat(lambda r: r.work_seconds)
        return value.median if value else float("inf")

    fastest = min(done.values(), key=work) if done else None
    fast_time = work(fastest) if fastest else None
    fast_mem_stat = fastest.all_stat(lambda r: r.peak_memory_bytes) if fastest else None
    fast_mem = fast_mem_stat.median if fast_mem_stat else None
    study_fast = _study_fastest()
    s_time, s_mem = STUDY_TABLE[study_fast]
    rows = []
    for strategy in sorted(set(STUDY_TABLE) | set(mine), key=strategy_rank):
        published = STUDY_TABLE.get(strategy)
        g = mine.get(strategy)
        run_time = run_ratio = run_mem = run_mem_ratio = "–"
        note = "not run" if g is None else ""
        if g is not None:
            peak = g.all_stat(lambda r: r.peak_memory_bytes)
            run_mem = fmt.mib(peak.median if peak else None)
            if peak and fast_mem and (g.ok or g.oom_killed):  # a failed start's memory means nothing
                run_mem_ratio = fmt.ratio(peak.median / fast_mem)
            if g.ok:
                seconds = work(g)
                run_time = fmt.seconds(seconds)
                if fast_time:
                    run_ratio = fmt.ratio(seconds / fast_time)
            else:
                note = "OOM-killed" if g.oom_killed else g.outcome
        rows.append(StudyRow(
            strategy,
            f"{published[0]:g} s" if published else "–",
            fmt.ratio(published[0] / s_time) if published else "–",
            f"{published[1]:,.2f} MB" if published else "–",
            fmt.ratio(published[1] / s_mem) if published else "–",
            run_time, run_ratio, run_mem, run_mem_ratio, note))
    return rows, fastest.strategy if fastest else None, study_fast
