"""Seed 001's CPU-bound task: Viète's product for pi in pure Python, `iterations` terms per task.

The default iteration count is calibrated by the controller once per machine and Python (outside
any timing, cached) so that one task takes about CALIBRATION_TARGET_SECONDS of CPU here. The probe
times the calibrating thread's CPU, not the wall clock: a calibration taken while the machine is busy
would otherwise give shorter tasks for good, and another language's calibration, taken at a quiet
moment, would no longer match it (seed 001 gave each language the same task time).
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from kit.worker.workloads.base import Item, Session, no_session, write_result

CALIBRATION_TARGET_SECONDS = 0.5
PROBE_SECONDS = 0.2
CALIBRATION_CLOCK = "thread CPU time"   # part of the cache key: a wall-clock calibration is not reused


def calc_pi(iterations: int) -> float:
    """Seed 001's calcPi, term for term (its loop is the work being measured)."""
    numerator = 0.0
    pi = 1.0
    for _ in range(1, iterations + 1):
        numerator = math.sqrt(2.0 + numerator)
        pi *= numerator / 2.0
    return (1.0 / pi) * 2.0


def error_bound(iterations: int) -> float:
    """How far n terms may be from math.pi: the product's truncation error is below pi * 4^-n
    (each term halves the angle), plus float rounding once it has converged."""
    return math.pi * 4.0 ** -min(iterations, 200) + 1e-12


def check(task: Mapping[str, Any], name: str, text: str) -> str | None:
    """None when the task's output is pi within the bound of its iteration count."""
    try:
        value = float(text)
    except ValueError:
        return f"not a number: {text[:40]!r}"
    bound = error_bound(int(task["iterations"]))
    return None if abs(value - math.pi) <= bound else f"{value!r} is not within {bound:.3g} of pi"


class PiWorkload:
    name = "pi"

    def setup(self) -> None:
        pass

    def process(self, item: Item) -> None:
        write_result(item, repr(calc_pi(int(item.task["iterations"]))))

    def session(self, items: Sequence[Item]) -> AbstractContextManager[Session]:
        return no_session(items)


def calibrate(target_seconds: float = CALIBRATION_TARGET_SECONDS) -> dict[str, Any]:
    """Iterations for one task of about `target_seconds` of CPU: double until a run takes
    PROBE_SECONDS of this thread's CPU, take the median of three runs there (short bursts run
    faster than a sustained loop on a boosting CPU, so neither the fastest nor a tiny probe),
    scale linearly. `cpu_share` is the probes' CPU over their wall time: well under 1, the machine
    was busy (the CPU figures still hold; a task will take longer than its CPU seconds there)."""
    iterations = 20_000
    while _timed(iterations)[0] < PROBE_SECONDS:
        iterations *= 2
    runs = [_timed(iterations) for _ in range(3)]
    typical = statistics.median(cpu for cpu, _ in runs)
    chosen = max(1000, round(iterations * target_seconds / typical, -3))
    return {"iterations": int(chosen), "target_seconds": target_seconds, "clock": CALIBRATION_CLOCK,
            "probe_iterations": iterations, "probe_seconds": round(typical, 4),
            "seconds_per_iteration": typical / iterations,
            "cpu_share": round(sum(cpu for cpu, _ in runs) / sum(wall for _, wall in runs), 3),
            "python": sys.version.split()[0], "cpu": cpu_model(), "measured_at": time.time()}


def _timed(iterations: int) -> tuple[float, float]:
    """(this thread's CPU seconds, wall seconds) of one calc_pi(iterations)."""
    cpu, wall = time.thread_time(), time.perf_counter()
    calc_pi(iterations)
    return time.thread_time() - cpu, time.perf_counter() - wall


def cpu_model() -> str:
    """The CPU's model name (a calibration is valid for one model)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def calibrated(cache_dir: Path) -> dict[str, Any]:
    """The cached calibration for this CPU model and Python, measured on first use."""
    identity = f"{cpu_model()}|{sys.version}|{CALIBRATION_TARGET_SECONDS}|{PROBE_SECONDS}|{CALIBRATION_CLOCK}"
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    path = cache_dir / "calibration" / f"pi-{key}.json"
    try:
        saved: dict[str, Any] = json.loads(path.read_text())
        return {**saved, "cached": True}
    except (OSError, ValueError):
        pass
    result = calibrate()
    from kit.core.files import atomic_write

    atomic_write(path, json.dumps(result))
    return {**result, "cached": False}
