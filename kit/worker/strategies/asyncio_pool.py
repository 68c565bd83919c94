"""python-asyncio: an event loop awaiting `run_in_executor` over a ProcessPoolExecutor (seed 001).

Every task is a coroutine in one TaskGroup; the loop reports each as it completes. The
executor's processes are started with the chosen start method, like python-processes'.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from kit.worker.protocol import ItemEvent
from kit.worker.strategies.base import Report, StrategyOptions
from kit.worker.strategies.pool_watch import PoolWatch
from kit.worker.strategies.processes import _init, _task
from kit.worker.workloads import Item


async def _main(items: Sequence[Item], workload_name: str, options: StrategyOptions, report: Report) -> None:
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context(options.start_method)
    with PoolWatch(context) as watch, ProcessPoolExecutor(
            max_workers=options.workers, mp_context=watch.context,
            initializer=_init, initargs=(workload_name, options.origin, options.library)) as executor:

        async def request(item: Item) -> None:
            event: ItemEvent = await loop.run_in_executor(executor, _task, item)
            report(event)   # on the loop, i.e. the worker's main thread

        try:
            async with asyncio.TaskGroup() as group:
                for item in items:
                    group.create_task(request(item))
        finally:  # a dead pool process is named, not an ExceptionGroup of BrokenProcessPool
            watch.stop()


def run(items: Sequence[Item], workload_name: str, options: StrategyOptions, report: Report) -> None:
    asyncio.run(_main(items, workload_name, options, report))
