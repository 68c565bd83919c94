"""`kit sweep`, `kit floor` and `kit compare` for real: real cgroups, real workers, small 720p
batches so the whole module stays well under a minute on two cores."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.kitrun import kit, kit_env

pytestmark = [pytest.mark.cgroup, pytest.mark.usefixtures("cgroups")]

MIB = 2**20
SMALL = ["--images", "6", "--resolution", "720p", "--distinct-images", "3", "--metrics-port", "0"]


def test_sweep_runs_every_cell_of_the_grid(tmp_path: Path, cache_dir: Path) -> None:
    """2 worker counts x 2 caps: 24 MiB is below what an interpreter with OpenCV needs (every cell
    is OOM-killed), 256 MiB is far above a 720p batch (every cell completes)."""
    run = kit(["sweep", "-s", "python-sequential", "-s", "python-threads", "-s", "python-processes",
               "--workers", "1,2", "--mem-limit", "24m,256m", *SMALL], tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    data = run.results
    cells = {(r["strategy"], r["workers"], r["memory_limit_bytes"]) for r in data["results"]}
    # sequential runs once per cap (one worker by definition); the others at both worker counts
    assert cells == {(s, w, cap) for s in ("python-threads", "python-processes") for w in (1, 2)
                     for cap in (24 * MIB, 256 * MIB)} | {("python-sequential", 1, 24 * MIB),
                                                          ("python-sequential", 1, 256 * MIB)}
    assert len(data["results"]) == 10
    assert data["config"]["grid"]["workers"] == [1, 2]
    assert data["config"]["grid"]["memory_limit_bytes"] == [24 * MIB, 256 * MIB]
    for record in data["results"]:
        if record["memory_limit_bytes"] == 24 * MIB:
            assert record["status"] == "oom_killed" and record["oom_kills"] >= 1
        else:
            assert record["status"] == "ok" and record["verified"] is True and record["items_ok"] == 6
        assert record["environment"]["cpu_steal_seconds"] >= 0
        assert len(record["environment"]["load_average_at_end"]) == 3
    # each cell kept its own log: sandbox names are unique across the grid
    assert len(list((run.run_dir / "logs").glob("*.stderr"))) == 10
    assert "all cells (10)" in run.stdout and "256 MiB" in run.stdout

    same = subprocess.run([sys.executable, "-m", "kit", "compare", str(run.run_dir), str(run.run_dir)],
                          capture_output=True, text=True, timeout=60, env=kit_env(cache_dir))
    assert same.returncode == 0, same.stderr
    assert "1.00x" in same.stdout and "same machine, software and inputs" in same.stdout


def test_floor_brackets_the_smallest_cap_that_completes(tmp_path: Path, cache_dir: Path) -> None:
    run = kit(["floor", "-s", "python-threads", "--workers", "2", "--images", "4", "--resolution", "720p",
               "--distinct-images", "2", "--low", "16m", "--high", "128m", "--step", "16m",
               "--metrics-port", "0"], tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    [floor] = run.results["floors"]
    assert floor["strategy"] == "python-threads" and floor["workers"] == 2 and floor["page_cache"] == "warm"
    assert floor["floor_bytes"] % (16 * MIB) == 0 and 16 * MIB < floor["floor_bytes"] <= 128 * MIB
    assert floor["highest_failing_bytes"] == floor["floor_bytes"] - 16 * MIB
    probes = {p["memory_limit_bytes"]: p for p in floor["probes"]}
    assert probes[floor["floor_bytes"]]["statuses"] == ["ok", "ok", "ok"]
    assert not probes[floor["highest_failing_bytes"]]["passed"]
    # the records agree: every run at or above the floor completed, every cap below it failed once
    for record in run.results["results"]:
        if record["memory_limit_bytes"] >= floor["floor_bytes"]:
            assert record["status"] == "ok" and record["peak_usage_bytes"] <= record["memory_limit_bytes"]
    assert len(run.results["results"]) == sum(len(p["statuses"]) for p in floor["probes"])
    # the answer is the command's last word: one line per strategy under the table
    assert f"floor python-threads x2: floor {floor['floor_bytes'] // MIB} MiB" in run.stdout
