"""What the terminal shows: progress bars while strategies run, the study-style table after.

Formatting returns rich objects or lines; cli.py prints them (tests assert on the objects).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from kit.observer import RunObserver
from kit.plan import Cell
from kit.protocol import ItemEvent
from kit.results import Sample, StrategyRecord
from kit.stats import Spread
from kit.summary import Summary, summarize, varying
from kit.units import format_bytes

STATUS_STYLE = {"ok": "green", "oom_killed": "bold red", "failed": "red", "timeout": "yellow",
                "interrupted": "yellow"}


LINE_INTERVAL_SECONDS = 10.0   # without a terminal: a progress line per sandbox at most this often


class ProgressView(RunObserver):
    """One rich progress bar per sandbox, with live memory from the monitor's samples; without a
    terminal (a pipe, a file, a CI log) one plain line per sandbox every 10 s and at its end."""

    def __init__(self, console: Console, interactive: bool | None = None) -> None:
        self.console = console
        self.interactive = console.is_terminal if interactive is None else interactive
        self.lines = LineProgress(console)
        self.progress = Progress(
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


class LineProgress:
    """Progress for consoles that are not terminals: whole lines, never redrawn, never cut."""

    def __init__(self, console: Console, interval_seconds: float = LINE_INTERVAL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.console, self.interval, self.clock = console, interval_seconds, clock
        self.totals: dict[Cell, int] = {}
        self.last_line: dict[Cell, float] = {}
        self.started: dict[Cell, float] = {}
        self.memory: dict[Cell, str] = {}

    def print(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def cell_started(self, cell: Cell, items_total: int) -> None:
        self.totals[cell] = items_total
        self.started[cell] = self.last_line[cell] = self.clock()
        self.print(f"{cell.label}: started, {items_total} items")

    def item_done(self, cell: Cell, done: int, rate: str) -> None:
        now = self.clock()
        if now - self.last_line.get(cell, now) >= self.interval:
            self.last_line[cell] = now
            memory = self.memory.get(cell, "-")
            self.print(f"{cell.label}: {done}/{self.totals.get(cell, 0)} items, {rate or '-'}, mem {memory}, "
                        f"{now - self.started.get(cell, now):.0f} s")

    def cell_finished(self, cell: Cell, record: StrategyRecord) -> None:
        elapsed = self.clock() - self.started.get(cell, self.clock())
        self.print(f"{cell.label}: {record.status}, {record.items_ok}/{record.items_total} items in {elapsed:.1f} s")


def eta_text(done: float, total: float, elapsed_seconds: float) -> str:
    """'ETA 3m 20s' from the mean cell time so far (cells differ, so it is a rough guide)."""
    if done <= 0 or done >= total:
        return "" if done < total else "done"
    left = round(elapsed_seconds / done * (total - done))
    if left >= 3600:
        return f"ETA {left // 3600}h {left % 3600 // 60:02d}m"
    return f"ETA {left // 60}m {left % 60:02d}s"


def _spread_text(value: Spread | None, digits: int, scale: float = 1.0, separator: str = " ") -> str:
    """'12.30' for one value, '12.30 (11.90-13.00)' over repetitions that differ."""
    if value is None:
        return "-"
    text = f"{value.median / scale:.{digits}f}"
    low, high = f"{value.low / scale:.{digits}f}", f"{value.high / scale:.{digits}f}"
    return text + f"{separator}({low}-{high})" if value.spread and low != high else text


def _ci_text(value: Spread | None) -> str:
    if value is None or value.ci_low is None or value.ci_high is None:
        return "-"
    return f"{value.ci_low:.2f}-{value.ci_high:.2f}"


CAPTION = ("median (min-max) over n repetitions; 95% CI: bootstrap interval of the median (n >= 5); "
           "noisy: throughput CV above 5%")


def results_table(records: list[StrategyRecord], unit: str | None = None) -> ResultsTable:
    """The study's table, one row per strategy x workers x cap: medians with min-max over the
    repetitions (n), and rows whose throughput varies more than 5% (CV) flagged as noisy.
    The title names the workload; throughput is in its unit (images/s, tasks/s). It fits any
    width: one wide table where it fits, else two narrower ones (time, then memory), never `…`."""
    return ResultsTable(records, unit)


class ResultsTable:
    """A renderable that chooses its layout from the width it is given (an 80-column terminal,
    a CI log, a pipe): every cell is whole in both layouts."""

    def __init__(self, records: list[StrategyRecord], unit: str | None = None) -> None:
        self.records = records
        self.unit = unit or (records[0].unit if records else "images")

    def wide(self) -> Table:
        return _table(self.records, self.unit, WIDE_COLUMNS, compact=False)

    def narrow(self) -> list[Table]:
        return [_table(self.records, self.unit, columns, compact=True, part=part)
                for part, columns in (("time", TIME_COLUMNS), ("memory and outputs", MEMORY_COLUMNS))]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        wide = self.wide()
        needed = Measurement.get(console, options.update_width(10_000), wide).maximum   # unclamped
        if needed <= options.max_width:
            yield wide
            return
        yield from self.narrow()


WIDE_COLUMNS = ("strategy", "W", "cap", "n", "work s", "wall s", "peak MiB", "rate", "95% CI", "per MiB", "CPU",
                "ok", "verified", "outcome")
TIME_COLUMNS = ("strategy", "W", "cap", "n", "work s", "wall s", "rate", "95% CI", "CPU", "outcome")
MEMORY_COLUMNS = ("strategy", "W", "cap", "peak MiB", "per MiB", "ok", "verified")


def _table(records: list[StrategyRecord], unit: str, wanted: tuple[str, ...], compact: bool,
           part: str | None = None) -> Table:
    summaries = summarize(records)
    _, show_caps = varying(summaries)
    show_ci = any(s.throughput and s.throughput.ci_low is not None for s in summaries)
    workload = records[0].workload if records else "images"
    columns = [name for name in wanted if (name != "cap" or show_caps) and (name != "95% CI" or show_ci)]
    title = f"Concurrency Wars - results: workload {workload}, throughput in {unit}/s"
    caption: str | None = CAPTION
    if compact:
        title = title + f" ({part})"
        caption = CAPTION if part == "memory and outputs" else None   # once, under the second table
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left",
                  box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD, pad_edge=not compact, collapse_padding=compact)
    for name in columns:
        header = f"{unit}/s" if name == "rate" else name
        justify = "left" if name in ("strategy", "outcome") else "center" if name == "verified" else "right"
        if name in ("strategy", "outcome"):   # text: folds onto a second line at worst, never cut
            longest = max((len(s.strategy) for s in summaries), default=8) if name == "strategy" and compact else None
            table.add_column(header, justify=justify, no_wrap=not compact, overflow="fold",  # type: ignore[arg-type]
                             min_width=longest)
        else:                                # figures: always whole
            table.add_column(header, justify=justify, no_wrap=True, overflow="fold")  # type: ignore[arg-type]
    for s in summaries:
        cells = _cells(s, show_caps, compact)
        table.add_row(*(cells[name] for name in columns))
    return table


def _cells(s: Summary, show_caps: bool, compact: bool) -> dict[str, str]:
    """Every column's text for one row; in the compact layout a range goes on a second line."""
    statuses = {r.status for r in s.records}
    style = STATUS_STYLE.get(s.records[0].status if len(statuses) == 1 else "failed", "")
    outcome = s.outcome
    if s.oom_kills:
        outcome += f" ({s.oom_kills} kill{'s' if s.oom_kills > 1 else ''})"
    if skipped := max(r.items_skipped for r in s.records):
        outcome += f" ({skipped} skipped: output current)"
    if s.noisy and s.throughput and s.throughput.cv is not None:
        outcome += f" [yellow]noisy (CV {s.throughput.cv:.0%})[/yellow]"
    if contended := sum(1 for r in s.records if r.contended):
        share = f"{contended} of {len(s.records)} " if len(s.records) > 1 else ""
        outcome += f" [bold yellow]CONTENDED {share}(machine busy)[/bold yellow]"
    ok_items = sorted({f"{r.items_ok}/{r.items_total}" for r in s.records})
    separator = "\n" if compact else " "
    return {
        "strategy": s.strategy, "W": str(s.workers),
        "cap": (format_bytes(s.memory_limit_bytes) if s.memory_limit_bytes else "none") if show_caps else "",
        "n": str(s.repetitions), "work s": _spread_text(s.work_seconds, 2, separator=separator),
        "wall s": f"{s.wall_seconds.median:.2f}" if s.wall_seconds else "-",
        "peak MiB": _spread_text(s.peak_memory_bytes, 0, 2**20, separator=separator),
        "rate": _spread_text(s.throughput, 2, separator=separator), "95% CI": _ci_text(s.throughput),
        "per MiB": f"{s.throughput_per_mib.median:.4f}" if s.throughput_per_mib else "-",
        "CPU": f"{s.cpu_utilization.median:.2f}" if s.cpu_utilization else "-",
        "ok": ok_items[0] if len(ok_items) == 1 else f"{ok_items[0]}..",
        "verified": {True: "yes", False: "[red]NO[/red]", None: "-"}[s.verified],
        "outcome": f"[{style}]{outcome}[/{style}]",
    }
