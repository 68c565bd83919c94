"""python-processes: a ProcessPoolExecutor with the chosen start method (fork by default)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

from kit.worker.protocol import ItemEvent
from kit.worker.strategies.base import Report, StrategyOptions, run_item
from kit.worker.strategies.pool_watch import PoolWatch
from kit.worker.workloads import Item, Workload, workload_for

_workload: Workload | None = None
_origin = 0.0


def _init(workload_name: str, origin: float, library: str = "opencv") -> None:
    """Runs once in each pool process: its own workload object, set up there."""
    global _workload, _origin
    _workload = workload_for(workload_name, library)
    _workload.setup()
    _origin = origin


def _task(item: Item) -> ItemEvent:
    assert _workload is not None, "pool initializer did not run"
    return run_item(_workload, item, _origin)


def run(items: Sequence[Item], workload_name: str, options: StrategyOptions, report: Report) -> None:
    context = multiprocessing.get_context(options.start_method)
    with PoolWatch(context) as watch, ProcessPoolExecutor(
            max_workers=options.workers, mp_context=watch.context,
            initializer=_init, initargs=(workload_name, options.origin, options.library)) as pool:
        try:
            futures = [pool.submit(_task, item) for item in items]
            for future in as_completed(futures):
                report(future.result())
        finally:  # a dead pool process is named (its signal or exit code), not a bare BrokenProcessPool
            watch.stop()
