"""The machine and software a run happened on, recorded so that results can be compared."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil

import kit
from kit.measure import system


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str | None:
    """The kit's commit when run from a checkout (None from an installed wheel)."""
    root = Path(kit.__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        result = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    return result.stdout.strip() + ("-dirty" if dirty else "")


def go_version() -> str | None:
    try:
        result = subprocess.run(["go", "version"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def cpu_steal_seconds(proc_stat: Path = Path("/proc/stat")) -> float | None:
    """CPU time (all CPUs) a hypervisor gave to other guests since boot; None when unknown.

    Read before and after each sandbox: the difference says whether a noisy neighbour slowed it."""
    from kit.measure.contention import read_counters

    counters = read_counters(None, proc_stat)
    return counters.steal_seconds if counters else None


def capture(runtime_info: dict[str, Any]) -> dict[str, Any]:
    """Everything product.md section 4 lists under `environment`."""
    from kit.worker.workloads.images import opencv_info
    from kit.worker.workloads.images_pillow import pillow_info

    libs = opencv_info()
    pillow = pillow_info()
    return {
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "cpus_allowed": len(os.sched_getaffinity(0)),
        "memory_bytes": psutil.virtual_memory().total,
        "kernel": platform.release(),
        "os": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "cgroup_version": runtime_info.get("cgroup_version"),
        "runtime": runtime_info.get("runtime"),
        "engine_version": runtime_info.get("engine_version"),
        "image_digest": runtime_info.get("image_digest"),
        # docker: the worker image's tag and labels (its own OpenCV / libjpeg-turbo / Python versions)
        "image": runtime_info.get("image"),
        "image_labels": runtime_info.get("image_labels"),
        # a runtime's own section, under its name (kubernetes: the API server's version, namespace and
        # image; each record has its node's kernel, CPUs and kubelet version, environment.sandbox,
        # since every pod may land on another node)
        **{key: value for key, value in runtime_info.items() if key == runtime_info.get("runtime")},
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "opencv": libs["opencv"],
        "libjpeg_turbo": libs["libjpeg"],
        "pillow": pillow["pillow"],            # --library pillow; its own libjpeg-turbo build beside
        "pillow_libjpeg": pillow["libjpeg"],
        "go": go_version(),
        "kit_version": kit.__version__,
        "kit_commit": git_commit(),
        # what skews benchmarks here (governor, turbo, SMT, VM, busy processes): kit/measure/system.py
        "system": system.capture().to_json(),
    }
