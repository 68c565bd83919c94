"""The docker runtime for real: a Docker engine, the kit's worker image, capped hardened containers.

Skips locally without an engine (fails on CI, which installs and starts one). A stale or missing
worker image is rebuilt first (from kit-base/*:offline when present, see .ci/offline-base-images).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from kit.run.sandboxes import pids_limit
from kit.runtimes.docker import SANDBOX_LABEL, UNPRIVILEGED, leftover_containers
from tests.integration.kitrun import kit, kit_env

pytestmark = [pytest.mark.cgroup, pytest.mark.docker, pytest.mark.usefixtures("cgroups")]


@pytest.fixture(scope="module")
def engine(docker_engine: Any) -> Any:
    """The engine (tests/conftest.py's docker_engine: skips, or fails on CI, when none answers)."""
    return docker_engine


@pytest.fixture()
def client(engine: Any) -> Any:
    """The engine, with a worker image built from the kit's current sources (rebuilt per test:
    in a shared working tree the sources may change between tests; cached layers make it quick)."""
    from kit.build.freethreaded import installed_prefix
    from kit.build.image import BuildOptions, build, default_ca_bundle, image_problem
    from kit.plan.config import default_cache_dir

    if image_problem(engine):
        tags = {tag for image in engine.images.list(name="kit-base/*") for tag in image.tags}
        build(BuildOptions(
            python_image="kit-base/python:offline" if "kit-base/python:offline" in tags else None,
            go_image="kit-base/go:offline" if "kit-base/go:offline" in tags else None,
            ca_bundle=default_ca_bundle(),
            free_threaded=installed_prefix(default_cache_dir())), client=engine)   # as `kit build` does
    return engine


def parent_groups(record: dict[str, Any]) -> list[Path]:
    """The run's --cgroup-parent directories still on the machine (must be none), in every v1
    hierarchy: the engine makes the path in cpuset, devices, freezer, blkio, ... too."""
    parent = record["environment"]["sandbox"]["cgroup_parent"].lstrip("/")
    root = Path("/sys/fs/cgroup")
    candidates = [root / parent] if (root / "cgroup.controllers").exists() else \
        [hierarchy / parent for hierarchy in root.iterdir() if hierarchy.is_dir()]
    return [path for path in candidates if path.exists()]


def test_cap_between_two_peaks_kills_one_container_and_spares_the_other(
        client: Any, tmp_path: Path, cache_dir: Path) -> None:
    """The cgroup runtime's OOM scenario in containers: 256 MiB holds one 4K pipeline, not twelve."""
    run = kit(["run", "--runtime", "docker", "-s", "python-sequential", "-s", "python-threads",
               "--workers", "12", "--images", "24", "--distinct-images", "4", "--mem-limit", "256m"],
              tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    sequential, threads = run.record("python-sequential"), run.record("python-threads")
    # each assertion shows its whole record: a failure here once left nothing to read
    assert sequential["status"] == "ok" and sequential["verified"] is True, sequential
    assert sequential["items_ok"] == 24 and sequential["oom_kills"] == 0, sequential
    assert 0 < sequential["peak_memory_bytes"] < 256 * 2**20, sequential
    assert sequential["cpu_seconds"] > 0 and sequential["work_seconds"] > 0, sequential
    assert threads["status"] == "oom_killed" and threads["verified"] is None, threads
    assert threads["exit_code"] == 137 and threads["oom_kills"] >= 1, threads
    assert threads["oom_events"][0]["victim"] == "main", threads
    assert threads["memory_limit_bytes"] == 256 * 2**20, threads
    # The kit-owned parent kept the kernel's watermark after the engine removed the container.
    assert 200 * 2**20 < threads["peak_usage_bytes"] <= 256 * 2**20 + 2**20, threads
    assert leftover_containers(client, run.results["run_id"]) == []
    assert parent_groups(threads) == [] and parent_groups(sequential) == []


def test_a_killed_pool_process_inside_the_container_counts(client: Any, tmp_path: Path, cache_dir: Path) -> None:
    """A pool process is killed, the main worker lives on. 8 workers, not 12: twelve forks can fill
    the cap before any worker holds a frame, and among equals the kernel kills the main process. The
    Pillow pipeline keeps the main worker small: with the image's Debian OpenCV the main worker is the
    largest process (test_cgroup_runtime.py says why), and the kernel picks it."""
    run = kit(["run", "--runtime", "docker", "-s", "python-processes", "--workers", "8", "--images", "24",
               "--distinct-images", "4", "--library", "pillow", "--mem-limit", "256m"], tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    record = run.record("python-processes")
    assert record["status"] == "oom_killed"
    assert record["oom_events"][0]["victim"] == "pool_worker"
    assert leftover_containers(client, run.results["run_id"]) == []


def test_results_have_the_cgroup_runtimes_schema(client: Any, tmp_path: Path, cache_dir: Path) -> None:
    args = ["run", "-s", "python-threads", "--workers", "2", "--images", "6", "--distinct-images", "3",
            "--resolution", "1080p", "--cpus", "1.5"]
    local = kit([*args, "--runtime", "cgroup"], tmp_path / "cgroup", cache_dir)
    docker = kit([*args, "--runtime", "docker"], tmp_path / "docker", cache_dir)
    assert local.returncode == 0 and docker.returncode == 0, (local.stderr, docker.stderr)
    assert docker.results.keys() == local.results.keys()
    assert docker.results["environment"].keys() >= local.results["environment"].keys()
    theirs, ours = local.record("python-threads"), docker.record("python-threads")
    assert ours.keys() == theirs.keys()
    assert [s.keys() for s in ours["samples"]][:1] == [s.keys() for s in theirs["samples"]][:1]
    assert ours["status"] == "ok" and ours["verified"] is True and ours["items_ok"] == 6
    assert ours["cpus"] == 1.5 and ours["peak_memory_bytes"] > 0
    environment = docker.results["environment"]
    assert environment["runtime"] == "docker" and local.results["environment"]["runtime"] == "cgroup"
    assert environment["engine_version"] and environment["image_digest"].startswith("sha256:")
    assert environment["image_labels"]["kit.opencv-version"]  # the worker's own OpenCV, recorded


def _wait_for_container(client: Any, out: Path, deadline: float) -> Any:
    """The first running container of the run writing to `out` (other runs may share the engine)."""
    while time.monotonic() < deadline:
        runs = [d.name for d in out.iterdir()] if out.is_dir() else []
        containers = client.containers.list(filters={"label": SANDBOX_LABEL, "status": "running"})
        mine = [c for c in containers if runs and c.labels[SANDBOX_LABEL].startswith(runs[0])]
        if mine:
            return mine[0]
        time.sleep(0.1)
    raise AssertionError("no kit container started")


def test_a_running_container_is_hardened_and_ctrl_c_leaves_none(
        client: Any, tmp_path: Path, cache_dir: Path) -> None:
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "kit", "run", "--runtime", "docker", "-s", "python-processes",
         "-s", "python-threads", "--workers", "2", "--mem-limit", "512m", "--cpus", "1.5",
         "--images", "400", "--distinct-images", "4", "--resolution", "1080p",
         "--out", str(out), "--metrics-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=kit_env(cache_dir))
    try:
        container = _wait_for_container(client, out, time.monotonic() + 180)
        info = client.api.inspect_container(container.id)
        host, config = info["HostConfig"], info["Config"]
        assert config["User"] == f"{UNPRIVILEGED[0]}:{UNPRIVILEGED[1]}"
        status = Path(f"/proc/{info['State']['Pid']}/status").read_text()
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        assert uid_line.split()[1:] == [str(UNPRIVILEGED[0])] * 4   # real, effective, saved, fs
        assert host["ReadonlyRootfs"] is True and "/tmp" in host["Tmpfs"]
        assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
        assert host["SecurityOpt"] == ["no-new-privileges"] and host["Privileged"] is False
        assert host["NetworkMode"] == "none"
        assert host["Memory"] == host["MemorySwap"] == 512 * 2**20
        assert host["NanoCpus"] == 1_500_000_000
        assert host["PidsLimit"] == pids_limit(2)
        assert host["CgroupParent"].endswith("/kit/" + container.labels[SANDBOX_LABEL])
        mounts = {m["Destination"]: m["RW"] for m in info["Mounts"]}
        assert mounts == {"/kit/input": False, "/kit/manifest.json": False, "/kit/output": True}
        time.sleep(1.0)
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    results = json.loads(next(out.iterdir()).joinpath("results.json").read_text())
    assert [r["status"] for r in results["results"]] == ["interrupted"]
    assert leftover_containers(client, results["run_id"]) == []
    assert parent_groups(results["results"][0]) == []


def test_a_crashing_worker_fails_with_its_last_error_line_and_leaves_nothing(
        client: Any, tmp_path: Path) -> None:
    from kit.build.image import image_tag
    from kit.run.supervisor import Limits, supervise
    from kit.runtimes.base import SandboxSpec
    from kit.runtimes.docker import DockerRuntime

    for name in ("input", "output"):
        (tmp_path / name).mkdir()
    (tmp_path / "manifest.json").write_text('{"items": []}')
    spec = SandboxSpec(
        name=f"crash-{tmp_path.name}",
        command=lambda paths: [paths.python, "-c", "import sys; print('worker: disk on fire', file=sys.stderr); "
                                                   "sys.exit(3)"],
        input_root=tmp_path / "input", output_dir=tmp_path / "output", manifest=tmp_path / "manifest.json",
        log_dir=tmp_path / "logs", memory_limit_bytes=128 * 2**20, pids_max=32)
    sandbox = DockerRuntime(image_tag()).start(spec)
    try:
        outcome = supervise(sandbox, Limits(timeout_seconds=60, stall_seconds=60))
    finally:
        sandbox.close()
    assert outcome.status == "failed" and outcome.exit_code == 3
    assert outcome.message == "worker: disk on fire"
    assert leftover_containers(client, spec.name) == []
    assert parent_groups({"environment": {"sandbox": sandbox.notes}}) == []


BURN_THEN_READ_OWN_THROTTLING = """
import time
end = time.process_time() + 0.6
while time.process_time() < end:
    pass
for path in ("/sys/fs/cgroup/cpu/cpu.stat", "/sys/fs/cgroup/cpu.stat"):
    try:
        stat = dict(line.split() for line in open(path))
    except OSError:
        continue
    print(int(stat["throttled_time"]) / 1e9 if "throttled_time" in stat else int(stat["throttled_usec"]) / 1e6)
"""


def test_throttling_until_the_last_moment_is_counted_after_the_container_is_gone(
        client: Any, tmp_path: Path) -> None:
    """The engine removes the container's own group (where throttling is counted) as it stops; the
    final figure is read at the exit itself, so it is at least what the worker last read inside."""
    from kit.build.image import image_tag
    from kit.runtimes.base import SandboxSpec
    from kit.runtimes.docker import DockerRuntime

    for name in ("input", "output"):
        (tmp_path / name).mkdir()
    (tmp_path / "manifest.json").write_text('{"items": []}')
    spec = SandboxSpec(
        name=f"throttle-{tmp_path.name}", command=lambda paths: [paths.python, "-c", BURN_THEN_READ_OWN_THROTTLING],
        input_root=tmp_path / "input", output_dir=tmp_path / "output", manifest=tmp_path / "manifest.json",
        log_dir=tmp_path / "logs", memory_limit_bytes=128 * 2**20, cpus=0.2, pids_max=32)
    sandbox = DockerRuntime(image_tag()).start(spec)
    try:
        inside = float(sandbox.stdout.readline())   # the worker's last reading, just before it exits
        deadline = time.monotonic() + 60
        while sandbox.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sandbox.poll() == 0
        assert parent_groups({"environment": {"sandbox": sandbox.notes}}) != []   # the kit's parent lives on
        final = sandbox.stats()   # no reading was taken while it ran: only the one at its exit
    finally:
        sandbox.close()
    assert inside > 0.5                                  # 0.6 CPU s under a 0.2-CPU cap: ~2.4 s throttled
    assert final.throttled_seconds >= inside
    assert final.throttled_periods > 0


def test_a_missing_or_stale_image_says_to_run_kit_build(client: Any) -> None:
    import io

    from kit.build.image import image_problem, image_tag

    for _ in client.api.build(fileobj=io.BytesIO(f"FROM {image_tag()}\nLABEL kit.source-digest=sha256:old\n"
                                                 .encode()), tag="kit-worker:stale-test", rm=True, pull=False,
                              decode=True):
        pass
    try:
        stale = image_problem(client, "kit-worker:stale-test")
        assert stale is not None and "is stale" in stale and "run `kit build`" in stale
    finally:
        client.images.remove("kit-worker:stale-test")
    missing = image_problem(client, "kit-worker:no-such-version")
    assert missing is not None and "no worker image kit-worker:no-such-version" in missing
    assert image_problem(client) is None
