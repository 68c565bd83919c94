"""The task workloads and the seed strategies through the real CLI on the real cgroup runtime:
each workload on every Python strategy (small sizes), the io server's life, payload's refusal,
pool strategies ending promptly on an OOM kill, and --skip-current over a stable --output-dir."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from kit.worker.programs import names
from tests.integration.kitrun import kit

POOL_STRATEGIES, PROCESS_STRATEGIES = names(chunks=True), names(process_workers=True)
PYTHON_STRATEGIES = names("python", free_threaded=False)   # python-threads-ft: test_free_threaded.py
pytestmark = [pytest.mark.cgroup, pytest.mark.usefixtures("cgroups")]

SMALL = {
    "pi": ["--iterations", "20000"],
    "count": ["--count-to", "20000", "--start-method", "spawn"],
    "payload": ["--payload-size", "1m", "--mem-limit", "256m", "--start-method", "forkserver"],
    "io": ["--io-delay", "0.01"],
}


@pytest.mark.parametrize("workload", sorted(SMALL))
def test_each_workload_runs_and_verifies_on_every_python_strategy(workload: str, tmp_path: Path,
                                                                  cache_dir: Path) -> None:
    strategies = [arg for name in PYTHON_STRATEGIES for arg in ("-s", name)]
    run = kit(["run", "--workload", workload, "--items", "6", "--workers", "2", "--chunksize", "2",
               "--metrics-linger", "0", *strategies, *SMALL[workload]], tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    results = run.results
    assert results["workload"]["name"] == workload and results["workload"]["unit"] == "tasks"
    assert results["workload"]["verification"]
    method = "spawn" if workload == "count" else "forkserver" if workload == "payload" else "fork"
    for name in PYTHON_STRATEGIES:
        record = run.record(name)
        assert record["status"] == "ok" and record["verified"] is True, (name, record["message"])
        assert record["items_ok"] == 6 and record["unit"] == "tasks" and record["workload"] == workload
        assert record["verification"]["method"] == "task-result"
        assert record["start_method"] == (method if name in PROCESS_STRATEGIES else None)
        workers = results["concurrency"]["workers"][name]
        assert workers["chunksize"] == (2 if name in POOL_STRATEGIES else None)
        assert workers["opencv_threads_per_worker"] is None   # task workloads never load OpenCV
        if workload == "payload":
            # a Pool pickles each chunk of 2 tasks as one message, with the shared string once
            moved = 2**19 if name in POOL_STRATEGIES else 2**20 if name in PROCESS_STRATEGIES else 0
            assert record["bytes_moved_per_task"] == moved
    assert "tasks/s" in run.stdout and f"{workload}" in run.stdout


def test_go_strategies_are_refused_for_the_task_workloads_they_do_not_run(tmp_path: Path, cache_dir: Path) -> None:
    run = kit(["run", "--workload", "pi", "-s", "go-gocv"], tmp_path / "out", cache_dir)
    assert run.returncode == 2 and "runs on go-native" in run.stderr and "Traceback" not in run.stderr
    run = kit(["run", "--workload", "io", "-s", "go-native"], tmp_path / "out2", cache_dir)
    assert run.returncode == 2 and "not io" in run.stderr and "Traceback" not in run.stderr


def test_io_server_starts_with_the_worker_and_leaves_no_port_open(tmp_path: Path, cache_dir: Path) -> None:
    run = kit(["run", "--workload", "io", "--items", "4", "-s", "python-threads", "--io-delay", "0.02",
               "--metrics-linger", "0"], tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    session = run.results["concurrency"]["workers"]["python-threads"]["workload_session"]
    assert session["delay_seconds"] == 0.02 and session["start_seconds"] >= 0
    assert session["first_answer_seconds"] >= 0.02   # the probe waited for the delayed answer
    host, port = session["address"].rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(1.0)
        assert sock.connect_ex((host, int(port))) != 0, "the io server's port is still open"


def test_payload_refuses_a_size_that_cannot_fit_the_cap(tmp_path: Path, cache_dir: Path) -> None:
    run = kit(["run", "--workload", "payload", "--payload-size", "100m", "--mem-limit", "64m"],
              tmp_path / "out", cache_dir)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot fit the memory cap" in lines[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_pool_strategies_end_promptly_with_oom_killed_under_a_cap(tmp_path: Path, cache_dir: Path) -> None:
    """multiprocessing.Pool waits forever for a killed process's result; the controller ends the
    sandbox on the OOM counter instead, long before the stall limit would. 320 MiB lies well below every
    one of these pools' floors at twelve workers but is reached only once the workers hold frames, so
    the kernel picks a pool process, not the main worker still forking. The Pillow pipeline keeps the
    main worker small: Debian's OpenCV, which the OpenCV pipeline runs here, makes the main worker the
    largest process (its import maps ~1,900 libraries, 143 MB resident, which forked workers do not
    fault in), and the kernel would kill it instead (tests/integration/test_cgroup_runtime.py)."""
    strategies = ["-s", "python-pool-imap", "-s", "python-pool-imap-unordered", "-s", "python-asyncio"]
    run = kit(["run", *strategies, "--workers", "12", "--images", "48", "--distinct-images", "4", "--library",
               "pillow", "--mem-limit", "320m", "--stall-timeout", "100", "--timeout", "200", "--metrics-linger", "0"],
              tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    for name in ("python-pool-imap", "python-pool-imap-unordered", "python-asyncio"):
        record = run.record(name)
        assert record["status"] == "oom_killed", (name, record["status"], record["message"])
        assert record["oom_kills"] >= 1 and record["verified"] is None
        assert record["wall_seconds"] < 100   # ended by the kill, not by the stall limit
        if name in POOL_STRATEGIES:   # the kernel picks a big pool process; the Pool itself survives
            assert "pool_worker" in {event["victim"] for event in record["oom_events"]}


def test_skip_current_second_run_does_almost_nothing(tmp_path: Path, cache_dir: Path) -> None:
    outputs = tmp_path / "thumbs"
    args = ["run", "-s", "python-sequential", "-s", "python-pool-imap", "--images", "4", "--distinct-images", "4",
            "--resolution", "640x360", "--output-dir", str(outputs), "--skip-current", "--metrics-linger", "0"]
    first = kit(args, tmp_path / "out1", cache_dir)
    assert first.returncode == 0, first.stderr
    assert all(r["items_skipped"] == 0 and r["items_ok"] == 4 for r in first.results["results"])
    second = kit(args, tmp_path / "out2", cache_dir)
    assert second.returncode == 0, second.stderr
    for record in second.results["results"]:
        assert record["status"] == "ok" and record["verified"] is True
        assert record["items_skipped"] == 4 and record["items_ok"] == 0
    stale = sorted((outputs / "python-sequential").iterdir())[0]
    stale.unlink()
    third = kit(args, tmp_path / "out3", cache_dir)
    assert third.returncode == 0, third.stderr
    record = third.record("python-sequential")
    assert record["items_skipped"] == 3 and record["items_ok"] == 1 and record["verified"] is True
    assert stale.exists()
