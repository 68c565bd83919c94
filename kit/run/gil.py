"""The worker pipeline's GIL-free fraction, measured once per run in its own untimed process
(kit/measure/gil_probe.py), on the Python the workers run and under the same contention watch as a sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from kit.measure.contention import assess, read_counters
from kit.plan.config import RunConfig
from kit.plan.inputs import Batch
from kit.runtimes.base import Capabilities
from kit.worker.programs import PYTHON_ALLOCATOR_ENV, program

GIL_PROBE_INPUTS = 8   # distinct good inputs the probe cycles through


def probe_for_run(batch: Batch, strategies: list[str], runtime: Capabilities, config: RunConfig,
                  phase: Callable[[str], None]) -> dict[str, object] | None:
    """The probe's JSON for a run with Python strategies on images, or None when it says nothing:
    a task workload, no Python worker, or sandboxes on another machine than this one it would measure."""
    if batch.workload != "images" or not any(program(name).language == "python" for name in strategies):
        return None
    if not runtime.local:   # it would measure this machine, not the nodes the sandboxes run on
        return None
    good = [name for name in batch.distinct_inputs if name not in batch.problems][:GIL_PROBE_INPUTS]
    if not good:
        return None
    from kit.measure.gil_probe import skipped

    if (why := skipped()) is not None:   # KIT_GIL_PROBE=off: results.json says so, with no figure
        return {"skipped": why}
    phase("measuring the pipeline's GIL-free fraction (untimed probe)")
    return probe_under_watch(batch.input_root, good, config.library, config.contention_threshold, config.cache_dir)


def probe_gil(input_root: Path, inputs: list[str], library: str = "opencv",
              python: list[str] | None = None) -> dict[str, object]:
    """Run `python -m kit.measure.gil_probe` (a fresh interpreter with no thread of the controller's) on
    `python` (an argv prefix: the Python the workers run, default the controller's), with the
    Python workers' allocator settings, so that it times the pipeline the workers run; its JSON, or
    {"error": why} when it could not run."""
    try:
        done = subprocess.run([*(python or [sys.executable]), "-m", "kit.measure.gil_probe",
                               "--input-root", str(input_root), "--library", library, *inputs],
                              capture_output=True, text=True, timeout=300, check=False,
                              env={**os.environ, **PYTHON_ALLOCATOR_ENV})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": str(exc)}
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]}
    try:
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError) as exc:
        return {"error": f"unreadable probe output: {exc}"}


def probe_under_watch(input_root: Path, inputs: list[str], library: str, threshold: float,
                      cache_dir: Path) -> dict[str, object]:
    """The probe on the Python the workers run (the distribution's OpenCV when they use it), with
    the contention it ran under (as a sandbox's): a probe on a busy machine keeps its number, but the
    report derives no ceiling from it."""
    import resource

    from kit.build.system_opencv import python_argv

    def children_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    cpus = sorted(os.sched_getaffinity(0))
    before, cpu_before, started = read_counters(cpus), children_cpu(), time.monotonic()
    probe = probe_gil(input_root, inputs, library, python_argv(cache_dir) if library == "opencv" else None)
    contention = assess(before, read_counters(cpus), children_cpu() - cpu_before, len(cpus),
                        time.monotonic() - started, threshold)
    if contention is not None and "error" not in probe:
        probe.update(contended=contention.contended, other_cpu_seconds=contention.other_cpu_seconds,
                     steal_seconds=contention.steal_seconds)
    return probe
