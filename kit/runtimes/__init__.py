"""Runtimes: WHERE a worker runs. Chosen in one place, `select()`."""

from __future__ import annotations

from kit.errors import RuntimeUnavailable
from kit.runtimes.base import Runtime
from kit.runtimes.cgroup import CgroupRuntime


def select(name: str) -> tuple[Runtime, str | None]:
    """The runtime for `--runtime NAME`, and for `auto` one line saying why it was chosen."""
    match name:
        case "cgroup":
            runtime: Runtime = CgroupRuntime()
            note = None
        case "docker":
            from kit.runtimes.docker import DockerRuntime

            runtime, note = DockerRuntime(), None
        case _:
            from kit.runtimes.docker import DockerRuntime

            # product.md section 4: docker when the engine answers and the image is current.
            docker = DockerRuntime()
            why = docker.available()
            if why is None:
                return docker, f"runtime: docker (image {docker.image})"
            runtime, note = CgroupRuntime(), f"runtime: cgroup (docker: {why})"
    problem = runtime.available()
    if problem:
        raise RuntimeUnavailable(problem)
    return runtime, note
