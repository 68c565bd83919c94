"""What the terminal shows: progress bars while strategies run, the study-style table after.

Formatting returns rich objects or lines; cli.py prints them (tests assert on the objects).
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from kit.observer import Cell, RunObserver
from kit.protocol import ItemEvent
from kit.results import Sample, StrategyRecord
from kit.stats import Spread
from kit.summary import summarize, varying
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
        self.overall: TaskID | None = None
        self.show_caps = False      # a grid over caps: each bar names its cap
        self.started = time.monotonic()

    def __enter__(self) -> ProgressView:
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

    def cell_started(self, cell: Cell, items_total: int) -> None:
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

    def sampled(self, cell: Cell, sample: Sample) -> None:
        self.progress.update(self.tasks[cell], memory=format_bytes(sample.working_set_bytes))

    def cell_finished(self, cell: Cell, record: StrategyRecord) -> None:
        style = STATUS_STYLE.get(record.status, "")
        self.progress.update(self.tasks[cell], status=f"[{style}]{record.status}[/{style}]")
        if self.overall is not None:
            self.progress.update(self.overall, advance=1)
            task = self.progress.tasks[self.overall]
            self.progress.update(self.overall, status=eta_text(task.completed, task.total or 0,
                                                               time.monotonic() - self.started))


def eta_text(done: float, total: float, elapsed_seconds: float) -> str:
    """'ETA 3m 20s' from the mean cell time so far (cells differ, so it is a rough guide)."""
    if done <= 0 or done >= total:
        return "" if done < total else "done"
    left = round(elapsed_seconds / done * (total - done))
    if left >= 3600:
        return f"ETA {left // 3600}h {left % 3600 // 60:02d}m"
    return f"ETA {left // 60}m {left % 60:02d}s"


def _spread_text(value: Spread | None, digits: int, scale: float = 1.0) -> str:
    """'12.30' for one value, '12.30 (11.90-13.00)' over repetitions that differ."""
    if value is None:
        return "-"
    text = f"{value.median / scale:.{digits}f}"
    low, high = f"{value.low / scale:.{digits}f}", f"{value.high / scale:.{digits}f}"
    return text + f" ({low}-{high})" if value.spread and low != high else text


def _ci_text(value: Spread | None) -> str:
    if value is None or value.ci_low is None or value.ci_high is None:
        return "-"
    return f"{value.ci_low:.2f}-{value.ci_high:.2f}"


CAPTION = ("median (min-max) over n repetitions; 95% CI: bootstrap interval of the median (n >= 5); "
           "noisy: throughput CV above 5%")


def results_table(records: list[StrategyRecord], unit: str | None = None) -> Table:
    """The study's table, one row per strategy x workers x cap: medians with min-max over the
    repetitions (n), and rows whose throughput varies more than 5% (CV) flagged as noisy.
    The title names the workload; throughput is in its unit (images/s, tasks/s)."""
    summaries = summarize(records)
    _, show_caps = varying(summaries)
    show_ci = any(s.throughput and s.throughput.ci_low is not None for s in summaries)
    workload = records[0].workload if records else "images"
    unit = unit or (records[0].unit if records else "images")
    table = Table(title=f"Concurrency Wars - results: workload {workload}, throughput in {unit}/s",
                  title_justify="left", caption=CAPTION, caption_justify="left")
    columns = ["strategy", "W"] + (["cap"] if show_caps else []) + [
        "n", "work s", "wall s", "peak MiB", f"{unit}/s"] + (["95% CI"] if show_ci else []) + [
        "per MiB", "CPU", "ok", "verified", "outcome"]
    for name in columns:
        justify = "left" if name in ("strategy", "outcome") else "center" if name == "verified" else "right"
        table.add_column(name, justify=justify, no_wrap=name in ("strategy", "outcome"))  # type: ignore[arg-type]
    for s in summaries:
        statuses = {r.status for r in s.records}
        style = STATUS_STYLE.get(s.records[0].status if len(statuses) == 1 else "failed", "")
        outcome = s.outcome
        if s.oom_kills:
            outcome += f" ({s.oom_kills} kill{'s' if s.oom_kills > 1 else ''})"
        if skipped := max(r.items_skipped for r in s.records):
            outcome += f" ({skipped} skipped: output current)"
        if s.noisy and s.throughput and s.throughput.cv is not None:
            outcome += f" [yellow]noisy (CV {s.throughput.cv:.0%})[/yellow]"
        ok_items = sorted({f"{r.items_ok}/{r.items_total}" for r in s.records})
        row = [s.strategy, str(s.workers)]
        if show_caps:
            row.append(format_bytes(s.memory_limit_bytes) if s.memory_limit_bytes else "none")
        row += [str(s.repetitions), _spread_text(s.work_seconds, 2),
                f"{s.wall_seconds.median:.2f}" if s.wall_seconds else "-",
                _spread_text(s.peak_memory_bytes, 0, 2**20), _spread_text(s.throughput, 2)]
        if show_ci:
            row.append(_ci_text(s.throughput))
        row += [f"{s.throughput_per_mib.median:.4f}" if s.throughput_per_mib else "-",
                f"{s.cpu_utilization.median:.2f}" if s.cpu_utilization else "-",
                ok_items[0] if len(ok_items) == 1 else f"{ok_items[0]}..",
                {True: "yes", False: "[red]NO[/red]", None: "-"}[s.verified], f"[{style}]{outcome}[/{style}]"]
        table.add_row(*row)
    return table
