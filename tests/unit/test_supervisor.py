"""supervise(): the decisions that turn a sandbox's life into an outcome.

Why a fake Sandbox here: these tests pin the supervisor's decisions — status ok / failed /
oom_killed / timeout (and stall) / interrupted, the OOM victim (main worker or pool worker),
work_seconds from the item events, the samples kept — exactly and deterministically, tick by
tick, which a real worker under a real memory cap cannot do (when the kernel kills, and which
process, depends on timing). The fake follows a script: at each supervisor tick the worker has
printed some lines, has or has not exited, and the cgroup shows some figures. The fake clock
advances on every reading, so timeouts need no real waiting. Real cgroups, real OOM kills and
real workers are covered by the integration tests.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from kit.measure.cgroupstat import CgroupStats
from kit.measure.monitor import Sample
from kit.results.records import FailedItem
from kit.run import supervisor
from kit.run.supervisor import Limits, Outcome, supervise
from kit.worker.protocol import DoneEvent, Event, ItemEvent, StartEvent, format_event

MIB = 2**20
SIGKILLED = -signal.SIGKILL


@dataclass
class Tick:
    """What the sandbox looks like during one supervisor tick."""

    lines: list[Event | str] = field(default_factory=list)   # printed during this tick
    exit_code: int | None = None                             # the main worker has exited
    usage: int = 0
    inactive_file: int = 0
    cpu: float = 0.0
    oom_kills: int = 0
    interrupt: bool = False                                  # Ctrl-C arrives
    throttled: float = 0.0                                   # cpu.stat: seconds throttled so far
    throttled_periods: int = 0                               # cpu.stat: periods throttled so far


class ScriptedPipe:
    """The worker's stdout: hands lines to the supervisor's reader thread as the script releases
    them, and tells when the reader has processed every released line (so a tick's lines are in
    the supervisor's queue before the next tick begins: no race with the reader thread)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.released: list[str] = []
        self.served = 0        # lines handed to the reader
        self.processed = 0     # lines the reader has come back from (parsed and queued)
        self.closed = False
        self.finished = False

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        with self.cond:
            self.processed = self.served
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.served < len(self.released) or self.closed, timeout=10)
            if self.served < len(self.released):
                self.served += 1
                return self.released[self.served - 1]
            self.finished = True
            self.cond.notify_all()
            raise StopIteration

    def release(self, lines: list[str], close: bool) -> None:
        with self.cond:
            self.released += lines
            self.closed = self.closed or close
            self.cond.notify_all()
            assert self.cond.wait_for(lambda: self.processed >= len(self.released) or self.finished,
                                      timeout=10), "the supervisor's reader thread did not read"

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


class FakeSandbox:
    """A Sandbox (kit/runtimes/base.py) that follows a script of ticks; stats() ends a tick."""

    def __init__(self, ticks: list[Tick], stderr: str = "") -> None:
        self.ticks, self.stderr = ticks, stderr
        self.stdout = ScriptedPipe()
        self.notes: dict[str, str] = {}
        self.index = -1
        self.stopped = False
        self.interrupted = False
        self.peak = 0

    @property
    def tick(self) -> Tick:
        return self.ticks[min(self.index, len(self.ticks) - 1)]

    def _enter_next(self) -> None:
        self.index += 1
        if self.index < len(self.ticks):
            tick = self.ticks[self.index]
            lines = [line if isinstance(line, str) else format_event(line) for line in tick.lines]
            self.stdout.release([line + "\n" for line in lines], close=tick.exit_code is not None)

    def poll(self) -> int | None:
        if self.index < 0:
            self._enter_next()
        if self.tick.interrupt and not self.interrupted:
            self.interrupted = True
            raise KeyboardInterrupt
        if self.stopped and self.tick.exit_code is None:
            return SIGKILLED       # stop() killed it
        return self.tick.exit_code

    def stats(self) -> CgroupStats:
        if self.index < 0:
            self._enter_next()
        tick = self.tick
        self.peak = max(self.peak, tick.usage)
        stats = CgroupStats(usage_bytes=tick.usage, working_set_bytes=tick.usage - tick.inactive_file,
                            peak_usage_bytes=self.peak, cpu_seconds=tick.cpu,
                            throttled_seconds=tick.throttled, oom_kills=tick.oom_kills,
                            throttled_periods=tick.throttled_periods)
        self._enter_next()
        return stats

    def pids(self) -> list[int]:
        return []

    def stop(self) -> None:
        self.stopped = True
        self.stdout.close()

    def close(self) -> None:
        self.stop()

    def stderr_tail(self) -> str:
        return self.stderr


class FakeClock:
    def __init__(self, step: float = 0.25) -> None:
        self.now, self.step = 100.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture(autouse=True)
def fast_ticks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real sleeps between ticks are only pacing; the fake clock decides every limit."""
    monkeypatch.setattr(supervisor, "TICK_SECONDS", 0.001)


def item(index: int, start: float, end: float, ok: bool = True, reason: str | None = None) -> ItemEvent:
    return ItemEvent(index=index, name=f"{index:02d}.jpg", ok=ok, start=start, end=end, reason=reason)


START = StartEvent(pid=7, workers=2, concurrency={"start_method": "fork"})
LIMITS = Limits(timeout_seconds=900, stall_seconds=120)


def run(ticks: list[Tick], limits: Limits = LIMITS, stderr: str = "", events: list[Event] | None = None,
        samples: list[Sample] | None = None) -> tuple[Outcome, FakeSandbox]:
    sandbox = FakeSandbox(ticks, stderr)
    outcome = supervise(sandbox, limits, on_event=(events if events is not None else []).append,
                        on_sample=(samples if samples is not None else []).append, clock=FakeClock())
    assert sandbox.stopped, "the supervisor always leaves the sandbox stopped"
    return outcome, sandbox


def test_ok() -> None:
    events: list[Event] = []
    outcome, _ = run([
        Tick([START], usage=20 * MIB, cpu=0.1),
        Tick([item(0, 1.0, 1.5), item(1, 1.1, 1.4, ok=False, reason="truncated JPEG")], usage=80 * MIB,
             inactive_file=10 * MIB, cpu=0.5),
        Tick([item(2, 1.5, 2.25), DoneEvent(items_ok=2, items_failed=1)], exit_code=0, usage=60 * MIB,
             cpu=1.2),
    ], events=events)
    assert outcome.status == "ok" and outcome.exit_code == 0 and outcome.message is None
    assert (outcome.items_ok, outcome.items_failed) == (2, 1)
    assert outcome.failed_items == [FailedItem(name="01.jpg", reason="truncated JPEG")]
    assert outcome.work_seconds == pytest.approx(2.25 - 1.0)   # first item start to last item end
    assert outcome.oom_events == []
    assert outcome.concurrency == {"start_method": "fork"}
    assert outcome.peaks.working_set_bytes == 70 * MIB           # usage minus inactive file, at its peak
    assert outcome.peaks.usage_bytes == 80 * MIB
    assert len(events) == 5 and isinstance(events[-1], DoneEvent)


def test_items_finishing_out_of_order() -> None:
    """A pool reports items in any order: work time is still first start to last end."""
    outcome, _ = run([
        Tick([START, item(3, 2.0, 5.0), item(0, 0.5, 1.0)]),
        Tick([item(1, 0.75, 6.0), item(2, 1.0, 2.0), DoneEvent(4, 0)], exit_code=0),
    ])
    assert outcome.status == "ok"
    assert outcome.work_seconds == pytest.approx(6.0 - 0.5)


def test_rejected_items_count_as_failed_but_stay_out_of_the_work_window() -> None:
    """Items the controller judged bad are reported before the pool starts: failed, with its
    reason, and no part of the work time (which starts at the first processed item)."""
    bomb = ItemEvent(index=0, name="bomb.jpg", ok=False, start=0.01, end=0.01, reason="too large", rejected=True)
    outcome, _ = run([Tick([START, bomb]), Tick([item(1, 2.0, 3.0), DoneEvent(1, 1)], exit_code=0)])
    assert (outcome.items_ok, outcome.items_failed) == (1, 1)
    assert outcome.failed_items == [FailedItem(name="bomb.jpg", reason="too large")]
    assert outcome.work_seconds == pytest.approx(1.0)


def test_no_item_means_no_work_time() -> None:
    outcome, _ = run([Tick([START, DoneEvent(0, 0)], exit_code=0)])
    assert outcome.status == "ok" and outcome.work_seconds is None


def test_nonzero_exit_is_failed_with_the_stderr_tail() -> None:
    outcome, _ = run([Tick([START, item(0, 1, 2)]), Tick(exit_code=1)],
                     stderr="ValueError: worker broke")
    assert outcome.status == "failed" and outcome.exit_code == 1
    assert outcome.message == "ValueError: worker broke"
    assert outcome.items_ok == 1


def test_exit_zero_without_done_is_failed() -> None:
    """The worker must say it attempted every item; a silent exit 0 is not success."""
    outcome, _ = run([Tick([START, item(0, 1, 2)]), Tick(exit_code=0)])
    assert outcome.status == "failed" and outcome.message == "worker exited with code 0"


def test_chatter_on_stdout_is_ignored() -> None:
    outcome, _ = run([Tick([START, "[ WARN:0] libpng warning", item(0, 1, 2), "", DoneEvent(1, 0)],
                           exit_code=0)])
    assert outcome.status == "ok" and outcome.items_ok == 1


def test_oom_kill_of_the_main_worker() -> None:
    outcome, _ = run([
        Tick([START], usage=50 * MIB),
        Tick([item(0, 1, 2), item(1, 1, 2.5)], usage=240 * MIB),
        Tick([item(2, 2, 3)], usage=250 * MIB),
        Tick(usage=10 * MIB, oom_kills=1, exit_code=SIGKILLED),
    ])
    assert outcome.status == "oom_killed" and outcome.exit_code == SIGKILLED
    [event] = outcome.oom_events
    assert event.victim == "main"
    assert event.usage_bytes == 250 * MIB      # the last figure before the kill, not the emptied group
    assert event.items_ok == 3
    assert 0 < event.t_seconds <= outcome.wall_seconds


def test_oom_kill_of_a_pool_worker_ends_a_hanging_pool() -> None:
    """multiprocessing.Pool waits forever once one of its processes is killed: the OOM counter,
    not the main worker's exit, must end the strategy."""
    outcome, sandbox = run([
        Tick([START, item(0, 1, 2)], usage=100 * MIB),
        Tick(usage=200 * MIB, oom_kills=1),          # a pool process dies; the main worker lives on
        Tick(usage=150 * MIB, oom_kills=1),          # ... and would wait forever
    ], limits=Limits(timeout_seconds=10_000, stall_seconds=10_000))
    assert outcome.status == "oom_killed"
    [event] = outcome.oom_events
    assert event.victim == "pool_worker" and event.items_ok == 1 and event.usage_bytes == 100 * MIB
    assert outcome.exit_code == SIGKILLED           # stopped by the supervisor


def test_main_worker_dying_a_moment_after_the_kill_is_the_victim() -> None:
    outcome, _ = run([Tick([START], usage=MIB), Tick(usage=200 * MIB, oom_kills=1),
                      Tick(exit_code=SIGKILLED)])
    assert [e.victim for e in outcome.oom_events] == ["main"]


def test_several_kills_at_once() -> None:
    """Two pool processes and then the main worker (Docker reports 128 + 9)."""
    outcome, _ = run([Tick([START], usage=MIB), Tick(usage=200 * MIB, oom_kills=2, exit_code=137)])
    assert outcome.status == "oom_killed" and outcome.exit_code == 137
    assert [e.victim for e in outcome.oom_events] == ["pool_worker", "main"]


def test_pool_worker_killed_then_main_exits_nonzero() -> None:
    """A kill inside counts even when the main worker survives it and exits with an error."""
    outcome, _ = run([Tick([START], usage=MIB), Tick(usage=200 * MIB, oom_kills=1, exit_code=1)])
    assert outcome.status == "oom_killed" and outcome.exit_code == 1
    assert [e.victim for e in outcome.oom_events] == ["pool_worker"]


def test_kill_seen_only_after_exit() -> None:
    outcome, _ = run([
        Tick([START, item(0, 1, 2)], usage=100 * MIB),
        Tick(usage=120 * MIB, exit_code=1),
        Tick(usage=0, oom_kills=1, exit_code=1),   # the final reading after the worker is gone
    ])
    assert outcome.status == "oom_killed"
    assert [(e.victim, e.items_ok) for e in outcome.oom_events] == [("pool_worker", 1)]


def test_timeout() -> None:
    ticks = [Tick([START])] + [Tick([item(i, i, i + 0.5)]) for i in range(100)]
    outcome, sandbox = run(ticks, limits=Limits(timeout_seconds=5.0, stall_seconds=100.0))
    assert outcome.status == "timeout" and "timeout" in (outcome.message or "")
    assert sandbox.index < 60        # ended by the clock, not by running out of script
    assert 0 < outcome.items_ok < 60


def test_stall() -> None:
    outcome, _ = run([Tick([START], usage=MIB), Tick(usage=MIB)],
                     limits=Limits(timeout_seconds=100.0, stall_seconds=3.0))
    assert outcome.status == "timeout" and "stalled" in (outcome.message or "")
    assert outcome.items_ok == 0 and outcome.work_seconds is None


def test_items_keep_a_slow_worker_from_stalling() -> None:
    ticks = [Tick([START])] + [Tick([item(i, i, i + 1)] if i % 4 == 0 else []) for i in range(40)]
    ticks.append(Tick([DoneEvent(10, 0)], exit_code=0))
    outcome, _ = run(ticks, limits=Limits(timeout_seconds=100.0, stall_seconds=1.5))
    assert outcome.status == "ok" and outcome.items_ok == 10


def test_ctrl_c_is_interrupted() -> None:
    outcome, sandbox = run([Tick([START, item(0, 1, 2)]), Tick(), Tick(interrupt=True)])
    assert outcome.status == "interrupted" and outcome.items_ok == 1
    assert sandbox.stopped


def test_samples_are_kept_and_end_with_the_final_figures() -> None:
    kept: list[Sample] = []
    outcome, _ = run([
        Tick([START], usage=10 * MIB, cpu=0.1),
        Tick([item(0, 1, 2)], usage=30 * MIB, inactive_file=5 * MIB, cpu=0.5),
        Tick([item(1, 2, 3), DoneEvent(2, 0)], usage=40 * MIB, cpu=1.0, exit_code=0),
        Tick(usage=8 * MIB, cpu=1.25, exit_code=0),                    # read after exit
    ], samples=kept)
    assert outcome.samples[:-1] == kept                                # every kept sample was shown live
    assert len(kept) >= 3
    times = [s.t_seconds for s in outcome.samples]
    assert times == sorted(times) and times[0] >= 0
    assert [s.working_set_bytes for s in kept[:3]] == [10 * MIB, 25 * MIB, 40 * MIB]
    final = outcome.samples[-1]
    assert (final.usage_bytes, final.cpu_seconds, final.items_ok) == (8 * MIB, 1.25, 2)
    assert final.t_seconds == pytest.approx(outcome.wall_seconds, abs=1e-3)
    assert outcome.stats is not None and outcome.stats.cpu_seconds == 1.25


def test_samples_carry_the_throttling_so_far() -> None:
    """CPU throttling is seen live, sample by sample (the metrics follow it), not only at the end."""
    kept: list[Sample] = []
    outcome, _ = run([
        Tick([START], cpu=0.1),
        Tick([item(0, 1, 2)], cpu=0.5, throttled=0.2, throttled_periods=3),
        Tick([item(1, 2, 3), DoneEvent(2, 0)], cpu=1.0, throttled=0.45, throttled_periods=7, exit_code=0),
        Tick(cpu=1.25, throttled=0.5, throttled_periods=8, exit_code=0),       # read after exit
    ], samples=kept)
    assert [(s.cpu_throttled_seconds, s.cpu_throttled_periods) for s in kept[:3]] == [(0, 0), (0.2, 3), (0.45, 7)]
    final = outcome.samples[-1]
    assert (final.cpu_throttled_seconds, final.cpu_throttled_periods) == (0.5, 8)
