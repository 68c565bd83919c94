"""What the sandbox's entry point costs: the worker started through the CLI, as before issue 12
(`python -m kit worker`, which loaded kit.cli.app with typer, click and rich into the sandbox), against
`python -m kit.worker` (argparse only). The CLI's worker command is gone; the "cli" side here
imports kit.cli.app, parses a one-option typer command (typer loads its parser machinery, pydantic
included, only then) and runs kit.worker: 328 modules against the old entry's 329.

The same strategy, batch and workers run on the cgroup runtime in interleaved pairs (cli-module,
module-cli, ...); each pair's two sandboxes differ only in the entry point. Printed, never asserted:
the peak working set of each (the cgroup's own figure, what a memory cap is measured against), the
difference per pair, and the throughput ratio. Needs root (cgroups).

    sudo .venv/bin/python bench/worker_entry.py --resolution 1080p -s python-sequential
    sudo .venv/bin/python bench/worker_entry.py --resolution 4k -s python-processes --workers 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from kit.plan import config as configuration
from kit.plan.cells import Cell, cell
from kit.results.observer import RunObserver
from kit.results.records import StrategyRecord
from kit.run import sandboxes as sandboxes_module
from kit.run.choose import select_runtime
from kit.run.runner import Runner
from kit.runtimes.base import SandboxPaths

Command = Callable[[SandboxPaths], list[str]]

CLI_FIRST = """
import runpy, typer, kit.cli.app
app = typer.Typer(add_completion=False)
app.command()(lambda strategy='': None)
app(args=[], standalone_mode=False)
runpy.run_module('kit.worker', run_name='__main__', alter_sys=True)
"""


def through_the_cli(command: Command) -> Command:
    """The same worker with the CLI loaded first, as sandboxes were started before issue 12."""
    def argv(paths: SandboxPaths) -> list[str]:
        words = command(paths)
        at = words.index("-m")
        return [*words[:at], "-c", CLI_FIRST, *words[at + 2:]]

    return argv


def spread(values: list[float], digits: int = 1) -> str:
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-s", "--strategy", default="python-sequential")
    parser.add_argument("--pairs", type=int, default=5, help="interleaved pairs (>= 5 for a claim)")
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--distinct-images", type=int, default=8)
    parser.add_argument("--resolution", default="1080p")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="kit-entry-"))
    plan = configuration.build(strategies=[args.strategy], items=args.images, resolution=args.resolution,
                               workers=args.workers, out=out, metrics_port=0, pool_size=args.distinct_images,
                               runtime="cgroup")
    runtime, _ = select_runtime("cgroup")
    runner = Runner(plan, runtime, RunObserver(), argv=[sys.argv[0]])
    first = cell(args.strategy, 0, plan.workers, None, None)
    runner.start([first])
    module_command = sandboxes_module.worker_command   # a bench script swaps the entry point

    def cli_command(planned: Cell, config: configuration.RunConfig) -> Command:
        return through_the_cli(module_command(planned, config))

    records: dict[str, list[StrategyRecord]] = {"cli": [], "module": []}
    print(f"{args.strategy}: {args.images} x {args.resolution}, {first.workers} workers, cgroup runtime; "
          f"{args.pairs} interleaved pairs")
    print("pair  order        peak MiB cli  peak MiB module  items/s cli  items/s module")
    for pair in range(args.pairs):
        order = ("cli", "module") if pair % 2 == 0 else ("module", "cli")
        for entry in order:
            sandboxes_module.worker_command = cli_command if entry == "cli" else module_command  # type: ignore[assignment]
            record = runner.run_cell(cell(args.strategy, pair * 2 + order.index(entry), plan.workers, None, None))
            if record.status != "ok" or not record.throughput_items_per_second:
                print(f"{entry} pair {pair}: {record.status} ({record.message}); see {runner.run_dir}")
                return 1
            records[entry].append(record)
        c, m = records["cli"][-1], records["module"][-1]
        print(f"{pair:>4}  {'-'.join(order):<11}  {c.peak_memory_bytes / 2**20:>12.1f}  "
              f"{m.peak_memory_bytes / 2**20:>15.1f}  {c.throughput_items_per_second:>11.2f}  "
              f"{m.throughput_items_per_second:>14.2f}")
    sandboxes_module.worker_command = module_command
    cli = [r.peak_memory_bytes / 2**20 for r in records["cli"]]
    module = [r.peak_memory_bytes / 2**20 for r in records["module"]]
    saved = [c - m for c, m in zip(cli, module, strict=True)]
    speed = [m.throughput_items_per_second / c.throughput_items_per_second  # type: ignore[operator]
             for c, m in zip(records["cli"], records["module"], strict=True)]
    print(f"\npeak working set, CLI loaded first:      {spread(cli)} MiB")
    print(f"peak working set, python -m kit.worker: {spread(module)} MiB")
    print(f"saved per sandbox (cli - module):       {spread(saved)} MiB")
    print(f"throughput module/cli:                  {spread(speed, 3)}")
    print(f"run: {runner.run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
