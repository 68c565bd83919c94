"""`kit compare A B`: the same strategies across two runs (two machines, versions, before/after).

For every (strategy, workers, cap) both runs measured: the ratio B / A of median throughput and
of median peak memory, with a Mann-Whitney p-value (or "too few repetitions"), then the
differences in machine, software and inputs that could explain them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table

from kit.core.errors import ConfigError
from kit.core.units import format_bytes
from kit.report.console import Wrapped
from kit.report.table import fits
from kit.results.records import load
from kit.results.stats import MIN_REPETITIONS, SIGNIFICANT, TOO_FEW, Significance, significance
from kit.results.summary import GroupKey, Summary, parse_records, summarize

# environment fields that can explain a difference, in the order they are shown
ENVIRONMENT_FIELDS = ("cpu_model", "cpu_cores", "cpus_allowed", "memory_bytes", "kernel", "os",
                      "cgroup_version", "runtime", "engine_version", "image_digest", "python",
                      "python_implementation", "opencv", "libjpeg_turbo", "go", "kit_version", "kit_commit")
CONFIG_FIELDS = ("workload", "items", "width", "height", "source", "cpus", "start_method", "pool_size",
                 "quality")
LOAD_DIFFERENCE = 0.5     # 1-minute load averages further apart than this are worth a line


@dataclass(frozen=True, slots=True)
class Row:
    """One (strategy, workers, cap) measured in both runs."""

    a: Summary
    b: Summary
    throughput: Significance
    peak_memory: Significance

    @property
    def key(self) -> GroupKey:
        return self.a.key


@dataclass(frozen=True, slots=True)
class Comparison:
    run_a: str
    run_b: str
    rows: tuple[Row, ...]
    only_a: tuple[str, ...]                      # labels measured in A only
    only_b: tuple[str, ...]
    differences: tuple[tuple[str, str, str], ...]  # (what, in A, in B)
    warnings: tuple[str, ...]


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Environment, config and input differences between two results files."""
    found: list[tuple[str, str, str]] = []
    env_a, env_b = a.get("environment") or {}, b.get("environment") or {}
    for name in ENVIRONMENT_FIELDS:
        if env_a.get(name) != env_b.get(name):
            shown = [format_bytes(x) if name == "memory_bytes" and isinstance(x, int) else _text(x)
                     for x in (env_a.get(name), env_b.get(name))]
            found.append((name, shown[0], shown[1]))
    load_a, load_b = env_a.get("load_average_at_start") or [0.0], env_b.get("load_average_at_start") or [0.0]
    if abs(float(load_a[0]) - float(load_b[0])) > LOAD_DIFFERENCE:
        found.append(("load_average_at_start", _text(load_a), _text(load_b)))
    conf_a, conf_b = a.get("config") or {}, b.get("config") or {}
    for name in CONFIG_FIELDS:
        if conf_a.get(name) != conf_b.get(name):
            found.append((f"config.{name}", _text(conf_a.get(name)), _text(conf_b.get(name))))
    digest_a = (a.get("inputs") or {}).get("batch_digest")
    digest_b = (b.get("inputs") or {}).get("batch_digest")
    if digest_a != digest_b:
        found.append(("inputs.batch_digest", _text(digest_a)[:16], _text(digest_b)[:16]))
    return found


def compare_results(a: dict[str, Any], b: dict[str, Any]) -> Comparison:
    """Match summaries on (strategy, workers, cap) and test each figure."""
    sums_a = {s.key: s for s in summarize(parse_records(a))}
    sums_b = {s.key: s for s in summarize(parse_records(b))}
    rows = []
    for key, sa in sums_a.items():
        if (sb := sums_b.get(key)) is None:
            continue
        rows.append(Row(sa, sb,
                        significance(sa.values(lambda r: r.throughput_items_per_second),
                                     sb.values(lambda r: r.throughput_items_per_second)),
                        significance(sa.values(lambda r: r.peak_memory_bytes, ok_only=False),
                                     sb.values(lambda r: r.peak_memory_bytes, ok_only=False))))
    if not rows:
        raise ConfigError("the two runs share no strategy at the same workers and memory cap: "
                          "nothing to compare")
    diffs = differences(a, b)
    warnings = [f"A: {w}" for s in sums_a.values() if s.key in sums_b for w in s.warnings]
    warnings += [f"B: {w}" for s in sums_b.values() if s.key in sums_a for w in s.warnings]
    if any(name == "inputs.batch_digest" for name, _, _ in diffs):
        warnings.insert(0, "the two runs processed different inputs: ratios compare different work")
    if any(r.throughput.verdict == TOO_FEW for r in rows):
        warnings.append("run both sides with --repeat 5 or more for a significance test")
    return Comparison(str(a.get("run_id")), str(b.get("run_id")), tuple(rows),
                      tuple(s.label() for k, s in sums_a.items() if k not in sums_b),
                      tuple(s.label() for k, s in sums_b.items() if k not in sums_a),
                      tuple(diffs), tuple(warnings))


def compare_dirs(a: Path, b: Path) -> Comparison:
    """`kit compare RUN_DIR RUN_DIR` (a directory or its results.json)."""
    return compare_results(_load(a), _load(b))


def _load(path: Path) -> dict[str, Any]:
    target = path / "results.json" if path.is_dir() else path
    if not target.is_file():
        raise ConfigError(f"{path}: no results.json there (give a run directory such as reports/<run-id>)")
    try:
        return load(target)
    except ValueError as exc:
        raise ConfigError(f"{target}: not valid JSON ({exc})") from None


def _figure(value: float | None, digits: int, scale: float = 1.0) -> str:
    return "-" if value is None else f"{value / scale:.{digits}f}"


def _ratio(value: Significance) -> str:
    return "-" if value.ratio is None else f"{value.ratio:.2f}x"


def comparison_table(c: Comparison) -> ComparisonTable:
    """Rows of the comparison; ratios are B / A (above 1: B is faster, or uses more memory). One
    table where it fits, else two (throughput, then memory), like the run table: never `…`."""
    return ComparisonTable(c)


THROUGHPUT_COLUMNS = ("strategy", "n A/B", "images/s A", "images/s B", "B/A", "significance")
MEMORY_COLUMNS = ("strategy", "peak MiB A/B", "memory B/A", "load A/B")


class ComparisonTable:
    """A renderable that chooses its layout from the width it is given; every cell whole in both."""

    def __init__(self, c: Comparison) -> None:
        self.c = c

    def wide(self) -> Table:
        return _comparison(self.c, THROUGHPUT_COLUMNS + MEMORY_COLUMNS[1:], compact=False)

    def narrow(self, width: int | None = None, console: Console | None = None) -> list[Table]:
        """Throughput, then memory; each keeps its strategy labels on one line where that fits `width`."""
        tables = []
        for part, columns in (("throughput", THROUGHPUT_COLUMNS), ("memory", MEMORY_COLUMNS)):
            table = _comparison(self.c, columns, compact=True, part=part, fold=False)
            if width is None or console is None or not fits(console, table, width):
                table = _comparison(self.c, columns, compact=True, part=part, fold=True)
            tables.append(table)
        return tables

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        wide = self.wide()
        if Measurement.get(console, options.update_width(10_000), wide).maximum <= options.max_width:
            yield wide
            return
        yield from self.narrow(options.max_width, console)


def _comparison(c: Comparison, columns: tuple[str, ...], compact: bool, part: str | None = None,
                fold: bool = False) -> Table:
    title = f"kit compare: A {c.run_a}  vs  B {c.run_b}  (ratios B / A)" + (f" ({part})" if part else "")
    caption = ("significance: two-sided Mann-Whitney U on the repetitions, p < 0.05; "
               f"needs {MIN_REPETITIONS} repetitions a side") if part != "throughput" else None
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left",
                  box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD, pad_edge=not compact, collapse_padding=compact)
    rows = [_comparison_cells(row) for row in c.rows]
    for name in columns:
        text = name in ("strategy", "significance")
        narrowest = max((cell.narrowest() for row in rows if isinstance(cell := row[name], Wrapped)), default=None)
        # folded, the strategy is two lines (name, then workers and cap) and only the verdict shrinks further
        widest = narrowest if fold and name == "strategy" else None
        # (rich's collapse shrinks every wrapping column alike, below its minimum: the strategy keeps out of it)
        table.add_column(name, justify="left" if text else "right", no_wrap=name != "significance",
                         min_width=narrowest, max_width=widest)
    for cells in rows:
        table.add_row(*(cells[name] for name in columns))
    return table


def _comparison_cells(row: Row) -> dict[str, str | Wrapped]:
    a, b = row.a, row.b
    memory = _ratio(row.peak_memory)
    if row.peak_memory.verdict == SIGNIFICANT:
        memory += f" (p={row.peak_memory.p_value:.2g})"
    cap = f"cap {format_bytes(a.memory_limit_bytes)}" if a.memory_limit_bytes else "no cap"
    return {
        "strategy": Wrapped([a.strategy, f"x{a.workers} {cap}"]), "n A/B": f"{a.repetitions}/{b.repetitions}",
        "images/s A": _figure(a.throughput.median if a.throughput else None, 2),
        "images/s B": _figure(b.throughput.median if b.throughput else None, 2), "B/A": _ratio(row.throughput),
        "significance": Wrapped(row.throughput.verdict_text),
        "peak MiB A/B": f"{_figure(a.peak_memory_bytes.median if a.peak_memory_bytes else None, 0, 2**20)}/"
                        f"{_figure(b.peak_memory_bytes.median if b.peak_memory_bytes else None, 0, 2**20)}",
        "memory B/A": memory, "load A/B": f"{_figure(a.load_average, 1)}/{_figure(b.load_average, 1)}",
    }


def comparison_lines(c: Comparison) -> list[str]:
    """What the table cannot hold: unmatched strategies, environment differences, warnings."""
    lines: list[str] = []
    for side, labels in (("A", c.only_a), ("B", c.only_b)):
        if labels:
            lines.append(f"only in {side}: {', '.join(labels)}")
    if c.differences:
        lines.append("differences that could explain the ratios:")
        lines += [f"  {name}: A {va}  |  B {vb}" for name, va, vb in c.differences]
    else:
        lines.append("same machine, software and inputs (as recorded)")
    lines += steal_lines(c.rows)
    lines += [f"warning: {w}" for w in c.warnings]
    return lines


def steal_lines(rows: Sequence[Row]) -> list[str]:
    """CPU steal per side where a hypervisor took time (a likely cause of a slowdown)."""
    out = []
    for row in rows:
        sa, sb = row.a.steal_seconds, row.b.steal_seconds
        if (sa and sa.median > 0.1) or (sb and sb.median > 0.1):
            out.append(f"{row.a.label()}: CPU steal A {_figure(sa.median if sa else None, 1)} s, "
                       f"B {_figure(sb.median if sb else None, 1)} s")
    return out


@dataclass(frozen=True, slots=True)
class Gate:
    """`--fail-above PCT`: the CI verdict on B against A. `exit_code` 0 passes, 1 a significant
    slowdown beyond PCT, 2 cannot decide (too few repetitions where no regression is proven)."""

    exit_code: int
    lines: tuple[str, ...]


def gate(c: Comparison, fail_above_percent: float) -> Gate:
    """B is slower when its median throughput is below A's by more than PCT percent and the
    Mann-Whitney test (n >= MIN_REPETITIONS a side) says the difference is significant."""
    floor = 1 - fail_above_percent / 100
    slower, undecided = [], []
    for row in c.rows:
        ratio, verdict = row.throughput.ratio, row.throughput.verdict
        if ratio is None:
            undecided.append(f"{row.a.label()}: no throughput on one side")
        elif verdict == TOO_FEW:
            undecided.append(f"{row.a.label()}: {row.throughput.n_a} and {row.throughput.n_b} repetitions "
                             f"(needs {MIN_REPETITIONS} a side)")
        elif ratio < floor and verdict == SIGNIFICANT:
            slower.append(f"regression: {row.a.label()} B/A {ratio:.3f} ({(1 - ratio) * 100:.1f}% slower, "
                          f"p={row.throughput.p_value:.2g}) beyond {fail_above_percent:g}%")
    if slower:
        return Gate(1, tuple(slower))
    if undecided:
        return Gate(2, (f"cannot decide: {'; '.join(undecided)}",))
    return Gate(0, (f"no significant slowdown beyond {fail_above_percent:g}% in {len(c.rows)} comparisons",))


def comparison_markdown(c: Comparison) -> str:
    """The comparison as a GitHub-flavoured Markdown table (for a pull request or an issue)."""
    header = ["strategy", "n A/B", "A /s", "B /s", "B/A", "significance", "peak MiB A/B", "memory B/A"]
    align = "|" + "|".join(":---" if i == 0 else "---:" for i in range(len(header))) + "|"
    lines = [f"**kit compare**: A `{c.run_a}` vs B `{c.run_b}` (ratios B / A)", "",
             "| " + " | ".join(header) + " |", align]
    for row in c.rows:
        a, b = row.a, row.b
        cells = [a.label(), f"{a.repetitions}/{b.repetitions}",
                 _figure(a.throughput.median if a.throughput else None, 2),
                 _figure(b.throughput.median if b.throughput else None, 2), _ratio(row.throughput),
                 row.throughput.verdict_text,
                 f"{_figure(a.peak_memory_bytes.median if a.peak_memory_bytes else None, 0, 2**20)}/"
                 f"{_figure(b.peak_memory_bytes.median if b.peak_memory_bytes else None, 0, 2**20)}",
                 _ratio(row.peak_memory)]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"
