"""Runtimes: WHERE a worker runs. Chosen in one place, `select()`."""

from __future__ import annotations

from kit.errors import RuntimeUnavailable
from kit.runtimes.base import Runtime
from kit.runtimes.cgroup import CgroupRuntime

DOCKER_MISSING = "the docker runtime is not part of this kit version yet"


def select(name: str) -> tuple[Runtime, str | None]:
    """The runtime for `--runtime NAME`, and for `auto` one line saying why it was chosen."""
    match name:
        case "cgroup":
            runtime: Runtime = CgroupRuntime()
            note = None
        case "docker":
            raise RuntimeUnavailable(f"{DOCKER_MISSING}; use --runtime cgroup")
        case _:
            runtime, note = CgroupRuntime(), f"runtime: cgroup ({DOCKER_MISSING})"
    problem = runtime.available()
    if problem:
        raise RuntimeUnavailable(problem)
    return runtime, note
