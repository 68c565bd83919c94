"""Where a worker runs: one small interface for every runtime (cgroup now; docker, k8s later).

A runtime knows nothing of workloads: it gets a command line to run, limits and directories,
and hands back a running Sandbox whose stdout, exit status and cgroup figures the supervisor reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from kit.runtimes.cgroupfs import CgroupStats


@dataclass(frozen=True, slots=True)
class SandboxPaths:
    """How the sandbox sees the kit's directories and programs."""

    python: str          # the Python interpreter that has kit installed
    input_root: Path     # read-only inputs
    output_dir: Path     # this strategy's outputs
    manifest: Path       # the item list (kit/protocol.py)
    bin_dir: Path | None = None  # the compiled (Go) workers inside the sandbox; None: the host's build


@dataclass(frozen=True, slots=True)
class SandboxSpec:
    """One worker to run: `command` builds its argv from the paths inside the sandbox."""

    name: str
    command: Callable[[SandboxPaths], list[str]]
    input_root: Path
    output_dir: Path
    manifest: Path
    log_dir: Path
    memory_limit_bytes: int | None = None
    cpus: float | None = None
    pids_max: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    cpuset: tuple[int, ...] | None = None   # CPUs the sandbox is confined to (--cpuset); None: any


class Sandbox(Protocol):
    """A running worker, confined. `close()` is idempotent and leaves nothing behind."""

    stdout: IO[str]
    notes: dict[str, str]

    def poll(self) -> int | None: ...

    def stats(self) -> CgroupStats: ...

    def pids(self) -> list[int]: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...

    def stderr_tail(self) -> str: ...


class Runtime(Protocol):
    name: str

    def available(self) -> str | None:
        """None when sandboxes can be made here; otherwise why not and how to fix it."""
        ...

    def start(self, spec: SandboxSpec) -> Sandbox: ...

    def describe(self) -> dict[str, Any]:
        """What results.json records about this runtime (cgroup version, engine, image)."""
        ...


def last_line(path: Path) -> str:
    """The last non-empty line of a worker's stderr log: why it failed, in one line."""
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def worker_env(extra: dict[str, str]) -> dict[str, str]:
    """Only the environment we mean to pass (pyperf's create_environ idea): no user tweaks leak in."""
    import os

    # PYTHON_GIL passes: set to 1, it turns a free-threaded build's GIL back on, which the worker
    # must see (and refuse) rather than have the kit drop it silently.
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV", "SYSTEMROOT", "PYTHON_GIL")
    env = {key: os.environ[key] for key in keep if key in os.environ}
    env.update(extra)
    return env
