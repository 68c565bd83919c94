"""A busy machine detected, for real: two busy loops beside the sandboxes make every record
`contended`, the table and the report say so, and --retry-contended keeps every attempt. The same
run without them is quiet (the CI machine runs nothing else while its tests run)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.kitrun import KitRun, kit

pytestmark = [pytest.mark.cgroup, pytest.mark.usefixtures("cgroups")]
ARGS = ["run", "-s", "python-sequential", "-s", "python-threads", "--workers", "2", "--images", "16",
        "--distinct-images", "4", "--resolution", "1080p"]


@pytest.fixture
def hogs() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Two CPU-bound loops, one per core of this machine, for the test's duration."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        yield loops
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


def _banner(run: KitRun) -> str | None:
    page = (run.run_dir / "report.html").read_text()
    found = re.search(r'<div class="banner" id="contention-warning">(.*?)</div>', page, re.S)
    return found.group(1) if found else None


def test_beside_two_busy_loops_every_record_is_contended_and_retried(tmp_path: Path, cache_dir: Path,
                                                                     hogs: list[subprocess.Popen[bytes]]) -> None:
    run = kit([*ARGS, "--retry-contended", "1"], tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    records = run.results["results"]
    assert len(records) == 4                                   # two attempts of each cell, all kept
    for strategy in ("python-sequential", "python-threads"):
        attempts = [r for r in records if r["strategy"] == strategy]
        assert [r["attempt"] for r in attempts] == [0, 1]
        assert all(r["contended"] for r in attempts), attempts
        assert sorted(r["superseded"] for r in attempts) == [False, True]   # the least contended is kept
        for r in attempts:
            assert r["other_cpu_seconds"] > r["contention_threshold"] * 2 * r["wall_seconds"] * 0.9
            assert r["controller_cpu_seconds"] >= 0 and r["contention_threshold"] == 0.10
    assert run.stdout.count("CONTENDED") == 2                 # one row per kept attempt, marked
    banner = _banner(run)
    assert banner is not None and "python-sequential" in banner and "python-threads" in banner
    assert "CPU-seconds" in banner
    # the answer: no verdict stamped on a busy machine, in the terminal and the markdown report alike
    line = _claim_line(run.stdout, 1)
    assert line.startswith("Claim 1 inconclusive: contended") and "--retry-contended 3" in line
    assert "**Claim 1 inconclusive**: contended" in _markdown(run)


def test_the_same_run_on_a_quiet_machine_is_not_contended(tmp_path: Path, cache_dir: Path) -> None:
    run = kit(ARGS, tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    for record in run.results["results"]:
        share = (record["other_cpu_seconds"] + record["steal_seconds"]) / (2 * record["wall_seconds"])
        assert record["contended"] is False, f"{record['strategy']}: others took {share:.0%} of the CPUs"
        assert record["attempt"] == 0 and record["superseded"] is False
    assert "CONTENDED" not in run.stdout and _banner(run) is None
    # 16 1080p images are well under 2 s of work: too short to decide claim 1, and said so
    line = _claim_line(run.stdout, 1)
    assert line.startswith("Claim 1 inconclusive: too short") and "--images" in line
    assert "**Claim 1 inconclusive**: too short" in _markdown(run)


def _claim_line(stdout: str, number: int) -> str:
    """`Claim N ...` as printed after the tables, its wrapped lines joined."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"Claim {number} "))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("  ")), len(lines))
    return " ".join(line.strip() for line in lines[start:end])


def _markdown(run: KitRun) -> str:
    done = subprocess.run([sys.executable, "-m", "kit", "report", str(run.run_dir), "--format", "markdown"],
                          capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def test_cpuset_confines_the_sandbox_and_the_kit_to_their_own_cpus(tmp_path: Path, cache_dir: Path) -> None:
    """A real v1/v2 cpuset: each worker reports the CPUs the kernel lets it use (its
    /proc/self/status Cpus_allowed_list, or Go's NumCPU), and no group is left behind."""
    from tests.integration.test_cgroup_runtime import leftover_groups

    run = kit(["run", "-s", "python-sequential", "-s", "python-threads", "--workers", "1", "--cpuset", "1",
               "--images", "4", "--distinct-images", "2", "--resolution", "720p"], tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    assert run.results["environment"]["cpuset"] == {"sandbox": [1], "controller": [0], "note": None}
    for strategy in ("python-sequential", "python-threads"):
        assert run.results["concurrency"]["workers"][strategy]["cpus_allowed"] == "1"
        assert run.record(strategy)["environment"]["sandbox"]["cpuset"] == "1"
    assert leftover_groups(run.results["run_id"]) == []
    cpuset_root = Path("/sys/fs/cgroup/cpuset")
    if cpuset_root.is_dir():   # v1: the cpuset hierarchy holds no group of this run either
        assert not [p for p in cpuset_root.rglob(f"{run.results['run_id']}*") if p.is_dir()]
