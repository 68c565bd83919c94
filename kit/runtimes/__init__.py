"""Runtimes: WHERE a worker runs. Chosen in one place, `select()`.

A runtime knows nothing of workloads, strategies or how the worker image is built: the caller
(kit/run/runner.py `select_runtime`) hands it the image's name and the check of its freshness.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kit.core.errors import RuntimeUnavailable
from kit.runtimes.base import InsideView, Runtime
from kit.runtimes.cgroup import CgroupRuntime

if TYPE_CHECKING:
    from kit.runtimes.kube.manifests import Cluster

ImageCheck = Callable[[Any, str], "str | None"]   # (engine client, image) -> why it cannot be used, or None


def select(name: str, image: str, image_problem: ImageCheck,
           image_bin_dir: Path | None = None, cluster: Cluster | None = None,
           inside: Callable[[], InsideView] | None = None) -> tuple[Runtime, str | None]:
    """The runtime for `--runtime NAME`, and for `auto` one line saying why it was chosen;
    `image_bin_dir` is where the image keeps its compiled (Go) workers; `cluster` where Jobs go and
    `inside` the tracker of the worker's own samples, a remote sandbox's only figures."""
    runtime: Runtime
    match name:
        case "kubernetes":
            from kit.runtimes.kube.manifests import Cluster as Settings
            from kit.runtimes.kubernetes import KubernetesRuntime

            runtime, note = KubernetesRuntime(cluster or Settings(image=image), image_bin_dir, inside=inside), None
        case "cgroup":
            runtime = CgroupRuntime()
            note = None
        case "docker":
            from kit.runtimes.docker import DockerRuntime

            runtime, note = DockerRuntime(image, image_problem, bin_dir=image_bin_dir), None
        case _:
            from kit.runtimes.docker import DockerRuntime

            # product.md section 4: docker when the engine answers and the image is current.
            docker = DockerRuntime(image, image_problem, bin_dir=image_bin_dir)
            why = docker.available()
            if why is None:
                return docker, f"runtime: docker (image {docker.image})"
            runtime, note = CgroupRuntime(), f"runtime: cgroup (docker: {why})"
    problem = runtime.available()
    if problem:
        raise RuntimeUnavailable(problem)
    return runtime, note
