"""python-sequential: one item after another, the baseline every speedup is measured against."""

from __future__ import annotations

from collections.abc import Sequence

from kit.worker.strategies.base import Report, StrategyOptions, run_item
from kit.worker.workloads import Item, workload_for


def run(items: Sequence[Item], workload_name: str, options: StrategyOptions, report: Report) -> None:
    workload = workload_for(workload_name, options.library)
    workload.setup()
    for item in items:
        report(run_item(workload, item, options.origin))
