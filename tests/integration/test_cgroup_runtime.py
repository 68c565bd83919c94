"""The cgroup runtime for real: capped cgroups, OOM kills, CPU caps, bad inputs, Ctrl-C.

These tests create real cgroups (root on cgroup v1, a delegated subtree on v2) and run the
real `kit` CLI; they skip only where no cgroup can be made (and fail on CI instead).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from kit.runtimes.cgroupfs import V1_CONTROLLERS, CgroupHost
from tests.integration.kitrun import kit, kit_env

pytestmark = [pytest.mark.cgroup, pytest.mark.usefixtures("cgroups")]


def leftover_groups(run_id: str) -> list[Path]:
    """Cgroup directories of this run still on the machine (must be none)."""
    host = CgroupHost()
    if host.version == 2:
        bases = [host._base_v2()]
    else:
        bases = [host._base_v1(c) / "kit" for c in V1_CONTROLLERS if (host.root / c).is_dir()]
    return [p for base in bases if base.is_dir() for p in base.iterdir() if p.name.startswith(run_id)]


def test_cap_between_two_peaks_kills_one_and_spares_the_other(tmp_path: Path, cache_dir: Path) -> None:
    """256 MiB: one sequential 4K pipeline fits (~90 MiB), twelve threads' frames do not (~400 MiB)."""
    run = kit(["run", "-s", "python-sequential", "-s", "python-threads", "--workers", "12",
               "--images", "24", "--distinct-images", "4", "--mem-limit", "256m"], tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    sequential, threads = run.record("python-sequential"), run.record("python-threads")
    assert sequential["status"] == "ok" and sequential["verified"] is True
    assert sequential["items_ok"] == 24 and sequential["oom_kills"] == 0
    assert sequential["peak_memory_bytes"] < 256 * 2**20
    assert threads["status"] == "oom_killed" and threads["verified"] is None
    assert threads["oom_kills"] >= 1 and len(threads["oom_events"]) == threads["oom_kills"]
    event = threads["oom_events"][0]
    assert event["victim"] == "main"  # threads live in one process: the kernel kills the worker itself
    assert 0 <= event["items_ok"] <= 24 and event["t_seconds"] > 0
    assert threads["memory_limit_bytes"] == 256 * 2**20
    assert threads["peak_usage_bytes"] <= 256 * 2**20 + 2**20
    assert leftover_groups(run.results["run_id"]) == []


def test_a_killed_pool_process_ends_the_strategy(tmp_path: Path, cache_dir: Path) -> None:
    """A pool process killed inside the sandbox counts, though the main worker survives it.

    320 MiB is far below twelve forked workers' floor yet reached only once the workers hold
    frames. The kernel kills the process with the most resident pages, so the pool process is the
    victim only while the main worker is smaller than a worker holding a frame: true of the Pillow
    pipeline (the main worker imports Pillow alone), no longer of Debian's OpenCV, whose import maps
    ~1,900 libraries (143 MB resident in the main worker, which forked workers do not fault in).
    With that OpenCV the same cap still ends the strategy, whichever process the kernel picks."""
    args = ["run", "-s", "python-processes", "--workers", "12", "--images", "48", "--distinct-images", "4",
            "--mem-limit", "320m"]
    run = kit([*args, "--library", "pillow"], tmp_path / "pillow", cache_dir)
    assert run.returncode == 0, run.stderr
    record = run.record("python-processes")
    assert record["status"] == "oom_killed"
    assert record["oom_events"][0]["victim"] == "pool_worker"
    assert record["start_method"] == "fork"
    opencv = kit(args, tmp_path / "opencv", cache_dir)
    assert opencv.returncode == 0, opencv.stderr
    assert opencv.record("python-processes")["status"] == "oom_killed"


def _jpeg(width: int, height: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    image = cv2.resize(rng.integers(0, 255, (9, 16, 3), dtype=np.uint8), (width, height))
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return data.tobytes()


def test_bad_inputs_are_failed_items_and_never_abort_the_batch(tmp_path: Path, cache_dir: Path) -> None:
    source = tmp_path / "photos"
    source.mkdir()
    good = _jpeg(1600, 1200, 1)
    (source / "a-good.jpg").write_bytes(good)
    (source / "b-trailing.jpg").write_bytes(_jpeg(1280, 720, 2) + b"APPENDED-AFTER-EOI" * 100)
    (source / "c-truncated.jpg").write_bytes(good[: len(good) // 2])
    (source / "d-empty.jpg").write_bytes(b"")
    (source / "e-notes.txt").write_text("not an image")
    (source / ".hidden.jpg").write_bytes(good)  # hidden: not an item
    (source / "subdir").mkdir()                # not a regular file: not an item
    run = kit(["run", "-s", "python-sequential", "-s", "python-threads", "--workers", "2",
               "--source", str(source)], tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    for strategy in ("python-sequential", "python-threads"):
        record = run.record(strategy)
        assert record["status"] == "ok"
        assert record["items_total"] == 5 and record["items_ok"] == 2 and record["items_failed"] == 3
        reasons = {item["name"]: item["reason"] for item in record["failed_items"]}
        assert set(reasons) == {"c-truncated.jpg", "d-empty.jpg", "e-notes.txt"}
        assert "truncated" in reasons["c-truncated.jpg"]
        assert "empty" in reasons["d-empty.jpg"]
        assert "not a JPEG" in reasons["e-notes.txt"]
        assert record["verified"] is True
        outputs = run.run_dir / "outputs" / strategy
        assert sorted(p.name for p in outputs.iterdir()) == ["a-good.jpg", "b-trailing.jpg"]
        image = cv2.imread(str(outputs / "a-good.jpg"))
        assert image.shape[:2] == (1080, 1440)  # 4:3 fitted into 1920x1080, not stretched
    assert run.results["inputs"]["source_dir"] == str(source)
    assert run.results["inputs"]["item_count"] == 5


def test_a_cpu_cap_holds_two_workers_near_one_core(tmp_path: Path, cache_dir: Path) -> None:
    run = kit(["run", "-s", "python-threads", "--workers", "2", "--cpus", "1", "--images", "24",
               "--distinct-images", "4"], tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    record = run.record("python-threads")
    assert record["status"] == "ok" and record["cpus"] == 1.0
    assert 0.5 < record["cpu_utilization"] < 1.15
    assert record["cpu_throttled_seconds"] > 0


def test_timeout_stops_a_strategy_and_the_run_goes_on(tmp_path: Path, cache_dir: Path) -> None:
    run = kit(["run", "-s", "python-sequential", "-s", "python-threads", "--images", "200",
               "--distinct-images", "4", "--timeout", "1.5"], tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    for strategy in ("python-sequential", "python-threads"):
        record = run.record(strategy)
        assert record["status"] == "timeout"
        assert record["items_ok"] < 200 and record["verified"] is None
    assert leftover_groups(run.results["run_id"]) == []


@pytest.mark.vm
def test_ctrl_c_stops_the_worker_keeps_results_and_leaves_no_cgroup(tmp_path: Path, cache_dir: Path) -> None:
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "kit", "run", "-s", "python-processes", "-s", "python-threads",
         "--images", "400", "--distinct-images", "4", "--out", str(out), "--metrics-port", "0",
         "--runtime", "cgroup"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=kit_env(cache_dir))
    deadline = time.monotonic() + 120
    while not list(out.glob("*/logs/*.stderr")) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)  # well inside the first strategy
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    run_dir = next(out.iterdir())
    import json

    results = json.loads((run_dir / "results.json").read_text())
    assert [r["status"] for r in results["results"]] == ["interrupted"]
    assert results["results"][0]["items_ok"] < 400
    assert leftover_groups(results["run_id"]) == []
    # No worker process survives its sandbox.
    ps = subprocess.run(["pgrep", "-f", f"--output-dir {run_dir}"], capture_output=True, text=True)
    assert ps.stdout.strip() == ""


def test_invalid_options_are_one_line_and_exit_2(tmp_path: Path, cache_dir: Path) -> None:
    cases = [["--mem-limit", "abc"], ["--mem-limit", "0"], ["--mem-limit", "-1g"], ["--mem-limit", "3x"],
             ["--mem-limit", "1m"], ["--workers", "0"], ["--images", "-5"], ["-s", "python-fibers"],
             ["--source", str(tmp_path / "missing")], ["--workers", "many"]]
    for args in cases:
        run = kit(["run", *args], tmp_path / "out", cache_dir)
        assert run.returncode == 2, (args, run.stderr)
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, run.stderr)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
