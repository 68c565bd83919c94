"""The study-style table after a run: one row per strategy, columns that fit the terminal."""

from __future__ import annotations

from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from kit.core.units import format_bytes
from kit.report.console import STATUS_STYLE, Wrapped
from kit.results.records import StrategyRecord
from kit.results.stats import Spread
from kit.results.summary import Summary, summarize, varying


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
