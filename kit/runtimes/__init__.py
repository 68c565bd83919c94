"""Runtimes: WHERE a worker runs. The registry: every runtime's name and class, chosen in `select()`.

A runtime knows nothing of workloads, strategies or how the worker image is built: the caller
(kit/run/runner.py `select_runtime`) hands it the image's name and the check of its freshness.
What differs between runtimes is each one's `capabilities` (kit/runtimes/base.py): nothing
outside kit/runtimes/ compares a runtime's name (tests/unit/test_runtime_names.py).
Adding a runtime is its module plus one line in `REGISTRY`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kit.core.errors import RuntimeUnavailable
from kit.runtimes.base import Capabilities, InsideView, Runtime, Setup

ImageCheck = Callable[[Any, str], "str | None"]   # (engine client, image) -> why it cannot be used, or None

AUTO = "auto"   # docker when the engine answers and the image is current, else cgroup (product.md section 4)
AUTO_CHOICES = ("docker", "cgroup")   # in order of preference
# name -> "module:class"; imported when asked for, so that choosing one loads none of the others.
REGISTRY: dict[str, str] = {
    "cgroup": "kit.runtimes.cgroup:CgroupRuntime",
    "docker": "kit.runtimes.docker:DockerRuntime",
    "kubernetes": "kit.runtimes.kubernetes:KubernetesRuntime",
    "process": "kit.runtimes.process:ProcessRuntime",
}


def runtime_class(name: str) -> type[Runtime]:
    """The class registered as `name`; ValueError for a name no runtime has."""
    try:
        module, attribute = REGISTRY[name].split(":")
    except KeyError:
        raise ValueError(f"unknown runtime {name!r}: choose from {', '.join(REGISTRY)}") from None
    found: type[Runtime] = getattr(importlib.import_module(module), attribute)
    return found


def names(*, offered: bool | None = None) -> tuple[str, ...]:
    """Every registered runtime's name; `offered=True`: those `kit run --runtime` offers (not the tests')."""
    return tuple(name for name in REGISTRY
                 if offered is None or capabilities(name).offered == offered)


def capabilities(name: str) -> Capabilities:
    """What runtime `name` can do, without making one (no engine, no cluster is asked)."""
    return runtime_class(name).capabilities


def candidates(name: str) -> tuple[Capabilities, ...]:
    """The capabilities of every runtime `--runtime NAME` may turn out to be (auto: docker or cgroup),
    for what is decided before one is chosen: `all(c.local for c in candidates(name))`."""
    return tuple(capabilities(choice) for choice in (AUTO_CHOICES if name == AUTO else (name,)))


def select(name: str, image: str, image_problem: ImageCheck,
           image_bin_dir: Path | None = None, cluster: Callable[[], Any] | None = None,
           inside: Callable[[], InsideView] | None = None) -> tuple[Runtime, str | None]:
    """The runtime for `--runtime NAME`, and for `auto` one line saying why it was chosen;
    `image_bin_dir` is where the image keeps its compiled (Go) workers; `cluster` makes the settings
    of where Jobs go and `inside` the tracker of the worker's own samples, a remote sandbox's only figures."""
    setup = Setup(image=image, image_problem=image_problem, image_bin_dir=image_bin_dir, cluster=cluster,
                  inside=inside)
    if name == AUTO:
        return _auto(setup)
    runtime = runtime_class(name).create(setup)
    if problem := runtime.available():
        raise RuntimeUnavailable(problem)
    return runtime, None


def _auto(setup: Setup) -> tuple[Runtime, str | None]:
    """product.md section 4: docker when the engine answers and the image is current, else cgroup."""
    preferred, fallback = AUTO_CHOICES
    first = runtime_class(preferred).create(setup)
    why = first.available()
    if why is None:
        return first, f"runtime: {preferred} (image {setup.image})"
    runtime = runtime_class(fallback).create(setup)
    if problem := runtime.available():
        raise RuntimeUnavailable(problem)
    return runtime, f"runtime: {fallback} ({preferred}: {why})"
