"""Result records: the formulas and the results.json layout of product.md section 4, and the
atomic persistence that lets an interrupted run keep what finished."""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import asdict, fields, replace
from pathlib import Path

import pytest

from kit.results.records import (
    SCHEMA_VERSION,
    FailedItem,
    OomEvent,
    RunResults,
    Sample,
    StrategyRecord,
    atomic_write,
    derived_rates,
    load,
    record_from_json,
    save,
    to_csv,
)

MIB = 2**20

# product.md section 4, word for word: the top level and the fields every record has at least.
TOP_LEVEL = {"schema_version", "run_id", "command", "config", "environment", "concurrency", "inputs",
             "results"}
RECORD_FIELDS = {
    "strategy", "repetition", "workers", "status", "exit_code", "wall_seconds", "work_seconds",
    "cpu_seconds", "cpu_utilization", "peak_memory_bytes", "peak_usage_bytes", "peak_pss_bytes",
    "peak_rss_sum_bytes", "memory_limit_bytes", "oom_kills", "oom_events", "cpu_throttled_seconds",
    "items_total", "items_ok", "items_failed", "failed_items", "throughput_items_per_second",
    "throughput_per_mib", "verified", "samples",
}


def record(**changes: object) -> StrategyRecord:
    base = StrategyRecord(
        strategy="python-processes", repetition=0, workers=4, status="oom_killed", exit_code=-9,
        wall_seconds=3.5, work_seconds=2.5, cpu_seconds=6.0, cpu_utilization=6.0 / 3.5,
        peak_memory_bytes=200 * MIB, peak_usage_bytes=210 * MIB, peak_pss_bytes=190 * MIB,
        peak_rss_sum_bytes=300 * MIB, memory_limit_bytes=256 * MIB, oom_kills=2,
        oom_events=[OomEvent(t_seconds=1.25, usage_bytes=255 * MIB, items_ok=7, victim="pool_worker"),
                    OomEvent(t_seconds=1.5, usage_bytes=250 * MIB, items_ok=7, victim="main")],
        cpu_throttled_seconds=0.0, items_total=10, items_ok=7, items_failed=1,
        failed_items=[FailedItem(name="bad, \"quoted\".jpg", reason="truncated JPEG")],
        throughput_items_per_second=2.8, throughput_per_mib=0.014, verified=None,
        samples=[Sample(t_seconds=0.0, working_set_bytes=MIB, usage_bytes=2 * MIB, cpu_seconds=0.0,
                        items_ok=0),
                 Sample(t_seconds=0.25, working_set_bytes=90 * MIB, usage_bytes=95 * MIB, cpu_seconds=0.4,
                        items_ok=1)],
        start_method="fork", message="OOM", verification={"identical": 7},
        environment={"load_average_at_start": [0.1, 0.2, 0.3]},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def run_results(*records: StrategyRecord) -> RunResults:
    return RunResults(run_id="20260101-000000-abcd", command=["kit", "run", "--mem-limit", "256m"],
                      config={"workers": 4}, environment={"cores": 2}, concurrency={"start_method": "fork"},
                      inputs={"items": 10}, records=list(records), warnings=["go-native skipped: ..."])


def test_derived_rates_follow_the_formulas() -> None:
    throughput, per_mib, utilization = derived_rates(items_ok=30, work_seconds=2.0, wall_seconds=2.5,
                                                     cpu_seconds=4.0, peak_memory_bytes=150 * MIB)
    assert throughput == pytest.approx(30 / 2.0)                      # items_ok / work_seconds
    assert per_mib == pytest.approx((30 / 2.0) / 150)                 # throughput / (peak / 2^20)
    assert utilization == pytest.approx(4.0 / 2.5)                    # cpu_seconds / wall_seconds, cores


def test_derived_rates_without_a_measurement() -> None:
    # No item ran (killed at startup): no work time, so no throughput; utilization still defined.
    assert derived_rates(0, None, 1.0, 0.5, 50 * MIB) == (None, None, 0.5)
    # Every item failed: the formula gives 0 items/s, a real figure, not a missing one.
    assert derived_rates(0, 2.0, 2.5, 1.0, 50 * MIB) == (0.0, 0.0, 0.4)
    # No memory figure: no per-MiB rate rather than a division by zero.
    assert derived_rates(4, 2.0, 2.0, 1.0, 0)[:2] == (2.0, None)
    assert derived_rates(4, 2.0, 0.0, 0.0, MIB)[2] == 0.0


def test_record_has_every_contract_field() -> None:
    assert RECORD_FIELDS <= {f.name for f in fields(StrategyRecord)}
    assert RECORD_FIELDS <= set(asdict(record()))
    sample_fields = {f.name for f in fields(Sample)}
    assert sample_fields == {"t_seconds", "working_set_bytes", "usage_bytes", "cpu_seconds", "items_ok",
                             "cpu_throttled_seconds", "cpu_throttled_periods"}   # issue 17: live throttling
    assert {f.name for f in fields(OomEvent)} == {"t_seconds", "usage_bytes", "items_ok", "victim"}


def test_to_json_layout() -> None:
    data = run_results(record()).to_json()
    # The contract's top level, plus the warnings list (style: warnings are data the report shows).
    assert set(data) == TOP_LEVEL | {"warnings"}
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["command"] == ["kit", "run", "--mem-limit", "256m"]
    assert isinstance(data["results"], list) and len(data["results"]) == 1
    json.dumps(data)  # plain JSON all the way down


def test_record_round_trip() -> None:
    original = record()
    restored = record_from_json(json.loads(json.dumps(asdict(original))))
    assert restored == original
    assert isinstance(restored.oom_events[0], OomEvent) and isinstance(restored.samples[0], Sample)
    assert isinstance(restored.failed_items[0], FailedItem)


def test_record_from_json_ignores_fields_it_does_not_know() -> None:
    data = asdict(record())
    data["added_by_a_later_schema"] = 1
    assert record_from_json(data) == record()


def test_save_writes_both_files_atomically(tmp_path: Path) -> None:
    run_dir = tmp_path / "reports" / "run"
    results = run_results(record())
    save(results, run_dir)
    assert load(run_dir)["results"][0]["strategy"] == "python-processes"    # a run directory
    assert load(run_dir / "results.json")["run_id"] == results.run_id      # or the file
    results.records.append(record(strategy="python-threads", status="ok", oom_kills=0, oom_events=[]))
    save(results, run_dir)                                                 # rewritten after each strategy
    assert [r["strategy"] for r in load(run_dir)["results"]] == ["python-processes", "python-threads"]
    assert sorted(os.listdir(run_dir)) == ["results.csv", "results.json"]  # no temp files left


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    atomic_write(target, "old")

    with pytest.raises(TypeError):
        atomic_write(target, 42)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["results.json"]


def test_csv_has_one_row_per_record() -> None:
    records = [record(), record(strategy="python-threads", repetition=1, status="ok", oom_kills=0,
                                oom_events=[], failed_items=[], work_seconds=None,
                                throughput_items_per_second=None)]
    rows = list(csv.DictReader(io.StringIO(to_csv(records))))
    assert len(rows) == 2
    first, second = rows
    assert first["strategy"] == "python-processes" and second["strategy"] == "python-threads"
    assert first["peak_memory_bytes"] == str(200 * MIB)
    assert json.loads(first["oom_victims"]) == ["pool_worker", "main"]           # lists are JSON arrays
    assert json.loads(first["failed_item_names"]) == ["bad, \"quoted\".jpg"]     # commas and quotes survive
    assert second["work_seconds"] == "" and second["throughput_items_per_second"] == ""  # null -> empty
    assert "samples" not in first                                   # nested series stay in the JSON
    assert {"strategy", "status", "throughput_per_mib", "verified"} <= set(first)


def test_csv_of_no_records_is_a_header() -> None:
    assert to_csv([]).count("\n") == 1


def test_csv_lists_round_trip_whatever_the_names_hold() -> None:
    """Issue 14: a file name may hold ';' (or ',' or quotes), so lists are JSON arrays in the cell."""
    names = ["a;b.jpg", "c,d.jpg", 'e"f.jpg', "plain.jpg", "ünï;cødé.jpg"]
    rec = record(failed_items=[FailedItem(name=n, reason="truncated JPEG") for n in names])
    [row] = list(csv.DictReader(io.StringIO(to_csv([rec]))))
    assert json.loads(row["failed_item_names"]) == names
    assert json.loads(row["oom_victims"]) == ["pool_worker", "main"]


def test_results_files_get_the_umask_mode_not_mkstemps_0600(tmp_path: Path) -> None:
    """Issue 14: a plain open() would give 0666 minus the umask; so does atomic_write."""
    previous = os.umask(0o022)
    try:
        atomic_write(tmp_path / "report.html", "<html></html>")
        os.umask(0o077)
        atomic_write(tmp_path / "private.json", "{}")
    finally:
        os.umask(previous)
    assert (tmp_path / "report.html").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "private.json").stat().st_mode & 0o777 == 0o600


def test_a_results_file_that_cannot_be_written_is_one_line_naming_it(tmp_path: Path) -> None:
    """Issue 14: a full (here: missing) disk is an EnvironmentProblem naming the path, not a traceback."""
    from kit.core.errors import EnvironmentProblem

    blocker = tmp_path / "file"
    blocker.write_text("")
    results = RunResults(run_id="r", command=["kit"], config={}, environment={}, concurrency={}, inputs={})
    with pytest.raises(EnvironmentProblem) as info:
        save(results, blocker / "run")
    assert str(blocker / "run") in str(info.value) and "\n" not in str(info.value)
    assert info.value.exit_code == 1


def test_stage_seconds_round_trip_and_old_records_have_none() -> None:
    """Issue 23: a record's CPU seconds per stage; files written before it load with None."""
    stages = {"read": 0.1, "decode": 2.0, "resize": 1.0, "encode": 1.5, "write": 0.2}
    rec = record(stage_seconds=stages)
    assert record_from_json(json.loads(json.dumps(asdict(rec)))).stage_seconds == stages
    old = asdict(record())
    del old["stage_seconds"]
    assert record_from_json(old).stage_seconds is None
    assert json.loads(next(csv.DictReader(io.StringIO(to_csv([rec]))))["stage_seconds"]) == stages  # JSON cell
