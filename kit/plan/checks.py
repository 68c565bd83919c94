"""The checks that look at more than one option, panel by panel, and the defaults that depend on
other options. Each refusal is one ConfigError line naming the option, before anything runs."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kit import runtimes
from kit.core.errors import ConfigError
from kit.core.units import MIB, format_bytes
from kit.plan import limits
from kit.plan.parsing import _DNS_LABEL, check_directory, parse_resolution
from kit.worker.programs import START_METHODS
from kit.worker.sampler import MAX_SAMPLE_INTERVAL_MS
from kit.worker.workloads.geometry import LIBRARIES

if TYPE_CHECKING:
    from kit.plan.config import RunConfig

WORKLOADS: tuple[str, ...] = ("images", "pi", "count", "payload", "io")
RUNTIMES: tuple[str, ...] = (runtimes.AUTO, *runtimes.names(offered=True))
DEFAULT_IMAGES = 200
DEFAULT_TASKS = 50                  # seed 001's 50 tasks, for every task workload


def allowed_cpus() -> float:
    """CPUs this process may use: affinity, capped by a cgroup CPU quota when one is set."""
    cpus = float(len(os.sched_getaffinity(0)))
    quota = _cgroup_cpu_quota()
    return min(cpus, quota) if quota else cpus


def _cgroup_cpu_quota() -> float | None:
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 else None
    except (OSError, ValueError):
        return None


def default_items(workload: str) -> int:
    """200 images (the study), 50 tasks (seed 001) for the task workloads."""
    return DEFAULT_IMAGES if workload == "images" else DEFAULT_TASKS


def check(plan: RunConfig, *, check_paths: bool) -> None:
    """Every cross-option check, in --help's panel order."""
    _batch(plan)
    _task_workloads(plan)
    _sandbox(plan)
    _measurement(plan)
    _output(plan, check_paths)
    _kubernetes(plan)


def resolved(plan: RunConfig) -> dict[str, Any]:
    """The fields whose defaults depend on other options: items (by workload, or every --source
    file), workers (the CPUs the run may use, or a sweep's largest count), the source's full path and
    a sweep's caps (no --mem-limit: one uncapped setting)."""
    workers = max(plan.grid_workers) if plan.grid_workers else plan.workers
    return {
        "items": plan.items if plan.items is not None else (None if plan.source else default_items(plan.workload)),
        "workers": workers or max(1, math.floor(plan.cpus if plan.cpus else allowed_cpus())),
        "source": plan.source.resolve() if plan.source else None,
        "grid_memory_limits_bytes": plan.grid_memory_limits_bytes or ((None,) if plan.grid_workers else ()),
    }


def _batch(plan: RunConfig) -> None:
    if plan.workload not in WORKLOADS:
        raise ConfigError(f"unknown workload {plan.workload!r}: choose from {', '.join(WORKLOADS)}")
    if plan.library not in LIBRARIES:
        raise ConfigError(f"unknown library {plan.library!r}: choose from {', '.join(LIBRARIES)}")
    if plan.library != LIBRARIES[0] and plan.workload != "images":
        raise ConfigError(f"--library {plan.library}: only the images workload uses an image library, "
                          f"not {plan.workload}")
    if plan.items is not None and plan.items < 1:
        raise ConfigError(f"--images {plan.items}: must be at least 1")
    if plan.items is not None and plan.items > limits.MAX_ITEMS:
        raise ConfigError(f"--images {plan.items}: at most {limits.MAX_ITEMS:,} (the controller tracks every item "
                          "in memory and 100,000 4K outputs take ~30 GB of disk); split the batch into several runs")
    width, height = parse_resolution(plan.resolution)
    if plan.source is not None and not plan.source.is_dir():
        raise ConfigError(f"--source {plan.source}: not a directory")
    if not 1 <= plan.max_pixels <= limits.MAX_PIXELS_LIMIT:
        raise ConfigError(f"--max-pixels {plan.max_pixels}: must be between 1 and {limits.MAX_PIXELS_LIMIT} "
                          "(JPEG allows at most 65535 x 65535)")
    if plan.workload == "images" and plan.source is None and width * height > plan.max_pixels:
        # every generated input would be a failed item, after minutes (and gigabytes) of making it
        raise ConfigError(f"--resolution {plan.resolution}: {width * height:,} pixels, above --max-pixels "
                          f"{plan.max_pixels:,}; every generated image would be refused as an input")
    if plan.pool_size < 1:
        raise ConfigError(f"--distinct-images {plan.pool_size}: must be at least 1")


def _task_workloads(plan: RunConfig) -> None:
    """The options of the task workloads (seeds 001-004), and --skip-current's needs."""
    from kit.worker.workloads.payload import PAYLOAD_OVERHEAD_BYTES

    if plan.workload != "images" and plan.source is not None:
        raise ConfigError(f"--source: the {plan.workload} workload has tasks, not input files")
    if plan.iterations is not None and plan.iterations < 1:
        raise ConfigError(f"--iterations {plan.iterations}: must be at least 1")
    if plan.count_to < 1:
        raise ConfigError(f"--count-to {plan.count_to}: must be at least 1")
    if not (math.isfinite(plan.io_delay_seconds) and 0 <= plan.io_delay_seconds <= limits.MAX_IO_DELAY_SECONDS):
        raise ConfigError(f"--io-delay {plan.io_delay_seconds}: must be between 0 and 60 seconds")
    if plan.chunksize < 1:
        raise ConfigError(f"--chunksize {plan.chunksize}: must be at least 1")
    if plan.skip_current and plan.workload != "images":
        raise ConfigError(f"--skip-current: only the images workload has outputs to keep, not {plan.workload}")
    if plan.skip_current and plan.output_dir is None:
        raise ConfigError("--skip-current needs --output-dir: a stable place where earlier outputs are found")
    smallest_cap = min((cap for cap in plan.caps if cap is not None), default=None)
    size = plan.payload_size_bytes
    if plan.workload == "payload" and smallest_cap is not None and size + PAYLOAD_OVERHEAD_BYTES > smallest_cap:
        raise ConfigError(f"--payload-size {format_bytes(size)} cannot fit the memory cap of "
                          f"{format_bytes(smallest_cap)} (the string plus {PAYLOAD_OVERHEAD_BYTES // MIB} MiB "
                          f"for the worker): raise --mem-limit or lower --payload-size")


def _sandbox(plan: RunConfig) -> None:
    if plan.workers is not None and not 1 <= plan.workers <= limits.MAX_WORKERS:
        raise ConfigError(f"--workers {plan.workers}: must be between 1 and {limits.MAX_WORKERS}")
    if plan.runtime not in RUNTIMES:
        raise ConfigError(f"unknown runtime {plan.runtime!r}: choose from {', '.join(RUNTIMES)}")
    cpus = plan.cpus
    if not _all(plan.runtime, "local"):   # the cluster's nodes, not this machine, bound the CPU cap
        if cpus is not None and not (math.isfinite(cpus) and 0.001 <= cpus <= limits.MAX_WORKERS):
            raise ConfigError(f"--cpus {cpus}: must be between 0.001 and {limits.MAX_WORKERS} cores")
    elif cpus is not None and not (math.isfinite(cpus) and 0.01 <= cpus <= (os.cpu_count() or 1)):
        raise ConfigError(f"--cpus {cpus}: must be between 0.01 and the {os.cpu_count()} CPUs of this machine")
    if plan.start_method not in START_METHODS:
        raise ConfigError(f"unknown start method {plan.start_method!r}: choose from {', '.join(START_METHODS)}")
    if not (plan.timeout_seconds > 0 and plan.stall_seconds > 0):
        raise ConfigError("--timeout: must be a positive number of seconds")
    for option, seconds in (("--timeout", plan.timeout_seconds), ("--stall-timeout", plan.stall_seconds)):
        if not seconds <= limits.MAX_TIMEOUT_SECONDS:  # inf too
            raise ConfigError(f"{option} {seconds:g}: at most {limits.MAX_TIMEOUT_SECONDS} seconds (a week)")


def _measurement(plan: RunConfig) -> None:
    from kit.plan.limits import MIN_SAMPLE_INTERVAL_MS

    if plan.repeat < 1:
        raise ConfigError(f"--repeat {plan.repeat}: must be at least 1")
    if plan.warmup < 0:
        raise ConfigError(f"--warmup {plan.warmup}: must be 0 or more")
    for option, count in (("--repeat", plan.repeat), ("--warmup", plan.warmup)):
        if count > limits.MAX_REPEAT:
            raise ConfigError(f"{option} {count}: at most {limits.MAX_REPEAT:,} (every sandbox of the plan is "
                              "listed before the first starts); split the work into several runs")
    if plan.cpuset is not None and plan.cpuset != "auto":
        from kit.measure.cpuset import plan as plan_cpuset

        plan_cpuset(plan.cpuset, 1)   # a malformed list, or CPUs this run may not use: a usage error now
    if not 0 <= plan.retry_contended <= limits.MAX_RETRIES:
        raise ConfigError(f"--retry-contended {plan.retry_contended}: must be between 0 and {limits.MAX_RETRIES}")
    interval = plan.sample_interval_ms
    if interval != 0 and not MIN_SAMPLE_INTERVAL_MS <= interval <= MAX_SAMPLE_INTERVAL_MS:
        raise ConfigError(f"--sample-interval-ms {interval}: 0 (no inside samples) or between "
                          f"{MIN_SAMPLE_INTERVAL_MS} and {MAX_SAMPLE_INTERVAL_MS}")


def _output(plan: RunConfig, check_paths: bool) -> None:
    if check_paths:  # `kit data` and `kit manifests` write no run directory
        check_directory("--out", plan.out_dir)
        if plan.output_dir is not None:
            check_directory("--output-dir", plan.output_dir)
    if not 0 <= plan.metrics_port <= 65535:
        raise ConfigError(f"--metrics-port {plan.metrics_port}: must be between 0 and 65535")


def _kubernetes(plan: RunConfig) -> None:
    """--namespace, --image, --pending-timeout, --parallel; and what a pod on another node cannot do."""
    if not 1 <= plan.parallel <= limits.MAX_PARALLEL:
        raise ConfigError(f"--parallel {plan.parallel}: must be between 1 and {limits.MAX_PARALLEL}")
    if plan.parallel > 1 and not _all(plan.runtime, "parallel_cells"):
        raise ConfigError(f"--parallel {plan.parallel}: only --runtime kubernetes runs cells at once (each on its "
                          "own node); on one machine they would disturb each other's figures")
    if not _DNS_LABEL.fullmatch(plan.namespace):
        raise ConfigError(f"--namespace {plan.namespace!r}: not a Kubernetes namespace name (lower-case letters, "
                          "digits and '-', at most 63)")
    if plan.image is not None and (not plan.image.strip() or any(c.isspace() for c in plan.image)):
        raise ConfigError(f"--image {plan.image!r}: give an image reference such as "
                          "registry.example/kit-worker:0.1.0")
    pending = plan.pending_timeout_seconds
    if not (math.isfinite(pending) and 0 < pending <= limits.MAX_TIMEOUT_SECONDS):
        raise ConfigError(f"--pending-timeout {pending:g}: must be a positive number of seconds, "
                          f"at most {limits.MAX_TIMEOUT_SECONDS}")
    for option, given, needs in (("--source", plan.source is not None, "shares_files"),
                                 ("--output-dir", plan.output_dir is not None, "shares_files"),
                                 ("--skip-current", plan.skip_current, "shares_files"),
                                 ("--cpuset", plan.cpuset is not None, "local")):
        if given and not _all(plan.runtime, needs):
            raise ConfigError(f"{option} cannot be used with --runtime {plan.runtime}: a pod on another node "
                              "sees none of this machine's files or CPUs (its inputs are generated in the pod)")


def _all(runtime: str, capability: str) -> bool:
    """Whether every runtime `--runtime` may turn out to be (auto: docker or cgroup) has the capability
    (kit/runtimes/base.py Capabilities): decided before one is chosen, without asking an engine."""
    return all(getattr(found, capability) for found in runtimes.candidates(runtime))
