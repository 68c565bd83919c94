"""The Docker runtime's `--cgroup-parent`: a group the kit makes and owns for each container, at the
same relative path in every hierarchy, whose hierarchical figures outlive the container (the
engine puts the container's own group at `<parent>/<container id>` with the cgroupfs driver)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from kit.measure.cgroupstat import read_keyed
from kit.runtimes.cgroupfs import V1_CONTROLLERS, CgroupHost, CgroupV1, CgroupV2, claim, make_dirs_or_undo


class ParentGroup:
    """The kit-owned `--cgroup-parent` of one container: same relative path in every hierarchy."""

    def __init__(self, host: CgroupHost, name: str) -> None:
        self.host = host
        self.group: CgroupV1 | CgroupV2
        if host.version == 1:
            # One path for all controllers (the engine uses the same relative path in each); the
            # memory controller's own path decides it, so the kit's memory accounting nests it.
            own = host.parent or host.own_paths().get("memory", "/")
            self.path = f"{own.rstrip('/')}/kit/{name}"
            dirs = {c: host.root / c / self.path.lstrip("/") for c in V1_CONTROLLERS
                    if (host.root / c).is_dir()}
            claim(name, list(dirs.values()))
            self.group = CgroupV1(name, dirs)
            make_dirs_or_undo(self.group, list(dirs.values()))
        else:
            base = host._prepare_v2()
            claim(name, [base / name])
            self.group = CgroupV2(name, base / name)
            make_dirs_or_undo(self.group, [base / name])
            self.path = "/" + str((base / name).relative_to(host.root))

    def memory_dir(self) -> Path:
        return self.group.dirs["memory"] if isinstance(self.group, CgroupV1) else self.group.path

    def child_stats(self, container_id: str) -> tuple[int, float, int] | None:
        """The container's own OOM kills, throttled seconds and periods, while its group exists."""
        if isinstance(self.group, CgroupV1):
            memory = self.group.dirs["memory"] / container_id
            if not memory.is_dir():
                return None
            kills = read_keyed(memory / "memory.oom_control").get("oom_kill", 0)
            cpu = self.group.dirs.get("cpu")
            stat = read_keyed(cpu / container_id / "cpu.stat") if cpu else {}
            return kills, stat.get("throttled_time", 0) / 1e9, stat.get("nr_throttled", 0)
        child = self.group.path / container_id
        if not child.is_dir():
            return None
        stat = read_keyed(child / "cpu.stat")
        return (read_keyed(child / "memory.events").get("oom_kill", 0),
                stat.get("throttled_usec", 0) / 1e6, stat.get("nr_throttled", 0))

    def pids(self) -> list[int]:
        found: list[int] = []
        for procs in self.memory_dir().rglob("cgroup.procs"):
            try:
                found += [int(p) for p in procs.read_text().split()]
            except (OSError, ValueError):
                continue
        return found

    def remove(self) -> None:
        self.group.remove()
        if isinstance(self.group, CgroupV1):
            # The engine makes the parent path in every v1 hierarchy (cpuset, devices, freezer,
            # blkio, ...), not only in the kit's; once the container is gone they are empty: remove them.
            for hierarchy in sorted(self.host.root.iterdir()):
                if hierarchy.name in V1_CONTROLLERS or not hierarchy.is_dir():
                    continue
                leftover = hierarchy / self.path.lstrip("/")
                for directory in (*sorted(leftover.glob("*/"), reverse=True), leftover):
                    with contextlib.suppress(OSError):   # absent, or not a cgroup directory
                        directory.rmdir()
