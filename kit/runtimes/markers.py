"""Owner markers of sandbox groups: which controller (PID and start time) made each group.

Written by the runtimes when they make a group and deleted when they remove it; read by
kit/runtimes/owners.py, which finds and removes the groups of controllers that are gone. A module
of its own so that cgroupfs and docker write markers without importing the leftover finder.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

import psutil

SANDBOX_LABEL = "kit.sandbox"   # containers: the sandbox's name
OWNER_LABEL = "kit.owner"   # containers: "<pid>:<start time>", as in the markers


def state_dir() -> Path:
    """Where owner markers live: shared by every kit run of this user on this machine."""
    if chosen := os.environ.get("KIT_STATE_DIR"):
        return Path(chosen)
    if os.geteuid() == 0:
        return Path("/run/kit")
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    return Path(runtime_dir) / "kit" if runtime_dir else Path(f"/tmp/kit-{os.geteuid()}")


def marker_path(name: str) -> Path:
    return state_dir() / "sandboxes" / f"{name}.json"


def me() -> tuple[int, float]:
    """This controller: PID and start time (seconds since the epoch, as psutil gives it)."""
    return os.getpid(), round(psutil.Process().create_time(), 2)


def owner_label() -> str:
    pid, started = me()
    return f"{pid}:{started}"


def alive(pid: int, start_time: float) -> bool:
    """Is the process that made the marker still running (the same process, not a reused PID)?"""
    try:
        return bool(abs(psutil.Process(pid).create_time() - start_time) < 0.05)
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def claim(name: str, directories: list[Path]) -> None:
    """Write the owner marker of a group before its directories are made."""
    pid, started = me()
    path = marker_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{pid}.tmp")
    tmp.write_text(json.dumps({"pid": pid, "start_time": started, "created": time.time(),
                               "directories": [str(d) for d in directories]}))
    os.replace(tmp, path)


def release(name: str) -> None:
    """The group is gone: so is its marker. A marker goes last: while any directory it names is
    still there (a hierarchy this process does not see the group in, `kit doctor --clean` from
    another login's memory cgroup say), it stays, so the group is still found and removed later."""
    marker = read_marker(name)
    if marker is not None and any(Path(d).is_dir() for d in marker.get("directories", [])):
        return
    with contextlib.suppress(OSError):
        marker_path(name).unlink()


def markers() -> list[str]:
    """Names of every group with an owner marker on this machine (this user's state directory)."""
    return sorted(path.stem for path in (state_dir() / "sandboxes").glob("*.json"))


def read_marker(name: str) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(marker_path(name).read_text())
        return data
    except (OSError, ValueError):
        return None
