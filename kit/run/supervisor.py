"""Runs one sandbox to its end and measures it: one code for every runtime.

Reads the worker's progress lines (and the worker's own samples of its cgroup, kit/measure/inside.py),
samples the cgroup, watches its OOM counter (an OOM kill
anywhere in the sandbox ends the strategy, as Kubernetes ends a container: a
`multiprocessing` pool would otherwise wait forever for its killed process), enforces the
timeout and the stall limit, and turns Ctrl-C into an `interrupted` outcome.
"""

from __future__ import annotations

import errno
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kit.core import signals
from kit.measure.cgroupstat import CgroupStats
from kit.measure.inside import InsideFigures, InsideTracker, tracker_of
from kit.measure.monitor import TICK_SECONDS, Monitor, Peaks, Sample
from kit.results.records import FailedItem, OomEvent
from kit.runtimes.base import NotStarted, Sandbox
from kit.worker.protocol import DoneEvent, Event, ItemEvent, SampleEvent, StartEvent, parse_event

VICTIM_WAIT_SECONDS = 0.5   # how long to wait for the main worker to die after an OOM kill


@dataclass(slots=True)
class Outcome:
    """What happened in the sandbox, before verification and formulas (runner.py adds those)."""

    status: str
    exit_code: int | None
    wall_seconds: float
    work_seconds: float | None
    stats: CgroupStats | None
    peaks: Peaks
    samples: list[Sample]
    oom_events: list[OomEvent]
    items_ok: int
    items_failed: int
    failed_items: list[FailedItem]
    concurrency: dict[str, object] = field(default_factory=dict)
    message: str | None = None
    disk_full: str | None = None    # "item: reason" when the worker ran out of disk space
    inside: InsideFigures | None = None   # the worker's samples of its own cgroup (None: none arrived)
    stage_seconds: dict[str, float] | None = None   # items' stages summed (None: the worker reported none)


@dataclass(slots=True)
class Limits:
    timeout_seconds: float
    stall_seconds: float


@dataclass(slots=True)
class _Progress:
    items_ok: int = 0
    items_failed: int = 0
    failed: list[FailedItem] = field(default_factory=list)
    first_start: float | None = None
    last_end: float | None = None
    done: bool = False
    concurrency: dict[str, object] = field(default_factory=dict)
    disk_full: str | None = None     # the first item that could not be written for want of space
    stage_seconds: dict[str, float] | None = None   # the finished items' stages, summed

    def apply(self, event: Event) -> None:
        if isinstance(event, ItemEvent):
            if event.ok:
                self.items_ok += 1
                if event.stages is not None:
                    totals = self.stage_seconds if self.stage_seconds is not None else {}
                    for stage, seconds in event.stages.items():
                        totals[stage] = totals.get(stage, 0.0) + seconds
                    self.stage_seconds = totals
            else:
                self.items_failed += 1
                self.failed.append(FailedItem(name=event.name, reason=event.reason or "failed"))
                if self.disk_full is None and is_disk_full(event.reason or ""):
                    self.disk_full = f"{event.name}: {event.reason}"
            if event.rejected:   # failed by the controller's verdict: no work, outside the work window
                return
            self.first_start = event.start if self.first_start is None else min(self.first_start, event.start)
            self.last_end = event.end if self.last_end is None else max(self.last_end, event.end)
        elif isinstance(event, StartEvent):
            self.concurrency = dict(event.concurrency)
        elif isinstance(event, DoneEvent):
            self.done = True

    @property
    def work_seconds(self) -> float | None:
        if self.first_start is None or self.last_end is None:
            return None
        return max(0.0, self.last_end - self.first_start)


def is_disk_full(reason: str) -> bool:
    """An item that failed because its output could not be written for want of space (any worker:
    Python's strerror and Go's error text are the C library's words)."""
    return any(os.strerror(code) in reason for code in (errno.ENOSPC, errno.EDQUOT))


def _read_lines(sandbox: Sandbox, events: queue.Queue[Event | None]) -> None:
    for line in sandbox.stdout:
        event = parse_event(line)
        if event is not None:
            events.put(event)
    events.put(None)  # end of stream


def _killed_by_signal(exit_code: int | None) -> bool:
    return exit_code in (-signal.SIGKILL, 128 + signal.SIGKILL)


def supervise(sandbox: Sandbox, limits: Limits, on_event: Callable[[Event], None] = lambda e: None,
              on_sample: Callable[[Sample], None] = lambda s: None,
              clock: Callable[[], float] = time.monotonic, stop: Callable[[], bool] | None = None) -> Outcome:
    """Watch `sandbox` until it ends (or must be ended); always leaves it stopped, not closed. `stop`
    says, from another thread, that the run is stopping (--parallel: Ctrl-C reaches the main thread)."""
    started = clock()
    # A runtime without an outside view answers stats() from its own tracker: feed that one.
    inside = tracker_of(sandbox) or InsideTracker()
    monitor = Monitor(read_stats=sandbox.stats, read_pids=sandbox.pids)
    progress = _Progress()
    events: queue.Queue[Event | None] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(sandbox, events), daemon=True)
    reader.start()
    oom_events: list[OomEvent] = []
    seen_kills, last_item_at = 0, started
    status: str | None = None
    message: str | None = None
    exit_code: int | None = None
    usage_before, ended = 0, None
    try:
        while True:
            if (item_at := _drain(events, progress, inside, on_event, clock)) is not None:
                last_item_at = item_at
            if stop is not None and stop():
                raise KeyboardInterrupt   # the run is stopping: as if Ctrl-C reached this thread
            if progress.disk_full:  # every later output would fail the same way: stop now
                status, message = "failed", f"stopped: the output disk is full ({progress.disk_full})"
                break
            now = clock()
            exit_code = sandbox.poll()
            kept = len(monitor.samples)
            stats = monitor.observe(now - started, progress.items_ok)
            if len(monitor.samples) > kept:
                on_sample(monitor.samples[-1])
            if stats.oom_kills > seen_kills:
                exit_code = _wait_exit(sandbox, clock, exit_code)
                oom_events += _oom_events(stats.oom_kills - seen_kills, now - started, usage_before,
                                          progress.items_ok, main_died=_killed_by_signal(exit_code))
                seen_kills = stats.oom_kills
                status = "oom_killed"
                break
            usage_before = stats.usage_bytes
            if exit_code is not None:
                ended = now
                break
            if now - started > limits.timeout_seconds:
                status, message = "timeout", f"exceeded the timeout of {limits.timeout_seconds:g} s"
                break
            if now - last_item_at > limits.stall_seconds:
                status, message = "timeout", f"stalled: no item completed for {limits.stall_seconds:g} s"
                break
            time.sleep(TICK_SECONDS)
    except KeyboardInterrupt:
        status, message = "interrupted", signals.reason()
    finally:
        with signals.hold():  # a second Ctrl-C must not cut the stop short nor lose the record
            sandbox.stop()
    with signals.hold():
        return _finish(sandbox, reader, events, progress, on_event, monitor, oom_events, status, message,
                       exit_code, started, ended or clock(), seen_kills, usage_before, inside)


def _drain(events: queue.Queue[Event | None], progress: _Progress, inside: InsideTracker,
           on_event: Callable[[Event], None], clock: Callable[[], float]) -> float | None:
    """Apply every progress line read so far (the worker's own samples feed `inside`); when the
    last item among them completed, or None when none did (the stall limit counts from there)."""
    last_item_at = None
    while True:
        try:
            event = events.get_nowait()
        except queue.Empty:
            return last_item_at
        if event is not None:
            progress.apply(event)
            if isinstance(event, SampleEvent):
                inside.feed(event)
            if isinstance(event, ItemEvent):
                last_item_at = clock()
                signals.hook("item")
            on_event(event)


def _finish(sandbox: Sandbox, reader: threading.Thread, events: queue.Queue[Event | None], progress: _Progress,
            on_event: Callable[[Event], None], monitor: Monitor, oom_events: list[OomEvent], status: str | None,
            message: str | None, exit_code: int | None, started: float, ended: float, seen_kills: int,
            usage_before: int, inside: InsideTracker) -> Outcome:
    """The stopped sandbox's last progress lines and figures, and its status."""
    if status == "interrupted":
        signals.discard()  # a second signal only repeats the first
    if exit_code is None:
        exit_code = sandbox.poll()
    reader.join(timeout=2.0)
    while True:  # progress lines that arrived after the last tick still count
        try:
            event = events.get_nowait()
        except queue.Empty:
            break
        if event is not None:
            progress.apply(event)
            if isinstance(event, SampleEvent):
                inside.feed(event)
            on_event(event)
    final = sandbox.stats()
    monitor.peaks.working_set_bytes = max(monitor.peaks.working_set_bytes, final.working_set_bytes)
    monitor.peaks.usage_bytes = max(monitor.peaks.usage_bytes, final.peak_usage_bytes or 0)
    if final.oom_kills > seen_kills and status != "interrupted":  # a kill seen only at exit
        oom_events += _oom_events(final.oom_kills - seen_kills, ended - started, usage_before,
                                  progress.items_ok, main_died=_killed_by_signal(exit_code))
        status = "oom_killed"
    if status is None:
        if exit_code == 0 and progress.done:
            status = "ok"
        else:
            status = "failed"
            message = sandbox.stderr_tail() or f"worker exited with code {exit_code}"
    samples = monitor.samples + [Sample(t_seconds=round(ended - started, 3),
                                        working_set_bytes=final.working_set_bytes,
                                        usage_bytes=final.usage_bytes,
                                        cpu_seconds=round(final.cpu_seconds, 4), items_ok=progress.items_ok,
                                        cpu_throttled_seconds=round(final.throttled_seconds, 4),
                                        cpu_throttled_periods=final.throttled_periods)]
    return Outcome(status=status, exit_code=exit_code, wall_seconds=ended - started,
                   work_seconds=progress.work_seconds, stats=final, peaks=monitor.peaks, samples=samples,
                   oom_events=oom_events, items_ok=progress.items_ok, items_failed=progress.items_failed,
                   failed_items=progress.failed, concurrency=progress.concurrency, message=message,
                   stage_seconds=progress.stage_seconds,
                   disk_full=progress.disk_full, inside=inside.figures())


def not_started(never: NotStarted, status: str = "failed") -> Outcome:
    """A sandbox that never ran: failed, with the reason the scheduler or kubelet gave (or
    interrupted, when Ctrl-C came first)."""
    return Outcome(status=status, exit_code=None, wall_seconds=never.waited_seconds, work_seconds=None,
                   stats=None, peaks=Peaks(), samples=[], oom_events=[], items_ok=0, items_failed=0,
                   failed_items=[], message=f"never started: {never.reason}")


def _wait_exit(sandbox: Sandbox, clock: Callable[[], float], exit_code: int | None) -> int | None:
    """After a kill, give the main worker a moment to die, to tell who the victim was."""
    deadline = clock() + VICTIM_WAIT_SECONDS
    while exit_code is None and clock() < deadline:
        time.sleep(0.01)
        exit_code = sandbox.poll()
    return exit_code


def _oom_events(count: int, t_seconds: float, usage_bytes: int, items_ok: int, main_died: bool) -> list[OomEvent]:
    """One entry per kill; when the main worker died of it, it was the last victim."""
    victims = ["pool_worker"] * count
    if main_died:
        victims[-1] = "main"
    return [OomEvent(t_seconds=round(t_seconds, 3), usage_bytes=usage_bytes, items_ok=items_ok, victim=v)
            for v in victims]
