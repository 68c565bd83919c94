"""Seed 001's serialization test: every task gets one large string and returns its length.

The string is built once in the worker's main process (outside the timed work) and handed to
every task as its argument, so a strategy that pickles arguments to other processes copies it
once per task while threads and the sequential loop pass a reference.

Each task returns the length and a digest of what it received (Go's tasks the same, in
kit/go/internal/tasks): sha256 of every DIGEST_STRIDE-th character and the last one. Sampled on
purpose: a digest of all 10^8 characters would cost every task 0.1-0.3 s in both languages, more
than Go's whole task, and the figure would measure hashing instead of handing the string over;
the sample costs microseconds and still tells a whole, right string from a cut or altered one
(the length catches a cut, the sample a string rebuilt or garbled on the way).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from kit.worker.workloads.base import PAYLOAD_STAGES, Item, ItemFailed, Session, Stages, write_result

DEFAULT_PAYLOAD_BYTES = 10**8     # seed 001's string of 100 million characters
# What the worker itself needs beside the string (interpreter, kit, a pool's bookkeeping):
# a cap below size + this can never hold the payload, so the run is refused before it starts.
PAYLOAD_OVERHEAD_BYTES = 32 * 2**20


DIGEST_STRIDE = 4096
PAYLOAD_CHAR = "1"   # seed 001's string: "1" repeated


def build(size: int) -> str:
    """Seed 001's payload of `size` characters."""
    return PAYLOAD_CHAR * size


def digest(payload: str) -> str:
    """sha256 (16 hex digits) of every DIGEST_STRIDE-th character and the last: see the module doc."""
    return hashlib.sha256((payload[::DIGEST_STRIDE] + payload[-1:]).encode("utf-8")).hexdigest()[:16]


def result(payload: str) -> str:
    """What a task writes: "<length> <digest>"."""
    return f"{len(payload)} {digest(payload)}"


def expected_result(size: int) -> str:
    """The result of a task handed build(size) intact, computed from its sample alone (the
    controller never builds the whole string)."""
    sample = PAYLOAD_CHAR * len(range(0, size, DIGEST_STRIDE)) + PAYLOAD_CHAR * (size > 0)
    return f"{size} {hashlib.sha256(sample.encode('utf-8')).hexdigest()[:16]}"


def check(task: Mapping[str, Any], name: str, text: str) -> str | None:
    """None when the task returned the payload's length and digest."""
    expected = expected_result(int(task["size_bytes"]))
    got = text.strip()
    if got == expected:
        return None
    if got.split(" ")[0] != expected.split(" ")[0]:
        return f"length {got.split(' ')[0][:20]!r}, expected {expected.split(' ')[0]}"
    return f"digest {got[len(expected.split(' ')[0]) + 1:][:20]!r}, expected {expected.split(' ')[1]}"


class Handed:
    """The payload as every task gets it, measuring its own trip when a strategy pickles it to another
    process (seed 001's cost): pickling writes a start mark, the string, then an end mark, so the
    pickling thread's CPU between the marks is `serialize`; unpickling reads the same marks in the
    task's process, so its CPU between them is `deserialize`; `transfer` is the wall time from the
    end of pickling to the start of unpickling (the pipe, and waiting for a free worker). Nothing
    is copied beyond what the strategy's pickling copies anyway. Threads and the sequential loop
    pass the object itself: all three are 0."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        start = _Mark()
        return _arrived, (start, self.value, _EndMark(start))

    def take(self) -> tuple[str, Stages]:
        """The string, and what handing it over cost this task."""
        return self.value, dict.fromkeys(PAYLOAD_STAGES, 0.0)


class _Mark:
    """Pickled just before the string: notes the pickling thread's CPU clock."""

    __slots__ = ("cpu",)

    def __init__(self) -> None:
        self.cpu = 0.0

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        self.cpu = time.thread_time()
        return _clocks, ()


class _EndMark:
    """Pickled just after the string: carries the pickling CPU and when it ended."""

    __slots__ = ("start",)

    def __init__(self, start: _Mark) -> None:
        self.start = start

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _clocks, (time.thread_time() - self.start.cpu, time.time())


def _clocks(serialize: float = 0.0, sent: float = 0.0) -> tuple[float, float, float, float]:
    """Unpickled around the string in the task's process: (thread CPU, wall, serialize, sent)."""
    return time.thread_time(), time.time(), serialize, sent


class Received:
    """A payload unpickled in a task's process. Tasks of one pool message share it (pickle writes
    the string once per message): the first takes the stages, the others get zeros."""

    __slots__ = ("stages", "value")

    def __init__(self, value: str, stages: Stages) -> None:
        self.value, self.stages = value, stages

    def take(self) -> tuple[str, Stages]:
        stages, self.stages = self.stages, dict.fromkeys(PAYLOAD_STAGES, 0.0)
        return self.value, stages


def _arrived(start: tuple[float, float, float, float], value: str,
             end: tuple[float, float, float, float]) -> Received:
    serialize, sent = end[2], end[3]
    return Received(value, {"serialize": serialize, "transfer": max(0.0, start[1] - sent),
                            "deserialize": max(0.0, end[0] - start[0])})


class PayloadWorkload:
    name = "payload"

    def setup(self) -> None:
        pass

    def process(self, item: Item) -> Stages:
        if not isinstance(item.argument, Handed | Received):
            raise ItemFailed("no payload: the worker's session did not run")
        payload, stages = item.argument.take()
        write_result(item, result(payload))
        return stages

    @contextmanager
    def session(self, items: Sequence[Item]) -> Iterator[Session]:
        size = int(items[0].task["size_bytes"]) if items else 0
        started = time.monotonic()
        payload = build(size)   # one str shared by every item: copies happen only where a strategy makes them
        yield Session(argument=Handed(payload), notes={"payload_bytes": size,
                                               "build_seconds": round(time.monotonic() - started, 4)})
