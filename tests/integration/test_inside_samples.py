"""Inside and outside agree (issue 18): the worker's samples of its own cgroup, taken from inside
the sandbox, against the controller's readings of the same group from outside, in real capped
sandboxes of the cgroup runtime and of the Docker runtime, for Python and Go workers.

What each side sees and why they differ (the tolerances below, measured on this machine):
- the kernel's peak watermark: one counter read by both; inside reads it at the last sample, just
  before the worker's `done`, outside after the sandbox ended, so inside is the same or slightly
  lower: 0.98-1.0x (measured 0.996-1.0x, 2026-12-03, both runtimes);
- the working-set maximum: the largest of the samples each side took, inside every 250 ms and
  outside every 100 ms, at different moments of a fast-moving curve (a forked pool's peak
  lasts less than a sample interval): 0.5-1.3x (measured 0.61-1.20x; Go 0.91-1.0x);
- CPU seconds: inside stops at the last sample, outside includes the worker's exit (interpreter
  teardown, pool processes reaped): inside is 0 to max(0.3 s, 10%) lower (measured 0.00-0.08 s);
- CPU throttling: one counter of the sandbox's own group, which outside reads after the sandbox
  ended (cgroup runtime) or at the container's exit itself, before the engine removes the group
  (Docker, kit/runtimes/docker.py): inside is never above it. Reading only at the 100 ms ticks,
  Docker's figure once missed 0.05 s of a go-native run's last moments (0.70 s against 0.75 s).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.kitrun import kit
from tests.integration.test_docker import client, engine  # noqa: F401 (fixtures: a current worker image)
from tests.integration.test_go import go_bin  # noqa: F401 (fixture: the Go workers built for the host)

pytestmark = [pytest.mark.cgroup, pytest.mark.usefixtures("cgroups")]

STRATEGIES = ("python-sequential", "python-processes", "go-native")


def agreement(record: dict[str, Any]) -> dict[str, float]:
    """Inside over outside, for the figures both sides measure."""
    inside = record["inside"]
    return {"peak": inside["peak_usage_bytes"] / record["peak_usage_bytes"],
            "working_set": inside["working_set_max_bytes"] / record["peak_memory_bytes"],
            "cpu_shortfall": record["cpu_seconds"] - inside["cpu_seconds"]}


def assert_agree(record: dict[str, Any]) -> None:
    inside, name = record["inside"], record["strategy"]
    assert inside is not None, f"{name}: no inside samples"
    ratios = agreement(record)
    print(f"inside/outside {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items()))   # pytest -s
    assert inside["samples"] >= 2, (name, inside)                      # the first and the last at least
    assert inside["watermark"] is True                                 # v1: max_usage_in_bytes
    assert 0.98 <= ratios["peak"] <= 1.0, (name, ratios)
    assert 0.5 <= ratios["working_set"] <= 1.3, (name, ratios)
    assert 0 <= ratios["cpu_shortfall"] <= max(0.3, 0.1 * record["cpu_seconds"]), (name, ratios)
    assert inside["oom_kills"] == record["oom_kills"] == 0
    assert 0 <= inside["cpu_throttled_seconds"] <= record["cpu_throttled_seconds"] + 1e-3
    assert 0 < inside["sampler_cpu_seconds"] < 0.05 * inside["cpu_seconds"] + 0.05   # what sampling cost


@pytest.mark.parametrize("runtime", ["cgroup", pytest.param("docker", marks=pytest.mark.docker)])
def test_inside_and_outside_samples_agree(runtime: str, tmp_path: Path, cache_dir: Path,
                                          request: pytest.FixtureRequest) -> None:
    # The Go worker built for the host (cgroup) or a worker image of the current sources (docker).
    request.getfixturevalue("go_bin" if runtime == "cgroup" else "client")
    run = kit(["run", "--runtime", runtime, *[arg for name in STRATEGIES for arg in ("-s", name)],
               "--workers", "2", "--images", "16", "--distinct-images", "4", "--resolution", "1080p",
               "--mem-limit", "768m", "--cpus", "1.5"], tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    assert run.results["config"]["sample_interval_ms"] == 250
    for name in STRATEGIES:
        record = run.record(name)
        assert record["status"] == "ok" and record["verified"] is True, (name, record["message"])
        assert_agree(record)


def test_sampling_off_leaves_no_inside_figures(tmp_path: Path, cache_dir: Path) -> None:
    run = kit(["run", "-s", "python-sequential", "--images", "2", "--distinct-images", "2", "--resolution", "720p",
               "--sample-interval-ms", "0"], tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    record = run.record("python-sequential")
    assert record["status"] == "ok" and record["inside"] is None
    assert run.results["config"]["sample_interval_ms"] == 0
