"""The run plan: options parsed and validated once, into a frozen dataclass.

Every default lives here, once (the DEFAULT_* names): the dataclass, `build()` and the CLI's
options (kit/plan/options.py) all read them. `build()` refuses bad values with a ConfigError before
anything runs, for run, sweep and floor alike.
"""

from __future__ import annotations

import math
import os
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from kit.core.errors import ConfigError
from kit.core.units import MIB, Bytes, Seconds, parse_size
from kit.measure.contention import CONTENTION_THRESHOLD
from kit.plan.input_check import DEFAULT_MAX_PIXELS as DEFAULT_MAX_PIXELS
from kit.worker.programs import NAMES, START_METHODS
from kit.worker.sampler import DEFAULT_SAMPLE_INTERVAL_MS as DEFAULT_SAMPLE_INTERVAL_MS
from kit.worker.sampler import MAX_SAMPLE_INTERVAL_MS
from kit.worker.workloads.geometry import LIBRARIES

RESOLUTIONS: dict[str, tuple[int, int]] = {"4k": (3840, 2160), "1080p": (1920, 1080), "720p": (1280, 720)}
WORKLOADS: tuple[str, ...] = ("images", "pi", "count", "payload", "io")
DEFAULT_IMAGES = 200
DEFAULT_TASKS = 50                  # seed 001's 50 tasks, for every task workload
DEFAULT_COUNT_TO = 1_000_000        # x 50 tasks = seed 002's count to 50 million
DEFAULT_PAYLOAD_BYTES = 10**8       # seed 001's string of 100 million characters
DEFAULT_IO_DELAY_SECONDS = 0.05
DEFAULT_RESOLUTION = "4k"
DEFAULT_LIBRARY = LIBRARIES[0]               # images: opencv (--library pillow for the Pillow pipeline)
DEFAULT_RUNTIME = "auto"
DEFAULT_START_METHOD = "fork"
DEFAULT_TIMEOUT_SECONDS: Seconds = 900.0
DEFAULT_STALL_SECONDS: Seconds = 120.0       # no item completed for this long: stalled
DEFAULT_OUT_DIR = Path("reports")
DEFAULT_METRICS_PORT = 9464
DEFAULT_POOL_SIZE = 16                      # distinct generated images reused to reach the item count
DEFAULT_SWEEP_WORKERS = "1,2,4"
RUNTIMES: tuple[str, ...] = ("auto", "cgroup", "docker", "kubernetes")
DEFAULT_NAMESPACE = "default"
# kubernetes: a pod not running after this long (no node fits, the image cannot be pulled) is a failed record
DEFAULT_PENDING_TIMEOUT_SECONDS: Seconds = 300.0
MAX_PARALLEL = 256
# Docker refuses caps under 6 MB, and so do we on every runtime, so caps mean the same everywhere.
MIN_MEMORY_LIMIT: Bytes = 6 * MIB
MAX_WORKERS = 1024
MAX_PIXELS_LIMIT = 65535 * 65535   # the largest frame a JPEG header can declare
MIN_SAMPLE_INTERVAL_MS = 10       # the worker's sampler: faster would cost more than it tells
MAX_RETRIES = 10                   # --retry-contended: a machine still busy after 10 re-runs is busy
# The controller keeps every item's manifest entry, digest and progress in memory, and each 4K
# output is ~0.3 MB on disk: 100,000 items is ~30 GB of outputs and hours of work per strategy.
MAX_ITEMS = 100_000
# The largest memory cap the kernel stores (PAGE_COUNTER_MAX pages: LONG_MAX rounded down to
# 4 KiB); a larger value is silently clamped to "no cap", and Docker's API refuses it.
MAX_MEMORY_LIMIT: Bytes = (2**63 - 1) // 4096 * 4096
MAX_TIMEOUT_SECONDS: Seconds = 7 * 24 * 3600   # a week: longer is a typo (or inf), not a plan
# --repeat and --warmup: every sandbox of the plan is listed before the first starts, and 1,000
# repetitions of the nine strategies at the 900 s timeout are already months of work.
MAX_REPEAT = 1000


def default_cache_dir() -> Path:
    """Where generated images and reference outputs are kept between runs."""
    base = os.environ.get("KIT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kit")
    return Path(base)


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


@dataclass(frozen=True, slots=True)
class FloorSearch:
    """`kit floor`'s bisection: the caps it searches between, its step and how it confirms."""

    low_bytes: Bytes
    high_bytes: Bytes
    step_bytes: Bytes
    confirmations: int
    cold: bool = False


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything a run needs to know, validated; recorded as `config` in results.json."""

    strategies: tuple[str, ...] = ()            # empty: every available strategy
    workload: str = "images"
    library: str = DEFAULT_LIBRARY              # images: the Python strategies' pipeline, opencv or pillow
    items: int | None = DEFAULT_IMAGES         # None with --source: every file
    width: int = RESOLUTIONS[DEFAULT_RESOLUTION][0]
    height: int = RESOLUTIONS[DEFAULT_RESOLUTION][1]
    source: Path | None = None
    workers: int = 0                            # 0 until build(): the CPUs the run may use
    memory_limit_bytes: Bytes | None = None     # None: no cap
    cpus: float | None = None                   # CPU cap in cores; None: none
    runtime: str = DEFAULT_RUNTIME
    start_method: str = DEFAULT_START_METHOD
    repeat: int = 1
    warmup: int = 0
    timeout_seconds: Seconds = DEFAULT_TIMEOUT_SECONDS
    stall_seconds: Seconds = DEFAULT_STALL_SECONDS
    out_dir: Path = DEFAULT_OUT_DIR
    output_dir: Path | None = None              # stable outputs directory; default under the run dir
    metrics_port: int = DEFAULT_METRICS_PORT
    pushgateway: str | None = None              # Pushgateway URL the run's metrics are pushed to; None: no push
    pool_size: int = DEFAULT_POOL_SIZE
    quality: int = 90                           # JPEG quality of generated inputs
    cache_dir: Path = field(default_factory=default_cache_dir)
    iterations: int | None = None               # pi: Viete terms per task; None: calibrated to ~0.5 s
    count_to: int = DEFAULT_COUNT_TO            # count: target of each task's counter
    payload_size_bytes: Bytes = DEFAULT_PAYLOAD_BYTES   # payload: characters of the string per task
    io_delay_seconds: Seconds = DEFAULT_IO_DELAY_SECONDS  # io: the loopback server's answer delay
    chunksize: int = 1                          # python-pool-imap(-unordered): tasks per pool message
    skip_current: bool = False                  # images: skip items whose output is newer than the source
    max_pixels: int = DEFAULT_MAX_PIXELS        # images: inputs whose header declares more are failed items
    retry_contended: int = 0                    # re-run a contended sandbox up to this many times
    cpuset: str | None = None                   # "auto" or a CPU list: sandboxes pinned there (kit/measure/cpuset.py)
    contention_threshold: float = CONTENTION_THRESHOLD
    sample_interval_ms: int = DEFAULT_SAMPLE_INTERVAL_MS   # the worker samples its own cgroup; 0: never
    # kit sweep: the grid's worker counts and memory caps (empty: the single `workers` and cap above)
    grid_workers: tuple[int, ...] = ()
    grid_memory_limits_bytes: tuple[Bytes | None, ...] = ()
    floor: FloorSearch | None = None            # kit floor: the caps it bisects between
    # --runtime kubernetes: where the Jobs go and what they run
    namespace: str = DEFAULT_NAMESPACE
    image: str | None = None                    # the worker image the cluster pulls; None: kit-worker:<version>
    node_selector: tuple[tuple[str, str], ...] = ()
    pending_timeout_seconds: Seconds = DEFAULT_PENDING_TIMEOUT_SECONDS
    parallel: int = 1                           # kit sweep: cells at once, each on its own node

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

        return {name: plain(getattr(self, name)) for name in self.__dataclass_fields__}


def parse_resolution(text: str) -> tuple[int, int]:
    """4k, 1080p, 720p or WxH."""
    key = text.strip().lower()
    if key in RESOLUTIONS:
        return RESOLUTIONS[key]
    match = re.fullmatch(r"(\d+)x(\d+)", key)
    if not match or int(match.group(1)) < 16 or int(match.group(2)) < 16:
        raise ConfigError(f"invalid resolution {text!r}: use 4k, 1080p, 720p or WxH (at least 16x16)")
    width, height = int(match.group(1)), int(match.group(2))
    if width > 65500 or height > 65500:
        raise ConfigError(f"invalid resolution {text!r}: JPEG allows at most 65500 pixels a side")
    return width, height


def parse_memory_limit(text: str | None) -> Bytes | None:
    """`--mem-limit`: None, or a size no smaller than MIN_MEMORY_LIMIT."""
    if text is None or text.strip().lower() == "none":
        return None
    if not text.strip():
        raise ConfigError(f"--mem-limit {text!r}: empty size; give a size such as 512m or 1Gi, or none")
    value = parse_size(text)
    if value < MIN_MEMORY_LIMIT:
        raise ConfigError(f"--mem-limit {text}: below the smallest cap allowed ({MIN_MEMORY_LIMIT // MIB}m)")
    if value > MAX_MEMORY_LIMIT:
        raise ConfigError(f"--mem-limit {text}: beyond the largest cap the kernel stores "
                          f"({MAX_MEMORY_LIMIT} bytes, 8 EiB); omit --mem-limit for no cap")
    return value


def parse_pushgateway(text: str | None) -> str | None:
    """`--pushgateway`: http(s)://host[:port][/path], or host:port (http:// then, as prometheus_client does)."""
    if text is None or not text.strip():
        return None
    url = text.strip() if "://" in text else f"http://{text.strip()}"
    parts = urllib.parse.urlsplit(url)
    try:
        parts.port  # noqa: B018 (urllib checks the port only when asked)
    except ValueError:
        parts = parts._replace(netloc="")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"--pushgateway {text}: not a Pushgateway URL; use http://HOST:PORT "
                          "(e.g. http://127.0.0.1:9091)")
    if parts.username is not None or parts.password is not None:  # the URL is recorded in results.json
        raise ConfigError("--pushgateway: credentials in the URL are not supported (results.json records "
                          "the URL); use a gateway reachable without them")
    return url.rstrip("/")


def build(
    *,
    strategies: list[str] | None = None,
    workload: str = "images",
    library: str = DEFAULT_LIBRARY,
    items: int | None = None,
    resolution: str = DEFAULT_RESOLUTION,
    source: Path | None = None,
    workers: int | None = None,
    mem_limit: str | None = None,
    cpus: float | None = None,
    runtime: str = DEFAULT_RUNTIME,
    start_method: str = DEFAULT_START_METHOD,
    repeat: int = 1,
    warmup: int = 0,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    stall: float = DEFAULT_STALL_SECONDS,
    out: Path = DEFAULT_OUT_DIR,
    output_dir: Path | None = None,
    metrics_port: int = DEFAULT_METRICS_PORT,
    pushgateway: str | None = None,
    pool_size: int = DEFAULT_POOL_SIZE,
    cache_dir: Path | None = None,
    iterations: int | None = None,
    count_to: int = DEFAULT_COUNT_TO,
    payload_size: str | None = None,
    io_delay: float = DEFAULT_IO_DELAY_SECONDS,
    chunksize: int = 1,
    skip_current: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    retry_contended: int = 0,
    cpuset: str | None = None,
    sample_interval_ms: int = DEFAULT_SAMPLE_INTERVAL_MS,
    check_paths: bool = True,
    workers_list: str | None = None,
    mem_limit_list: str | None = None,
    floor: FloorSearch | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    image: str | None = None,
    node_selector: list[str] | None = None,
    pending_timeout: float = DEFAULT_PENDING_TIMEOUT_SECONDS,
    parallel: int = 1,
) -> RunConfig:
    """Validate the options of `kit run`, `kit sweep` (`workers_list`, `mem_limit_list`: its grid)
    and `kit floor` (`floor`: its bisection) and resolve their defaults."""
    for name in strategies or ():
        if name not in NAMES:
            raise ConfigError(f"unknown strategy {name!r}: choose from {', '.join(NAMES)}")
    if workload not in WORKLOADS:
        raise ConfigError(f"unknown workload {workload!r}: choose from {', '.join(WORKLOADS)}")
    if library not in LIBRARIES:
        raise ConfigError(f"unknown library {library!r}: choose from {', '.join(LIBRARIES)}")
    if library != "opencv" and workload != "images":
        raise ConfigError(f"--library {library}: only the images workload uses an image library, not {workload}")
    if items is not None and items < 1:
        raise ConfigError(f"--images {items}: must be at least 1")
    if items is not None and items > MAX_ITEMS:
        raise ConfigError(f"--images {items}: at most {MAX_ITEMS:,} (the controller tracks every item in memory "
                          "and 100,000 4K outputs take ~30 GB of disk); split the batch into several runs")
    width, height = parse_resolution(resolution)
    if source is not None and not source.is_dir():
        raise ConfigError(f"--source {source}: not a directory")
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise ConfigError(f"--workers {workers}: must be between 1 and {MAX_WORKERS}")
    if runtime not in RUNTIMES:
        raise ConfigError(f"unknown runtime {runtime!r}: choose from {', '.join(RUNTIMES)}")
    if runtime == "kubernetes":   # the cluster's nodes, not this machine, bound the CPU cap
        if cpus is not None and not (math.isfinite(cpus) and 0.001 <= cpus <= MAX_WORKERS):
            raise ConfigError(f"--cpus {cpus}: must be between 0.001 and {MAX_WORKERS} cores")
    elif cpus is not None and not (math.isfinite(cpus) and 0.01 <= cpus <= os.cpu_count()):  # type: ignore[operator]
        raise ConfigError(f"--cpus {cpus}: must be between 0.01 and the {os.cpu_count()} CPUs of this machine")
    selector = _check_kubernetes_options(runtime, namespace, image, node_selector or [], pending_timeout, parallel,
                                         source, output_dir, skip_current, cpuset)
    if start_method not in START_METHODS:
        raise ConfigError(f"unknown start method {start_method!r}: choose from {', '.join(START_METHODS)}")
    if repeat < 1:
        raise ConfigError(f"--repeat {repeat}: must be at least 1")
    if warmup < 0:
        raise ConfigError(f"--warmup {warmup}: must be 0 or more")
    for option, count in (("--repeat", repeat), ("--warmup", warmup)):
        if count > MAX_REPEAT:
            raise ConfigError(f"{option} {count}: at most {MAX_REPEAT:,} (every sandbox of the plan is listed "
                              "before the first starts); split the work into several runs")
    if not (timeout > 0 and stall > 0):
        raise ConfigError("--timeout: must be a positive number of seconds")
    for option, seconds in (("--timeout", timeout), ("--stall-timeout", stall)):
        if not seconds <= MAX_TIMEOUT_SECONDS:  # inf too
            raise ConfigError(f"{option} {seconds:g}: at most {MAX_TIMEOUT_SECONDS} seconds (a week)")
    if check_paths:  # `kit data` writes no run directory
        check_directory("--out", out)
    if check_paths and output_dir is not None:
        check_directory("--output-dir", output_dir)
    if not 0 <= metrics_port <= 65535:
        raise ConfigError(f"--metrics-port {metrics_port}: must be between 0 and 65535")
    if pool_size < 1:
        raise ConfigError(f"--distinct-images {pool_size}: must be at least 1")
    if cpuset is not None and cpuset != "auto":
        from kit.measure.cpuset import plan as plan_cpuset

        plan_cpuset(cpuset, 1)   # a malformed list, or CPUs this run may not use: a usage error now
    if not 0 <= retry_contended <= MAX_RETRIES:
        raise ConfigError(f"--retry-contended {retry_contended}: must be between 0 and {MAX_RETRIES}")
    if not 1 <= max_pixels <= MAX_PIXELS_LIMIT:
        raise ConfigError(f"--max-pixels {max_pixels}: must be between 1 and {MAX_PIXELS_LIMIT} "
                          "(JPEG allows at most 65535 x 65535)")
    if workload == "images" and source is None and width * height > max_pixels:
        # every generated input would be a failed item, after minutes (and gigabytes) of making it
        raise ConfigError(f"--resolution {resolution}: {width * height:,} pixels, above --max-pixels "
                          f"{max_pixels:,}; every generated image would be refused as an input")
    if sample_interval_ms != 0 and not MIN_SAMPLE_INTERVAL_MS <= sample_interval_ms <= MAX_SAMPLE_INTERVAL_MS:
        raise ConfigError(f"--sample-interval-ms {sample_interval_ms}: 0 (no inside samples) or between "
                          f"{MIN_SAMPLE_INTERVAL_MS} and {MAX_SAMPLE_INTERVAL_MS}")
    memory_limit = parse_memory_limit(mem_limit)
    grid_workers = parse_workers_list(workers_list) if workers_list is not None else ()
    grid_caps = parse_caps_list(mem_limit_list) if workers_list is not None or mem_limit_list is not None else ()
    if grid_workers:
        workers = max(grid_workers)
    caps = (floor.low_bytes, floor.high_bytes) if floor else grid_caps or (memory_limit,)
    smallest_cap = min((cap for cap in caps if cap is not None), default=None)
    pushgateway_url = parse_pushgateway(pushgateway)
    payload_bytes = _check_workload_options(workload, source, smallest_cap, iterations, count_to, payload_size,
                                            io_delay, chunksize, skip_current, output_dir)
    default_workers = max(1, math.floor(cpus if cpus else allowed_cpus()))
    return RunConfig(
        strategies=tuple(dict.fromkeys(strategies or ())),
        workload=workload,
        library=library,
        items=items if items is not None else (None if source else default_items(workload)),
        width=width,
        height=height,
        source=source.resolve() if source else None,
        workers=workers or default_workers,
        memory_limit_bytes=memory_limit,
        cpus=cpus,
        runtime=runtime,
        start_method=start_method,
        repeat=repeat,
        warmup=warmup,
        timeout_seconds=timeout,
        stall_seconds=stall,
        out_dir=out,
        output_dir=output_dir,
        metrics_port=metrics_port,
        pushgateway=pushgateway_url,
        pool_size=pool_size,
        cache_dir=cache_dir or default_cache_dir(),
        iterations=iterations,
        count_to=count_to,
        payload_size_bytes=payload_bytes,
        io_delay_seconds=io_delay,
        chunksize=chunksize,
        skip_current=skip_current,
        max_pixels=max_pixels,
        retry_contended=retry_contended,
        cpuset=cpuset,
        sample_interval_ms=sample_interval_ms,
        grid_workers=grid_workers,
        grid_memory_limits_bytes=grid_caps,
        floor=floor,
        namespace=namespace,
        image=image,
        node_selector=selector,
        pending_timeout_seconds=pending_timeout,
        parallel=parallel,
    )


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_LABEL_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


def parse_node_selector(pairs: list[str]) -> tuple[tuple[str, str], ...]:
    """`--node-selector key=value` (repeatable): Kubernetes label keys and values."""
    selector: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        prefix, slash, name = key.rpartition("/")
        if (not sep or not _LABEL_NAME.fullmatch(name) or (slash and not _LABEL_PREFIX.fullmatch(prefix))
                or (value and not _LABEL_NAME.fullmatch(value))):
            raise ConfigError(f"--node-selector {pair!r}: give key=value with Kubernetes label syntax, "
                              "e.g. kubernetes.io/arch=amd64")
        selector[key] = value
    return tuple(selector.items())


def _check_kubernetes_options(runtime: str, namespace: str, image: str | None, node_selector: list[str],
                              pending_timeout: float, parallel: int, source: Path | None, output_dir: Path | None,
                              skip_current: bool, cpuset: str | None) -> tuple[tuple[str, str], ...]:
    """--namespace, --image, --node-selector, --pending-timeout, --parallel; and what a pod cannot do."""
    if not 1 <= parallel <= MAX_PARALLEL:
        raise ConfigError(f"--parallel {parallel}: must be between 1 and {MAX_PARALLEL}")
    if parallel > 1 and runtime != "kubernetes":
        raise ConfigError(f"--parallel {parallel}: only --runtime kubernetes runs cells at once (each on its own "
                          "node); on one machine they would disturb each other's figures")
    if not _DNS_LABEL.fullmatch(namespace):
        raise ConfigError(f"--namespace {namespace!r}: not a Kubernetes namespace name (lower-case letters, "
                          "digits and '-', at most 63)")
    if image is not None and (not image.strip() or any(c.isspace() for c in image)):
        raise ConfigError(f"--image {image!r}: give an image reference such as registry.example/kit-worker:0.1.0")
    if not (math.isfinite(pending_timeout) and 0 < pending_timeout <= MAX_TIMEOUT_SECONDS):
        raise ConfigError(f"--pending-timeout {pending_timeout:g}: must be a positive number of seconds, "
                          f"at most {MAX_TIMEOUT_SECONDS}")
    selector = parse_node_selector(node_selector)
    if runtime == "kubernetes":
        for option, given in (("--source", source is not None), ("--output-dir", output_dir is not None),
                              ("--skip-current", skip_current), ("--cpuset", cpuset is not None)):
            if given:
                raise ConfigError(f"{option} cannot be used with --runtime kubernetes: a pod on another node "
                                  "sees none of this machine's files or CPUs (its inputs are generated in the pod)")
    return selector


def parse_workers_list(text: str) -> tuple[int, ...]:
    """'1,2,4,8' -> (1, 2, 4, 8): distinct, in the order given."""
    values: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or not 1 <= int(part) <= MAX_WORKERS:
            raise ConfigError(f"--workers {text!r}: give a comma-separated list of counts from 1 to "
                              f"{MAX_WORKERS}, e.g. 1,2,4,8")
        values.append(int(part))
    return tuple(dict.fromkeys(values))


def parse_caps_list(text: str | None) -> tuple[Bytes | None, ...]:
    """'256m,512m,none' -> sizes in bytes (None: no cap); no option at all means one uncapped setting."""
    if text is None:
        return (None,)
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        raise ConfigError(f"--mem-limit {text!r}: give a comma-separated list of sizes, e.g. 256m,512m,1g")
    return tuple(dict.fromkeys(parse_memory_limit(part) for part in parts))


def check_directory(option: str, path: Path) -> None:
    """A directory the run will write into: it, or its nearest existing ancestor, must be a
    writable directory (a file of that name, or a read-only place, is a usage error)."""
    probe = path
    while not probe.exists():
        if probe.is_symlink():  # a dangling link
            raise ConfigError(f"{option} {path}: {probe} is a broken symbolic link")
        probe = probe.parent
    if not probe.is_dir():
        what = "is a file, not a directory" if probe == path else f"cannot be made: {probe} is a file"
        raise ConfigError(f"{option} {path}: {what}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: {probe} is not writable by this user")
    _check_writable_filesystem(option, path, probe)


def _check_writable_filesystem(option: str, path: Path, probe: Path) -> None:
    """Root may "write" anywhere by os.access, /proc and read-only mounts included: make and remove
    an empty directory there, so that such a place is refused now, not after minutes of work.
    A full disk is not a usage error: the run says so, naming the path, when it happens."""
    import errno
    import tempfile

    try:
        if os.statvfs(probe).f_flag & os.ST_RDONLY:
            raise ConfigError(f"{option} {path}: {probe} is on a read-only filesystem")
        os.rmdir(tempfile.mkdtemp(prefix=".kit-probe-", dir=probe))
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return
        raise ConfigError(f"{option} {path}: {probe} is not a writable directory on a regular filesystem "
                          f"({exc.strerror or exc})") from None


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


def default_items(workload: str) -> int:
    """200 images (the study), 50 tasks (seed 001) for the task workloads."""
    return DEFAULT_IMAGES if workload == "images" else DEFAULT_TASKS


def _check_workload_options(workload: str, source: Path | None, memory_limit: Bytes | None,
                            iterations: int | None, count_to: int, payload_size: str | None,
                            io_delay: float, chunksize: int, skip_current: bool,
                            output_dir: Path | None) -> Bytes:
    """The options of the task workloads (seeds 001-004); returns the payload size in bytes."""
    from kit.core.units import format_bytes
    from kit.worker.workloads.payload import PAYLOAD_OVERHEAD_BYTES

    if workload != "images" and source is not None:
        raise ConfigError(f"--source: the {workload} workload has tasks, not input files")
    if iterations is not None and iterations < 1:
        raise ConfigError(f"--iterations {iterations}: must be at least 1")
    if count_to < 1:
        raise ConfigError(f"--count-to {count_to}: must be at least 1")
    if not (math.isfinite(io_delay) and 0 <= io_delay <= 60):
        raise ConfigError(f"--io-delay {io_delay}: must be between 0 and 60 seconds")
    if chunksize < 1:
        raise ConfigError(f"--chunksize {chunksize}: must be at least 1")
    if skip_current and workload != "images":
        raise ConfigError(f"--skip-current: only the images workload has outputs to keep, not {workload}")
    if skip_current and output_dir is None:
        raise ConfigError("--skip-current needs --output-dir: a stable place where earlier outputs are found")
    size = parse_size(payload_size) if payload_size is not None else DEFAULT_PAYLOAD_BYTES
    if size < 1:
        raise ConfigError(f"--payload-size {payload_size}: must be at least 1 byte")
    if workload == "payload" and memory_limit is not None and size + PAYLOAD_OVERHEAD_BYTES > memory_limit:
        raise ConfigError(f"--payload-size {format_bytes(size)} cannot fit the memory cap of "
                          f"{format_bytes(memory_limit)} (the string plus {PAYLOAD_OVERHEAD_BYTES // MIB} MiB "
                          f"for the worker): raise --mem-limit or lower --payload-size")
    return size
