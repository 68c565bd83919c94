"""Summaries (kit/results/summary.py), the console table and `kit compare` on hand-made results files."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from kit.cli.exits import main
from kit.core.errors import ConfigError
from kit.report.compare import compare_dirs, compare_results, comparison_lines
from kit.report.console import WordConsole
from kit.report.table import results_table
from kit.results.records import StrategyRecord
from kit.results.stats import SIGNIFICANT, TOO_FEW
from kit.results.summary import summarize

MIB = 2**20


def rec(strategy: str = "python-threads", throughput: float = 10.0, repetition: int = 0, workers: int = 2,
        cap: int | None = 512 * MIB, status: str = "ok", warmup: bool = False, peak: int = 200 * MIB,
        steal: float = 0.0) -> StrategyRecord:
    work = 20 / throughput
    return StrategyRecord(
        strategy=strategy, repetition=repetition, workers=workers, status=status,
        exit_code=0 if status == "ok" else -9, wall_seconds=work + 0.5, work_seconds=work, cpu_seconds=work,
        cpu_utilization=1.0, peak_memory_bytes=peak, peak_usage_bytes=peak, peak_pss_bytes=None,
        peak_rss_sum_bytes=None, memory_limit_bytes=cap, oom_kills=0 if status == "ok" else 1, oom_events=[],
        cpu_throttled_seconds=0.0, items_total=20, items_ok=20 if status == "ok" else 5, items_failed=0,
        failed_items=[], throughput_items_per_second=throughput, throughput_per_mib=throughput / (peak / MIB),
        verified=True if status == "ok" else None, samples=[], warmup=warmup,
        environment={"load_average_at_start": [0.5, 0.4, 0.3], "cpu_steal_seconds": steal})


def results(records: list[StrategyRecord], **environment: Any) -> dict[str, Any]:
    env = {"cpu_model": "Test CPU", "cpu_cores": 2, "kernel": "6.1", "python": "3.11.2",
           "kit_version": "0.1.0", "load_average_at_start": [0.5, 0.4, 0.3], **environment}
    return {"schema_version": "1.0", "run_id": "run", "config": {"items": 20}, "environment": env,
            "inputs": {"batch_digest": "abc"}, "results": [asdict(r) for r in records]}


def test_summaries_group_by_strategy_workers_cap_and_drop_warmups() -> None:
    records = [rec(throughput=99.0, warmup=True), rec(throughput=10.0), rec(throughput=12.0, repetition=1),
               rec(throughput=11.0, repetition=2, status="oom_killed", peak=512 * MIB),
               rec(workers=4, throughput=15.0), rec("python-sequential", 5.0, workers=1)]
    summaries = summarize(records)
    assert [s.key for s in summaries] == [("python-sequential", 1, 512 * MIB), ("python-threads", 2, 512 * MIB),
                                          ("python-threads", 4, 512 * MIB)]
    threads = summaries[1]
    assert threads.repetitions == 3 and threads.completed == 2 and threads.outcome == "ok 2, oom_killed 1"
    assert threads.throughput is not None and threads.throughput.median == 11.0  # ok runs only: 10, 12
    assert threads.peak_memory_bytes is not None and threads.peak_memory_bytes.high == 512 * MIB
    assert not threads.survived and threads.noisy  # CV of 10, 12 is 12.9%
    assert threads.load_average == 0.5


def test_table_shows_median_range_repetitions_and_noise() -> None:
    records = [rec(throughput=t, repetition=i) for i, t in enumerate([10.0, 12.0, 11.0])]
    records += [rec("python-processes", throughput=t, repetition=i) for i, t in enumerate([8.0, 8.1, 8.05])]
    console = Console(width=200, record=True)
    console.print(results_table(records))
    text = console.export_text()
    threads = next(line for line in text.splitlines() if "python-threads" in line)
    processes = next(line for line in text.splitlines() if "python-processes" in line)
    assert "11.00 (10.00-12.00)" in threads and "noisy (CV 9%)" in threads and "│ 3 │" in threads
    assert "8.05 (8.00-8.10)" in processes and "noisy" not in processes
    header = next(line for line in text.splitlines() if "strategy" in line)
    assert "95% CI" not in header  # fewer than 5 repetitions: no interval column


def test_table_adds_the_confidence_interval_from_five_repetitions() -> None:
    records = [rec(throughput=t, repetition=i) for i, t in enumerate([10.0, 10.2, 10.1, 10.3, 10.4])]
    console = Console(width=200, record=True)
    console.print(results_table(records))
    lines = console.export_text().splitlines()
    assert "95% CI" in next(line for line in lines if "strategy" in line)
    # five values: the percentile bootstrap interval of the median is (min, max), beside the range
    assert next(line for line in lines if "python-threads" in line).count("10.00-10.40") == 2


def test_compare_gives_ratios_significance_and_differences() -> None:
    a = results([rec(throughput=t, repetition=i) for i, t in enumerate([10.0, 10.1, 9.9, 10.2, 9.8])]
                + [rec("python-processes", throughput=5.0)])
    b = results([rec(throughput=t, repetition=i) for i, t in enumerate([12.0, 12.1, 11.9, 12.2, 11.8])]
                + [rec("python-processes", throughput=5.5), rec("python-sequential", 4.0, workers=1)],
                kernel="6.8", cpu_model="Other CPU")
    comparison = compare_results(a, b)
    threads, processes = comparison.rows
    assert threads.throughput.ratio == pytest.approx(1.2) and threads.throughput.verdict == SIGNIFICANT
    assert threads.throughput.p_value == pytest.approx(2 / 252)
    assert processes.throughput.verdict == TOO_FEW
    assert comparison.only_b == ("python-sequential x1 cap 512 MiB",)
    lines = comparison_lines(comparison)
    assert "  cpu_model: A Test CPU  |  B Other CPU" in lines
    assert "  kernel: A 6.8  |  B 6.8" not in lines and "  kernel: A 6.1  |  B 6.8" in lines
    assert any("--repeat 5" in line for line in lines)


def test_compare_flags_different_inputs_and_steal() -> None:
    a = results([rec(steal=0.0)])
    b = results([rec(steal=3.0)])
    b["inputs"]["batch_digest"] = "def"
    lines = comparison_lines(compare_results(a, b))
    assert any("different inputs" in line for line in lines)
    assert any("CPU steal A 0.0 s, B 3.0 s" in line for line in lines)


def test_compare_with_nothing_in_common_is_a_usage_error() -> None:
    with pytest.raises(ConfigError, match="share no strategy"):
        compare_results(results([rec(workers=2)]), results([rec(workers=4)]))


def test_kit_compare_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    from kit.cli import app

    monkeypatch.setattr(app, "say", dataclasses.replace(app.say, out=WordConsole(width=200)))
    for name, value in (("a", 10.0), ("b", 20.0)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(results([rec(throughput=value)])))
    with pytest.raises(SystemExit) as done:
        main(["compare", str(tmp_path / "a"), str(tmp_path / "b")])
    assert done.value.code == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "python-threads" in line)
    assert "2.00x" in row and "too few repetitions (1 vs 1)" in row
    with pytest.raises(SystemExit) as missing:
        main(["compare", str(tmp_path / "a"), str(tmp_path / "nowhere")])
    assert missing.value.code == 2
    assert "no results.json there" in capsys.readouterr().err
    assert compare_dirs(tmp_path / "a", tmp_path / "b" / "results.json").rows


def test_overall_bar_and_eta_for_sweeps() -> None:
    from kit.plan.cells import plan_grid
    from kit.report.progress import ProgressView, eta_text

    assert eta_text(2, 10, 20.0) == "ETA 1m 20s"      # 10 s a cell so far, 8 cells left
    assert eta_text(1, 400, 30.0) == "ETA 3h 19m"
    assert eta_text(0, 10, 5.0) == "" and eta_text(10, 10, 99.0) == "done"
    view = ProgressView(Console(width=120, record=True))
    view.planned(plan_grid(["python-threads"], [1], [None], repeat=1))
    assert view.overall is None                          # one cell per strategy: no overall bar
    cells = plan_grid(["python-threads"], [1, 2], [256 * MIB, None], repeat=1)
    view.planned(cells)
    assert view.overall is not None and view.progress.tasks[view.overall].total == 4
    view.cell_started(cells[0], 6)
    view.cell_finished(cells[0], rec(workers=cells[0].workers, cap=cells[0].memory_limit_bytes))
    task = view.progress.tasks[view.overall]
    assert task.completed == 1 and str(task.fields["status"]).startswith("ETA")
    assert "256 MiB" in view.progress.tasks[view.tasks[cells[0]]].description


def _save(directory: Path, data: dict[str, Any]) -> Path:
    directory.mkdir()
    (directory / "results.json").write_text(json.dumps(data))
    return directory


def _gate(tmp_path: Path, a: list[float], b: list[float], capsys: pytest.CaptureFixture[str],
          *extra: str) -> tuple[int, str, str]:
    run_a = _save(tmp_path / "a", results([rec(throughput=t, repetition=i) for i, t in enumerate(a)]))
    run_b = _save(tmp_path / "b", results([rec(throughput=t, repetition=i) for i, t in enumerate(b)]))
    with pytest.raises(SystemExit) as caught:
        main(["compare", str(run_a), str(run_b), *extra])
    captured = capsys.readouterr()
    return int(caught.value.code or 0), captured.out, captured.err


def test_fail_above_passes_runs_that_are_the_same(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    same = [10.0, 10.2, 9.9, 10.1, 10.0]
    code, out, _ = _gate(tmp_path, same, list(reversed(same)), capsys, "--fail-above", "5")
    assert code == 0 and "no significant slowdown beyond 5%" in out


def test_fail_above_fails_a_significant_slowdown_beyond_the_percentage(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _gate(tmp_path, [10.0, 10.2, 9.9, 10.1, 10.0], [8.0, 8.1, 7.9, 8.2, 8.0], capsys,
                         "--fail-above", "10")
    assert code == 1 and "regression: python-threads" in err and "20.0% slower" in err


def test_fail_above_lets_a_significant_slowdown_below_the_percentage_pass(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = _gate(tmp_path, [10.0, 10.2, 9.9, 10.1, 10.0], [9.5, 9.6, 9.4, 9.55, 9.5], capsys,
                       "--fail-above", "10")
    assert code == 0


def test_fail_above_cannot_decide_with_too_few_repetitions(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _gate(tmp_path, [10.0, 10.1], [5.0, 5.1], capsys, "--fail-above", "10")
    assert code == 2 and err.startswith("cannot decide: ") and "needs 5 a side" in err


def test_compare_as_markdown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _gate(tmp_path, [10.0, 10.2, 9.9, 10.1, 10.0], [8.0, 8.1, 7.9, 8.2, 8.0], capsys,
                         "--format", "markdown")
    lines = out.splitlines()
    assert code == 0 and lines[2].startswith("| strategy | n A/B |") and lines[3].startswith("|:---|---:|")
    row = next(line for line in lines if line.startswith("| python-threads"))
    assert "| 5/5 | 10.00 | 8.00 | 0.80x |" in row


@pytest.mark.parametrize("option", [["--fail-above", "-1"], ["--fail-above", "nan"], ["--format", "html"]])
def test_bad_gate_options_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  option: list[str]) -> None:
    code, _, err = _gate(tmp_path, [10.0], [10.0], capsys, *option)
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error: ")
