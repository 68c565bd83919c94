"""The results table and progress where there is no wide terminal: an 80-column terminal, a pipe,
a CI log. Every cell is whole (no `…`), every header whole, no column squeezed to nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console

from kit.plan.cells import Cell
from kit.report.progress import LineProgress
from kit.report.table import MEMORY_COLUMNS, TIME_COLUMNS, results_table
from kit.results.records import StrategyRecord, load, record_from_json

DATA = Path(__file__).resolve().parent.parent / "data" / "results"


def records(name: str) -> list[StrategyRecord]:
    return [record_from_json(r) for r in load(DATA / f"{name}.json")["results"]]


def rendered(items: list[StrategyRecord], width: int) -> str:
    console = Console(width=width, record=True, force_terminal=False, color_system=None)
    console.print(results_table(items))
    return console.export_text()


@pytest.mark.parametrize("fixture", ["sweep_every_strategy", "real_oom_repeats", "sweep_two_caps_floors"])
@pytest.mark.parametrize("width", [80, 100])
def test_the_table_is_whole_at_narrow_widths(fixture: str, width: int) -> None:
    items = records(fixture)
    text = rendered(items, width)
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    for header in {*TIME_COLUMNS, *MEMORY_COLUMNS} - {"cap", "95% CI", "rate"}:
        assert re.search(rf"(^|\s){re.escape(header)}(\s|$)", text, re.M), header
    for record in items:
        assert record.strategy in text                           # names are never folded at 80 columns
        if record.throughput_items_per_second is not None and not record.warmup:
            assert f"{record.peak_memory_bytes / 2**20:.0f}" in text or record.repetition > 0


def test_a_wide_console_keeps_the_single_table() -> None:
    text = rendered(records("sweep_every_strategy"), 240)
    assert text.count("Concurrency Wars - results") == 1 and "…" not in text
    narrow = rendered(records("sweep_every_strategy"), 80)
    assert "(time)" in narrow and "(memory and outputs)" in narrow


@pytest.mark.parametrize("width", [60, 100])
def test_progress_without_a_terminal_is_whole_lines_at_most_every_interval(width: int) -> None:
    console = Console(width=width, record=True, force_terminal=False, color_system=None)
    now = [0.0]
    lines = LineProgress(console, interval_seconds=10, clock=lambda: now[0])
    cell = Cell("python-pool-imap-unordered", 0, 12, 512 * 2**20, None)
    lines.cell_started(cell, 200)
    for second in range(1, 26):
        now[0] = float(second)
        lines.memory[cell] = "412 MiB"
        lines.item_done(cell, second * 4, "4.0 it/s")
    base = records("sweep_every_strategy")[0]
    lines.cell_finished(cell, base)
    physical = console.export_text().splitlines()
    assert max(len(line) for line in physical) <= width              # narrower than a line: wrapped, never cut
    text = _unwrapped(physical)
    assert text[0] == "python-pool-imap-unordered x12 (rep 1): started, 200 items"
    assert text[1].startswith("python-pool-imap-unordered x12 (rep 1): 40/200 items, 4.0 it/s, mem 412 MiB, 10 s")
    assert len(text) == 4 and text[3].startswith(f"python-pool-imap-unordered x12 (rep 1): {base.status}")
    if width >= 100:
        assert physical == text                                       # wide enough: one line per event


def _unwrapped(lines: list[str]) -> list[str]:
    """Continuation lines (indented by two spaces) joined back onto the line they continue."""
    out: list[str] = []
    for line in lines:
        if line.startswith("  ") and out:
            out[-1] += " " + line.strip()
        else:
            out.append(line.rstrip())
    return out
