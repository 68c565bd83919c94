"""Sandboxes that outlived their run: what a run says about them before it starts, and what `kit
doctor --clean` removes (groups, containers, their owner markers). A run's own end is its runtime's
cleanup()."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from kit.runtimes.base import Runtime
from kit.runtimes.cgroupfs import CgroupHost
from kit.runtimes.owners import find, orphan_containers, prune_markers, remove, remove_empty_parents


def lines(runtime: Runtime) -> list[str]:
    """Sandboxes of killed runs (their controller is gone), as the runtime finds them: said before a
    run, removed by doctor --clean."""
    found = runtime.leftovers()
    if found:
        found.append("`kit doctor --clean` removes them")
    return found


def problem(host: CgroupHost, clean: bool, removed: Callable[[str], None]) -> str | None:
    """Cgroups (and containers) whose kit controller is gone, for `kit doctor`; with `clean` they are
    removed (each said through `removed`), and markers go only once what they name is gone."""
    if clean:
        prune_markers()
    if host.version == 1 and not (host.root / "memory").is_dir():
        return None  # no cgroups here at all: nothing can be left over
    leftovers = find(host)
    containers = _containers(clean)
    found = ([f"group {leftover.line()}" for leftover in leftovers]
             + [f"container {container.name} ({why})" for container, why in containers])
    if not found:
        return None
    if not clean:
        return ("left by killed runs (run `kit doctor --clean` to remove them):\n     "
                + "\n     ".join(found))
    failed = []
    for leftover in leftovers:
        try:
            remove(host, leftover)
        except OSError as exc:
            failed.append(f"{leftover.name}: {exc.strerror or exc}")
    remove_empty_parents(host)
    for line in found:
        removed(line)
    return "could not remove " + "; ".join(failed) if failed else None


def _containers(clean: bool) -> list[tuple[Any, str]]:
    """Containers of killed runs on the local engine (none without one); removed with `clean`."""
    containers: list[tuple[Any, str]] = []
    with contextlib.suppress(Exception):  # no engine: no containers to leave behind
        from kit.runtimes.engine import connect

        client = connect()
        with contextlib.closing(client):
            containers = list(orphan_containers(client))
            if clean:
                for container, _ in containers:
                    with contextlib.suppress(Exception):
                        container.remove(force=True)
    return containers
