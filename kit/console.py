"""What the terminal shows: progress bars while strategies run, the study-style table after.

Formatting returns rich objects or lines; cli.py prints them (tests assert on the objects).
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from kit.observer import Cell, RunObserver
from kit.protocol import ItemEvent
from kit.results import Sample, StrategyRecord
from kit.units import format_bytes

STATUS_STYLE = {"ok": "green", "oom_killed": "bold red", "failed": "red", "timeout": "yellow",
                "interrupted": "yellow"}


class ProgressView(RunObserver):
    """One rich progress bar per sandbox, with live memory from the monitor's samples."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>10}"), TextColumn("mem {task.fields[memory]:>9}"),
            TimeElapsedColumn(), TextColumn("{task.fields[status]}"), console=console, transient=False)
        self.tasks: dict[Cell, TaskID] = {}
        self.first_end: dict[Cell, float] = {}

    def __enter__(self) -> ProgressView:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def phase(self, text: str) -> None:
        self.console.print(f"[dim]{text}[/dim]")

    def cell_started(self, cell: Cell, items_total: int) -> None:
        self.tasks[cell] = self.progress.add_task(cell.label, total=items_total, rate="", memory="-",
                                                  status="")

    def item_done(self, cell: Cell, event: ItemEvent) -> None:
        task = self.tasks[cell]
        start = self.first_end.setdefault(cell, event.start)
        done = self.progress.tasks[task].completed + 1
        elapsed = event.end - start
        rate = f"{done / elapsed:.1f} it/s" if elapsed > 0 else ""
        self.progress.update(task, advance=1, rate=rate)

    def sampled(self, cell: Cell, sample: Sample) -> None:
        self.progress.update(self.tasks[cell], memory=format_bytes(sample.working_set_bytes))

    def cell_finished(self, cell: Cell, record: StrategyRecord) -> None:
        style = STATUS_STYLE.get(record.status, "")
        self.progress.update(self.tasks[cell], status=f"[{style}]{record.status}[/{style}]")


def results_table(records: list[StrategyRecord], unit: str = "images") -> Table:
    """The study's table: strategy, time, peak memory, throughput, per MiB, CPU, outcome."""
    table = Table(title="Concurrency Wars - results", title_justify="left")
    for name, justify in [("strategy", "left"), ("W", "right"), ("work s", "right"), ("wall s", "right"),
                          ("peak MiB", "right"), (f"{unit}/s", "right"), ("per MiB", "right"),
                          ("CPU", "right"), ("ok", "right"), ("verified", "center"), ("outcome", "left")]:
        table.add_column(name, justify=justify, no_wrap=name in ("strategy", "outcome"))  # type: ignore[arg-type]
    for r in records:
        if r.warmup:
            continue
        style = STATUS_STYLE.get(r.status, "")
        outcome = r.status if not r.oom_kills else f"{r.status} ({r.oom_kills} kill{'s' if r.oom_kills > 1 else ''})"
        table.add_row(
            r.strategy + (f" #{r.repetition + 1}" if r.repetition else ""), str(r.workers),
            f"{r.work_seconds:.2f}" if r.work_seconds is not None else "-", f"{r.wall_seconds:.2f}",
            f"{r.peak_memory_bytes / 2**20:.0f}",
            f"{r.throughput_items_per_second:.2f}" if r.throughput_items_per_second else "-",
            f"{r.throughput_per_mib:.4f}" if r.throughput_per_mib else "-",
            f"{r.cpu_utilization:.2f}", f"{r.items_ok}/{r.items_total}",
            {True: "yes", False: "[red]NO[/red]", None: "-"}[r.verified],
            f"[{style}]{outcome}[/{style}]",
        )
    return table
