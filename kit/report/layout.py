"""How the report lays out the summaries (kit/results/summary.py, the one summary layer): which axes
vary, and which setting most strategies share.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from kit.report.fmt import cap
from kit.results.summary import Summary


@dataclass(frozen=True, slots=True)
class Axes:
    """Which dimensions vary over the run's groups, so labels show only what tells groups apart."""

    workers: bool
    caps: bool

    def label(self, group: Summary) -> str:
        parts = [group.strategy]
        if self.workers:
            parts.append(f"×{group.workers}")
        if self.caps:
            parts.append(f"· {cap(group.memory_limit_bytes)}")
        return " ".join(parts)


def axes(groups: Sequence[Summary]) -> Axes:
    return Axes(workers=len({g.workers for g in groups if g.strategy != "python-sequential"}) > 1,
                caps=len({g.memory_limit_bytes for g in groups}) > 1)


def primary_setting(groups: Sequence[Summary]) -> tuple[int, int | None] | None:
    """The (workers, cap) shared by the most strategies (ties: most workers); sequential counts at
    any worker count since it has one worker by definition."""
    counts: Counter[tuple[int, int | None]] = Counter(
        (g.workers, g.memory_limit_bytes) for g in groups if g.strategy != "python-sequential")
    if not counts:
        return (groups[0].workers, groups[0].memory_limit_bytes) if groups else None
    return max(counts, key=lambda k: (counts[k], k[0], k[1] or 0))


def at_setting(groups: Sequence[Summary], setting: tuple[int, int | None] | None) -> list[Summary]:
    """One group per strategy at the primary setting (sequential: at the same cap)."""
    if setting is None:
        return []
    workers, cap = setting
    return [g for g in groups if g.memory_limit_bytes == cap
            and (g.workers == workers or g.strategy == "python-sequential")]
