"""The controller's side of inside-sandbox sampling: the worker's own cgroup samples -> figures.

The worker reads its own cgroup (kit/worker/sampler.py) and sends sample events on its progress stream;
`InsideTracker` is fed those events (or raw lines) and gives the same figures a runtime reads from
outside (peak watermark, working-set maximum, CPU seconds, OOM kills, throttling). The cgroup and
Docker runtimes record them beside their outside figures (the record's `inside` field); a runtime
that cannot read the sandbox's cgroup (Kubernetes: a pod on another node) gives its sandbox an
`inside` tracker and answers `stats()` from it, and the supervisor feeds that tracker
(kit/run/supervisor.py), so its records carry inside figures as their own.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

from kit.measure.cgroupstat import CgroupStats
from kit.worker.protocol import SampleEvent, parse_event


@dataclass(frozen=True, slots=True)
class InsideFigures:
    """A record's `inside` field in results.json: what the worker saw of its own cgroup."""

    samples: int                     # sample events received
    last_t_seconds: float            # the last sample's time on the worker's clock
    peak_usage_bytes: int            # the kernel's watermark where it keeps one, else the largest usage seen
    working_set_max_bytes: int       # the largest working set among the samples
    cpu_seconds: float               # the group's CPU at the last sample
    oom_kills: int
    cpu_throttled_seconds: float
    cpu_throttled_periods: int
    sampler_cpu_seconds: float       # what the sampling cost inside the sandbox (its thread's CPU)
    watermark: bool                  # True: peak_usage_bytes is the kernel's watermark, not a sampled maximum

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class InsideTracker:
    """Feed it sample events as they arrive; `stats()` and `figures()` at any moment. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: SampleEvent | None = None
        self._count = 0
        self._working_set_max = 0
        self._usage_max = 0
        self._watermark: int | None = None

    def feed(self, event: SampleEvent | str | object) -> bool:
        """Take a sample event (a parsed one or a progress line); anything else is ignored (False)."""
        if isinstance(event, str):
            event = parse_event(event)
        if not isinstance(event, SampleEvent):
            return False
        with self._lock:
            self._count += 1
            if self._last is None or event.t_seconds >= self._last.t_seconds:
                self._last = event
            self._working_set_max = max(self._working_set_max, event.working_set_bytes)
            self._usage_max = max(self._usage_max, event.usage_bytes)
            if event.peak_usage_bytes is not None:
                self._watermark = max(self._watermark or 0, event.peak_usage_bytes)
        return True

    @property
    def samples(self) -> int:
        return self._count

    def stats(self) -> CgroupStats:
        """The figures in the runtimes' own shape: usage and working set now (the last sample), the
        peak so far, cumulative CPU, throttling and OOM kills (zeros before the first sample)."""
        with self._lock:
            last = self._last
            if last is None:
                return CgroupStats(usage_bytes=0, working_set_bytes=0, peak_usage_bytes=None, cpu_seconds=0.0,
                                   throttled_seconds=0.0, oom_kills=0)
            return CgroupStats(usage_bytes=last.usage_bytes, working_set_bytes=last.working_set_bytes,
                               peak_usage_bytes=max(self._watermark or 0, self._usage_max),
                               cpu_seconds=last.cpu_seconds, throttled_seconds=last.throttled_seconds,
                               oom_kills=last.oom_kills, throttled_periods=last.throttled_periods)

    def figures(self) -> InsideFigures | None:
        """The record's `inside` figures; None when no sample arrived (sampling off, or no cgroup seen)."""
        with self._lock:
            last = self._last
            if last is None:
                return None
            return InsideFigures(samples=self._count, last_t_seconds=round(last.t_seconds, 3),
                                 peak_usage_bytes=max(self._watermark or 0, self._usage_max),
                                 working_set_max_bytes=self._working_set_max,
                                 cpu_seconds=round(last.cpu_seconds, 4), oom_kills=last.oom_kills,
                                 cpu_throttled_seconds=round(last.throttled_seconds, 4),
                                 cpu_throttled_periods=last.throttled_periods,
                                 sampler_cpu_seconds=round(last.sampler_cpu_seconds, 6),
                                 watermark=self._watermark is not None)


def tracker_of(sandbox: object) -> InsideTracker | None:
    """The tracker a sandbox answers `stats()` from (a runtime without an outside view), or None."""
    tracker = getattr(sandbox, "inside", None)
    return tracker if isinstance(tracker, InsideTracker) else None
