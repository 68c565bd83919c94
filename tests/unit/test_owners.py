"""Owner markers of sandbox groups (kit/runtimes/owners.py) against a fixture cgroup tree: what
counts as left over by a killed controller, and what is left alone because another run, maybe
of an older kit, may still use it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kit.runtimes import owners
from kit.runtimes.cgroupfs import CgroupHost


@pytest.fixture()
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CgroupHost:
    monkeypatch.setenv("KIT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("KIT_CGROUP_PARENT", raising=False)
    root = tmp_path / "sys-fs-cgroup"
    for controller in ("memory", "cpu", "cpuacct", "pids"):
        (root / controller / "kit").mkdir(parents=True)
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text("4:memory:/\n3:pids:/\n2:cpuacct:/\n1:cpu:/\n")
    return CgroupHost(root=root, proc_self_cgroup=proc)


def make_group(host: CgroupHost, name: str, age_seconds: float = 0.0, pids: str = "") -> list[Path]:
    directories = []
    for controller in ("memory", "cpu", "cpuacct", "pids"):
        directory = host.root / controller / "kit" / name
        directory.mkdir()
        (directory / "cgroup.procs").write_text(pids)
        then = time.time() - age_seconds
        os.utime(directory, (then, then))
        directories.append(directory)
    return directories


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_groups_are_judged_by_their_owner_and_unowned_ones_conservatively(host: CgroupHost) -> None:
    mine = "20261202-120000-aaaa-python-threads-x2-r0"
    orphan = "20261202-120000-bbbb-python-threads-x2-r0"
    reused = "20261202-120000-cccc-python-threads-x2-r0"
    owners.claim(mine, make_group(host, mine))                   # this process: alive
    owners.claim(orphan, make_group(host, orphan))
    marker = owners.read_marker(orphan)
    assert marker is not None and marker["pid"] == os.getpid()
    owners.marker_path(orphan).write_text(owners.marker_path(orphan).read_text().replace(
        f'"pid": {os.getpid()}', f'"pid": {dead_pid()}'))         # its controller was killed
    owners.claim(reused, make_group(host, reused))
    owners.marker_path(reused).write_text(owners.marker_path(reused).read_text().replace(
        '"start_time": ', '"start_time": 1'))                     # our PID, but another process's start
    make_group(host, "20261202-110000-dddd-python-sequential-x1-r0", age_seconds=3600)   # old kit, empty, old
    make_group(host, "20261202-110000-eeee-python-sequential-x1-r0", age_seconds=60)     # old kit, recent
    make_group(host, "20261202-110000-ffff-python-sequential-x1-r0", age_seconds=3600, pids="1\n")  # running
    found = {leftover.name: leftover for leftover in owners.find(host)}
    assert set(found) == {orphan, reused, "20261202-110000-dddd-python-sequential-x1-r0"}
    assert "is gone" in found[orphan].reason and "no owner marker" in found[
        "20261202-110000-dddd-python-sequential-x1-r0"].reason
    assert len(found[orphan].directories) == 4
    for directory in found[orphan].directories:   # plain files, unlike the kernel's interface files
        (directory / "cgroup.procs").unlink()
    owners.remove(host, found[orphan])
    assert not any((host.root / c / "kit" / orphan).exists() for c in ("memory", "cpu", "cpuacct", "pids"))
    assert owners.read_marker(orphan) is None
    assert owners.read_marker(mine) is not None


def test_empty_parents_go_and_busy_ones_stay(host: CgroupHost) -> None:
    make_group(host, "20261202-120000-aaaa-python-threads-x2-r0")
    for directory in (host.root / "memory" / "kit").iterdir():
        (directory / "cgroup.procs").unlink()
        directory.rmdir()
    owners.remove_empty_parents(host)
    assert not (host.root / "memory" / "kit").exists()      # empty: removed
    assert (host.root / "cpu" / "kit").exists()             # a group still inside: kept


def test_stale_markers_are_pruned(host: CgroupHost) -> None:
    owners.claim("gone", [host.root / "memory" / "kit" / "gone"])
    owners.marker_path("gone").write_text(owners.marker_path("gone").read_text().replace(
        f'"pid": {os.getpid()}', f'"pid": {dead_pid()}'))
    owners.claim("alive", [host.root / "memory" / "kit" / "alive"])
    assert owners.prune_markers() == 1
    assert owners.read_marker("gone") is None and owners.read_marker("alive") is not None
