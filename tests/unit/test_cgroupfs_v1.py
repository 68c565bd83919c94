"""Cgroup v1 code paths of kit/runtimes/cgroupfs.py, against fixture trees (tests/data/cgroup/v1/).

This machine has cgroup v1, so the real integration tests (tests/integration/) exercise v1 for
real; these fixtures add the hosts this machine is not: a login session with a nested own path,
a container with its own cgroup namespace, a host without the memory controller, and the
kernel's file formats after an OOM kill. Plain files cannot emulate the kernel: mkdir does not
populate interface files, so the fixtures pre-create the child group `kit/sandbox`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kit.runtimes.cgroupfs import HOW_TO_FIX, V1_CONTROLLERS, CgroupHost, CgroupV1

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "cgroup" / "v1"
SESSION = "user.slice/user-0.slice/session-3.scope"
MIB = 2**20


@pytest.fixture(autouse=True)
def no_parent_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KIT_CGROUP_PARENT", raising=False)


def copy_case(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(FIXTURES / name, target, symlinks=True)   # cpu and cpuacct name one hierarchy
    return target


def host_for(case: Path) -> CgroupHost:
    return CgroupHost(root=case / "sys-fs-cgroup", proc_self_cgroup=case / "proc-self-cgroup")


def read(path: Path) -> str:
    return path.read_text().strip()


def test_create_under_the_own_group_with_caps(tmp_path: Path) -> None:
    case = copy_case("root-session", tmp_path)
    host = host_for(case)
    assert host.version == 1
    assert host.own_paths()["memory"] == f"/{SESSION}"
    group = host.create("sandbox", memory_bytes=256 * MIB, cpus=0.5, pids_max=128)
    assert isinstance(group, CgroupV1)
    root = case / "sys-fs-cgroup"
    memory = root / "memory" / SESSION / "kit" / "sandbox"
    cpu = root / "cpu,cpuacct" / SESSION / "kit" / "sandbox"
    assert group.dirs["memory"] == memory
    assert read(memory / "memory.limit_in_bytes") == str(256 * MIB)
    assert read(memory / "memory.memsw.limit_in_bytes") == str(256 * MIB)   # memory+swap = memory: no swap
    assert group.notes["swap"].startswith("disabled")
    assert read(cpu / "cpu.cfs_period_us") == "100000"
    assert read(cpu / "cpu.cfs_quota_us") == "50000"                         # --cpus 0.5
    assert read(root / "pids" / SESSION / "kit" / "sandbox" / "pids.max") == "128"
    assert memory / "cgroup.procs" in group.procs_files()   # the worker joins every hierarchy


def test_without_swap_accounting_swap_is_discouraged(tmp_path: Path) -> None:
    case = copy_case("root-session", tmp_path)
    memory = case / "sys-fs-cgroup" / "memory" / SESSION / "kit" / "sandbox"
    (memory / "memory.memsw.limit_in_bytes").unlink()                         # swapaccount=0
    group = host_for(case).create("sandbox", memory_bytes=64 * MIB, cpus=None, pids_max=None)
    assert read(memory / "memory.swappiness") == "0"
    assert "disabled" not in group.notes["swap"]


def test_container_namespace_uses_the_mount(tmp_path: Path) -> None:
    """Inside a cgroup namespace the host's path in /proc/self/cgroup does not exist: use the mount."""
    case = copy_case("container", tmp_path)
    group = host_for(case).create("sandbox", memory_bytes=64 * MIB, cpus=None, pids_max=None)
    assert isinstance(group, CgroupV1)
    assert group.dirs["memory"] == case / "sys-fs-cgroup" / "memory" / "kit" / "sandbox"


def test_no_memory_controller(tmp_path: Path) -> None:
    host = host_for(copy_case("no-memory", tmp_path))
    problem = host.problem()
    assert problem is not None and "no memory cgroup controller" in problem and HOW_TO_FIX in problem


def test_stats_parse_the_kernel_files(tmp_path: Path) -> None:
    root = copy_case("oom-stats", tmp_path) / "sys-fs-cgroup"
    group = CgroupV1("sandbox", {c: root / c / "kit" / "sandbox" for c in V1_CONTROLLERS})
    stats = group.stats()
    assert stats.usage_bytes == 200 * MIB                       # memory.usage_in_bytes
    assert stats.working_set_bytes == 180 * MIB                 # minus total_inactive_file (hierarchical)
    assert stats.peak_usage_bytes == 256 * MIB                  # memory.max_usage_in_bytes
    assert stats.cpu_seconds == pytest.approx(12.5)             # cpuacct.usage, ns
    assert stats.throttled_seconds == pytest.approx(2.75)       # cpu.stat throttled_time, ns
    assert stats.throttled_periods == 498                       # cpu.stat nr_throttled
    assert stats.oom_kills == 1                                 # memory.oom_control oom_kill
