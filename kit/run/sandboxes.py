"""One cell's sandbox as every runtime (and `kit manifests`) gets it: its name, limits and the
worker's command line, which comes from the program registry (`python -m kit.worker` or a Go binary)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kit.plan.cells import Cell
from kit.plan.config import RunConfig
from kit.runtimes.base import SandboxPaths, SandboxSpec
from kit.worker.programs import Interpreter, program

Command = Callable[[SandboxPaths], list[str]]


def sandbox_spec(run_id: str, cell: Cell, config: RunConfig, manifest: Path, input_root: Path, output_dir: Path,
                 log_dir: Path, cpuset: tuple[int, ...] | None = None,
                 remote_inputs: tuple[dict[str, str], int] | None = None) -> SandboxSpec:
    """One cell's sandbox, as every runtime (and `kit manifests`) gets it."""
    recipe, recipe_memory = remote_inputs or ({}, 0)
    return SandboxSpec(
        name=sandbox_name(run_id, cell), command=worker_command(cell, config), input_root=input_root,
        output_dir=output_dir, manifest=manifest, log_dir=log_dir, memory_limit_bytes=cell.memory_limit_bytes,
        cpus=cell.cpus, pids_max=pids_limit(cell.workers), cpuset=cpuset, workers=cell.workers,
        labels=cell.labels(run_id), remote_inputs=recipe, remote_inputs_memory_bytes=recipe_memory or 256 * 2**20,
        env=program(cell.strategy).env(),
    )


def pids_limit(workers: int) -> int:
    """pids.max counts threads: room for every worker's threads plus the interpreter's own."""
    return 64 + 16 * workers


def worker_command(cell: Cell, config: RunConfig) -> Command:
    """The worker's command line, from the registry: `python -m kit.worker` or a Go binary."""
    from kit.build.availability import host_bin_dir

    entry = program(cell.strategy)
    return entry.command(config.workload, cell.workers, config.start_method, config.chunksize,
                         host_bin_dir(config.cache_dir) if entry.language == "go" else None, config.library,
                         config.sample_interval_ms, _interpreter(cell, config))


def _interpreter(cell: Cell, config: RunConfig) -> Interpreter | None:
    """Another Python than the sandbox's: the free-threaded build, or the distribution's Python
    with its OpenCV for an OpenCV images run (like for like with go-gocv); None: the sandbox's own."""
    entry = program(cell.strategy)
    if entry.free_threaded:
        from kit.build.freethreaded import interpreter as free_threaded

        return free_threaded(config.cache_dir)
    if entry.language == "python" and config.workload == "images" and config.library == "opencv":
        from kit.build.system_opencv import interpreter as system_opencv

        return system_opencv(config.cache_dir)
    return None


def sandbox_name(run_id: str, cell: Cell) -> str:
    """Unique within a run: a sweep runs one strategy at several worker counts and caps."""
    cap = f"-m{cell.memory_limit_bytes // 2**20}" if cell.memory_limit_bytes else ""
    return f"{run_id}-{cell.strategy}-x{cell.workers}{cap}-{'w' if cell.warmup else 'r'}{cell.repetition}"
