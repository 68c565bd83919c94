"""Inside the sandbox: run one Python strategy over one workload and report progress on stdout.

Knows nothing of cgroups, Docker or Prometheus: it reads a manifest, writes outputs, prints
JSON lines (kit/protocol.py). Its exit code is 0 when every item was attempted.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from kit.protocol import DoneEvent, Event, ItemEvent, StartEvent, format_event, read_manifest
from kit.strategies.base import StrategyOptions


def concurrency_info(strategy: str, workers: int, start_method: str) -> dict[str, object]:
    """What decides parallelism inside this worker, recorded in results.json."""
    import cv2

    cv2.setNumThreads(1)
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    return {
        "language": "python",
        "python": sys.version.split()[0],
        "gil_enabled": bool(gil),
        "opencv_threads_per_worker": cv2.getNumThreads(),
        "start_method": start_method if strategy == "python-processes" else None,
        "workers": workers,
    }


def run_worker(strategy: str, workload: str, manifest: Path, input_root: Path, output_dir: Path,
               workers: int, start_method: str) -> int:
    """The body of `kit worker`; returns the process exit code."""
    origin = time.monotonic()
    from kit.strategies import processes, sequential, threads

    runners = {"python-sequential": sequential.run, "python-threads": threads.run,
               "python-processes": processes.run}
    if strategy not in runners:
        print(f"kit worker: unknown Python strategy {strategy!r}", file=sys.stderr)
        return 2
    items = read_manifest(manifest, input_root, output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()
    counts = {"ok": 0, "failed": 0}

    def emit(event: Event) -> None:
        with lock:
            sys.stdout.write(format_event(event) + "\n")
            sys.stdout.flush()

    def report(event: ItemEvent) -> None:
        counts["ok" if event.ok else "failed"] += 1
        emit(event)

    emit(StartEvent(pid=os.getpid(), workers=workers,
                    concurrency=concurrency_info(strategy, workers, start_method)))
    options = StrategyOptions(workers=workers, start_method=start_method, origin=origin)
    try:
        runners[strategy](items, workload, options, report)
    except Exception as exc:  # a broken pool (a killed process) ends the worker, not the kit
        print(f"kit worker: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    emit(DoneEvent(items_ok=counts["ok"], items_failed=counts["failed"]))
    return 0
