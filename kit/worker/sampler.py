"""Inside the sandbox: a daemon thread that reads the worker's own cgroup and reports it.

Every `interval_ms` it reads the kernel's figures of the group the worker runs in
(kit/measure/cgroupstat.py) and hands a SampleEvent to `emit` (the worker's progress stream). The
controller turns them into the record's `inside` figures (kit/measure/inside.py); a runtime that cannot
read the sandbox's cgroup from outside (Kubernetes: the pod is on another node) uses them as its
figures. The sampler runs during the timed work, so it counts what it costs: its own thread's CPU
time rides along in every sample (`sampler_cpu_seconds`). Stdlib only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from kit.measure.cgroupstat import OwnGroup, find_own_group
from kit.worker.protocol import SampleEvent

DEFAULT_SAMPLE_INTERVAL_MS = 250   # the controller keeps one outside sample every 250 ms too (kit/measure/monitor.py)
MAX_SAMPLE_INTERVAL_MS = 60_000


class Sampler:
    """Start it once the worker is up, `stop()` it before the done event (which takes a last sample)."""

    def __init__(self, group: OwnGroup, interval_ms: int, origin: float,
                 emit: Callable[[SampleEvent], None]) -> None:
        self.group, self.interval, self.origin, self.emit = group, interval_ms / 1000, origin, emit
        self._stop = threading.Event()
        self._cost = 0.0           # the sampler thread's CPU seconds so far
        self._lock = threading.Lock()   # one sample at a time (the thread's and stop()'s last one)
        self._thread = threading.Thread(target=self._loop, name="kit-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def sample(self) -> SampleEvent | None:
        """Read the group once and emit it; None when the kernel's files cannot be read."""
        with self._lock:
            before = time.thread_time()
            try:
                stats = self.group.stats()
            except (OSError, ValueError):
                return None
            event = SampleEvent(t_seconds=round(time.monotonic() - self.origin, 4), usage_bytes=stats.usage_bytes,
                                working_set_bytes=stats.working_set_bytes, peak_usage_bytes=stats.peak_usage_bytes,
                                cpu_seconds=round(stats.cpu_seconds, 6),
                                throttled_seconds=round(stats.throttled_seconds, 6),
                                throttled_periods=stats.throttled_periods, oom_kills=stats.oom_kills,
                                sampler_cpu_seconds=round(self._cost + time.thread_time() - before, 6))
            self.emit(event)
            self._cost += time.thread_time() - before
            return event

    def _loop(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.interval):
                return

    def stop(self) -> None:
        """End the thread and take the last sample (from the caller's thread)."""
        self._stop.set()
        self._thread.join(timeout=max(1.0, 2 * self.interval))
        self.sample()


def start_sampler(interval_ms: int, origin: float, emit: Callable[[SampleEvent], None],
                  find: Callable[[], OwnGroup | None] = find_own_group) -> Sampler | None:
    """A running sampler, or None when sampling is off (0 ms) or the worker sees no cgroup of its own."""
    if interval_ms <= 0:
        return None
    group = find()
    if group is None:
        return None
    sampler = Sampler(group, interval_ms, origin, emit)
    sampler.start()
    return sampler
