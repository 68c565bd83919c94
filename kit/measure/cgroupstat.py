"""Reading a cgroup's own figures (v1 and v2), from outside or from inside the sandbox.

One reader for every place that asks the kernel: the runtimes read the sandbox group they made
(kit/runtimes/cgroupfs.py), and the worker reads its own group from inside (kit/worker/sampler.py), which
is the only way to measure a sandbox whose cgroup the controller cannot see (a pod on a remote
node). Stdlib only: the worker imports this module inside the sandbox.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

V1_STAT_CONTROLLERS = ("memory", "cpuacct", "cpu")   # the v1 hierarchies the figures come from


@dataclass(frozen=True, slots=True)
class CgroupStats:
    """The kernel's own figures for one group at one moment."""

    usage_bytes: int
    working_set_bytes: int       # usage minus inactive file cache, as kubectl top and cAdvisor
    peak_usage_bytes: int | None  # the kernel's watermark, where the kernel keeps one
    cpu_seconds: float
    throttled_seconds: float
    oom_kills: int
    throttled_periods: int = 0   # CFS periods in which the CPU cap stopped the group (nr_throttled)


def read_text(path: Path) -> str:
    """One interface file, with plain os calls: a third of pathlib's cost, which matters to a
    sampler that runs inside the sandbox during the timed work (OSError when absent)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("ascii", "replace")


def read_int(path: Path, default: int = 0) -> int:
    """A one-number interface file; `default` when absent, empty or "max"."""
    try:
        text = read_text(path).strip()
    except OSError:
        return default
    return default if text in ("", "max") else int(text.split()[0])


def read_keyed(path: Path) -> dict[str, int]:
    """Parse `key value` lines (memory.stat, cpu.stat, memory.events, memory.oom_control)."""
    values: dict[str, int] = {}
    try:
        for line in read_text(path).splitlines():
            key, _, value = line.partition(" ")
            if value.strip().lstrip("-").isdigit():
                values[key] = int(value)
    except OSError:
        pass
    return values


def read_v1(dirs: Mapping[str, Path]) -> CgroupStats:
    """A v1 group's figures from its directory in each hierarchy ("memory", "cpuacct", "cpu")."""
    memory = dirs["memory"]
    usage = read_int(memory / "memory.usage_in_bytes")
    stat = read_keyed(memory / "memory.stat")
    inactive = stat.get("total_inactive_file", stat.get("inactive_file", 0))
    cpu_ns = read_int(dirs["cpuacct"] / "cpuacct.usage") if "cpuacct" in dirs else 0
    cpu = read_keyed(dirs["cpu"] / "cpu.stat") if "cpu" in dirs else {}
    return CgroupStats(
        usage_bytes=usage,
        working_set_bytes=max(0, usage - inactive),
        peak_usage_bytes=read_int(memory / "memory.max_usage_in_bytes"),
        cpu_seconds=cpu_ns / 1e9,
        throttled_seconds=cpu.get("throttled_time", 0) / 1e9,
        oom_kills=read_keyed(memory / "memory.oom_control").get("oom_kill", 0),
        throttled_periods=cpu.get("nr_throttled", 0),
    )


def read_v2(path: Path) -> CgroupStats:
    """A v2 group's figures; the watermark only where the kernel keeps one (memory.peak, 5.19+)."""
    usage = read_int(path / "memory.current")
    stat = read_keyed(path / "memory.stat")
    cpu = read_keyed(path / "cpu.stat")
    peak = read_int(path / "memory.peak", default=-1)    # absent before Linux 5.19
    return CgroupStats(
        usage_bytes=usage,
        working_set_bytes=max(0, usage - stat.get("inactive_file", 0)),
        peak_usage_bytes=peak if peak >= 0 else None,
        cpu_seconds=cpu.get("usage_usec", 0) / 1e6,
        throttled_seconds=cpu.get("throttled_usec", 0) / 1e6,
        oom_kills=v2_oom_kills(read_keyed(path / "memory.events")),
        throttled_periods=cpu.get("nr_throttled", 0),
    )


def v2_oom_kills(events: dict[str, int]) -> int:
    """Processes the OOM killer killed, from memory.events. With memory.oom.group set (the kit sets
    it, the kubelet too) Linux 6.1 kills the chosen victim, then every process of the group, the
    victim again: each group kill (`oom_group_kill`) counts its victim twice in `oom_kill`. Seen on
    Debian's 6.1 in the cgroup v2 VM: one process over its cap, `oom_kill 2`, `oom_group_kill 1`.
    Never fewer than the group kills, so that a kernel which counts the victim once still shows
    every kill."""
    kills, group_kills = events.get("oom_kill", 0), events.get("oom_group_kill", 0)
    return max(kills - group_kills, group_kills)


@dataclass(frozen=True, slots=True)
class OwnGroup:
    """This process's own cgroup: v2 one directory, v1 one per hierarchy (memory first)."""

    version: int
    dirs: dict[str, Path]    # v2: {"unified": dir}; v1: {"memory": ..., "cpuacct": ..., "cpu": ...}

    def stats(self) -> CgroupStats:
        return read_v2(self.dirs["unified"]) if self.version == 2 else read_v1(self.dirs)


# The filesystem types of cgroup mounts (mountinfo), not runtimes: the v1 hierarchies' and the unified one.
V1_FSTYPE, V2_FSTYPE = "cgroup", "cgroup2"


@dataclass(frozen=True, slots=True)
class _Mount:
    root: str           # the group mounted there, as the kernel names it (mountinfo field 4)
    point: Path         # where it is mounted
    fstype: str         # cgroup (v1) or cgroup2
    options: frozenset[str]   # super options: a v1 hierarchy's controllers


def _unescape(text: str) -> str:
    r"""mountinfo writes space, tab, newline and backslash as octal escapes (\040)."""
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and text[i + 1:i + 4].isdigit():
            out.append(chr(int(text[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _cgroup_mounts(mountinfo: str) -> list[_Mount]:
    mounts = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        sep = fields.index("-")
        if sep < 5 or len(fields) < sep + 3 or fields[sep + 1] not in (V1_FSTYPE, V2_FSTYPE):
            continue
        options = frozenset(fields[sep + 3].split(",")) if len(fields) > sep + 3 else frozenset()
        mounts.append(_Mount(_unescape(fields[3]), Path(_unescape(fields[4])), fields[sep + 1], options))
    return mounts


def _own_paths(proc_self_cgroup: str) -> dict[str, str]:
    """Controller -> this process's cgroup path ("" -> the v2 unified hierarchy)."""
    paths: dict[str, str] = {}
    for line in proc_self_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(",") if parts[1] else [""]:
            paths[controller] = parts[2]
    return paths


def _directory(mount: _Mount, own: str) -> Path:
    """Where the group `own` appears under `mount`: a mount shows the group at its root and what is
    below it; a cgroup namespace (or a container's bind mount) shows our group at the mount point."""
    root = mount.root.rstrip("/") or "/"
    if root == "/" or own == root or own.startswith(root + "/"):
        relative = own[len(root):] if root != "/" else own
        candidate = mount.point / relative.lstrip("/")
        if candidate.is_dir():
            return candidate
    return mount.point


def find_own_group(proc_self_cgroup: Path = Path("/proc/self/cgroup"),
                   mountinfo: Path = Path("/proc/self/mountinfo")) -> OwnGroup | None:
    """This process's memory and CPU groups (None when it cannot see them): works in the kit's
    cgroup runtime, in a Docker container (host or private cgroup namespace) and on cgroup v2."""
    try:
        own = _own_paths(proc_self_cgroup.read_text())
        mounts = _cgroup_mounts(mountinfo.read_text())
    except OSError:
        return None
    v1_dirs: dict[str, Path] = {}
    for controller in V1_STAT_CONTROLLERS:
        mount = next((m for m in mounts if m.fstype == V1_FSTYPE and controller in m.options), None)
        if mount is not None and controller in own:
            v1_dirs[controller] = _directory(mount, own[controller])
    if "memory" in v1_dirs:
        return OwnGroup(version=1, dirs=v1_dirs)
    unified = next((m for m in mounts if m.fstype == V2_FSTYPE), None)
    if unified is not None and "" in own:
        directory = _directory(unified, own[""])
        if (directory / "memory.current").exists():
            return OwnGroup(version=2, dirs={"unified": directory})
    return None
