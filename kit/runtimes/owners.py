"""Who owns a sandbox group: leftovers of a controller that was killed outright (SIGKILL, a crash)
are found later by `kit run` and `kit doctor`, and removed by `kit doctor --clean`.

cgroupfs holds no files of our own, so each group the kit makes has an owner marker beside it in
the state directory (`/run/kit/sandboxes/<name>.json` for root, `$XDG_RUNTIME_DIR/kit/...`
otherwise, `$KIT_STATE_DIR` to choose): the controller's PID and start time (a PID alone may have
been reused) and the group's directories. A group is a leftover when its marker names a process
that is gone. Groups without a marker (an older kit, or a controller killed between mkdir and
marker) are judged conservatively, since other runs may share the parent: only when they hold no
process and are older than UNOWNED_STALE_SECONDS.
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kit.runtimes.cgroupfs import CONTROLLER_LEAF, V1_CONTROLLERS, Cgroup, CgroupHost, CgroupV1, CgroupV2
from kit.runtimes.markers import (
    OWNER_LABEL,
    SANDBOX_LABEL,
    alive,
    claim,
    marker_path,
    markers,
    me,
    owner_label,
    read_marker,
    release,
    state_dir,
)

__all__ = ["OWNER_LABEL", "alive", "claim", "find", "marker_path", "me", "orphan_containers", "owner_label",
           "read_marker", "release", "remove", "remove_empty_parents", "state_dir"]

UNOWNED_STALE_SECONDS = 600.0
# Sandbox names start with a run id (kit/run/runner.py new_run_id); the doctor's probe has its own.
SANDBOX_NAME = re.compile(r"^(\d{8}-\d{6}-[0-9a-f]{4}-|kit-doctor-probe$)")


@dataclass(slots=True)
class Leftover:
    """A sandbox group nobody will remove: where it is and why it counts as left over."""

    name: str
    directories: list[Path] = field(default_factory=list)
    reason: str = ""
    pids: list[int] = field(default_factory=list)

    def line(self) -> str:
        processes = f", {len(self.pids)} process(es) still inside" if self.pids else ""
        return f"{self.name} ({self.reason}{processes}): {', '.join(str(d) for d in self.directories)}"


def _parents(host: CgroupHost) -> list[Path]:
    """Every directory under which this host's runtimes make sandbox groups."""
    if host.version == 2:
        return [host._base_v2()]
    parents: list[Path] = []
    memory_own = host.parent or host.own_paths().get("memory", "/")
    # every v1 hierarchy: the kit's own, cpuset (--cpuset), and those the engine adds a container's
    # parent path to (devices, freezer, blkio, the systemd name hierarchy, and on a hybrid host the
    # cgroup2 `unified` mount, where runc makes the path too)
    mounted = sorted(p.name for p in host.root.iterdir() if p.is_dir())
    for controller in dict.fromkeys((*V1_CONTROLLERS, *mounted)):
        if not (host.root / controller).is_dir():
            continue
        # the cgroup runtime: this process's own path per controller; docker's --cgroup-parent: the
        # memory controller's path in every controller (kit/runtimes/cgroup_parent.py ParentGroup)
        for base in (host._base_v1(controller), host.root / controller / memory_own.lstrip("/")):
            if (base / "kit") not in parents:
                parents.append(base / "kit")
    return parents


def _group(host: CgroupHost, directories: list[Path], name: str) -> Cgroup:
    if host.version == 2:
        return CgroupV2(name, directories[0])
    dirs: dict[str, Path] = {}
    for directory in directories:
        controller = directory.relative_to(host.root).parts[0]
        dirs.setdefault(controller, directory)
    group = CgroupV1(name, dirs)
    extra = [d for d in directories if d not in dirs.values()]  # docker's layout beside the runtime's
    return _Several(name, [group, *(CgroupV1(name, {d.relative_to(host.root).parts[0]: d}) for d in extra)])


class _Several(Cgroup):
    """Directories of one name found under several parents: removed together."""

    def __init__(self, name: str, groups: list[CgroupV1]) -> None:
        self.name, self.groups, self.notes = name, groups, {}

    def procs_files(self) -> list[Path]:
        return [path for group in self.groups for path in group.procs_files()]

    def pids(self) -> list[int]:
        return sorted({pid for group in self.groups for pid in group.pids()})


def find(host: CgroupHost, now: float | None = None) -> list[Leftover]:
    """Groups whose owner is gone, and old empty groups without an owner."""
    now = time.time() if now is None else now
    found: dict[str, list[Path]] = {}
    for parent in _parents(host):
        try:
            children = [p for p in parent.iterdir() if p.is_dir()]
        except OSError:
            continue
        for child in children:
            if child.name == CONTROLLER_LEAF or (host.version == 2 and not SANDBOX_NAME.match(child.name)):
                continue
            found.setdefault(child.name, []).append(child)
    for name in markers():   # what a marker names, wherever it is (another login's memory cgroup, say)
        marker = read_marker(name)
        named = [Path(d) for d in (marker or {}).get("directories", [])]
        for directory in named:
            if directory.is_dir() and directory.is_relative_to(host.root) and directory not in found.get(name, []):
                found.setdefault(name, []).append(directory)
    leftovers: list[Leftover] = []
    for name, directories in sorted(found.items()):
        group = _group(host, directories, name)
        pids = group.pids() if group.procs_files() else []
        marker = read_marker(name)
        if marker is not None:
            if alive(int(marker.get("pid", 0)), float(marker.get("start_time", 0))):
                continue
            reason = f"its kit controller, PID {marker.get('pid')}, is gone"
        else:
            age = now - min(_mtime(d) for d in directories)
            if pids or age < UNOWNED_STALE_SECONDS:
                continue  # maybe a live run of an older kit: left alone
            reason = f"no owner marker, empty, made {age / 60:.0f} minutes ago"
        leftovers.append(Leftover(name, directories, reason, pids))
    return leftovers


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def remove(host: CgroupHost, leftover: Leftover) -> None:
    """Kill what is inside, delete the directories and the marker."""
    _group(host, leftover.directories, leftover.name).remove()
    release(leftover.name)


def prune_markers() -> int:
    """Delete markers whose owner is gone and whose directories are all gone (a run killed while
    removing its group); returns how many."""
    pruned = 0
    for path in (state_dir() / "sandboxes").glob("*.json"):
        marker = read_marker(path.stem)
        if marker is None or alive(int(marker.get("pid", 0)), float(marker.get("start_time", 0))):
            continue
        if not any(Path(d).exists() for d in marker.get("directories", [])):
            with contextlib.suppress(OSError):
                path.unlink()
                pruned += 1
    return pruned


def remove_empty_parents(host: CgroupHost) -> None:
    """The `kit/` parent groups, when no run uses them any more (cgroup v1; rmdir refuses a
    parent that still has children, so a concurrent run keeps its own)."""
    if host.version == 2:
        return
    for parent in _parents(host):
        with contextlib.suppress(OSError):
            parent.rmdir()


def orphan_containers(client: Any, now: float | None = None) -> list[tuple[Any, str]]:
    """Kit sandbox containers whose controller is gone (label), or old stopped ones without owner."""
    now = time.time() if now is None else now
    orphans = []
    for container in client.containers.list(all=True, filters={"label": SANDBOX_LABEL}):
        owner = container.labels.get(OWNER_LABEL, "")
        pid, _, started = owner.partition(":")
        if owner:
            try:
                if alive(int(pid), float(started)):
                    continue
            except ValueError:
                pass
            orphans.append((container, f"its kit controller, PID {pid}, is gone"))
        elif container.status != "running" and now - _created(container) > UNOWNED_STALE_SECONDS:
            orphans.append((container, f"no owner label, {container.status}"))
    return orphans


def _created(container: Any) -> float:
    from datetime import UTC, datetime

    try:  # the engine writes UTC: 2026-12-02T16:00:04.123456789Z
        created = datetime.fromisoformat(str(container.attrs.get("Created", ""))[:19])
    except ValueError:
        return 0.0
    return created.replace(tzinfo=UTC).timestamp()
