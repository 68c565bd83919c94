"""What a workload is: one job per item, run inside a worker (any strategy, any sandbox).

Two kinds: file workloads (images: an input file in, an output file out) and task workloads
(pi, count, payload, io: per-task parameters from the manifest in, the task's result written as
text to its output file, so the controller verifies tasks the way it verifies images).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Item:
    """One unit of work; paths are as the worker sees them inside its sandbox."""

    index: int
    name: str
    input_path: str
    output_path: str
    task: Mapping[str, Any] = field(default_factory=dict)   # a task's parameters (manifest `task`)
    argument: Any = None    # what the worker's session hands every task (payload string, server URL)
    problem: str | None = None   # the controller's verdict on a bad input; None for a good one


Stages = dict[str, float]   # CPU seconds of one item's stages on the thread that did them (stage_seconds)
IMAGE_STAGES: tuple[str, ...] = ("read", "decode", "resize", "encode", "write")
PAYLOAD_STAGES: tuple[str, ...] = ("serialize", "transfer", "deserialize")


class StageClock:
    """Where one item's CPU goes, stage by stage: `time.thread_time()` read once per stage boundary
    (the working thread's own CPU, so a pool's other workers and the sampler never count). Six clock
    reads per image, a few microseconds against tens of milliseconds of work (README: measurement)."""

    __slots__ = ("_last", "seconds")

    def __init__(self) -> None:
        self.seconds: Stages = {}
        self._last = time.thread_time()

    def lap(self, stage: str) -> None:
        """The CPU since the previous lap (or the start) is `stage`'s."""
        now = time.thread_time()
        self.seconds[stage] = now - self._last
        self._last = now


class ItemFailed(Exception):
    """This item cannot be processed (bad input); the batch goes on."""


@dataclass(frozen=True, slots=True)
class Session:
    """Made once in the worker's main process, outside the timed work, for the whole batch."""

    argument: Any = None                                   # set on every item before the strategy runs
    notes: dict[str, Any] = field(default_factory=dict)    # what it cost, recorded in results


class Workload(Protocol):
    """Per-item work. `setup` runs once in every process that calls `process`, which returns the
    item's stages (IMAGE_STAGES, PAYLOAD_STAGES) or None for a workload without any."""

    name: str

    def setup(self) -> None: ...

    def process(self, item: Item) -> Stages | None: ...

    def session(self, items: Sequence[Item]) -> AbstractContextManager[Session]: ...


@contextmanager
def no_session(items: Sequence[Item]) -> Iterator[Session]:
    """Most workloads need nothing set up around the batch."""
    yield Session()


def write_output(path: str, data: bytes) -> None:
    """Write one output under a temporary name in the same directory, then rename it: a full disk or
    a killed worker never leaves a truncated file that looks like a finished output (--skip-current
    would keep it). The mode is a plain open()'s (0666 minus the umask)."""
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        with suppress(OSError):
            os.unlink(tmp)
        raise ItemFailed(f"cannot write output: {exc.strerror or exc}") from exc


def write_result(item: Item, value: object) -> None:
    """A task's result as one line of text in its output file (what verification reads)."""
    write_output(item.output_path, f"{value}\n".encode())
