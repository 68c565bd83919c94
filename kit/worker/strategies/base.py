"""What a Python strategy is: spread items over workers, report each finished item."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from kit.worker.programs import DEFAULT_CHUNKSIZE, DEFAULT_START_METHOD
from kit.worker.protocol import ItemEvent
from kit.worker.workloads.base import Item, ItemFailed, Workload
from kit.worker.workloads.geometry import DEFAULT_LIBRARY

Report = Callable[[ItemEvent], None]


@dataclass(frozen=True, slots=True)
class StrategyOptions:
    workers: int
    start_method: str = DEFAULT_START_METHOD
    origin: float = 0.0          # time.monotonic() at the worker's start; events are relative to it
    chunksize: int = DEFAULT_CHUNKSIZE   # tasks per message of a multiprocessing.Pool (pool strategies only)
    library: str = DEFAULT_LIBRARY  # the images workload's library (--library): opencv or pillow


class Strategy(Protocol):
    """Runs every item through the workload; calls `report` from the worker's main thread."""

    def __call__(self, items: Sequence[Item], workload_name: str, options: StrategyOptions,
                 report: Report) -> None: ...


def run_item(workload: Workload, item: Item, origin: float) -> ItemEvent:
    """Process one item; a bad input becomes a failed event, never an exception."""
    start = time.monotonic()
    reason: str | None = None
    stages = None
    try:
        stages = workload.process(item)
    except ItemFailed as exc:
        reason = str(exc)
    end = time.monotonic()
    return ItemEvent(index=item.index, name=item.name, ok=reason is None,
                     start=start - origin, end=end - origin, reason=reason, stages=stages)
