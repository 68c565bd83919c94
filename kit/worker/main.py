"""Inside the sandbox: run one Python strategy over one workload and report progress on stdout.

Knows nothing of cgroups, Docker or Prometheus: it reads a manifest, writes outputs, prints
JSON lines (kit/worker/protocol.py). Its exit code is 0 when every item was attempted. The sandbox runs
it as `python -m kit.worker ...`: argparse only, so nothing of the controller (typer, rich, the
CLI) is loaded into the sandbox or counted against its memory cap.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from kit.worker.programs import DEFAULT_CHUNKSIZE, DEFAULT_START_METHOD, DEFAULT_WORKLOAD
from kit.worker.protocol import DoneEvent, Event, ItemEvent, StartEvent, format_event, read_manifest
from kit.worker.sampler import DEFAULT_SAMPLE_INTERVAL_MS, MAX_SAMPLE_INTERVAL_MS, start_sampler
from kit.worker.strategies.base import Strategy, StrategyOptions
from kit.worker.workloads.base import Item
from kit.worker.workloads.geometry import DEFAULT_LIBRARY, LIBRARIES


def concurrency_info(strategy: str, workers: int, start_method: str, workload: str = DEFAULT_WORKLOAD,
                     chunksize: int = DEFAULT_CHUNKSIZE, library: str = DEFAULT_LIBRARY) -> dict[str, object]:
    """What decides parallelism inside this worker, recorded in results.json."""
    from kit.worker.programs import program

    entry = program(strategy)
    threads: int | None = None
    images: dict[str, str | None] = {}
    if workload == "images":  # the task workloads never load an image library (nor pay for its memory)
        from kit.worker.workloads import library_info

        images = library_info(library)
        if library == "opencv":   # Pillow has no thread pool of its own: one thread per item
            import cv2

            cv2.setNumThreads(1)
            threads = cv2.getNumThreads()
    return {
        **images,
        "language": "python",
        "python": sys.version.split()[0],
        **interpreter_info(),
        "opencv_threads_per_worker": threads,
        "start_method": start_method if entry.process_workers else None,
        "chunksize": chunksize if entry.chunks else None,
        "workers": workers,
        "cpus_allowed": cpus_allowed(),
        "allocator": allocator_settings(),
    }


def allocator_settings() -> dict[str, str]:
    """The glibc malloc settings this worker runs with, as its environment says (the sandbox sets
    kit.worker.programs.PYTHON_ALLOCATOR_ENV; {} when a worker runs without them)."""
    from kit.worker.programs import ALLOCATOR_VARIABLES

    return {key: os.environ[key] for key in ALLOCATOR_VARIABLES if key in os.environ}


def interpreter_info() -> dict[str, object]:
    """Whether the GIL is on now (importing a C extension not marked free-threading-safe turns it
    back on in a free-threaded build, so this is read after the workload's imports), and what
    the interpreter was built as: `Py_GIL_DISABLED` and its configure arguments; which one it is."""
    import sysconfig

    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    return {"gil_enabled": bool(gil),
            "python_executable": sys.executable,   # the venv's, Debian's /usr/bin/python3 (system OpenCV), ...
            "python_build": {"gil_disabled_build": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
                             "configure_args": sysconfig.get_config_var("CONFIG_ARGS") or ""}}


def gil_refusal(strategy: str, info: dict[str, object]) -> str | None:
    """A free-threaded program measures threads without the GIL: a run with the GIL on would
    measure the GIL build again under another name, so the worker refuses before its first item."""
    from kit.worker.programs import BY_NAME

    entry = BY_NAME.get(strategy)
    if entry is None or not entry.free_threaded:
        return None
    build = info.get("python_build")
    if not (isinstance(build, dict) and build.get("gil_disabled_build")):
        return f"{strategy} needs a free-threaded CPython (--disable-gil); {sys.executable} is not one"
    if info.get("gil_enabled"):
        return (f"{strategy}: the free-threaded interpreter runs with the GIL enabled (PYTHON_GIL=1, or a "
                "C extension that is not free-threading-safe was imported); refusing to measure it")
    return None


def cpus_allowed() -> str | None:
    """The CPUs the kernel lets this worker run on (/proc/self/status), e.g. '0-1': a pinned
    sandbox (--cpuset) shows its own list here."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Cpus_allowed_list:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def reject_known_bad(items: list[Item], origin: float, report: Callable[[ItemEvent], None]) -> list[Item]:
    """Report every item the controller judged bad as failed, at no cost, before any pool starts;
    return the good ones, which alone go to the strategy."""
    now = time.monotonic() - origin
    for item in items:
        if item.problem is not None:
            report(ItemEvent(index=item.index, name=item.name, ok=False, start=now, end=now,
                             reason=item.problem, rejected=True))
    return [item for item in items if item.problem is None]


def strategy_runner(strategy: str) -> Strategy | None:
    """The registry's Python entry point of `strategy` (kit/worker/programs.py), imported only when run."""
    import importlib

    from kit.worker.programs import BY_NAME

    entry = BY_NAME.get(strategy)
    if entry is None or entry.language != "python" or not entry.entry:
        return None
    module, function = entry.entry.split(":")
    run: Strategy = getattr(importlib.import_module(f"kit.worker.strategies.{module}"), function)
    return run


@functools.cache
def output_lock() -> threading.Lock:
    """The process's one lock around event lines on stdout, registered with fork once. A process pool
    forks while the sampler thread may be writing: fork only between two lines, so no child inherits
    a held lock or half a line in its copy of stdout's buffer."""
    lock = threading.Lock()
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(before=lock.acquire, after_in_parent=lock.release, after_in_child=lock.release)
    return lock


def run_worker(strategy: str, workload: str, manifest: Path, input_root: Path, output_dir: Path,
               workers: int, start_method: str, chunksize: int = 1, library: str = "opencv",
               sample_interval_ms: int = DEFAULT_SAMPLE_INTERVAL_MS) -> int:
    """The body of `python -m kit.worker`; returns the process exit code."""
    origin = time.monotonic()
    from kit.worker.workloads import workload_for

    run = strategy_runner(strategy)
    if run is None:
        print(f"kit worker: unknown Python strategy {strategy!r}", file=sys.stderr)
        return 2
    # A free-threaded program whose GIL is on is refused before anything starts (no sample, no item).
    info = concurrency_info(strategy, workers, start_method, workload, chunksize, library)
    if refusal := gil_refusal(strategy, info):
        print(f"kit worker: {refusal}", file=sys.stderr)
        return 2
    items = read_manifest(manifest, input_root, output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    lock = output_lock()
    counts = {"ok": 0, "failed": 0}

    def emit(event: Event) -> None:
        with lock:
            sys.stdout.write(format_event(event) + "\n")
            sys.stdout.flush()

    sampler = start_sampler(sample_interval_ms, origin, emit)

    def report(event: ItemEvent) -> None:
        counts["ok" if event.ok else "failed"] += 1
        emit(event)

    options = StrategyOptions(workers=workers, start_method=start_method, origin=origin, chunksize=chunksize,
                              library=library)
    try:
        # The session (payload string, io server) is made before the first item and closed after
        # the last, so its cost stays out of the work time; what it cost goes into the start event.
        with workload_for(workload, library).session(items) as session:
            items = [replace(item, argument=session.argument) for item in items]
            if session.notes:
                info["workload_session"] = session.notes
            emit(StartEvent(pid=os.getpid(), workers=workers, concurrency=info))
            good = reject_known_bad(items, origin, report)
            run(good, workload, options, report)
    except Exception as exc:  # a broken pool (a killed process) ends the worker, not the kit
        print(f"kit worker: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        if sampler is not None:
            sampler.stop()   # the last sample, after the work and before `done`
    emit(DoneEvent(items_ok=counts["ok"], items_failed=counts["failed"]))
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m kit.worker --strategy NAME --manifest FILE --input-root DIR --output-dir DIR ...`"""
    parser = argparse.ArgumentParser(prog="kit.worker", description="kit's worker (inside a sandbox)")
    parser.add_argument("--strategy", required=True)
    parser.add_argument("--manifest", required=True, type=Path)
    parser.add_argument("--input-root", required=True, type=Path)
    parser.add_argument("--output-dir", required=True, type=Path)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--workload", default=DEFAULT_WORKLOAD)
    parser.add_argument("--start-method", default=DEFAULT_START_METHOD)
    parser.add_argument("--chunksize", type=int, default=DEFAULT_CHUNKSIZE)
    parser.add_argument("--library", default=DEFAULT_LIBRARY, choices=LIBRARIES)
    parser.add_argument("--sample-interval-ms", type=int, default=DEFAULT_SAMPLE_INTERVAL_MS,
                        help="read this sandbox's own cgroup this often and report it (0: never)")
    args = parser.parse_args(argv)
    if not 0 <= args.sample_interval_ms <= MAX_SAMPLE_INTERVAL_MS:
        parser.error(f"--sample-interval-ms {args.sample_interval_ms}: must be between 0 and {MAX_SAMPLE_INTERVAL_MS}")
    return run_worker(args.strategy, args.workload, args.manifest, args.input_root, args.output_dir, args.workers,
                      args.start_method, args.chunksize, args.library, args.sample_interval_ms)


if __name__ == "__main__":
    sys.exit(main())
