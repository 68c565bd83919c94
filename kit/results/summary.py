"""Records grouped into summaries: one per (strategy, workers, memory cap), warmups left out.

The one summary layer: the console table, `kit compare` and the HTML report all read these, so a
figure means the same everywhere: throughput from the repetitions that completed (an OOM-killed attempt must not pass
for a fast one), time from completed repetitions when there are any, memory from every attempt.

    >>> [s.label for s in summarize(records)]          # doctest: +SKIP
    ['python-threads x4 cap 512 MiB', ...]
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kit.core.errors import ConfigError
from kit.core.units import format_bytes
from kit.results.records import StrategyRecord, record_from_json
from kit.results.stats import Spread, run_warnings, spread
from kit.worker.programs import NAMES

GroupKey = tuple[str, int, int | None]   # strategy, workers, memory_limit_bytes


@dataclass(frozen=True, slots=True)
class Summary:
    """Every measured repetition of one strategy at one worker count and cap, summarised."""

    strategy: str
    workers: int
    memory_limit_bytes: int | None
    records: tuple[StrategyRecord, ...]
    throughput: Spread | None            # items/s, completed repetitions only
    throughput_per_mib: Spread | None
    work_seconds: Spread | None          # completed repetitions, else every attempt
    wall_seconds: Spread | None
    peak_memory_bytes: Spread | None     # every attempt: an OOM-killed one peaked at the cap
    cpu_utilization: Spread | None
    steal_seconds: Spread | None         # CPU time a hypervisor took from the machine during the cell
    load_average: float | None           # median 1-minute load average at the cells' start
    warnings: tuple[str, ...]

    @property
    def key(self) -> GroupKey:
        return (self.strategy, self.workers, self.memory_limit_bytes)

    @property
    def repetitions(self) -> int:
        return len(self.records)

    @property
    def completed(self) -> int:
        return sum(1 for r in self.records if r.status == "ok")

    @property
    def oom_kills(self) -> int:
        return sum(r.oom_kills for r in self.records)

    @property
    def survived(self) -> bool:
        """Every repetition completed without an OOM kill (the OOM map's 'survived')."""
        return bool(self.records) and all(r.status == "ok" and not r.oom_kills for r in self.records)

    @property
    def noisy(self) -> bool:
        return self.throughput is not None and self.throughput.noisy

    @property
    def verified(self) -> bool | None:
        """False if any completed repetition failed verification, True if all passed, else None."""
        marks = [r.verified for r in self.records if r.verified is not None]
        return None if not marks else all(marks)

    @property
    def outcome(self) -> str:
        """'ok', 'oom_killed', or a tally such as 'ok 2, oom_killed 1' over repetitions."""
        counts = Counter(r.status for r in self.records)
        if len(counts) == 1:
            return next(iter(counts))
        return ", ".join(f"{status} {count}" for status, count in sorted(counts.items()))

    def label(self, workers: bool = True, caps: bool = True) -> str:
        parts = [self.strategy]
        if workers:
            parts.append(f"x{self.workers}")
        if caps:
            parts.append(f"cap {format_bytes(self.memory_limit_bytes)}" if self.memory_limit_bytes
                         else "no cap")
        return " ".join(parts)

    @property
    def ok(self) -> tuple[StrategyRecord, ...]:
        return tuple(r for r in self.records if r.status == "ok")

    @property
    def timed(self) -> tuple[StrategyRecord, ...]:
        """The records that time and throughput come from: completed ones, else every attempt."""
        return self.ok or self.records

    @property
    def partial(self) -> bool:
        """No repetition completed: figures describe attempts that ended early."""
        return not self.ok

    @property
    def oom_killed(self) -> tuple[StrategyRecord, ...]:
        return tuple(r for r in self.records if r.status == "oom_killed" or r.oom_kills)

    @property
    def per_mib(self) -> Spread | None:
        return self.throughput_per_mib

    def timed_stat(self, get: Callable[[StrategyRecord], float | int | None]) -> Spread | None:
        """Any figure over the timed records (median and min-max; no interval)."""
        return spread((get(r) for r in self.timed), with_ci=False)

    def all_stat(self, get: Callable[[StrategyRecord], float | int | None]) -> Spread | None:
        """Any figure over every attempt (memory: an OOM-killed attempt peaked at the cap)."""
        return spread((get(r) for r in self.records), with_ci=False)

    def values(self, get: Callable[[StrategyRecord], float | int | None],
               ok_only: bool = True) -> list[float]:
        """Raw per-repetition values (for significance tests), from completed repetitions by default."""
        source = [r for r in self.records if r.status == "ok"] if ok_only else list(self.records)
        return [float(v) for r in source if (v := get(r)) is not None]


def strategy_rank(strategy: str) -> tuple[int, str]:
    """Contract order first (product.md section 4); later strategies after, by name."""
    return (NAMES.index(strategy) if strategy in NAMES else len(NAMES), strategy)


def _steal(record: StrategyRecord) -> float | None:
    value = record.environment.get("cpu_steal_seconds")
    return float(value) if isinstance(value, int | float) else None


def _load(record: StrategyRecord) -> float | None:
    value = record.environment.get("load_average_at_start")
    return float(value[0]) if isinstance(value, list) and value else None


def summarize_group(records: Sequence[StrategyRecord]) -> Summary:
    """One summary from the records of one (strategy, workers, cap)."""
    first = records[0]
    ok = [r for r in records if r.status == "ok"]
    timed = ok or list(records)
    throughput = spread(r.throughput_items_per_second for r in ok)
    work = spread(r.work_seconds for r in timed)
    wall = spread(r.wall_seconds for r in timed)
    steal = spread(_steal(r) for r in records)
    loads = [x for r in records if (x := _load(r)) is not None]
    label = f"{first.strategy} x{first.workers}" + (
        f" cap {format_bytes(first.memory_limit_bytes)}" if first.memory_limit_bytes else "")
    return Summary(
        strategy=first.strategy, workers=first.workers, memory_limit_bytes=first.memory_limit_bytes,
        records=tuple(sorted(records, key=lambda r: r.repetition)), throughput=throughput,
        throughput_per_mib=spread(r.throughput_per_mib for r in ok), work_seconds=work, wall_seconds=wall,
        peak_memory_bytes=spread(r.peak_memory_bytes for r in records),
        cpu_utilization=spread(r.cpu_utilization for r in timed), steal_seconds=steal,
        load_average=statistics.median(loads) if loads else None,
        warnings=tuple(run_warnings(label, work if ok else None, throughput,
                                    steal.median if steal else None, wall.median if wall else None)),
    )


def group_by_setting(records: Sequence[StrategyRecord]) -> list[tuple[GroupKey, list[StrategyRecord]]]:
    """Measured records (no warmups, no attempts superseded by a quieter re-run) by (strategy,
    workers, cap), in contract order, then workers, then cap; each group's records in repetition order."""
    buckets: dict[GroupKey, list[StrategyRecord]] = {}
    for record in records:
        if record.warmup or record.superseded:
            continue
        buckets.setdefault((record.strategy, record.workers, record.memory_limit_bytes), []).append(record)
    keys = sorted(buckets, key=lambda k: (strategy_rank(k[0]), k[1], -1 if k[2] is None else k[2]))
    return [(k, sorted(buckets[k], key=lambda r: r.repetition)) for k in keys]


def summarize(records: Sequence[StrategyRecord]) -> list[Summary]:
    """One summary per (strategy, workers, cap), in the order of group_by_setting."""
    return [summarize_group(group) for _, group in group_by_setting(records)]


def parse_records(data: dict[str, Any]) -> list[StrategyRecord]:
    """The records of a results.json dict; a malformed one is a one-line ConfigError."""
    raw = data.get("results")
    if not isinstance(raw, list):
        raise ConfigError("results.json has no 'results' list: not a kit results file")
    records = []
    for index, item in enumerate(raw):
        try:
            records.append(record_from_json(item))
        except (TypeError, KeyError, AttributeError) as exc:
            raise ConfigError(f"results.json record {index} is malformed: {exc}") from None
    return records


def varying(summaries: Sequence[Summary]) -> tuple[bool, bool]:
    """(workers vary, caps vary) over the summaries: labels then show only what tells them apart."""
    workers = {s.workers for s in summaries if s.strategy != "python-sequential"}
    return len(workers) > 1, len({s.memory_limit_bytes for s in summaries}) > 1


def no_oom_lines(records: Sequence[StrategyRecord]) -> list[str]:
    """For each memory cap that killed nobody, one line that says so and what would change it: the
    highest peak working set against the cap, that more workers raise it, and `kit floor`. None
    without a cap (nothing could be OOM-killed) or where a cap did kill."""
    lines = []
    measured = [r for r in records if not r.warmup and r.memory_limit_bytes]
    for cap in sorted({r.memory_limit_bytes for r in measured if r.memory_limit_bytes}):
        at_cap = [r for r in measured if r.memory_limit_bytes == cap]
        peaks = [r for r in at_cap if r.peak_memory_bytes is not None]
        if any(r.oom_kills or r.status == "oom_killed" for r in at_cap) or not peaks:
            continue
        top = max(peaks, key=lambda r: r.peak_memory_bytes or 0)
        peak = top.peak_memory_bytes or 0
        lines.append(f"no strategy was OOM-killed under the {format_bytes(cap)} cap: the highest peak was "
                     f"{top.strategy} x{top.workers} at {peak / 2**20:.0f} MiB ({peak / cap:.0%} of the cap); "
                     "more workers raise the peak (--workers), and `kit floor` finds the cap each strategy needs")
    return lines
