"""The run plan: every option declared once, as a field of a frozen dataclass, and validated once.

A field declared with `option(...)` is a command-line option of the commands it names: its default
here is the only one (the CLI's parameters come from it, kit/cli/params.py). `build()` turns what a
user typed into a RunConfig and refuses bad values with a ConfigError before anything runs, for
run, sweep, floor and manifests alike (the cross-option checks: kit/plan/checks.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Optional

from kit.core.errors import ConfigError
from kit.core.units import Bytes, Seconds, parse_size
from kit.measure.contention import CONTENTION_THRESHOLD
from kit.plan import checks
from kit.plan.checks import DEFAULT_IMAGES, WORKLOADS, allowed_cpus, default_items
from kit.plan.checks import RUNTIMES as RUNTIMES
from kit.plan.input_check import DEFAULT_MAX_PIXELS
from kit.plan.limits import MAX_ITEMS as MAX_ITEMS
from kit.plan.limits import MAX_MEMORY_LIMIT as MAX_MEMORY_LIMIT
from kit.plan.limits import MIN_MEMORY_LIMIT as MIN_MEMORY_LIMIT
from kit.plan.options import ADVANCED, BATCH, KUBERNETES, MEASUREMENT, OUTPUT, RUNS, SANDBOX, declared, option
from kit.plan.parsing import (
    RESOLUTIONS as RESOLUTIONS,
)
from kit.plan.parsing import (
    align_caps,
    parse_cap,
    parse_caps_list,
    parse_linger,
    parse_memory_limit,
    parse_payload_size,
    parse_pushgateway,
    parse_resolution,
    parse_selector,
    parse_strategies,
    parse_workers_list,
)
from kit.worker.programs import DEFAULT_CHUNKSIZE, DEFAULT_START_METHOD, DEFAULT_WORKLOAD, NAMES
from kit.worker.sampler import DEFAULT_SAMPLE_INTERVAL_MS
from kit.worker.workloads.geometry import DEFAULT_LIBRARY
from kit.worker.workloads.payload import DEFAULT_PAYLOAD_BYTES

DEFAULT_RESOLUTION = "4k"
DEFAULT_METRICS_PORT = 9464
DEFAULT_SWEEP_WORKERS = "1,2,4"
DOCTOR = ("doctor",)
RUNS_AND_DOCTOR = (*RUNS, "doctor")
ONE_CELL = ("run", "floor", "manifests", "doctor")   # a sweep has lists instead (grid_*)
NOT_FLOOR = ("run", "sweep", "manifests")           # kit floor bisects images under caps it picks


def default_cache_dir() -> Path:
    """Where generated images and reference outputs are kept between runs."""
    base = os.environ.get("KIT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kit")
    return Path(base)




@dataclass(frozen=True, slots=True)
class FloorSearch:
    """`kit floor`'s bisection: the caps it searches between, its step and how it confirms."""

    low_bytes: Bytes = option(32 * 2**20, "--low", name="low", typed=str, typed_default="32m", parse=parse_cap,
                              help="Smallest cap to try, e.g. 64m (expected to fail).", panel=SANDBOX,
                              commands=("floor",))
    high_bytes: Bytes = option(4 * 2**30, "--high", name="high", typed=str, typed_default="4g", parse=parse_cap,
                               help="Largest cap to try, e.g. 4g (expected to pass).", panel=SANDBOX,
                               commands=("floor",))
    step_bytes: Bytes = option(8 * 2**20, "--step", name="step", typed=str, typed_default="8m", parse=parse_size,
                               help="Resolution of the answer.", panel=SANDBOX, commands=("floor",))
    confirmations: int = option(3, help="Runs that must all complete for a cap to pass.", panel=MEASUREMENT,
                                commands=("floor",))
    cold: bool = option(False, help="Drop the page cache before every run (root): libraries are then charged to "
                                    "the sandbox.", panel=MEASUREMENT, commands=("floor",))


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything a run needs to know, validated; recorded as `config` in results.json. The fields
    declared with option() are the commands' options, in --help's order within each panel."""

    # Batch
    strategies: tuple[str, ...] = option(
        (), "--strategy", "-s", typed=Optional[list[str]], typed_default=None, parse=parse_strategies,  # noqa: UP045
        help=f"Strategy to run (repeatable): {', '.join(NAMES)} (default: every one available here).",
        panel=BATCH)
    workload: str = option(DEFAULT_WORKLOAD, panel=BATCH,
                           help="What each item is: images, pi, count, payload, io (seeds 001-004).",
                           commands=NOT_FLOOR)
    library: str = option(DEFAULT_LIBRARY, panel=BATCH,
                          help="images: the Python strategies' image library, opencv or pillow (Pillow: BOX "
                               "resize, verified by PSNR against OpenCV's outputs; Go keeps its own).")
    items: int | None = option(DEFAULT_IMAGES, "--images", "--items", typed_default=None, panel=BATCH,
                               help="Items in the batch (default: 200 images, 50 tasks; with --source, every file).")
    resolution: str = option(DEFAULT_RESOLUTION, panel=BATCH,
                             help="Generated image size: 4k, 1080p, 720p or WxH in pixels.")
    source: Path | None = option(None, panel=BATCH, help="Use the JPEG files in this directory instead of generated "
                                                         "images (default: generated).")
    iterations: int | None = option(None, panel=BATCH, commands=NOT_FLOOR,
                                    help="pi: Viete terms per task (default: calibrated per language to ~0.5 CPU "
                                         "seconds a task here).")
    count_to: int = option(1_000_000, panel=BATCH, commands=NOT_FLOOR,   # x 50 tasks: seed 002's 50 million
                           help="count: each task counts to this.")
    payload_size_bytes: Bytes = option(
        DEFAULT_PAYLOAD_BYTES, name="payload_size", typed=Optional[str], typed_default=None,  # noqa: UP045
        parse=parse_payload_size, panel=BATCH,
        help="payload: the string every task receives, in characters, e.g. 100m or 100000000 (default: 10^8).",
        commands=NOT_FLOOR)
    io_delay_seconds: Seconds = option(0.05, name="io_delay", panel=BATCH,
                                       help="io: seconds the loopback server waits before answering.",
                                       commands=NOT_FLOOR)
    # Sandbox and limits
    workers: int = option(0, typed=Optional[int], typed_default=None, panel=SANDBOX,  # noqa: UP045
                          commands=ONE_CELL, help="Workers per strategy (default: the CPUs the run may use).")
    grid_workers: tuple[int, ...] = option(
        (), "--workers", name="workers_list", typed=str, typed_default=DEFAULT_SWEEP_WORKERS,
        parse=parse_workers_list, panel=SANDBOX, commands=("sweep",),
        help="Worker counts, comma-separated, e.g. 1,2,4,8,12.")
    memory_limit_bytes: Bytes | None = option(
        None, "--mem-limit", name="mem_limit", typed=Optional[str], parse=parse_memory_limit,  # noqa: UP045
        panel=SANDBOX, commands=("run", "manifests", "doctor"),
        help="Memory cap per sandbox in bytes or with a binary unit, e.g. 512m, 1g, 1Gi (default: none).")
    grid_memory_limits_bytes: tuple[Bytes | None, ...] = option(
        (), "--mem-limit", name="mem_limit_list", typed=Optional[str], typed_default=None,  # noqa: UP045
        parse=parse_caps_list, panel=SANDBOX, commands=("sweep",),
        help="Memory caps, comma-separated, e.g. 256m,512m,1g; 'none' for no cap (default: none).")
    cpus: float | None = option(None, panel=SANDBOX, commands=RUNS_AND_DOCTOR,
                                help="CPU cap per sandbox in cores (default: none).")
    runtime: str = option("auto", panel=SANDBOX, commands=RUNS_AND_DOCTOR,
                          help="auto, cgroup, docker or kubernetes (the cluster of your kubeconfig).")
    timeout_seconds: Seconds = option(900.0, name="timeout", panel=SANDBOX,
                                      help="Seconds per sandbox before it is stopped.")
    stall_seconds: Seconds = option(120.0, "--stall-timeout", name="stall", panel=SANDBOX, hidden=True,
                                    help="Seconds without a finished item before a sandbox counts as stalled.",
                                    commands=NOT_FLOOR)
    # Measurement
    repeat: int = option(1, panel=MEASUREMENT, help="Measured repetitions of every strategy (every cell of a "
                                                    "sweep).", commands=NOT_FLOOR)
    warmup: int = option(0, panel=MEASUREMENT, help="Warmup rounds before measuring (recorded, left out of "
                                                    "summaries).", commands=NOT_FLOOR)
    retry_contended: int = option(0, panel=MEASUREMENT, help="Re-run a sandbox whose machine was busy (contended) up "
                                                             "to N times and keep the quiet attempt.")
    cpuset: str | None = option(None, panel=MEASUREMENT,
                                help="Pin each sandbox to CPUs of its own and the kit to the others: auto (whole "
                                     "cores, when the machine has enough) or a list such as 2-5 (default: no "
                                     "pinning).")
    # Output and metrics
    out_dir: Path = option(Path("reports"), "--out", name="out", panel=OUTPUT,
                           help="Where run directories are written.")
    output_dir: Path | None = option(None, panel=OUTPUT, help="Stable place for outputs (default: inside the run "
                                                              "directory).", commands=NOT_FLOOR)
    skip_current: bool = option(False, panel=OUTPUT, commands=("run", "manifests"),
                                help="images: skip items whose output in --output-dir is newer than the source "
                                     "(seed 004).")
    metrics_port: int = option(DEFAULT_METRICS_PORT, panel=OUTPUT, commands=RUNS_AND_DOCTOR,
                               help="Prometheus metrics port; 0 disables.")
    metrics_host: str = option("127.0.0.1", panel=OUTPUT,
                               help="Address the metrics endpoint binds (0.0.0.0 for Docker Desktop).")
    metrics_linger_seconds: Seconds = option(10.0, name="metrics_linger", parse=parse_linger, panel=OUTPUT,
                                             help="Seconds the metrics endpoint stays up after the run, for a last "
                                                  "scrape.")
    pushgateway: str | None = option(None, typed=Optional[str], parse=parse_pushgateway, panel=OUTPUT,  # noqa: UP045
                                     envvar="KIT_PUSHGATEWAY",
                                     help="Push the run's metrics to this Pushgateway while it runs and at its end, "
                                          "e.g. http://127.0.0.1:9091 (default: none).")
    # Kubernetes
    namespace: str = option("default", panel=KUBERNETES, commands=RUNS_AND_DOCTOR,
                            help="kubernetes: the namespace the Jobs are made in.")
    image: str | None = option(None, panel=KUBERNETES, commands=RUNS_AND_DOCTOR,
                               help="kubernetes: the worker image the cluster pulls (build it, tag it and push it "
                                    "to your registry) (default: kit-worker:<kit version>).")
    node_selector: tuple[tuple[str, str], ...] = option(
        (), typed=Optional[list[str]], typed_default=None, parse=parse_selector, panel=KUBERNETES,  # noqa: UP045
        commands=RUNS_AND_DOCTOR,
        help="kubernetes: key=value a node must carry as a label (repeatable; default: any node).")
    pending_timeout_seconds: Seconds = option(
        300.0, name="pending_timeout", panel=KUBERNETES, commands=RUNS_AND_DOCTOR,
        help="kubernetes: seconds a pod may wait for a node or its image before its record is failed with the "
             "scheduler's or kubelet's reason.")
    parallel: int = option(1, panel=KUBERNETES, commands=("sweep",),
                           help="kubernetes: cells run at once, each on its own node (pod anti-affinity); other "
                                "runtimes run one at a time.")
    # Advanced
    start_method: str = option(DEFAULT_START_METHOD, panel=ADVANCED,
                               help="Process strategies' start method (python-processes, pools, asyncio): fork, "
                                    "spawn, forkserver.")
    chunksize: int = option(DEFAULT_CHUNKSIZE, panel=ADVANCED,
                            help="python-pool-imap(-unordered): tasks per pool message.", commands=NOT_FLOOR)
    pool_size: int = option(16, "--distinct-images", panel=ADVANCED,
                            help="Distinct generated images, reused to reach --images.")
    max_pixels: int = option(DEFAULT_MAX_PIXELS, panel=ADVANCED,
                             help="images: inputs whose JPEG header declares more pixels are failed items, never "
                                  "decoded (decompression bombs).")
    sample_interval_ms: int = option(
        DEFAULT_SAMPLE_INTERVAL_MS, "--sample-interval-ms", panel=ADVANCED,
        help="How often, in milliseconds, each worker reads its own cgroup from inside the sandbox and reports it "
             "(the record's `inside` figures); 0 turns it off.")
    # Not options: resolved by build()
    width: int = RESOLUTIONS[DEFAULT_RESOLUTION][0]
    height: int = RESOLUTIONS[DEFAULT_RESOLUTION][1]
    quality: int = 90                           # JPEG quality of generated inputs
    cache_dir: Path = field(default_factory=default_cache_dir)
    contention_threshold: float = CONTENTION_THRESHOLD
    floor: FloorSearch | None = None            # kit floor: the caps it bisects between

    @property
    def is_grid(self) -> bool:
        return bool(self.grid_workers or self.grid_memory_limits_bytes)

    @property
    def caps(self) -> tuple[Bytes | None, ...]:
        """Every memory cap a sandbox of this plan may get (a sweep's grid, a floor's bounds)."""
        if self.floor is not None:
            return (self.floor.low_bytes, self.floor.high_bytes)
        return self.grid_memory_limits_bytes or (self.memory_limit_bytes,)

    def to_json(self) -> dict[str, object]:
        """The config as recorded in results.json (paths as strings)."""
        from dataclasses import asdict

        def plain(value: object) -> object:
            if isinstance(value, Path):
                return str(value)
            if isinstance(value, FloorSearch):
                return asdict(value)
            return list(value) if isinstance(value, tuple) else value

        return {item.name: plain(getattr(self, item.name)) for item in fields(self)}


def typed_values(plan_type: type, given: dict[str, Any]) -> dict[str, Any]:
    """The plan's field values from what was typed (by option name), through each declaration's
    parse; an option not given keeps the field's default."""
    values: dict[str, Any] = {}
    known = set()
    for entry in declared(plan_type):
        known.add(entry.option.name)
        if entry.option.name in given:
            value = given[entry.option.name]
            values[entry.field] = entry.option.parse(value) if entry.option.parse else value
    unknown = set(given) - known
    if unknown:
        raise TypeError(f"not options of {plan_type.__name__}: {sorted(unknown)}")
    return values


def floor_search(**given: Any) -> FloorSearch:
    """kit floor's bounds, step and confirmations, parsed and aligned to the step."""
    search = FloorSearch(**typed_values(FloorSearch, given))
    if search.confirmations < 1:
        raise ConfigError(f"--confirmations {search.confirmations}: must be at least 1")
    low, high = align_caps(search.low_bytes, search.high_bytes, search.step_bytes)
    return replace(search, low_bytes=low, high_bytes=high)


def build(plan_type: type[RunConfig] = RunConfig, *, check_paths: bool = True, cache_dir: Path | None = None,
          floor: FloorSearch | None = None, **given: Any) -> RunConfig:
    """Validate the options of `kit run`, `kit sweep` (`workers_list`, `mem_limit_list`: its grid),
    `kit floor` (`floor`: its bisection) and `kit manifests`, typed by option name, and resolve the
    defaults that depend on other options."""
    values = typed_values(plan_type, given)
    for unresolved in ("items", "workers"):   # resolved below: by workload or --source; by the CPUs here
        values.setdefault(unresolved, None)
    plan = plan_type(**values, cache_dir=cache_dir or default_cache_dir(), floor=floor)
    checks.check(plan, check_paths=check_paths)
    width, height = parse_resolution(plan.resolution)
    return replace(plan, width=width, height=height, **checks.resolved(plan))


def plan_warnings(config: RunConfig) -> list[str]:
    """What is allowed but probably not meant (printed before the run and kept in results.json)."""
    import psutil

    from kit.core.units import format_bytes

    warnings = []
    total = psutil.virtual_memory().total
    if config.memory_limit_bytes is not None and config.memory_limit_bytes > total:
        warnings.append(f"the memory cap {format_bytes(config.memory_limit_bytes)} is more than this machine's "
                        f"{format_bytes(total)} of memory: it will never be reached")
    return warnings



__all__ = ["DEFAULT_IMAGES", "DEFAULT_LIBRARY", "DEFAULT_PAYLOAD_BYTES", "DEFAULT_START_METHOD", "MAX_ITEMS",
           "MAX_MEMORY_LIMIT", "MIN_MEMORY_LIMIT", "RESOLUTIONS", "RUNTIMES", "WORKLOADS", "FloorSearch", "RunConfig",
           "allowed_cpus", "build", "default_cache_dir", "default_items", "floor_search", "parse_caps_list",
           "parse_memory_limit", "parse_pushgateway", "parse_workers_list", "plan_warnings"]
