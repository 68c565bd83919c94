"""Samples a running sandbox: the cgroup's own figures often, summed RSS and PSS less often.

Cost matters: reading PSS of every process every 50 ms took 7-13% of a core on a 2-core machine,
so cgroup files (cheap) are read every tick and smaps_rollup only every `pss_interval`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kit.measure.cgroupstat import CgroupStats
from kit.measure.procmem import pss_sum, rss_sum

TICK_SECONDS = 0.1          # cgroup files and the OOM counter
SAMPLE_SECONDS = 0.25       # what is kept in the record's `samples`
RSS_SECONDS = 0.25
PSS_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Sample:
    """One look at the sandbox; t_seconds from the sandbox start."""

    t_seconds: float
    working_set_bytes: int
    usage_bytes: int
    cpu_seconds: float
    items_ok: int
    cpu_throttled_seconds: float = 0.0     # so far, from cpu.stat (grows only under a CPU cap)
    cpu_throttled_periods: int = 0         # CFS periods throttled so far (cpu.stat nr_throttled)


@dataclass(slots=True)
class Peaks:
    working_set_bytes: int = 0
    usage_bytes: int = 0
    rss_sum_bytes: int | None = None
    pss_bytes: int | None = None


@dataclass(slots=True)
class Monitor:
    """Feed it `observe()` each tick; it keeps peaks, the last stats and the kept samples."""

    read_stats: Callable[[], CgroupStats]
    read_pids: Callable[[], list[int]]
    peaks: Peaks = field(default_factory=Peaks)
    samples: list[Sample] = field(default_factory=list)
    last: CgroupStats | None = None
    _next_sample: float = 0.0
    _next_rss: float = 0.0
    _next_pss: float = 0.0

    def observe(self, t_seconds: float, items_ok: int) -> CgroupStats:
        """Read the cgroup (and, when due, the processes) at `t_seconds` after the start."""
        stats = self.read_stats()
        self.last = stats
        self.peaks.working_set_bytes = max(self.peaks.working_set_bytes, stats.working_set_bytes)
        self.peaks.usage_bytes = max(self.peaks.usage_bytes, stats.usage_bytes, stats.peak_usage_bytes or 0)
        if t_seconds >= self._next_rss:
            self._next_rss = t_seconds + RSS_SECONDS
            pids = self.read_pids()
            if pids:
                self.peaks.rss_sum_bytes = max(self.peaks.rss_sum_bytes or 0, rss_sum(pids))
                if t_seconds >= self._next_pss:
                    self._next_pss = t_seconds + PSS_SECONDS
                    pss = pss_sum(pids)
                    if pss is not None:
                        self.peaks.pss_bytes = max(self.peaks.pss_bytes or 0, pss)
        if t_seconds >= self._next_sample:
            self._next_sample = t_seconds + SAMPLE_SECONDS
            self.samples.append(Sample(t_seconds=round(t_seconds, 3),
                                       working_set_bytes=stats.working_set_bytes,
                                       usage_bytes=stats.usage_bytes,
                                       cpu_seconds=round(stats.cpu_seconds, 4), items_ok=items_ok,
                                       cpu_throttled_seconds=round(stats.throttled_seconds, 4),
                                       cpu_throttled_periods=stats.throttled_periods))
        return stats
