"""python-threads: a ThreadPoolExecutor; parallel only where the workload releases the GIL."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

from kit.worker.strategies.base import Report, StrategyOptions, run_item
from kit.worker.workloads import Item, workload_for


def run(items: Sequence[Item], workload_name: str, options: StrategyOptions, report: Report) -> None:
    workload = workload_for(workload_name, options.library)
    workload.setup()
    with ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="kit") as pool:
        futures = [pool.submit(run_item, workload, item, options.origin) for item in items]
        for future in as_completed(futures):
            report(future.result())
