"""Cgroup v2 code paths of kit/runtimes/cgroupfs.py, against fixture trees.

This machine has only cgroup v1 controllers, so v2 cannot run for real here: these tests point
CgroupHost at copies of tests/data/cgroup/v2/<case>/ (`root` for /sys/fs/cgroup,
`proc_self_cgroup` for /proc/self/cgroup). Plain files cannot emulate the kernel: mkdir does not
populate a group's interface files (the fixture pre-creates the child group `sandbox`, or the test
does), writing a pid into cgroup.procs does not move a process, and nothing refuses a write
(the test makes `_write` fail where the kernel would). So these tests pin what the kit writes
and how it reads the kernel's formats; that the kernel then caps and kills is shown by the
integration tests. Cgroup v1 is covered by fixture tests too (tests/data/cgroup/v1/...) AND by the
real integration tests (tests/integration/), which create capped groups on this machine.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

from kit.core.errors import RuntimeUnavailable
from kit.measure.cgroupstat import v2_oom_kills
from kit.runtimes import cgroupfs
from kit.runtimes.cgroupfs import HOW_TO_FIX, CgroupHost, CgroupV2

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "cgroup" / "v2"
SCOPE = "user.slice/user-1000.slice/user@1000.service/app.slice/run-kit.scope"
MIB = 2**20


@pytest.fixture(autouse=True)
def no_parent_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KIT_CGROUP_PARENT", raising=False)


def copy_case(name: str, tmp_path: Path) -> Path:
    """A writable copy of one fixture case (the code under test writes interface files)."""
    target = tmp_path / name
    shutil.copytree(FIXTURES / name, target)
    return target


def host_for(case: Path) -> CgroupHost:
    return CgroupHost(root=case / "sys-fs-cgroup", proc_self_cgroup=case / "proc-self-cgroup")


def read(path: Path) -> str:
    return path.read_text().strip()


@pytest.fixture()
def fresh_scope(tmp_path: Path) -> Path:
    """A fresh delegated scope with this test process in it, as systemd-run leaves it."""
    case = copy_case("fresh-scope", tmp_path)
    (case / "sys-fs-cgroup" / SCOPE / "cgroup.procs").write_text(f"{os.getpid()}\n")
    return case


def test_version_and_own_path(fresh_scope: Path) -> None:
    host = host_for(fresh_scope)
    assert host.version == 2                                   # cgroup.controllers at the root
    assert host.own_paths() == {"": f"/{SCOPE}"}


def test_create_writes_the_caps(fresh_scope: Path) -> None:
    group = host_for(fresh_scope).create("sandbox", memory_bytes=256 * MIB, cpus=0.5, pids_max=128)
    assert isinstance(group, CgroupV2) and group.version == 2
    path = fresh_scope / "sys-fs-cgroup" / SCOPE / "sandbox"
    assert group.path == path
    assert read(path / "memory.max") == str(256 * MIB)
    assert read(path / "memory.swap.max") == "0"               # no swap, like a pod
    assert read(path / "memory.oom.group") == "1"              # the whole group dies, as the kubelet sets it
    assert read(path / "cpu.max") == "50000 100000"            # --cpus 0.5
    assert read(path / "pids.max") == "128"
    assert group.notes == {"swap": "disabled (memory.swap.max = 0)"}
    assert group.procs_files() == [path / "cgroup.procs"]


@pytest.mark.parametrize(("cpus", "cpu_max"), [(1.0, "100000 100000"), (1.5, "150000 100000"),
                                               (0.01, "1000 100000"), (2.0, "200000 100000")])
def test_cpu_quota(fresh_scope: Path, cpus: float, cpu_max: str) -> None:
    group = host_for(fresh_scope).create("sandbox", memory_bytes=None, cpus=cpus, pids_max=None)
    assert isinstance(group, CgroupV2)
    assert read(group.path / "cpu.max") == cpu_max


def test_no_caps_asked_leaves_the_defaults(fresh_scope: Path) -> None:
    group = host_for(fresh_scope).create("sandbox", memory_bytes=None, cpus=None, pids_max=None)
    assert isinstance(group, CgroupV2)
    assert read(group.path / "memory.max") == "max"
    assert read(group.path / "memory.swap.max") == "max"
    assert read(group.path / "cpu.max") == "max 100000"
    assert read(group.path / "pids.max") == "max"
    assert read(group.path / "memory.oom.group") == "1"        # an OOM kill still ends the whole sandbox


def test_delegation_moves_the_kit_out_of_its_own_group(fresh_scope: Path) -> None:
    """v2 allows controllers for children only on a group without processes of its own: the kit
    moves itself into a kit-controller leaf, then enables memory, cpu, pids for the children."""
    scope = fresh_scope / "sys-fs-cgroup" / SCOPE
    host_for(fresh_scope).create("sandbox", memory_bytes=64 * MIB, cpus=None, pids_max=None)
    assert read(scope / "kit-controller" / "cgroup.procs") == str(os.getpid())
    assert read(scope / "cgroup.subtree_control") == "+memory +cpu +pids"


def test_delegation_happens_once_per_host(fresh_scope: Path) -> None:
    host = host_for(fresh_scope)
    scope = fresh_scope / "sys-fs-cgroup" / SCOPE
    host.create("sandbox", memory_bytes=64 * MIB, cpus=None, pids_max=None)
    (scope / "cgroup.subtree_control").write_text("cpu memory pids\n")   # what the kernel then shows
    (scope / "kit-controller" / "cgroup.procs").write_text("")
    (scope / "second").mkdir()
    host.create("second", memory_bytes=64 * MIB, cpus=None, pids_max=None)
    assert read(scope / "cgroup.subtree_control") == "cpu memory pids"
    assert read(scope / "kit-controller" / "cgroup.procs") == ""


def test_only_missing_controllers_are_enabled(fresh_scope: Path) -> None:
    scope = fresh_scope / "sys-fs-cgroup" / SCOPE
    (scope / "cgroup.subtree_control").write_text("pids\n")
    host_for(fresh_scope).create("sandbox", memory_bytes=64 * MIB, cpus=None, pids_max=None)
    assert read(scope / "cgroup.subtree_control") == "+memory +cpu"


def test_controllers_not_delegated_are_not_asked_for(fresh_scope: Path) -> None:
    scope = fresh_scope / "sys-fs-cgroup" / SCOPE
    (scope / "cgroup.controllers").write_text("memory pids\n")         # no cpu: --cpus cannot work
    host_for(fresh_scope).create("sandbox", memory_bytes=64 * MIB, cpus=None, pids_max=None)
    assert read(scope / "cgroup.subtree_control") == "+memory +pids"


def test_other_processes_in_the_group_are_not_moved(fresh_scope: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """When our pid is not in the group (a shell shares it), the kit moves nobody; the kernel then
    refuses the controllers with EBUSY, which must become a how-to-fix message, not a traceback."""
    scope = fresh_scope / "sys-fs-cgroup" / SCOPE
    (scope / "cgroup.procs").write_text("1\n2\n")
    real_write = cgroupfs._write

    def kernel_write(path: Path, value: str) -> None:
        if path.name == "cgroup.subtree_control":
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(path))
        real_write(path, value)

    monkeypatch.setattr(cgroupfs, "_write", kernel_write)
    with pytest.raises(RuntimeUnavailable) as info:
        host_for(fresh_scope).create("sandbox", memory_bytes=64 * MIB, cpus=None, pids_max=None)
    message = str(info.value)
    assert "cannot enable memory, cpu, pids" in message and os.strerror(errno.EBUSY) in message
    assert HOW_TO_FIX in message and "\n" not in message
    assert not (scope / "kit-controller").exists()


def test_permission_denied_says_how_to_fix(fresh_scope: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unprivileged user outside a delegated scope: the kernel refuses the writes."""
    def denied(path: Path, value: str) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(cgroupfs, "_write", denied)
    with pytest.raises(RuntimeUnavailable) as info:
        host_for(fresh_scope).create("sandbox", memory_bytes=64 * MIB, cpus=None, pids_max=None)
    assert "permission denied" in str(info.value).lower() and HOW_TO_FIX in str(info.value)


def test_memory_controller_not_delegated(tmp_path: Path) -> None:
    case = copy_case("no-memory", tmp_path)
    host = host_for(case)
    with pytest.raises(RuntimeUnavailable) as info:
        host.create("sandbox", memory_bytes=64 * MIB, cpus=None, pids_max=None)
    message = str(info.value)
    assert "memory controller is not delegated" in message and SCOPE in message
    assert "systemd-run --user --scope -p Delegate=yes" in message       # the how-to-fix text
    assert host.problem() == message                                      # kit doctor says the same
    assert not (case / "sys-fs-cgroup" / SCOPE / "sandbox").exists()


def test_a_second_kit_process_reuses_the_prepared_scope(tmp_path: Path) -> None:
    """Once one kit process has moved itself into kit-controller, /proc/self/cgroup says so; new
    sandboxes still go beside kit-controller, not into ever deeper kit-controller/kit-controller."""
    case = copy_case("prepared-scope", tmp_path)
    scope = case / "sys-fs-cgroup" / SCOPE
    group = host_for(case).create("sandbox", memory_bytes=64 * MIB, cpus=None, pids_max=None)
    assert isinstance(group, CgroupV2) and group.path == scope / "sandbox"
    assert read(scope / "cgroup.subtree_control") == "cpu memory pids"   # nothing to enable
    assert not (scope / "kit-controller" / "kit-controller").exists()
    assert read(group.path / "memory.max") == str(64 * MIB)


def test_parent_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """KIT_CGROUP_PARENT names the group to work under, whatever /proc/self/cgroup says."""
    case = copy_case("prepared-scope", tmp_path)
    (case / "proc-self-cgroup").write_text("0::/somewhere/else\n")
    monkeypatch.setenv("KIT_CGROUP_PARENT", f"/{SCOPE}")
    group = host_for(case).create("sandbox", memory_bytes=64 * MIB, cpus=None, pids_max=None)
    assert isinstance(group, CgroupV2) and group.path == case / "sys-fs-cgroup" / SCOPE / "sandbox"


def test_container_with_its_own_cgroup_namespace(tmp_path: Path) -> None:
    case = copy_case("container", tmp_path)
    root = case / "sys-fs-cgroup"
    (root / "cgroup.procs").write_text(f"{os.getpid()}\n")
    group = host_for(case).create("sandbox", memory_bytes=128 * MIB, cpus=1.0, pids_max=64)
    assert isinstance(group, CgroupV2) and group.path == root / "sandbox"
    assert read(root / "kit-controller" / "cgroup.procs") == str(os.getpid())
    assert read(root / "cgroup.subtree_control") == "+memory +cpu +pids"
    assert read(group.path / "memory.max") == str(128 * MIB)


def test_stats_parse_the_kernel_files(tmp_path: Path) -> None:
    group = CgroupV2("sandbox", copy_case("oom-stats", tmp_path) / "sandbox")
    stats = group.stats()
    assert stats.usage_bytes == 200 * MIB                                 # memory.current
    assert stats.working_set_bytes == 180 * MIB                           # minus inactive_file
    assert stats.peak_usage_bytes == 256 * MIB - 4096                     # memory.peak
    assert stats.cpu_seconds == pytest.approx(12.5)                       # cpu.stat usage_usec
    assert stats.throttled_seconds == pytest.approx(2.75)                 # cpu.stat throttled_usec
    assert stats.throttled_periods == 498                                 # cpu.stat nr_throttled
    assert stats.oom_kills == 2                                           # memory.events oom_kill


def test_a_group_kill_counts_each_killed_process_once(tmp_path: Path) -> None:
    """memory.oom.group on Linux 6.1 (the cgroup v2 VM): the victim is killed, then the group with
    it again, so one process over its cap reads `oom_kill 2`, `oom_group_kill 1`: one kill."""
    path = copy_case("oom-stats", tmp_path) / "sandbox"
    events = (path / "memory.events").read_text()
    (path / "memory.events").write_text(events.replace("oom_group_kill 0", "oom_group_kill 1"))
    assert CgroupV2("sandbox", path).stats().oom_kills == 1
    assert v2_oom_kills({"oom_kill": 14, "oom_group_kill": 1}) == 13   # main and 12 pool processes
    assert v2_oom_kills({"oom_kill": 3, "oom_group_kill": 0}) == 3     # no group kill: one count each
    assert v2_oom_kills({"oom_kill": 1, "oom_group_kill": 1}) == 1     # a kernel counting the victim once
    assert v2_oom_kills({}) == 0


def test_stats_without_memory_peak(tmp_path: Path) -> None:
    """memory.peak exists only from Linux 5.19: no kernel watermark then, not a zero."""
    path = copy_case("oom-stats", tmp_path) / "sandbox"
    (path / "memory.peak").unlink()
    assert CgroupV2("sandbox", path).stats().peak_usage_bytes is None


def test_stats_of_a_fresh_group(fresh_scope: Path) -> None:
    stats = CgroupV2("sandbox", fresh_scope / "sys-fs-cgroup" / SCOPE / "sandbox").stats()
    assert (stats.usage_bytes, stats.working_set_bytes, stats.cpu_seconds, stats.oom_kills) == (0, 0, 0.0, 0)


def test_working_set_never_negative(tmp_path: Path) -> None:
    """The kernel's counters are read at slightly different moments: clamp, do not go below zero."""
    path = copy_case("oom-stats", tmp_path) / "sandbox"
    (path / "memory.current").write_text(f"{10 * MIB}\n")
    assert CgroupV2("sandbox", path).stats().working_set_bytes == 0


def test_pids_and_kill(fresh_scope: Path) -> None:
    path = fresh_scope / "sys-fs-cgroup" / SCOPE / "sandbox"
    group = CgroupV2("sandbox", path)
    assert group.pids() == []
    group.kill_all(timeout=0.1)
    assert read(path / "cgroup.kill") == "1"        # the whole subtree at once (Linux 5.14+)
    (path / "cgroup.procs").write_text("123\n456\n")
    assert group.pids() == [123, 456]               # (never kill_all now: these are not ours)


def test_kernel_without_swap_accounting(fresh_scope: Path) -> None:
    """No memory.swap.max (swap accounting off): swap cannot be capped, and the record says so."""
    path = fresh_scope / "sys-fs-cgroup" / SCOPE / "sandbox"
    (path / "memory.swap.max").unlink()
    group = host_for(fresh_scope).create("sandbox", memory_bytes=64 * MIB, cpus=None, pids_max=None)
    assert not (path / "memory.swap.max").exists()
    assert "swap" in group.notes and "disabled" not in group.notes["swap"]


def test_a_cpuset_enables_the_controller_and_pins_the_group(fresh_scope: Path) -> None:
    scope = fresh_scope / "sys-fs-cgroup" / SCOPE
    (scope / "cgroup.controllers").write_text("cpuset cpu memory pids\n")
    group = host_for(fresh_scope).create("sandbox", memory_bytes=None, cpus=None, pids_max=None, cpuset=(2, 3, 5))
    assert "cpuset" in read(scope / "cgroup.subtree_control").split() or "+cpuset" in read(
        scope / "cgroup.subtree_control")
    assert read(scope / "sandbox" / "cpuset.cpus") == "2,3,5"
    assert group.notes["cpuset"] == "2,3,5"


def test_a_cpuset_without_the_delegated_controller_says_how_to_fix(fresh_scope: Path) -> None:
    with pytest.raises(RuntimeUnavailable, match="cpuset controller is not delegated"):
        host_for(fresh_scope).create("sandbox", memory_bytes=None, cpus=None, pids_max=None, cpuset=(1,))
