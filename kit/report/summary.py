"""Records grouped the way the report reads them: one group per (strategy, workers, memory cap).

Warmup records never enter a summary. With repetitions a figure is a median with its min-max;
time and throughput come from the repetitions that completed (status ok) when there are any,
so an OOM-killed attempt does not pass for a fast one.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from kit.report.fmt import cap
from kit.results import StrategyRecord
from kit.summary import GroupKey, group_by_setting, parse_records, strategy_rank

__all__ = ["Group", "GroupKey", "Stat", "group_records", "parse_records", "strategy_rank"]


@dataclass(frozen=True, slots=True)
class Stat:
    """Median and range of one figure over repetitions (n = how many values)."""

    median: float
    low: float
    high: float
    n: int

    @property
    def spread(self) -> bool:
        return self.n > 1 and self.high > self.low


def stat(values: Iterable[float | int | None]) -> Stat | None:
    """Median and min-max of the values that exist; None when there are none."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return None
    return Stat(statistics.median(present), min(present), max(present), len(present))


@dataclass(frozen=True, slots=True)
class Group:
    """Every measured repetition of one strategy at one worker count and cap."""

    strategy: str
    workers: int
    memory_limit_bytes: int | None
    records: tuple[StrategyRecord, ...]

    @property
    def key(self) -> GroupKey:
        return (self.strategy, self.workers, self.memory_limit_bytes)

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
    def survived(self) -> bool:
        """Every repetition completed without an OOM kill."""
        return bool(self.records) and all(r.status == "ok" and not r.oom_kills for r in self.records)

    def timed_stat(self, get: Callable[[StrategyRecord], float | int | None]) -> Stat | None:
        return stat(get(r) for r in self.timed)

    def all_stat(self, get: Callable[[StrategyRecord], float | int | None]) -> Stat | None:
        return stat(get(r) for r in self.records)

    @property
    def throughput(self) -> Stat | None:
        return stat(r.throughput_items_per_second for r in self.ok)

    @property
    def per_mib(self) -> Stat | None:
        return stat(r.throughput_per_mib for r in self.ok)

    @property
    def outcome(self) -> str:
        """'ok', 'oom_killed', or a tally such as 'ok 2, oom_killed 1' over repetitions."""
        counts = Counter(r.status for r in self.records)
        if len(counts) == 1:
            return next(iter(counts))
        return ", ".join(f"{status} {count}" for status, count in sorted(counts.items()))


def group_records(records: Sequence[StrategyRecord]) -> list[Group]:
    """Measured records by (strategy, workers, cap), in the order kit.summary gives them."""
    return [Group(key[0], key[1], key[2], tuple(group)) for key, group in group_by_setting(records)]


@dataclass(frozen=True, slots=True)
class Axes:
    """Which dimensions vary over the run's groups, so labels show only what tells groups apart."""

    workers: bool
    caps: bool

    def label(self, group: Group) -> str:
        parts = [group.strategy]
        if self.workers:
            parts.append(f"×{group.workers}")
        if self.caps:
            parts.append(f"· {cap(group.memory_limit_bytes)}")
        return " ".join(parts)


def axes(groups: Sequence[Group]) -> Axes:
    return Axes(workers=len({g.workers for g in groups if g.strategy != "python-sequential"}) > 1,
                caps=len({g.memory_limit_bytes for g in groups}) > 1)


def primary_setting(groups: Sequence[Group]) -> tuple[int, int | None] | None:
    """The (workers, cap) shared by the most strategies (ties: most workers); sequential counts at
    any worker count since it has one worker by definition."""
    counts: Counter[tuple[int, int | None]] = Counter(
        (g.workers, g.memory_limit_bytes) for g in groups if g.strategy != "python-sequential")
    if not counts:
        return (groups[0].workers, groups[0].memory_limit_bytes) if groups else None
    return max(counts, key=lambda k: (counts[k], k[0], k[1] or 0))


def at_setting(groups: Sequence[Group], setting: tuple[int, int | None] | None) -> list[Group]:
    """One group per strategy at the primary setting (sequential: at the same cap)."""
    if setting is None:
        return []
    workers, cap = setting
    return [g for g in groups if g.memory_limit_bytes == cap
            and (g.workers == workers or g.strategy == "python-sequential")]
