"""Progress while strategies run: bars on a terminal, a line per sandbox now and then without one."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.padding import Padding
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from kit.core.units import format_bytes
from kit.measure.monitor import Sample
from kit.report.console import STATUS_STYLE, Wrapped
from kit.results.observer import RunObserver
from kit.results.records import StrategyRecord
from kit.worker.protocol import ItemEvent

if TYPE_CHECKING:
    from kit.plan.cells import Cell

LINE_INTERVAL_SECONDS = 10.0   # without a terminal: a progress line per sandbox at most this often


class ProgressView(RunObserver):
    """One rich progress bar per sandbox, with live memory from the monitor's samples; without a
    terminal (a pipe, a file, a CI log) one plain line per sandbox every 10 s and at its end."""

    def __init__(self, console: Console, interactive: bool | None = None) -> None:
        self.console = console
        self.interactive = console.is_terminal if interactive is None else interactive
        self.lines = LineProgress(console)
        self.progress = FoldingProgress(
            TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>10}"), TextColumn("mem {task.fields[memory]:>9}"),
            TimeElapsedColumn(), TextColumn("{task.fields[status]}"), console=console, transient=False)
        self.tasks: dict[Cell, TaskID] = {}
        self.first_end: dict[Cell, float] = {}
        self.overall: TaskID | None = None
        self.show_caps = False      # a grid over caps: each bar names its cap
        self.started = time.monotonic()

    def __enter__(self) -> ProgressView:
        if self.interactive:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def phase(self, text: str) -> None:
        self.console.print(f"[dim]{text}[/dim]")

    def planned(self, cells: list[Cell]) -> None:
        """Sweeps and repetitions get an overall bar (cells done / total, ETA) above the others."""
        self.show_caps = len({cell.memory_limit_bytes for cell in cells}) > 1
        if len(cells) > len({cell.strategy for cell in cells}):
            self.started = time.monotonic()
            self.overall = self.progress.add_task(f"all cells ({len(cells)})", total=len(cells), rate="",
                                                  memory="-", status="")
            if not self.interactive:
                self.lines.print(f"all cells ({len(cells)}): planned")

    def cell_started(self, cell: Cell, items_total: int) -> None:
        if not self.interactive:
            self.lines.cell_started(cell, items_total)
        label = cell.label
        if self.show_caps or (self.overall is None and cell.memory_limit_bytes):  # floor probes: every cap
            label += f" {format_bytes(cell.memory_limit_bytes)}" if cell.memory_limit_bytes else " no cap"
        self.tasks[cell] = self.progress.add_task(label, total=items_total, rate="", memory="-",
                                                  status="")

    def item_done(self, cell: Cell, event: ItemEvent) -> None:
        task = self.tasks[cell]
        start = self.first_end.setdefault(cell, event.start)
        done = self.progress.tasks[task].completed + 1
        elapsed = event.end - start
        rate = f"{done / elapsed:.1f} it/s" if elapsed > 0 else ""
        self.progress.update(task, advance=1, rate=rate)
        if not self.interactive:
            self.lines.item_done(cell, int(done), rate)

    def sampled(self, cell: Cell, sample: Sample) -> None:
        self.progress.update(self.tasks[cell], memory=format_bytes(sample.working_set_bytes))
        if not self.interactive:
            self.lines.memory[cell] = format_bytes(sample.working_set_bytes)

    def cell_finished(self, cell: Cell, record: StrategyRecord) -> None:
        if not self.interactive:
            self.lines.cell_finished(cell, record)
        style = STATUS_STYLE.get(record.status, "")
        self.progress.update(self.tasks[cell], status=f"[{style}]{record.status}[/{style}]")
        if self.overall is not None:
            self.progress.update(self.overall, advance=1)
            task = self.progress.tasks[self.overall]
            eta = eta_text(task.completed, task.total or 0, time.monotonic() - self.started)
            self.progress.update(self.overall, status=eta)
            if not self.interactive:
                suffix = f", {eta}" if eta else ""
                self.lines.print(f"all cells ({task.total:.0f}): {task.completed:.0f} done{suffix}")


class FoldingProgress(Progress):
    """rich's Progress, one line per bar where that fits the terminal; narrower (80 columns), each bar
    on two lines: its name and status, then the bar with its figures, none of them squeezed to `…`."""

    INDENT = 2
    FIGURES = 48   # "177/200    6.0 it/s  mem   101 MiB  0:00:12" and the gaps around the bar

    def get_renderables(self) -> Iterable[RenderableType]:
        yield _Fitted(self)

    def folded(self, width: int) -> Table:
        """Two rows per bar: name and status, then the bar (as wide as the rest leaves) and its figures."""
        bar = BarColumn(bar_width=max(width - self.INDENT - self.FIGURES, 5))
        figures = (bar, MofNCompleteColumn(), TextColumn("{task.fields[rate]:>10}"),
                   TextColumn("mem {task.fields[memory]:>9}"), TimeElapsedColumn())
        table = Table.grid(padding=(0, 1))
        table.add_column(no_wrap=True)
        for task in self.tasks:
            if not task.visible:
                continue
            status = Text.from_markup(str(task.fields.get("status", "")))
            table.add_row(Wrapped([Text(task.description), status]))
            row = Table.grid(padding=(0, 1))
            for _ in figures:
                row.add_column(no_wrap=True)
            row.add_row(*(column(task) for column in figures))
            table.add_row(Padding(row, (0, 0, 0, self.INDENT)))
        return table


class _Fitted:
    """Chooses the progress layout at render time, from the width the console gives it."""

    def __init__(self, progress: FoldingProgress) -> None:
        self.progress = progress

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = self.progress.make_tasks_table(self.progress.tasks)
        if Measurement.get(console, options.update_width(10_000), table).maximum <= options.max_width:
            yield table
        else:
            yield self.progress.folded(options.max_width)


class LineProgress:
    """Progress for consoles that are not terminals: whole lines, never redrawn, never cut."""

    def __init__(self, console: Console, interval_seconds: float = LINE_INTERVAL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.console, self.interval, self.clock = console, interval_seconds, clock
        self.totals: dict[Cell, int] = {}
        self.last_line: dict[Cell, float] = {}
        self.started: dict[Cell, float] = {}
        self.memory: dict[Cell, str] = {}

    def print(self, text: str | Sequence[str]) -> None:
        """One status line; past the console's width it wraps between its phrases, indented."""
        self.console.print(Wrapped([text] if isinstance(text, str) else text, indent=2), highlight=False,
                           soft_wrap=True)

    def cell_started(self, cell: Cell, items_total: int) -> None:
        self.totals[cell] = items_total
        self.started[cell] = self.last_line[cell] = self.clock()
        self.print(f"{cell.label}: started, {items_total} items")

    def item_done(self, cell: Cell, done: int, rate: str) -> None:
        now = self.clock()
        if now - self.last_line.get(cell, now) >= self.interval:
            self.last_line[cell] = now
            memory = self.memory.get(cell, "-")
            self.print([f"{cell.label}:", f"{done}/{self.totals.get(cell, 0)} items,", f"{rate or '-'},",
                        f"mem {memory},", f"{now - self.started.get(cell, now):.0f} s"])

    def cell_finished(self, cell: Cell, record: StrategyRecord) -> None:
        elapsed = self.clock() - self.started.get(cell, self.clock())
        self.print([f"{cell.label}:", f"{record.status},", f"{record.items_ok}/{record.items_total} items",
                    f"in {elapsed:.1f} s"])



def eta_text(done: float, total: float, elapsed_seconds: float) -> str:
    """'ETA 3m 20s' from the mean cell time so far (cells differ, so it is a rough guide)."""
    if done <= 0 or done >= total:
        return "" if done < total else "done"
    left = round(elapsed_seconds / done * (total - done))
    if left >= 3600:
        return f"ETA {left // 3600}h {left % 3600 // 60:02d}m"
    return f"ETA {left // 60}m {left % 60:02d}s"
