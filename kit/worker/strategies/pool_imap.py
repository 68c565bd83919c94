"""python-pool-imap and python-pool-imap-unordered: multiprocessing.Pool, as in seed 002.

`imap` hands results back in submission order (a slow early task holds back the later ones'
reports); `imap_unordered` as they finish. `chunksize` tasks travel per pool message.
A Pool waits forever for a result whose process was killed (an OOM kill, say): the controller
ends the sandbox when the cgroup's OOM counter moves (kit/run/supervisor.py), and any other death
ends the worker through its PoolWatch (kit/worker/strategies/pool_watch.py), so the run goes on.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
from collections.abc import Sequence

from kit.worker.strategies.base import Report, StrategyOptions
from kit.worker.strategies.pool_watch import PoolWatch
from kit.worker.strategies.processes import _init, _task
from kit.worker.workloads import Item


def _run(items: Sequence[Item], workload_name: str, options: StrategyOptions, report: Report,
         ordered: bool) -> None:
    context = multiprocessing.get_context(options.start_method)
    # A killed pool process would leave Pool waiting forever: the watch ends the strategy instead.
    with PoolWatch(context) as watch, multiprocessing.pool.Pool(
            processes=options.workers, initializer=_init, initargs=(workload_name, options.origin, options.library),
            context=watch.context) as pool:
        try:
            deliver = pool.imap if ordered else pool.imap_unordered
            for event in deliver(_task, items, chunksize=options.chunksize):
                report(event)
        finally:
            watch.stop()


def run_imap(items: Sequence[Item], workload_name: str, options: StrategyOptions, report: Report) -> None:
    _run(items, workload_name, options, report, ordered=True)


def run_imap_unordered(items: Sequence[Item], workload_name: str, options: StrategyOptions,
                       report: Report) -> None:
    _run(items, workload_name, options, report, ordered=False)
