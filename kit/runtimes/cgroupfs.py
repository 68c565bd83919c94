"""Cgroup v1 and v2 as files: make a capped child group, empty and remove it.

What is runtime-specific lives here (creating, capping, killing, removing groups); reading a
group's figures is kit/measure/cgroupstat.py's, which the worker shares to sample its own group.

The filesystem root is injectable (`root`, `proc_self_cgroup`) so that v2 code paths are tested
against fixture trees on machines that only have v1 (tests/data/cgroup/).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from pathlib import Path

from kit.core.errors import RuntimeUnavailable
from kit.measure.cgroupstat import CgroupStats, read_v1, read_v2

CFS_PERIOD_US = 100_000
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids")
V2_CONTROLLERS = ("memory", "cpu", "pids")
CONTROLLER_LEAF = "kit-controller"   # v2: where the kit moves itself so its group may have children

HOW_TO_FIX = ("run as root (sudo .venv/bin/kit ...), or on cgroup v2 inside a delegated scope: "
              "systemd-run --user --scope -p Delegate=yes .venv/bin/kit ...")


def _write(path: Path, value: str) -> None:
    path.write_text(value)


class Cgroup:
    """A sandbox group the kit created; subclasses know one cgroup version's file names."""

    version: int
    name: str
    notes: dict[str, str]   # how the caps were applied (swap), recorded in results

    def procs_files(self) -> list[Path]:
        """cgroup.procs files a process writes its pid into to join (one per v1 hierarchy)."""
        raise NotImplementedError

    def stats(self) -> CgroupStats:
        raise NotImplementedError

    def pids(self) -> list[int]:
        files = self.procs_files()
        try:
            return [int(p) for p in files[0].read_text().split()] if files else []
        except (OSError, ValueError):
            return []

    def kill_all(self, timeout: float = 5.0) -> None:
        """SIGKILL every process inside, again and again until the group is empty."""
        deadline = time.monotonic() + timeout
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)

    def directories(self) -> list[Path]:
        return [path.parent for path in self.procs_files()]

    def remove(self) -> None:
        """Empty the group and delete its directories (the kernel keeps nothing of it after)."""
        self.kill_all()
        for directory in self.directories():
            for _ in range(50):
                try:
                    directory.rmdir()
                    break
                except (FileNotFoundError, NotADirectoryError):   # never made (a group made halfway)
                    break
                except OSError as exc:  # EBUSY while the last killed process is being reaped
                    if exc.errno != errno.EBUSY:
                        raise
                    time.sleep(0.02)
        from kit.runtimes.markers import release

        release(self.name)


PROBE_NAME = "kit-doctor-probe"   # the group `problem()` makes and removes at once


def claim(name: str, directories: list[Path]) -> None:
    """The owner marker of a group (kit/runtimes/owners.py), written before its directories."""
    from kit.core import signals
    from kit.runtimes.markers import claim as write_marker

    try:
        write_marker(name, directories)
    except OSError:
        pass  # no state directory: the group is judged as unowned later, conservatively
    if name != PROBE_NAME:
        signals.hook("sandbox")   # tests: the window between the marker and the directories


def make_dirs_or_undo(group: Cgroup, directories: list[Path]) -> None:
    """Make a new group's directories; on any failure (or signal) remove what was made, and its
    marker, before raising: a group is made whole or not at all."""
    try:
        for directory in directories:
            make_group_dir(directory)
    except BaseException:
        with contextlib.suppress(OSError):   # the first failure is the one to tell
            group.remove()
        raise


def make_group_dir(directory: Path) -> None:
    """mkdir -p that survives a concurrent run removing the empty `kit/` parent meanwhile."""
    for _ in range(5):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            return
        except FileNotFoundError:
            continue
    directory.mkdir(parents=True, exist_ok=True)


class CgroupV1(Cgroup):
    version = 1

    def __init__(self, name: str, dirs: dict[str, Path]) -> None:
        self.name, self.dirs, self.notes = name, dirs, {}

    def procs_files(self) -> list[Path]:
        return [directory / "cgroup.procs" for directory in self.dirs.values()]   # memory's first

    def limit(self, memory_bytes: int | None, cpus: float | None, pids_max: int | None) -> dict[str, str]:
        memory = self.dirs["memory"]
        notes: dict[str, str] = {}
        if memory_bytes is not None:
            _write(memory / "memory.limit_in_bytes", str(memory_bytes))
            if (memory / "memory.memsw.limit_in_bytes").exists():
                # memory+swap = memory: the group cannot swap, like a pod's limit without swap.
                _write(memory / "memory.memsw.limit_in_bytes", str(memory_bytes))
                notes["swap"] = "disabled (memory.memsw.limit_in_bytes = limit)"
            else:
                _write(memory / "memory.swappiness", "0")
                notes["swap"] = "discouraged (swappiness 0; swap accounting is off)"
        if cpus is not None:
            _write(self.dirs["cpu"] / "cpu.cfs_period_us", str(CFS_PERIOD_US))
            _write(self.dirs["cpu"] / "cpu.cfs_quota_us", str(round(cpus * CFS_PERIOD_US)))
        if pids_max is not None and "pids" in self.dirs:
            _write(self.dirs["pids"] / "pids.max", str(pids_max))
        return notes

    def stats(self) -> CgroupStats:
        return read_v1(self.dirs)


class CgroupV2(Cgroup):
    version = 2

    def __init__(self, name: str, path: Path) -> None:
        self.name, self.path, self.notes = name, path, {}

    def procs_files(self) -> list[Path]:
        return [self.path / "cgroup.procs"]

    def limit(self, memory_bytes: int | None, cpus: float | None, pids_max: int | None) -> dict[str, str]:
        notes: dict[str, str] = {}
        if memory_bytes is not None:
            _write(self.path / "memory.max", str(memory_bytes))
            if (self.path / "memory.swap.max").exists():
                _write(self.path / "memory.swap.max", "0")
                notes["swap"] = "disabled (memory.swap.max = 0)"
            else:
                notes["swap"] = "not capped (no memory.swap.max: swap accounting is off)"
        if (self.path / "memory.oom.group").exists():
            # Kill the whole group on OOM, as the kubelet does with a container on cgroup v2.
            _write(self.path / "memory.oom.group", "1")
        if cpus is not None:
            _write(self.path / "cpu.max", f"{round(cpus * CFS_PERIOD_US)} {CFS_PERIOD_US}")
        if pids_max is not None and (self.path / "pids.max").exists():
            _write(self.path / "pids.max", str(pids_max))
        return notes

    def stats(self) -> CgroupStats:
        return read_v2(self.path)

    def kill_all(self, timeout: float = 5.0) -> None:
        kill_file = self.path / "cgroup.kill"
        if kill_file.exists():
            try:
                _write(kill_file, "1")  # atomic for the whole subtree (Linux 5.14+)
            except OSError:
                pass
        super().kill_all(timeout)


def _cpu_list(cpus: tuple[int, ...]) -> str:
    return ",".join(str(cpu) for cpu in cpus)


def _pin_v1(group: Path, cpus: tuple[int, ...]) -> None:
    """v1 cpuset groups start with no CPUs and no memory nodes, and a child may hold only what its
    parent holds: the kit's parent group takes its own parent's, the sandbox the chosen CPUs."""
    parent = group.parent
    for name in ("cpuset.cpus", "cpuset.mems"):
        if not (parent / name).read_text().strip():
            _write(parent / name, (parent.parent / name).read_text().strip())
    _write(group / "cpuset.mems", (parent / "cpuset.mems").read_text().strip())
    _write(group / "cpuset.cpus", _cpu_list(cpus))


class CgroupHost:
    """Where the kit makes its sandbox groups: below its own cgroup, in every hierarchy it needs."""

    def __init__(self, root: Path = Path("/sys/fs/cgroup"),
                 proc_self_cgroup: Path = Path("/proc/self/cgroup"), parent: str | None = None) -> None:
        self.root, self.proc_self_cgroup = root, proc_self_cgroup
        self.parent = parent or os.environ.get("KIT_CGROUP_PARENT")
        self.version = 2 if (root / "cgroup.controllers").exists() else 1
        self._prepared = False

    def own_paths(self) -> dict[str, str]:
        """Controller -> this process's cgroup path, from /proc/self/cgroup ("" -> v2 unified)."""
        paths: dict[str, str] = {}
        for line in self.proc_self_cgroup.read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path
        return paths

    def _base_v1(self, controller: str) -> Path:
        mount = self.root / controller
        own = self.parent or self.own_paths().get(controller, "/")
        base = mount / own.lstrip("/")
        return base if base.is_dir() else mount  # inside a cgroup namespace the own path is "/"

    def _base_v2(self) -> Path:
        own = self.parent or self.own_paths().get("", "/")
        if not self.parent and own.rsplit("/", 1)[-1] == CONTROLLER_LEAF:
            own = own.rsplit("/", 1)[0]  # an earlier host in this process moved us there: reuse it
        return self.root / own.lstrip("/")

    def problem(self) -> str | None:
        """Why no capped group can be made here, or None (pyperf-style: a reason, not a bool)."""
        if self.version == 1 and not (self.root / "memory").is_dir():
            return f"no memory cgroup controller under {self.root}; {HOW_TO_FIX}"
        try:
            group = self.create(PROBE_NAME, memory_bytes=64 * 2**20, cpus=None, pids_max=None)
        except RuntimeUnavailable as exc:
            return str(exc)
        group.remove()
        return None

    def create(self, name: str, memory_bytes: int | None, cpus: float | None,
               pids_max: int | None, cpuset: tuple[int, ...] | None = None) -> CgroupV1 | CgroupV2:
        """Make a fresh group with the caps; RuntimeUnavailable (with a fix) when not allowed."""
        try:
            group: CgroupV1 | CgroupV2
            if self.version == 1:
                dirs = {}
                for controller in (*V1_CONTROLLERS, *(("cpuset",) if cpuset else ())):
                    if (self.root / controller).is_dir():
                        dirs[controller] = self._base_v1(controller) / "kit" / name
                if cpuset and "cpuset" not in dirs:
                    raise RuntimeUnavailable(f"--cpuset: no cpuset hierarchy under {self.root}")
                claim(name, list(dirs.values()))
                group = CgroupV1(name, dirs)
                make_dirs_or_undo(group, list(dirs.values()))
            else:
                base = self._prepare_v2(cpuset=bool(cpuset))
                path = base / name
                claim(name, [path])
                group = CgroupV2(name, path)
                make_dirs_or_undo(group, [path])
            try:
                if cpuset and isinstance(group, CgroupV1):
                    _pin_v1(group.dirs["cpuset"], cpuset)
                elif cpuset and isinstance(group, CgroupV2):
                    _write(group.path / "cpuset.cpus", _cpu_list(cpuset))
                group.notes = group.limit(memory_bytes, cpus, pids_max)
            except BaseException:
                with contextlib.suppress(OSError):   # a cap that cannot be set: no half-made group stays
                    group.remove()
                raise
            if cpuset:
                group.notes["cpuset"] = _cpu_list(cpuset)
            return group
        except PermissionError as exc:
            raise RuntimeUnavailable(f"cannot create a cgroup ({exc.filename}: permission denied); "
                                     f"{HOW_TO_FIX}") from exc
        except OSError as exc:
            raise RuntimeUnavailable(f"cannot create a cgroup ({exc.filename}: {exc.strerror}); "
                                     f"{HOW_TO_FIX}") from exc

    def _prepare_v2(self, cpuset: bool = False) -> Path:
        """Enable memory/cpu/pids (and cpuset for --cpuset) for children of our cgroup, first moving
        ourselves into a leaf (cgroup v2 allows controllers only on groups without processes)."""
        base = self._base_v2()
        if self._prepared and (not cpuset or "cpuset" in (base / "cgroup.subtree_control").read_text().split()):
            return base
        available = (base / "cgroup.controllers").read_text().split()
        if cpuset and "cpuset" not in available:
            raise RuntimeUnavailable(f"--cpuset: the cpuset controller is not delegated to {base}; {HOW_TO_FIX}")
        wanted = [c for c in (*V2_CONTROLLERS, *(("cpuset",) if cpuset else ())) if c in available]
        if "memory" not in wanted:
            raise RuntimeUnavailable(f"the memory controller is not delegated to {base}; {HOW_TO_FIX}")
        enabled = (base / "cgroup.subtree_control").read_text().split()
        missing = [c for c in wanted if c not in enabled]
        if missing:
            if str(os.getpid()) in (base / "cgroup.procs").read_text().split():
                leaf = base / CONTROLLER_LEAF
                leaf.mkdir(exist_ok=True)
                try:
                    _write(leaf / "cgroup.procs", str(os.getpid()))
                except OSError as exc:
                    raise RuntimeUnavailable(f"cannot move processes out of {base} to delegate it "
                                             f"({exc.strerror}); {HOW_TO_FIX}") from exc
            try:
                _write(base / "cgroup.subtree_control", " ".join(f"+{c}" for c in missing))
            except OSError as exc:  # EBUSY: other processes still live in our group
                raise RuntimeUnavailable(f"cannot enable {', '.join(missing)} for children of {base} "
                                         f"({exc.strerror}); {HOW_TO_FIX}") from exc
        self._prepared = True
        return base
