"""`kit report RUN_DIR`: re-renders from results.json alone; a bad directory is one line, exit 2."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from kit.cli.exits import main

DATA = Path(__file__).resolve().parent.parent / "data" / "results"


def test_kit_report_rerenders_from_results_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(DATA / "real_oom_repeats.json", tmp_path / "results.json")
    with pytest.raises(SystemExit) as done:
        main(["report", str(tmp_path)])
    assert done.value.code == 0
    # past the console's width (80 here) the path moves whole onto a line of its own (issue 26)
    assert capsys.readouterr().out.split() == ["report:", str(tmp_path / "report.html")]
    assert "python-processes" in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize("setup", ["missing", "empty", "invalid"])
def test_kit_report_bad_dir_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               setup: str) -> None:
    target = tmp_path / "run"
    if setup != "missing":
        target.mkdir()
    if setup == "invalid":
        (target / "results.json").write_text("{oops")
    with pytest.raises(SystemExit) as done:
        main(["report", str(target)])
    assert done.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(target) in lines[0]
    assert not (target / "report.html").exists()


@pytest.mark.parametrize("output_format", ["markdown", "csv", "json"])
def test_report_prints_text_formats_from_results_json_alone(output_format: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from kit.results.records import load

    source = DATA / "real_oom_repeats.json"
    with pytest.raises(SystemExit) as caught:
        main(["report", str(source), "--format", output_format])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    data = load(source)
    if output_format == "json":
        assert json.loads(out) == data
    elif output_format == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert len(rows) == len(data["results"]) and rows[0]["strategy"] == data["results"][0]["strategy"]
    else:
        lines = out.splitlines()
        table = [line for line in lines if line.startswith("| ")]
        assert table[0].startswith("| strategy | workers | cap | n | work s | images/s |")
        assert len(table) == 1 + 4     # header + python-sequential, -threads, -processes, go-native
        assert "&lt;" not in out and "- **Claim 1 " in out and "- **Claim 3 not measured**" in out


def test_markdown_marks_contended_rows_as_the_html_table_does() -> None:
    from kit.report.formats import markdown
    from kit.results.records import load

    table = [line for line in markdown(load(DATA / "contended_stages.json")).splitlines() if line.startswith("| ")]
    assert len(table) == 5 and all(line.endswith(", contended |") for line in table[1:])
    assert "| oom_killed, contended |" in table[3]
