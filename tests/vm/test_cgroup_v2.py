"""The cgroup runtime on a real cgroup v2 kernel: what only such a kernel can show.

These run in the VM of `.ci/cgroup-v2-vm` (Debian's 6.1 cloud kernel booted with `cgroup_no_v1=all`,
the kit as root in the root group, like a container's or a VM's init) beside the `vm`-marked
integration tests (Ctrl-C and SIGKILL leftovers, `kit doctor` and `kit doctor --clean`). Elsewhere
they skip (and fail under KIT_REQUIRE_ALL): these machines are cgroup v1, so `.ci/run` runs its main
pytest with --ignore=tests/vm and this directory through the VM.

The delegated mode is emulated: the VM's init is a shell script, not systemd, so the test arranges
what `systemd-run --user --scope -p Delegate=yes kit ...` does (a scope whose parent enables the
controllers for it, owned by the unprivileged user, with the kit as its only process), then runs the
kit as that user. systemd itself is not tested.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kit.runtimes.cgroupfs import CONTROLLER_LEAF, CgroupHost, CgroupV2
from kit.worker.programs import names
from tests.conftest import need
from tests.integration.kitrun import kit, kit_env

pytestmark = pytest.mark.vm

ROOT = Path("/sys/fs/cgroup")
# Small inputs: under emulation a 4K item costs seconds. The pools come from the host
# (KIT_TEST_CACHE_SEED), and the job sets KIT_GIL_PROBE=off (the probe would measure the emulator).
SMALL = ["--images", "2", "--distinct-images", "2", "--resolution", "720p", "--workers", "2"]


@pytest.fixture(autouse=True)
def cgroup_v2() -> None:
    """Only a cgroup v2 kernel, as root: the VM."""
    fs = subprocess.run(["stat", "-fc", "%T", str(ROOT)], capture_output=True, text=True).stdout.strip()
    need(None if fs == "cgroup2fs" and os.geteuid() == 0 else
         f"needs a cgroup v2 kernel as root ({ROOT} is {fs or 'missing'}): .ci/cgroup-v2-vm runs these in a VM")


def test_the_kernel_gives_a_pure_v2_hierarchy() -> None:
    """cgroup_no_v1=all: one unified hierarchy with the controllers the kit caps, no v1 left."""
    fs = subprocess.run(["stat", "-fc", "%T", str(ROOT)], capture_output=True, text=True).stdout.strip()
    assert fs == "cgroup2fs"
    assert CgroupHost().version == 2
    assert {"memory", "cpu", "pids"} <= set((ROOT / "cgroup.controllers").read_text().split())
    lines = Path("/proc/self/cgroup").read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("0::"), lines
    assert CgroupHost().problem() is None


def _in_group(procs: Path, script: str) -> subprocess.CompletedProcess[str]:
    """`sh -c script` started inside the group whose cgroup.procs is `procs` (before it runs anything)."""
    return subprocess.run(["/bin/sh", "-c", f'echo $$ > {procs} && {script}'], capture_output=True, text=True,
                          timeout=120)


def _counters(path: Path) -> dict[str, int]:
    return {key: int(value) for key, value in (line.split() for line in path.read_text().splitlines())}


def test_the_kits_caps_hold_on_a_v2_group() -> None:
    """The files the kit writes (memory.max, swap, oom.group, cpu.max, pids.max) and what the kernel
    does with them: fork fails at pids.max, an allocation over memory.max is OOM-killed (the whole
    group, as a pod's container on v2), and the kit's figures read the kill."""
    host = CgroupHost()
    group = host.create(f"kit-vm-caps-{os.getpid()}", memory_bytes=64 * 2**20, cpus=0.5, pids_max=16)
    assert isinstance(group, CgroupV2)
    try:
        path = group.path
        assert path.parent == host._base_v2() and path.is_dir()
        assert {"memory", "cpu", "pids"} <= set((path.parent / "cgroup.subtree_control").read_text().split())
        assert (path / "memory.max").read_text().strip() == str(64 * 2**20)
        assert (path / "memory.oom.group").read_text().strip() == "1"
        assert (path / "cpu.max").read_text().split() == ["50000", "100000"]
        assert (path / "pids.max").read_text().strip() == "16"
        if (path / "memory.swap.max").exists():
            assert (path / "memory.swap.max").read_text().strip() == "0"

        # the sleeps stay in the group (kill_all ends them), their output away from the pipe
        forks = _in_group(path / "cgroup.procs", "for i in $(seq 40); do sleep 60 >/dev/null 2>&1 & done")
        assert "fork" in forks.stderr.lower() or "resource temporarily unavailable" in forks.stderr.lower(), forks
        assert _counters(path / "pids.events")["max"] > 0
        group.kill_all()

        hog = _in_group(path / "cgroup.procs",
                        f"exec {sys.executable} -c \"b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096])\"")
        assert hog.returncode == -9 or hog.returncode == 137, hog
        events = _counters(path / "memory.events")
        assert events["oom_group_kill"] == 1 and events["oom_kill"] >= 1, events
        stats = group.stats()
        assert stats.oom_kills == 1, events   # one process killed (6.1 counts it twice in oom_kill)
        assert stats.peak_usage_bytes is not None and stats.peak_usage_bytes <= 64 * 2**20
    finally:
        group.remove()
    assert not path.exists()


def test_every_python_strategy_of_the_gil_build_runs_capped(tmp_path: Path, cache_dir: Path) -> None:
    """A short `kit run` of each Python strategy (the GIL build), under a memory and a pids cap."""
    strategies = names("python", free_threaded=False)
    assert len(strategies) >= 6, strategies
    run = kit(["run", *(arg for name in strategies for arg in ("-s", name)), *SMALL, "--mem-limit", "512m"],
              tmp_path / "out", cache_dir, timeout=1200)
    assert run.returncode == 0, run.stderr
    assert run.results["environment"]["cgroup_version"] == 2
    for name in strategies:
        record = run.record(name)
        assert record["status"] == "ok", (name, record.get("message"))
        assert record["items_ok"] == 2 and record["verified"] is True, name
        assert record["memory_limit_bytes"] == 512 * 2**20
        assert 0 < record["peak_usage_bytes"] <= 512 * 2**20, name
        assert record["cpu_seconds"] > 0, name
    assert not [p for p in CgroupHost()._base_v2().iterdir() if p.name.startswith(run.results["run_id"])]


def test_a_run_over_its_cap_is_oom_killed_and_its_group_removed(tmp_path: Path, cache_dir: Path) -> None:
    """Twelve threads' 4K frames do not fit 256 MiB (as in test_cgroup_runtime's cap test, whose
    24-item sequential half would take minutes here): the kernel kills the sandbox, whole
    (memory.oom.group), the record says so with the kernel's own figures, and no group stays."""
    run = kit(["run", "-s", "python-threads", "--workers", "12", "--images", "12", "--distinct-images", "2",
               "--resolution", "4k", "--mem-limit", "256m"], tmp_path / "out", cache_dir, timeout=900)
    assert run.returncode == 0, run.stderr
    record = run.record("python-threads")
    assert record["status"] == "oom_killed" and record["verified"] is None
    assert record["oom_kills"] == 1 and len(record["oom_events"]) == 1   # one process: the worker
    assert record["oom_events"][0]["victim"] == "main"
    assert record["memory_limit_bytes"] == 256 * 2**20
    assert record["peak_usage_bytes"] <= 256 * 2**20 + 2**20
    assert not [p for p in CgroupHost()._base_v2().iterdir() if p.name.startswith(run.results["run_id"])]


def test_a_cpu_cap_holds_two_threads_near_half_a_core(tmp_path: Path, cache_dir: Path) -> None:
    """cpu.max for real: two busy threads under --cpus 0.5 use about half a core (the bounds of
    test_cgroup_runtime's CPU-cap test, relative to the cap) and the kernel counts the throttling.
    Half a core, not one: an emulated CPU on a busy host may not give the VM two whole cores."""
    run = kit(["run", "-s", "python-threads", "--workers", "2", "--cpus", "0.5", "--images", "6",
               "--distinct-images", "2", "--resolution", "1080p"], tmp_path / "out", cache_dir, timeout=900)
    assert run.returncode == 0, run.stderr
    record = run.record("python-threads")
    assert record["status"] == "ok" and record["cpus"] == 0.5
    assert 0.5 * 0.5 < record["cpu_utilization"] < 0.5 * 1.15
    assert record["cpu_throttled_seconds"] > 0


NOBODY = 65534


@pytest.fixture()
def delegated_scopes() -> Iterator[Callable[[], Path]]:
    """What each `systemd-run --user --scope -p Delegate=yes` hands the kit: a new scope (one per
    call) below a slice that enables memory, cpu and pids for it, the scope's directory and its
    cgroup.procs, cgroup.subtree_control and cgroup.threads owned by the user (systemd's
    delegation), nothing else inside. Removed afterwards, with whatever the kit left in them."""
    slice_ = ROOT / f"kit-vm-user-{os.getpid()}.slice"
    controllers = " ".join(f"+{c}" for c in ("memory", "cpu", "pids"))
    (ROOT / "cgroup.subtree_control").write_text(controllers)
    slice_.mkdir()
    (slice_ / "cgroup.subtree_control").write_text(controllers)
    made: list[Path] = []

    def new_scope() -> Path:
        scope = slice_ / f"run-kit-{len(made)}.scope"
        scope.mkdir()
        made.append(scope)
        for path in (scope, scope / "cgroup.procs", scope / "cgroup.subtree_control", scope / "cgroup.threads"):
            os.chown(path, NOBODY, NOBODY)
        return scope

    try:
        yield new_scope
    finally:
        for scope in made:
            for directory in sorted(scope.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if directory.is_dir():
                    _empty_and_remove(directory)
            _empty_and_remove(scope)
        slice_.rmdir()


def _empty_and_remove(directory: Path) -> None:
    if (directory / "cgroup.kill").exists():
        (directory / "cgroup.kill").write_text("1")
    for _ in range(100):
        try:
            directory.rmdir()
            return
        except OSError:
            time.sleep(0.05)
    directory.rmdir()


def _as_nobody_in(scope: Path, argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """argv as the unprivileged user, its process the scope's only one: as systemd-run has the
    manager do it, root (this process) moves the child in while it waits on its stdin, before it
    runs anything; then setpriv drops to the user and the kit starts."""
    script = f'read -r _ && exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups "$@"'
    process = subprocess.Popen(["/bin/sh", "-c", script, "sh", *argv], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        (scope / "cgroup.procs").write_text(str(process.pid))
        stdout, stderr = process.communicate("go\n", timeout=900)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_a_delegated_scope_as_systemd_run_gives_it(request: pytest.FixtureRequest, cache_dir: Path,
                                                   delegated_scopes: Callable[[], Path]) -> None:
    """Not root, only a delegated scope: the kit moves itself into a leaf, enables the controllers
    for its sandboxes there, caps them, and leaves nothing but its own (empty) leaf behind."""
    home = Path(tempfile.mkdtemp(prefix="kit-vm-user-", dir="/tmp"))   # pytest's tmp_path is root's alone
    request.addfinalizer(lambda: shutil.rmtree(home, ignore_errors=True))
    # the image pools only: what root's runs added to the session's cache (the kit-path links, the
    # references) is root's, as in a user's own cache it would be the user's
    shutil.copytree(cache_dir / "images", home / "cache" / "images")
    (home / "out").mkdir()
    for path in [home, *home.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)
    env = {**kit_env(home / "cache"), "HOME": str(home), "XDG_RUNTIME_DIR": str(home), "TMPDIR": str(home)}
    env.pop("KIT_STATE_DIR", None)

    doctor = _as_nobody_in(delegated_scopes(), [sys.executable, "-m", "kit", "doctor", "--metrics-port", "0"], env)
    lines = [line for line in doctor.stdout.splitlines() if "cgroup v2: a child group with a memory cap" in line]
    assert len(lines) == 1 and lines[0].split()[0] == "ok", (doctor.stdout, doctor.stderr)

    scope = delegated_scopes()
    run = _as_nobody_in(scope, [sys.executable, "-m", "kit", "run", "-s", "python-sequential", "-s",
                                          "python-processes", *SMALL, "--mem-limit", "256m", "--runtime", "cgroup",
                                          "--metrics-port", "0", "--out", str(home / "out")], env)
    assert run.returncode == 0, (run.stdout[-2000:], run.stderr)
    [run_dir] = list((home / "out").iterdir())
    import json

    results = json.loads((run_dir / "results.json").read_text())
    assert results["environment"]["cgroup_version"] == 2
    for record in results["results"]:
        assert record["status"] == "ok" and record["verified"] is True, record.get("message")
        assert record["memory_limit_bytes"] == 256 * 2**20
        assert 0 < record["peak_usage_bytes"] <= 256 * 2**20
    enabled = set((scope / "cgroup.subtree_control").read_text().split())
    assert {"memory", "cpu", "pids"} <= enabled
    assert [p.name for p in scope.iterdir() if p.is_dir()] == [CONTROLLER_LEAF]
    assert (scope / CONTROLLER_LEAF / "cgroup.procs").read_text().split() == []
