"""Every table, progress line, status line and help page whole at 80 and 100 columns (issue 26): no
line wider than the console, no `…`, no cell cut or broken inside its parentheses, paths unbroken."""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from kit.cli.app import app
from kit.plan.cells import Cell
from kit.report.compare import compare_results, comparison_table
from kit.report.console import WordConsole, Wrapped
from kit.report.progress import ProgressView
from kit.report.table import results_table
from kit.results.records import StrategyRecord, load, record_from_json
from kit.worker.programs import NAMES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_compare import rec, results  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "data" / "results"
WIDTHS = (80, 100)
MIB = 2**20


def console(width: int) -> Console:
    return Console(width=width, record=True, force_terminal=False, color_system=None)


def fixture(name: str) -> list[StrategyRecord]:
    return [record_from_json(r) for r in load(DATA / f"{name}.json")["results"]]


def contended(records: list[StrategyRecord], skipped: int = 0) -> list[StrategyRecord]:
    """Every record marked contended (a busy machine): the longest outcome cells there are."""
    return [dataclasses.replace(r, contended=True, items_skipped=skipped) for r in records]


def assert_fits(text: str, width: int) -> None:
    assert "…" not in text
    for line in text.splitlines():
        assert len(line) <= width, line


def assert_whole(text: str, width: int) -> None:
    """Fits, and every table row's line closes each parenthesis it opens: no cell broken inside one
    (titles and captions, which start at the margin, are prose and wrap between words)."""
    assert_fits(text, width)
    for line in text.splitlines():
        if line.startswith(" "):
            assert line.count("(") == line.count(")"), line


@pytest.mark.parametrize("name", ["sweep_every_strategy", "real_oom_repeats", "sweep_two_caps_floors"])
@pytest.mark.parametrize("skipped", [0, 7])
@pytest.mark.parametrize("width", WIDTHS)
def test_the_run_table_keeps_every_outcome_whole(name: str, skipped: int, width: int) -> None:
    items = contended(fixture(name), skipped)
    out = console(width)
    out.print(results_table(items))
    text = out.export_text()
    assert_whole(text, width)
    rows = len({(r.strategy, r.workers, r.memory_limit_bytes) for r in items if not r.warmup})
    assert text.count("(machine busy)") == rows                    # every outcome's group, whole
    assert text.count("CONTENDED") == rows
    if skipped:
        assert text.count(f"{skipped} skipped") == rows and text.count("(up to date)") == rows


def test_the_acceptance_run_folds_its_outcome_before_the_parenthesis() -> None:
    """Two strategies, one repetition each, on a busy machine (the issue's run at 80 columns)."""
    items = contended(fixture("real_oom_repeats"))
    two = [r for r in items if r.strategy in ("python-sequential", "python-threads") and r.repetition == 0]
    out = console(80)
    out.print(results_table(two))
    text = out.export_text()
    assert_whole(text, 80)
    assert text.count("ok CONTENDED") == 2 and text.count("(machine busy)") == 2


def test_wrapped_never_folds_a_path_and_keeps_groups_that_fit() -> None:
    path = "/tmp/" + "a" * 90 + "/report.html"
    out = WordConsole(width=40, record=True, force_terminal=False, color_system=None)
    out.print(f"report: {path}", soft_wrap=True, markup=False)
    out.print("python-pool-imap-unordered x2 (rep 1): 177/200 items (mem 101 MiB)", soft_wrap=True)
    lines = out.export_text().splitlines()
    assert lines[:2] == ["report:", f"  {path}"]                    # a line that is only a path
    assert lines[2:] == ["python-pool-imap-unordered x2 (rep 1):", "  177/200 items (mem 101 MiB)"]
    assert Wrapped("ok CONTENDED (machine busy)").narrowest() == len("(machine busy)")   # one text: its groups
    assert Wrapped(["ok", "CONTENDED 1/2", "(machine busy)"]).narrowest() == len("(machine busy)")   # phrases: units
    narrow = WordConsole(width=14, record=True, force_terminal=False, color_system=None)
    narrow.print(Wrapped(["failed", "7 skipped", "(up to date)"]))
    assert narrow.export_text().splitlines() == ["failed", "7 skipped", "(up to date)"]


def _comparison(strategies: tuple[str, ...]) -> dict[str, object]:
    a = [rec(s, 10.0 + i, repetition=r, workers=12, cap=512 * MIB) for i, s in enumerate(strategies) for r in (0, 1)]
    b = [rec(s, 9.0 + i, repetition=r, workers=12, cap=512 * MIB) for i, s in enumerate(strategies) for r in (0, 1)]
    return {"a": results(a), "b": results(b, kernel="6.2")}


@pytest.mark.parametrize("width", WIDTHS)
def test_kit_compare_of_every_strategy_fits_without_an_ellipsis(width: int) -> None:
    runs = _comparison(NAMES)
    comparison = compare_results(runs["a"], runs["b"])  # type: ignore[arg-type]
    out = console(width)
    out.print(comparison_table(comparison))
    text = out.export_text()
    assert_whole(text, width)
    for name in NAMES:                                              # no name abbreviated
        assert re.search(rf"(^|\s){re.escape(name)}(\s|$)", text, re.M), name
    assert text.count("(2 vs 2)") == len(NAMES)                     # each row's verdict, its group whole


@pytest.mark.parametrize("width", WIDTHS)
def test_progress_bars_fit_the_terminal(width: int) -> None:
    out = Console(width=width, record=True, force_terminal=True, color_system=None)
    view = ProgressView(out, interactive=False)
    cells = [Cell("python-pool-imap-unordered", 0, 12, 512 * MIB, None), Cell("python-sequential", 2, 1, None, None)]
    view.planned(cells)
    for cell in cells:
        view.cell_started(cell, 200)
        view.progress.update(view.tasks[cell], advance=177, rate="6.0 it/s", memory="101 MiB",
                             status="[bold red]oom_killed[/bold red]")
    out.export_text()                                               # the piped lines: tested elsewhere
    out.print(view.progress.get_renderable())
    text = out.export_text()
    assert_whole(text, width)
    assert text.count("177/200") == 2 and text.count("101 MiB") == 2 and text.count("oom_killed") == 2
    assert "python-pool-imap-unordered x12 (rep 1)" in text


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("command", [[], ["run"], ["sweep"], ["floor"], ["compare"], ["doctor"], ["report"]])
def test_help_wraps_between_words(command: list[str], width: int) -> None:
    done = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": str(width), "TERMINAL_WIDTH": str(width)})
    assert done.exit_code == 0, done.output
    assert_fits(done.output, width)
    assert not _premature_breaks(done.output), _premature_breaks(done.output)


def _premature_breaks(text: str) -> list[str]:
    """Panel lines broken although the next line's first word would have fitted after them (the
    docstrings' own line breaks: 'one multi-document⏎YAML stream'); typer's '[default: ...]' starts
    a line of its own on purpose."""
    rows = [line[1:-1] for line in text.splitlines() if line.startswith("│") and line.endswith("│")]
    found = []
    for this, after in zip(rows, rows[1:], strict=False):
        words = after.split()
        if not this.strip() or not words or words[0].startswith("["):
            continue
        if after[:2].strip():          # a new option or command, not a continuation
            continue
        spare = len(this) - len(this.rstrip()) - 1      # room left before the border, less a space
        if len(words[0]) < spare:
            found.append(f"{this.strip()} ⏎ {words[0]}")
    return found


def test_run_help_has_panels_names_every_strategy_and_nothing_dangles() -> None:
    done = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "100", "TERMINAL_WIDTH": "100"})
    text = done.output
    for panel in ("Batch", "Sandbox and limits", "Measurement", "Output and metrics", "Kubernetes", "Advanced"):
        assert f"─ {panel} ─" in text, panel
    flat = " ".join(line.strip("│ ") for line in text.splitlines())
    for name in NAMES:
        assert name in flat, name
    assert not re.search(r"\w \.", flat), re.findall(r".{20}\w \..{5}", flat)   # 'Items in the batch .'
    assert text.index("─ Batch ─") < text.index("─ Sandbox and limits ─") < text.index("─ Measurement ─") \
        < text.index("─ Output and metrics ─") < text.index("─ Kubernetes ─") < text.index("─ Advanced ─")
