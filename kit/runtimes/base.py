"""Where a worker runs: one small interface for every runtime (cgroup now; docker, k8s later).

A runtime knows nothing of workloads: it gets a command line to run, limits and directories,
and hands back a running Sandbox whose stdout, exit status and cgroup figures the supervisor reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar, Protocol

from kit.measure.cgroupstat import CgroupStats


@dataclass(frozen=True, slots=True)
class SandboxPaths:
    """How the sandbox sees the kit's directories and programs."""

    python: str          # the Python interpreter that has kit installed
    input_root: Path     # read-only inputs
    output_dir: Path     # this strategy's outputs
    manifest: Path       # the item list (kit/worker/protocol.py)
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
    workers: int = 1                        # the worker count (a remote sandbox's CPU request when uncapped)
    labels: dict[str, str] = field(default_factory=dict)   # run, strategy, workers, repetition (Job labels)
    # A sandbox that cannot mount the host's files (kubernetes) makes its own inputs from this recipe:
    # kit/worker/podinit.py's environment (kit/plan/inputs.py `pod_recipe`), and the memory that takes.
    remote_inputs: dict[str, str] = field(default_factory=dict)
    remote_inputs_memory_bytes: int = 256 * 2**20


@dataclass(frozen=True, slots=True)
class Setup:
    """What the caller (kit/run/runner.py `select_runtime`) hands every runtime it makes, since a
    runtime knows nothing of builds or plans: the worker image, its freshness check and where it keeps
    its compiled (Go) workers; the plan's cluster settings, made on demand; and the factory of the
    tracker of the worker's own samples (kit.measure.inside.InsideTracker)."""

    image: str = ""
    image_problem: Callable[[Any, str], str | None] | None = None   # (engine client, image) -> why not
    image_bin_dir: Path | None = None
    cluster: Callable[[], Any] | None = None    # -> kit.runtimes.kube.manifests.Cluster
    inside: Callable[[], InsideView] | None = None


class NotStarted(Exception):
    """The sandbox never ran (a pod no node would take, an image that cannot be pulled): the
    runner records the cell as failed with this reason and goes on."""

    def __init__(self, reason: str, waited_seconds: float, notes: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.reason, self.waited_seconds, self.notes = reason, waited_seconds, dict(notes or {})


class InsideView(Protocol):
    """The worker's own samples of its cgroup (kit/measure/inside.py's InsideTracker, which the caller passes to
    a runtime that has no outside view; the supervisor feeds it)."""

    def stats(self) -> CgroupStats: ...


class Sandbox(Protocol):
    """A running worker, confined. `close()` is idempotent and leaves nothing behind.

    A runtime that cannot read the sandbox's cgroup from outside (a pod on another node) gives its
    sandbox an attribute `inside`, a tracker made by the factory its caller hands it (kit/run/runner.py
    passes kit.measure.inside.InsideTracker: a runtime imports neither kit.measure.inside nor the protocol), and
    answers `stats()` with `self.inside.stats()`: the supervisor feeds that tracker the worker's own
    samples."""

    stdout: IO[str]
    notes: dict[str, str]

    def poll(self) -> int | None: ...

    def stats(self) -> CgroupStats: ...

    def pids(self) -> list[int]: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...

    def stderr_tail(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What differs between runtimes, said once by each runtime (its class attribute `capabilities`):
    the plan, the runner, the builds and the CLI ask these, never a runtime's name, so that a new
    runtime is its own module plus a line in the registry (kit/runtimes/__init__.py)."""

    # Sandboxes run on this machine: its CPUs, load and contention are theirs (the GIL probe, the
    # contention figures, --cpuset, and --cpus bounded by this machine's CPUs). False: another node's.
    local: bool = True
    # The sandbox reads the host's inputs and writes its outputs to host paths, which the controller
    # then verifies (--source, --output-dir, --skip-current). False: it makes its inputs from the recipe
    # in its spec (SandboxSpec.remote_inputs, checked by `Runtime.recipe_problem`) and its outputs stay with it.
    shares_files: bool = True
    # Memory and CPU figures come from the worker's own samples of its cgroup (the sandbox's `inside`
    # tracker), not from the controller reading the sandbox from outside.
    figures_inside: bool = False
    # The worker runs from the worker image (its Python, OpenCV, free-threaded CPython and Go
    # workers), so the host's builds (Go, free-threaded CPython, the distribution's OpenCV) do not apply.
    image: bool = False
    # The image is in this machine's engine, so its labels say which programs it carries. False with
    # `image`: a registry's image, not inspectable from here (the Dockerfile builds every program).
    image_local: bool = False
    # Cells may run at once (--parallel), each sandbox on a node of its own.
    parallel_cells: bool = False
    # Sandboxes are groups under this machine's cgroup tree (root, a writable cgroupfs): `kit doctor`'s
    # cgroup checks apply, and killed runs can leave groups behind (kit/runtimes/owners.py).
    cgroup_host: bool = False
    # `kit run --runtime NAME` offers it. False: a runtime for tests (no caps, no OOM kills).
    offered: bool = True


class Runtime(Protocol):
    name: str
    capabilities: ClassVar[Capabilities]

    @classmethod
    def create(cls, setup: Setup) -> Runtime:
        """A runtime made from what the caller hands every runtime (`select()` calls this)."""
        ...

    def available(self) -> str | None:
        """None when sandboxes can be made here; otherwise why not and how to fix it."""
        ...

    def start(self, spec: SandboxSpec) -> Sandbox: ...

    def describe(self) -> dict[str, Any]:
        """What results.json records about this runtime (cgroup version, engine, image)."""
        ...

    def cleanup(self) -> list[str]:
        """Remove every sandbox this runtime made and still holds, and the empty parents they were
        made in (the run ends, however it ends); what could not be removed, with how to remove it."""
        ...

    def leftovers(self) -> list[str]:
        """Sandboxes that killed runs left behind here (their controller is gone), one line each:
        said before a run; `kit doctor --clean` removes them."""
        ...

    def recipe_problem(self, recipe: dict[str, str]) -> str | None:
        """Why the inputs' recipe cannot travel in a sandbox's spec (too big), or None; only a
        runtime whose sandboxes do not share files (`capabilities.shares_files` False) reads it."""
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
