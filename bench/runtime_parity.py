"""Runtime parity: does a container measure the same as a bare cgroup?

The same strategy, batch, workers and caps run on the cgroup runtime and on the docker runtime in
interleaved pairs (cgroup-docker, docker-cgroup, ...: drift over the session favours neither);
each runtime prepares the batch and reference outputs once, outside timing. Printed, never asserted:
  * throughput ratio docker/cgroup (items_ok / work_seconds): median and range; target within 10%
  * peak working set ratio docker/cgroup (the cgroup's own figure): median and range; target 15%
  * start-to-first-item seconds in each runtime (from just before the sandbox is started to the
    first item's start as the worker timed it) and the container's extra, median over pairs.
    Resolution ~0.1 s: progress lines are picked up on the supervisor's 100 ms tick, in both runtimes.
Needs root, a Docker engine and a current worker image (`kit build`). Exit 0 unless a run fails.

    sudo .venv/bin/python bench/runtime_parity.py                      # 5 pairs, 32 1080p images
    sudo .venv/bin/python bench/runtime_parity.py --pairs 7 --images 200 --resolution 4k --mem-limit 1g
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from kit.plan import config as configuration
from kit.plan.cells import Cell
from kit.results.observer import RunObserver
from kit.results.records import StrategyRecord
from kit.run.choose import select_runtime as select
from kit.run.runner import Runner
from kit.worker.programs import program
from kit.worker.protocol import ItemEvent


class FirstItem(RunObserver):
    """When each sandbox was asked for, and when its first item started (controller's clock)."""

    def __init__(self) -> None:
        self.started: dict[Cell, float] = {}
        self.first: dict[Cell, float] = {}

    def cell_started(self, cell: Cell, items_total: int) -> None:
        self.started[cell] = time.monotonic()

    def item_done(self, cell: Cell, event: ItemEvent) -> None:
        if cell not in self.first:  # back-date by the item's own duration to its start
            self.first[cell] = time.monotonic() - (event.end - event.start)

    def seconds(self, cell: Cell) -> float:
        return self.first[cell] - self.started[cell]


def spread(values: list[float], digits: int = 3) -> str:
    return f"{statistics.median(values):.{digits}f} (min {min(values):.{digits}f}, max {max(values):.{digits}f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategy", default="python-threads")
    parser.add_argument("--pairs", type=int, default=5, help="interleaved cgroup/docker pairs (>= 5 for a claim)")
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--distinct-images", type=int, default=8)
    parser.add_argument("--resolution", default="1080p")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mem-limit", default=None)
    parser.add_argument("--cpus", type=float, default=None)
    parser.add_argument("--out", type=Path, default=None, help="keep the two run directories here")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="kit-parity-"))
    plan = configuration.build(strategies=[args.strategy], items=args.images, resolution=args.resolution,
                               workers=args.workers, mem_limit=args.mem_limit, cpus=args.cpus, out=out,
                               metrics_port=0, pool_size=args.distinct_images)
    runners: dict[str, Runner] = {}
    watchers: dict[str, FirstItem] = {}
    for name in ("cgroup", "docker"):
        runtime, _ = select(name)
        watchers[name] = FirstItem()
        runners[name] = Runner(plan, runtime, watchers[name], argv=[sys.argv[0], name])
        runners[name].start([Cell(args.strategy, 0, program(args.strategy).effective_workers(plan.workers),
                                  plan.memory_limit_bytes, plan.cpus)])
    records: dict[str, list[StrategyRecord]] = {"cgroup": [], "docker": []}
    firsts: dict[str, list[float]] = {"cgroup": [], "docker": []}
    print(f"{args.strategy}: {args.images} x {args.resolution}, {plan.workers} workers, "
          f"cap {args.mem_limit or 'none'}, cpus {args.cpus or 'none'}; {args.pairs} interleaved pairs")
    print("pair  order          cgroup items/s  docker items/s  cgroup peak MiB  docker peak MiB  "
          "first item s (cgroup/docker)")
    for pair in range(args.pairs):
        order = ("cgroup", "docker") if pair % 2 == 0 else ("docker", "cgroup")
        cell = Cell(args.strategy, pair, program(args.strategy).effective_workers(plan.workers),
                    plan.memory_limit_bytes, plan.cpus)
        for name in order:
            record = runners[name].run_cell(cell)
            if record.status != "ok" or not record.throughput_items_per_second:
                print(f"{name} pair {pair}: {record.status} ({record.message}); see {runners[name].run_dir}")
                return 1
            records[name].append(record)
            firsts[name].append(watchers[name].seconds(cell))
        c, d = records["cgroup"][-1], records["docker"][-1]
        print(f"{pair:>4}  {'-'.join(order):<13}  {c.throughput_items_per_second:>14.2f}  "
              f"{d.throughput_items_per_second:>14.2f}  {c.peak_memory_bytes / 2**20:>15.1f}  "
              f"{d.peak_memory_bytes / 2**20:>15.1f}  {firsts['cgroup'][-1]:.3f} / {firsts['docker'][-1]:.3f}")
    throughput = [d.throughput_items_per_second / c.throughput_items_per_second  # type: ignore[operator]
                  for c, d in zip(records["cgroup"], records["docker"], strict=True)]
    memory = [d.peak_memory_bytes / c.peak_memory_bytes for c, d in zip(records["cgroup"], records["docker"],
                                                                          strict=True)]
    extra = [d - c for c, d in zip(firsts["cgroup"], firsts["docker"], strict=True)]
    print(f"\nthroughput docker/cgroup:       {spread(throughput)}  (target: within 0.90-1.10)")
    print(f"peak working set docker/cgroup: {spread(memory)}  (target: within 0.85-1.15)")
    print(f"start to first item, cgroup:    {spread(firsts['cgroup'])} s")
    print(f"start to first item, docker:    {spread(firsts['docker'])} s")
    print(f"container start overhead:       {spread(extra)} s (docker minus cgroup, per pair)")
    if args.pairs < 5:
        print(f"note: {args.pairs} pairs; a parity claim needs at least 5 (product.md section 5)")
    print(f"runs: {runners['cgroup'].run_dir}  {runners['docker'].run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
