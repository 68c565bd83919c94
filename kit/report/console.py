"""What the terminal shows: progress bars while strategies run, the study-style table after.

Formatting returns rich objects or lines; cli.py prints them (tests assert on the objects).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.markup import escape
from rich.measure import Measurement
from rich.padding import Padding
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from kit.core.units import format_bytes
from kit.measure.monitor import Sample
from kit.plan.cells import Cell
from kit.results.observer import RunObserver
from kit.results.records import StrategyRecord
from kit.results.stats import Spread
from kit.results.summary import Summary, summarize, varying
from kit.worker.programs import NAMES
from kit.worker.protocol import ItemEvent

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


class Wrapped:
    """Text that wraps between words and never inside a parenthesized group that fits the line:
    `ok CONTENDED (machine busy)` may fold before `(machine busy)`, never after `(machine`. A word
    longer than the line (a path) stays whole on a line of its own, never folded or cut.

    Rich's own wrapping folds such a word and may split a group; `soft_wrap=True` leaves the breaking
    to the terminal, which breaks anywhere (`python-pool-ima⏎p`). `phrases` are kept together when
    they fit (a table cell's parts); continuation lines are indented by `indent` spaces.

        >>> console.print(Wrapped("python-processes x2 (rep 1): ok, 8/8 items"))   # doctest: +SKIP
    """

    def __init__(self, phrases: str | Text | Sequence[str | Text], indent: int = 0) -> None:
        given = [phrases] if isinstance(phrases, (str, Text)) else list(phrases)
        self.phrases = [Text(p) if isinstance(p, str) else p for p in given]
        self.indent = indent

    def paragraphs(self) -> list[list[Text]]:
        """The phrases, one list per line of the text (a newline inside a phrase starts a new one)."""
        out: list[list[Text]] = [[]]
        for phrase in self.phrases:
            for index, line in enumerate(phrase.split("\n", allow_blank=True)):
                if index:
                    out.append([])
                out[-1].append(line)
        return out

    def narrowest(self) -> int:
        """The width below which a unit would have to break: the longest of several phrases given (each is
        a unit), or of one text's words and parenthesized groups."""
        units = (phrase for para in self.paragraphs() for phrase in para)
        if len(self.phrases) == 1:
            units = (atom for unit in units for atom in _atoms(unit))
        return max((unit.cell_len for unit in units), default=0)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widest = max((sum(p.cell_len for p in para) + len(para) - 1 for para in self.paragraphs()), default=0)
        return Measurement(self.narrowest(), max(widest, self.narrowest()))

    def lines(self, width: int) -> list[Text]:
        """Greedy packing of the pieces at `width` (a piece wider than that has a line of its own)."""
        out: list[Text] = []
        for para in self.paragraphs():
            # a line's own leading spaces stay, and its continuation lines are indented from them
            lead = len(para[0].plain) - len(para[0].plain.lstrip(" ")) if para else 0
            if lead:
                para = [para[0][lead:], *para[1:]]
            indent = lead + self.indent
            current: Text | None = None
            for piece in (p for phrase in para for p in _fit(phrase, max(width - indent, 1))):
                if current is not None and current.cell_len + 1 + piece.cell_len <= width:
                    current.append(" ")
                    current.append_text(piece)
                    continue
                if current is not None:
                    out.append(current)
                    current = Text(" " * indent) + piece
                else:
                    current = Text(" " * lead) + piece
            out.append(current if current is not None else Text(""))
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines(options.max_width):
            yield from line.render(console)
            yield Segment.line()


def _atoms(phrase: Text) -> list[Text]:
    """`phrase` cut at its spaces outside parentheses: words and whole parenthesized groups."""
    cuts, depth = [], 0
    for index, char in enumerate(phrase.plain):
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)
        elif char == " " and depth == 0 and phrase.plain[index + 1:index + 2] not in (" ", ""):
            cuts.append(index)   # at a run of spaces' last one: the others stay ("ok  cgroup" keeps two)
    return _pieces(phrase, cuts)


def _pieces(phrase: Text, cuts: list[int]) -> list[Text]:
    parts = phrase.divide(cuts)
    return [part[1:] if index else part for index, part in enumerate(parts)
            if (part[1:] if index else part).plain]


def _fit(phrase: Text, width: int) -> list[Text]:
    """A phrase that fits stays whole; else its words and parenthesized groups; a group that is
    itself too wide, its words."""
    if phrase.cell_len <= width:
        return [phrase]
    atoms = _atoms(phrase)
    if len(atoms) > 1:
        return [piece for atom in atoms for piece in _fit(atom, width)]
    words = _pieces(phrase, [i for i, char in enumerate(phrase.plain)
                             if char == " " and phrase.plain[i + 1:i + 2] not in (" ", "")])
    return words if len(words) > 1 else [phrase]


class WordConsole(Console):
    """A rich Console whose `print(..., soft_wrap=True)` wraps between words (`Wrapped`, continuation
    lines indented) instead of leaving the line to the terminal: the kit's status lines stay whole
    at 80 columns, and a long path still prints unbroken on a line of its own."""

    def print(self, *objects: Any, sep: str = " ", **kwargs: Any) -> None:
        if kwargs.get("soft_wrap") and objects and all(isinstance(o, (str, Text)) for o in objects):
            texts = [self.render_str(o, markup=kwargs.get("markup"), highlight=kwargs.get("highlight"),
                                     emoji=kwargs.get("emoji")) if isinstance(o, str) else o for o in objects]
            objects = (Wrapped(Text(sep).join(texts), indent=2),)
        super().print(*objects, sep=sep, **kwargs)


def after_table_warnings(warnings: Sequence[str]) -> list[str]:
    """The run's warnings the terminal has not said yet: a strategy skipped as unavailable had its line
    before the run (the results file and the report keep the whole reason)."""
    skipped = tuple(f"{name} skipped: " for name in NAMES)
    return [warning for warning in warnings if not warning.startswith(skipped)]


Check = tuple[str, "str | None"]   # (what was checked, None when fine or what is wrong and how to fix it)


def doctor_lines(needed: Sequence[Check], extras: Sequence[Check], skews: Sequence[Check]) -> tuple[list[str], bool]:
    """`kit doctor`'s report in three parts: what runs need (FAIL: exit 1), the optional extras (each
    adds strategies or a runtime; one not set up is no problem: ' -- ' and how to add it), and what
    skews figures here (warn). Returns the lines (rich markup) and whether a needed check failed."""
    lines = ["[bold]needed for runs[/bold]"]
    failed = False
    for name, problem in needed:
        failed = failed or problem is not None
        lines.append(f"[red]FAIL[/red] {escape(name)}\n     {escape(problem)}" if problem
                     else f"[green] ok [/green] {escape(name)}")
    lines.append("[bold]optional extras[/bold] (runs work without them; each adds strategies or a runtime)")
    lines += [f"[dim] -- [/dim] {escape(name)}: not set up\n     {escape(problem)}" if problem
              else f"[green] ok [/green] {escape(name)}" for name, problem in extras]
    lines.append("[bold]what can skew figures here[/bold] (runs work; records show it)")
    lines += [f"[yellow]warn[/yellow] {escape(name)}\n     {escape(problem)}" if problem
              else f"[green] ok [/green] {escape(name)}" for name, problem in skews]
    return lines, failed


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

    def narrow(self, width: int | None = None, console: Console | None = None) -> list[Table]:
        """Time, then memory and outputs; where the time table cannot fit `width` with its outcome
        cell whole, the outcome moves to the second table, and if that is still too wide, to a third."""
        layouts = [(("time", TIME_COLUMNS), ("memory and outputs", MEMORY_COLUMNS)),
                   (("time", _without(TIME_COLUMNS, "outcome")), ("memory and outputs", MEMORY_COLUMNS + ("outcome",))),
                   (("time", _without(TIME_COLUMNS, "outcome")), ("memory and outputs", MEMORY_COLUMNS),
                    ("outcomes", ("strategy", "W", "cap", "outcome")))]
        for index, layout in enumerate(layouts):
            tables = [_table(self.records, self.unit, columns, compact=True, part=part, last=part == layout[-1][0])
                      for part, columns in layout]
            if width is None or console is None or index == len(layouts) - 1:
                return tables
            if all(fits(console, t, width) for t in tables):
                return tables
        raise AssertionError("unreachable")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        wide = self.wide()
        needed = Measurement.get(console, options.update_width(10_000), wide).maximum   # unclamped
        if needed <= options.max_width:
            yield wide
            return
        yield from self.narrow(options.max_width, console)


def fits(console: Console, table: Table, width: int) -> bool:
    """Whether rich lays `table` out within `width` with every cell whole: it neither overflows (a
    column's minimum kept, the console then cutting the line) nor squeezes a column that cannot
    wrap (its figures then end in `…`). Mirrors rich's Table.__rich_console__, whose column widths
    are private methods."""
    extra = table._extra_width
    widths = table._calculate_column_widths(console, console.options.update_width(width - extra))
    if sum(widths) + extra > width:
        return False
    unclamped = console.options.update_width(10_000)
    return all(given >= table._measure_column(console, unclamped, column).maximum
               for column, given in zip(table.columns, widths, strict=True) if column.no_wrap)


def _without(columns: tuple[str, ...], name: str) -> tuple[str, ...]:
    return tuple(column for column in columns if column != name)


WIDE_COLUMNS = ("strategy", "W", "cap", "n", "work s", "wall s", "peak MiB", "rate", "95% CI", "per MiB", "CPU",
                "ok", "verified", "outcome")
TIME_COLUMNS = ("strategy", "W", "cap", "n", "work s", "wall s", "rate", "95% CI", "CPU", "outcome")
MEMORY_COLUMNS = ("strategy", "W", "cap", "peak MiB", "per MiB", "ok", "verified")


def _table(records: list[StrategyRecord], unit: str, wanted: tuple[str, ...], compact: bool,
           part: str | None = None, last: bool = False) -> Table:
    summaries = summarize(records)
    _, show_caps = varying(summaries)
    show_ci = any(s.throughput and s.throughput.ci_low is not None for s in summaries)
    workload = records[0].workload if records else "images"
    columns = [name for name in wanted if (name != "cap" or show_caps) and (name != "95% CI" or show_ci)]
    title = f"Concurrency Wars - results: workload {workload}, throughput in {unit}/s"
    caption: str | None = CAPTION
    if compact:
        title = title + f" ({part})"
        caption = CAPTION if last else None   # once, under the last table
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left",
                  box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD, pad_edge=not compact, collapse_padding=compact)
    rows = [_cells(s, show_caps, compact) for s in summaries]
    for name in columns:
        header = f"{unit}/s" if name == "rate" else name
        justify = "left" if name in ("strategy", "outcome") else "center" if name == "verified" else "right"
        if name in ("strategy", "outcome"):   # text: folds onto more lines at worst, never cut
            longest = max((len(s.strategy) for s in summaries), default=8) if name == "strategy" and compact else None
            if name == "outcome":             # never narrower than its widest word or parenthesized group
                longest = max((cell.narrowest() for row in rows if isinstance(cell := row[name], Wrapped)),
                              default=None)
            # rich's collapse would shrink the names below their minimum too: only the outcome wraps
            table.add_column(header, justify=justify, no_wrap=not compact or name == "strategy",  # type: ignore[arg-type]
                             overflow="fold", min_width=longest)
        else:                                # figures: always whole
            table.add_column(header, justify=justify, no_wrap=True, overflow="fold")  # type: ignore[arg-type]
    for cells in rows:
        table.add_row(*(cells[name] for name in columns))
    return table


def _cells(s: Summary, show_caps: bool, compact: bool) -> dict[str, str | Wrapped]:
    """Every column's text for one row; in the compact layout a range goes on a second line."""
    statuses = {r.status for r in s.records}
    style = STATUS_STYLE.get(s.records[0].status if len(statuses) == 1 else "failed", "")
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
        "outcome": Wrapped(_outcome_phrases(s, style)),
    }


def _outcome_phrases(s: Summary, style: str) -> list[Text]:
    """The outcome cell's units: it folds between them, and inside one only when a unit is wider than
    the column can be (never inside parentheses)."""
    tally = s.outcome.split(", ")    # 'ok 2, oom_killed 1' over repetitions
    phrases = [Text(part + ("," if index < len(tally) - 1 else ""), style=style) for index, part in enumerate(tally)]
    if s.oom_kills:
        phrases.append(Text(f"({s.oom_kills} kill{'s' if s.oom_kills > 1 else ''})", style=style))
    if skipped := max(r.items_skipped for r in s.records):   # --skip-current left them alone
        phrases += [Text(f"{skipped} skipped", style=style), Text("(up to date)", style=style)]
    if s.noisy and s.throughput and s.throughput.cv is not None:
        phrases.append(Text(f"noisy (CV {s.throughput.cv:.0%})", style="yellow"))
    if contended := sum(1 for r in s.records if r.contended):
        share = f" {contended}/{len(s.records)}" if len(s.records) > 1 else ""
        phrases += [Text(f"CONTENDED{share}", style="bold yellow"), Text("(machine busy)", style="bold yellow")]
    return phrases
