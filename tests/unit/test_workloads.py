"""The task workloads (seeds 001-004), their manifest, verification, options and strategies."""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from kit.core.errors import ConfigError
from kit.plan import config as configuration
from kit.plan.inputs import prepare
from kit.plan.skip import split_current
from kit.results.verify import verify_tasks
from kit.worker.programs import names, program
from kit.worker.protocol import ItemEvent, ManifestEntry, read_manifest, write_manifest
from kit.worker.strategies.base import StrategyOptions
from kit.worker.workloads import TASK_WORKLOADS, task_check, unit, workload_for
from kit.worker.workloads.base import Item
from kit.worker.workloads.count import count
from kit.worker.workloads.io import delayed_server, expected_body, fetch
from kit.worker.workloads.payload import DIGEST_STRIDE, build, check, digest, expected_result, result
from kit.worker.workloads.pi import calc_pi, calibrated, error_bound
from tests.unit.jpeg_samples import encode, picture

PROCESS_STRATEGIES, PYTHON_STRATEGIES = names(process_workers=True), names("python")


def workload_problem(strategy: str, workload: str) -> str | None:
    return program(strategy).workload_problem(workload)


def uses_start_method(strategy: str) -> bool:
    return program(strategy).process_workers


def test_viete_converges_to_pi_within_its_bound() -> None:
    for iterations in (1, 2, 5, 10, 30, 1000):
        assert abs(calc_pi(iterations) - math.pi) <= error_bound(iterations)
    assert abs(calc_pi(2) - math.pi) > error_bound(30)   # the bound is tight enough to catch too few terms


def test_checks_accept_the_right_result_and_reject_others() -> None:
    pi, counted, payload, io = (task_check(name) for name in ("pi", "count", "payload", "io"))
    assert pi({"iterations": 50}, "t", repr(calc_pi(50))) is None
    assert pi({"iterations": 50}, "t", "3.14") is not None
    assert pi({"iterations": 50}, "t", "nan") is not None
    assert counted({"count_to": 1000}, "t", str(count(1000))) is None
    assert counted({"count_to": 1000}, "t", "999") is not None
    assert payload({"size_bytes": 10}, "t", "10 4fc82b26aecb47d2") is None   # Go's tests expect this text too
    assert "length" in str(payload({"size_bytes": 10}, "t", "9 4fc82b26aecb47d2"))
    assert "digest" in str(payload({"size_bytes": 10}, "t", "10 0000000000000000"))
    assert payload({"size_bytes": 10}, "t", "10") is not None                # a length alone is not enough
    assert io({"delay_seconds": 0}, "task-1", expected_body("task-1")) is None
    assert io({"delay_seconds": 0}, "task-1", expected_body("task-2")) is not None


def test_units_and_applicability() -> None:
    assert unit("images") == "images" and all(unit(name) == "tasks" for name in TASK_WORKLOADS)
    assert all(workload_problem("go-native", name) is None for name in ("images", "pi", "count", "payload"))
    assert "go-native" in (workload_problem("go-gocv", "pi") or "")   # the same Go code, without OpenCV
    assert workload_problem("go-native", "io") and workload_problem("go-gocv", "images") is None
    assert all(workload_problem(name, "payload") is None for name in PYTHON_STRATEGIES)
    assert all(uses_start_method(name) for name in PROCESS_STRATEGIES)
    assert not uses_start_method("python-threads") and not uses_start_method("python-sequential")


def _port_open(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, int(port))) == 0


def test_io_server_answers_after_its_delay_then_stops_and_leaves_no_port_open() -> None:
    before = {t.name for t in threading.enumerate()}
    with delayed_server(0.05) as session:
        address = session.argument
        assert _port_open(address)
        started = time.monotonic()
        assert fetch(address, "task-000001") == expected_body("task-000001")
        assert time.monotonic() - started >= 0.05   # it waited (a lower bound, not a timing claim)
        assert session.notes["start_seconds"] >= 0 and session.notes["address"] == address
    assert not _port_open(address)
    assert "kit-io-server" not in {t.name for t in threading.enumerate()} - before


def test_payload_session_shares_one_string_and_tasks_return_its_length(tmp_path: Path) -> None:
    workload = workload_for("payload")
    items = [Item(i, f"task-{i}", "", str(tmp_path / f"{i}.txt"), {"size_bytes": 1000}) for i in range(3)]
    with workload.session(items) as session:
        assert session.argument.value == "1" * 1000 and session.notes["payload_bytes"] == 1000
        stages = [workload.process(Item(item.index, item.name, "", item.output_path, item.task, session.argument))
                  for item in items]
    assert [(tmp_path / f"{i}.txt").read_text().strip() for i in range(3)] == [f"1000 {digest('1' * 1000)}"] * 3
    # passed by reference (threads, the sequential loop): nothing serialized, transferred or deserialized
    assert stages == [{"serialize": 0.0, "transfer": 0.0, "deserialize": 0.0}] * 3


def test_a_pickled_payload_measures_its_own_trip_and_one_message_is_counted_once(tmp_path: Path) -> None:
    """What a process pool does with a task: pickle it in one process, unpickle it in another. The
    marks around the string time both sides; tasks sharing one message share one trip."""
    import pickle

    workload = workload_for("payload")
    items = [Item(i, f"task-{i}", "", str(tmp_path / f"{i}.txt"), {"size_bytes": 4 * 2**20}) for i in range(2)]
    with workload.session(items) as session:
        one = pickle.loads(pickle.dumps(replace(items[0], argument=session.argument)))
        chunk = pickle.loads(pickle.dumps([replace(item, argument=session.argument) for item in items]))
    first = workload.process(one)
    assert set(first) == {"serialize", "transfer", "deserialize"}
    assert first["serialize"] > 0 and first["deserialize"] > 0 and first["transfer"] >= 0
    shared = [workload.process(item) for item in chunk]
    assert shared[0]["serialize"] > 0 and shared[1] == {"serialize": 0.0, "transfer": 0.0, "deserialize": 0.0}
    assert (tmp_path / "0.txt").read_text().strip() == expected_result(4 * 2**20)


def test_the_payload_digest_tells_an_altered_string_and_costs_a_sample_only() -> None:
    size = 3 * DIGEST_STRIDE + 5
    right = build(size)
    assert result(right) == expected_result(size)
    for position in (0, DIGEST_STRIDE, size - 1):               # sampled positions, the last included
        assert digest(right[:position] + "2" + right[position + 1:]) != digest(right)
    assert check({"size_bytes": size}, "t", result(right[:-1])) is not None   # a cut: its length
    for n in (0, 1, DIGEST_STRIDE, DIGEST_STRIDE + 1, 10**6):
        assert result(build(n)) == expected_result(n)


def _plan(**options: object) -> configuration.RunConfig:
    return configuration.build(**options)  # type: ignore[arg-type]


def test_options_defaults_and_refusals(tmp_path: Path) -> None:
    assert _plan(workload="pi").items == 50 and _plan().items == 200
    assert _plan(workload="payload").payload_size_bytes == 10**8
    assert _plan(workload="payload", payload_size="1m").payload_size_bytes == 2**20
    with pytest.raises(ConfigError, match="cannot fit the memory cap"):
        _plan(workload="payload", payload_size="100m", mem_limit="64m")
    _plan(workload="payload", payload_size="16m", mem_limit="64m")   # fits: no refusal
    _plan(workload="pi", payload_size="100m", mem_limit="64m")       # the size only matters to payload
    with pytest.raises(ConfigError, match="needs --output-dir"):
        _plan(skip_current=True)
    with pytest.raises(ConfigError, match="only the images workload"):
        _plan(workload="pi", skip_current=True, output_dir=tmp_path)
    with pytest.raises(ConfigError, match="tasks, not input files"):
        _plan(workload="io", source=tmp_path)
    for bad in ({"iterations": 0}, {"count_to": 0}, {"chunksize": 0}, {"io_delay": -1.0}):
        with pytest.raises(ConfigError):
            _plan(workload="pi", **bad)
    assert "\n" not in str(ConfigError("x"))


def test_task_batch_goes_through_the_manifest_with_its_parameters(tmp_path: Path) -> None:
    plan = _plan(workload="count", items=3, count_to=77, cache_dir=tmp_path / "cache")
    batch = prepare(plan)
    assert batch.workload == "count" and batch.digests == {} and batch.description["task"] == {"count_to": 77}
    manifest = tmp_path / "manifest.json"
    write_manifest(manifest, batch.entries)
    assert json.loads(manifest.read_text())["items"][0] == {
        "name": "task-000000", "input": "", "output": "task-000000.txt", "task": {"count_to": 77}}
    items = read_manifest(manifest, batch.input_root, tmp_path / "out")
    assert [item.task for item in items] == [{"count_to": 77}] * 3 and items[0].input_path == ""
    image_manifest = tmp_path / "images.json"
    write_manifest(image_manifest, [ManifestEntry("a.jpg", "a.jpg", "a.jpg")])
    assert "task" not in json.loads(image_manifest.read_text())["items"][0]   # images unchanged


def test_pi_calibration_is_measured_once_then_cached(tmp_path: Path) -> None:
    first = calibrated(tmp_path)
    assert first["cached"] is False and first["iterations"] >= 1000 and first["target_seconds"] == 0.5
    # timed on this thread's CPU: a busy machine slows the wall clock, not the CPU seconds per iteration
    assert first["clock"] == "thread CPU time" and 0 < first["cpu_share"] <= 1.02
    second = calibrated(tmp_path)
    assert second["cached"] is True and second["iterations"] == first["iterations"]
    batch = prepare(_plan(workload="pi", items=2, cache_dir=tmp_path))
    assert batch.entries[0].task == {"iterations": first["iterations"]}
    assert batch.description["calibration"]["iterations"] == first["iterations"]


def test_verify_tasks_names_missing_and_wrong_results(tmp_path: Path) -> None:
    batch = prepare(_plan(workload="count", items=3, count_to=5, cache_dir=tmp_path / "cache"))
    out = tmp_path / "out"
    out.mkdir()
    for entry in batch.entries:
        (out / entry.output).write_text("5\n")
    assert verify_tasks(batch, out)[0] is True
    (out / batch.entries[0].output).write_text("4\n")
    (out / batch.entries[1].output).unlink()
    ok, detail = verify_tasks(batch, out)
    assert not ok and detail["mismatched"] == 1 and detail["missing"] == 1
    assert detail["first_problem"].startswith("task-000000") and detail["method"] == "task-result"


def test_skip_current_keeps_only_outputs_newer_than_their_source(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir(), out.mkdir()
    entries = [ManifestEntry(n, n, n) for n in ("a.jpg", "b.jpg", "c.jpg")]
    for entry in entries:
        (src / entry.input).write_bytes(b"x")
    output = encode(picture())                   # outputs are complete JPEGs (kit/plan/skip.py checks)
    (out / "a.jpg").write_bytes(output)          # current
    (out / "b.jpg").write_bytes(output)          # stale: its source changed afterwards
    old = time.time() - 100
    os.utime(out / "b.jpg", (old, old))
    todo, skipped = split_current(entries, src, out)
    assert [e.name for e in skipped] == ["a.jpg"] and [e.name for e in todo] == ["b.jpg", "c.jpg"]


def test_skip_current_makes_a_truncated_or_empty_output_again(tmp_path: Path) -> None:
    """Issue 14: a newer but incomplete output (a full disk, a killed writer) is not current."""
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir(), out.mkdir()
    entries = [ManifestEntry(n, n, n) for n in ("a.jpg", "b.jpg", "c.jpg")]
    for entry in entries:
        (src / entry.input).write_bytes(b"x")
    old = time.time() - 100
    for entry in entries:
        os.utime(src / entry.input, (old, old))
    output = encode(picture())
    (out / "a.jpg").write_bytes(output)
    (out / "b.jpg").write_bytes(output[: len(output) // 2])     # truncated
    (out / "c.jpg").write_bytes(b"")                             # empty
    todo, skipped = split_current(entries, src, out)
    assert [e.name for e in skipped] == ["a.jpg"] and [e.name for e in todo] == ["b.jpg", "c.jpg"]


@pytest.mark.parametrize("strategy", names("python", free_threaded=False))   # in this (GIL) interpreter
def test_every_python_strategy_runs_task_workloads(strategy: str, tmp_path: Path) -> None:
    """Real threads and processes, in this process: events for every task, results on disk."""
    from kit.worker.main import run_worker

    batch = prepare(_plan(workload="count", items=5, count_to=1000, cache_dir=tmp_path / "cache"))
    manifest = tmp_path / "manifest.json"
    write_manifest(manifest, batch.entries)
    out = tmp_path / "out"
    code = run_worker(strategy, "count", manifest, batch.input_root, out, 2, "fork", chunksize=2)
    assert code == 0
    assert verify_tasks(batch, out)[0] is True


def test_pool_imap_reports_in_order_and_unordered_as_they_finish(tmp_path: Path) -> None:
    from kit.worker.strategies import pool_imap

    items = [Item(i, f"task-{i}", "", str(tmp_path / f"{i}.txt"), {"count_to": 10 if i else 8_000_000})
             for i in range(4)]
    for run, ordered in ((pool_imap.run_imap, True), (pool_imap.run_imap_unordered, False)):
        seen: list[ItemEvent] = []
        run(items, "count", StrategyOptions(workers=2, origin=time.monotonic()), seen.append)
        indexes = [event.index for event in seen]
        assert sorted(indexes) == [0, 1, 2, 3] and all(event.ok for event in seen)
        if ordered:
            assert indexes == [0, 1, 2, 3]
        else:
            assert indexes[-1] == 0   # the long first task is reported last


def test_console_table_names_the_workload_its_unit_and_skipped_items() -> None:
    from dataclasses import asdict, replace

    from rich.console import Console

    from kit.report.table import results_table
    from kit.results.records import record_from_json
    from tests.unit.test_compare import rec

    console = Console(width=200, record=True)
    console.print(results_table([replace(rec(), workload="pi", unit="tasks")]))
    text = console.export_text()
    assert "workload pi" in text and "tasks/s" in text and "images/s" not in text
    console = Console(width=200, record=True)
    console.print(results_table([replace(rec(), items_skipped=7)]))
    text = console.export_text()
    assert "images/s" in text and "7 skipped" in text
    old = {k: v for k, v in asdict(rec()).items()
           if k not in ("workload", "unit", "items_skipped", "bytes_moved_per_task")}
    assert record_from_json(old).unit == "images"   # results written before workloads still load



POOL_VICTIM = """
import multiprocessing, os, signal, sys, time
pool = multiprocessing.get_context("fork").Pool(2)
results = pool.imap(time.sleep, [0.5])
time.sleep(0.2)   # the task is running in one of the two processes
for child in multiprocessing.active_children():
    os.kill(child.pid, signal.SIGKILL)
try:
    results.next(timeout=5.0)   # ten times the task's own length
    print("delivered")
except multiprocessing.TimeoutError:
    print("never delivered")
sys.stdout.flush()
os._exit(0)   # Pool.terminate() itself can hang after such a kill
"""


def test_a_pool_never_delivers_the_result_of_a_killed_process(tmp_path: Path) -> None:
    """Why the controller must end pool strategies itself on an OOM kill (kit/run/supervisor.py): the
    Pool replaces the killed process but waits forever for the task it was running."""
    import signal
    import subprocess
    import sys

    output = tmp_path / "out.txt"
    with output.open("w") as handle:   # a file, not a pipe: the Pool's new processes would hold a pipe open
        child = subprocess.Popen([sys.executable, "-c", POOL_VICTIM], stdout=handle, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        try:
            child.wait(timeout=60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)   # the Pool's replacement processes, orphaned
    assert output.read_text().strip() == "never delivered"
