"""The command-line options that `kit run`, `kit sweep`, `kit floor` and `kit manifests` share,
declared once.

Typer `Annotated` aliases: each names its flag, help and type here. `run_options` lists them once in
the order --help shows them, and `@with_run_options(...)` gives a command that list as its signature
(its own parameters replacing or adding to it). Defaults come from kit/config.py (the DEFAULT_*
names), the one place they are written. Imported by the CLI only.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar, get_type_hints

import typer

from kit import config

# noqa below: typer reads Optional[...] (UP045) and the help texts are long on purpose (E501).
Strategies = Annotated[Optional[list[str]], typer.Option("--strategy", "-s", help="Strategy to run (repeatable); default: every available one.")]  # noqa: UP045,E501
Workload = Annotated[str, typer.Option(help="What each item is: images, pi, count, payload, io (seeds 001-004).")]  # noqa: E501
Library = Annotated[str, typer.Option(help="images: the Python strategies' image library, opencv or pillow (Pillow: BOX resize, verified by PSNR against OpenCV's outputs; Go keeps its own).")]  # noqa: E501
Items = Annotated[Optional[int], typer.Option("--images", "--items", help="Items in the batch [default: 200 images, 50 tasks; with --source, every file].")]  # noqa: UP045,E501
Resolution = Annotated[str, typer.Option(help="Generated image size: 4k, 1080p, 720p or WxH.")]
Source = Annotated[Optional[Path], typer.Option(help="Use the JPEG files in this directory instead of generated images.")]  # noqa: UP045,E501
Workers = Annotated[Optional[int], typer.Option(help="Workers per strategy [default: CPUs the run may use].")]  # noqa: UP045,E501
Iterations = Annotated[Optional[int], typer.Option(help="pi: Viete terms per task [default: calibrated per language to ~0.5 CPU seconds a task here].")]  # noqa: UP045,E501
CountTo = Annotated[int, typer.Option(help="count: each task counts to this.")]
PayloadSize = Annotated[Optional[str], typer.Option(help="payload: the string every task receives, e.g. 100m or 100000000 [default: 10^8 characters].")]  # noqa: UP045,E501
IoDelay = Annotated[float, typer.Option(help="io: seconds the loopback server waits before answering.")]
Chunksize = Annotated[int, typer.Option(help="python-pool-imap(-unordered): tasks per pool message.")]
SkipCurrent = Annotated[bool, typer.Option(help="images: skip items whose output in --output-dir is newer than the source (seed 004).")]  # noqa: E501
MemLimit = Annotated[Optional[str], typer.Option(help="Memory cap per sandbox, e.g. 512m, 1g, 1Gi [default: none].")]  # noqa: UP045,E501
Cpus = Annotated[Optional[float], typer.Option(help="CPU cap per sandbox in cores [default: none].")]  # noqa: UP045
Runtime = Annotated[str, typer.Option(help="auto, cgroup, docker or kubernetes (the cluster of your kubeconfig).")]
Namespace = Annotated[str, typer.Option(help="kubernetes: the namespace the Jobs are made in.")]
Image = Annotated[Optional[str], typer.Option(help="kubernetes: the worker image the cluster pulls (build it, tag it and push it to your registry) [default: kit-worker:<kit version>].")]  # noqa: UP045,E501
NodeSelector = Annotated[Optional[list[str]], typer.Option("--node-selector", help="kubernetes: key=value a node must carry as a label (repeatable).")]  # noqa: UP045,E501
PendingTimeout = Annotated[float, typer.Option(help="kubernetes: seconds a pod may wait for a node or its image before its record is failed with the scheduler's or kubelet's reason.")]  # noqa: E501
Parallel = Annotated[int, typer.Option(help="kubernetes: cells run at once, each on its own node (pod anti-affinity); other runtimes run one at a time.")]  # noqa: E501
StartMethod = Annotated[str, typer.Option(help="Process strategies' start method (python-processes, pools, asyncio): fork, spawn, forkserver.")]  # noqa: E501
Repeat = Annotated[int, typer.Option(help="Measured repetitions of every strategy (every cell of a sweep).")]
Warmup = Annotated[int, typer.Option(help="Warmup rounds before measuring (recorded, left out of summaries).")]
Timeout = Annotated[float, typer.Option(help="Seconds per sandbox before it is stopped.")]
StallTimeout = Annotated[float, typer.Option(hidden=True, help="Seconds without a finished item before a sandbox counts as stalled.")]  # noqa: E501
OutDir = Annotated[Path, typer.Option("--out", help="Where run directories are written.")]
OutputDir = Annotated[Optional[Path], typer.Option(help="Stable place for outputs [default: inside the run directory].")]  # noqa: UP045,E501
MetricsPort = Annotated[int, typer.Option(help="Prometheus metrics port; 0 disables.")]
MetricsHost = Annotated[str, typer.Option(help="Address the metrics endpoint binds (0.0.0.0 for Docker Desktop).")]
MetricsLinger = Annotated[float, typer.Option(help="Seconds the metrics endpoint stays up after the run, for a last scrape.")]  # noqa: E501
Pushgateway = Annotated[Optional[str], typer.Option(envvar="KIT_PUSHGATEWAY", help="Push the run's metrics to this Pushgateway while it runs and at its end, e.g. http://127.0.0.1:9091 [default: none].")]  # noqa: UP045,E501
DistinctImages = Annotated[int, typer.Option(help="Distinct generated images, reused to reach --images.")]
MaxPixels = Annotated[int, typer.Option(help="images: inputs whose JPEG header declares more pixels are failed items, never decoded (decompression bombs).")]  # noqa: E501
RetryContended = Annotated[int, typer.Option(help="Re-run a sandbox whose machine was busy (contended) up to N times and keep the quiet attempt.")]  # noqa: E501
Cpuset = Annotated[Optional[str], typer.Option(help="Pin each sandbox to CPUs of its own and the kit to the others: auto (whole cores, when the machine has enough) or a list such as 2-5.")]  # noqa: UP045,E501
SampleInterval = Annotated[int, typer.Option("--sample-interval-ms", help="How often each worker reads its own cgroup from inside the sandbox and reports it (the record's `inside` figures); 0 turns it off.")]  # noqa: E501
# kit sweep's axes: lists where kit run takes one value
WorkersList = Annotated[str, typer.Option("--workers", help="Worker counts, comma-separated, e.g. 1,2,4,8,12.")]
MemLimitList = Annotated[Optional[str], typer.Option("--mem-limit", help="Memory caps, comma-separated, e.g. 256m,512m,1g; 'none' for no cap [default: none].")]  # noqa: UP045,E501

# The defaults, from the config (for the commands' signatures)
RESOLUTION = config.DEFAULT_RESOLUTION
LIBRARY = config.DEFAULT_LIBRARY
RUNTIME = config.DEFAULT_RUNTIME
START_METHOD = config.DEFAULT_START_METHOD
TIMEOUT = config.DEFAULT_TIMEOUT_SECONDS
STALL = config.DEFAULT_STALL_SECONDS
OUT_DIR = config.DEFAULT_OUT_DIR
METRICS_PORT = config.DEFAULT_METRICS_PORT
METRICS_HOST = "127.0.0.1"
METRICS_LINGER = 10.0
POOL_SIZE = config.DEFAULT_POOL_SIZE
MAX_PIXELS = config.DEFAULT_MAX_PIXELS
COUNT_TO = config.DEFAULT_COUNT_TO
IO_DELAY = config.DEFAULT_IO_DELAY_SECONDS
SWEEP_WORKERS = config.DEFAULT_SWEEP_WORKERS
NAMESPACE = config.DEFAULT_NAMESPACE
PENDING_TIMEOUT = config.DEFAULT_PENDING_TIMEOUT_SECONDS
SAMPLE_INTERVAL_MS = config.DEFAULT_SAMPLE_INTERVAL_MS


def run_options(
    strategy: Strategies = None,
    workload: Workload = "images",
    library: Library = LIBRARY,
    images: Items = None,
    resolution: Resolution = RESOLUTION,
    source: Source = None,
    workers: Workers = None,
    iterations: Iterations = None,
    count_to: CountTo = COUNT_TO,
    payload_size: PayloadSize = None,
    io_delay: IoDelay = IO_DELAY,
    chunksize: Chunksize = 1,
    skip_current: SkipCurrent = False,
    mem_limit: MemLimit = None,
    cpus: Cpus = None,
    runtime: Runtime = RUNTIME,
    start_method: StartMethod = START_METHOD,
    repeat: Repeat = 1,
    warmup: Warmup = 0,
    timeout: Timeout = TIMEOUT,
    stall_timeout: StallTimeout = STALL,
    out_dir: OutDir = OUT_DIR,
    output_dir: OutputDir = None,
    metrics_port: MetricsPort = METRICS_PORT,
    metrics_host: MetricsHost = METRICS_HOST,
    metrics_linger: MetricsLinger = METRICS_LINGER,
    pushgateway: Pushgateway = None,
    distinct_images: DistinctImages = POOL_SIZE,
    max_pixels: MaxPixels = MAX_PIXELS,
    retry_contended: RetryContended = 0,
    cpuset: Cpuset = None,
    namespace: Namespace = NAMESPACE,
    image: Image = None,
    node_selector: NodeSelector = None,
    pending_timeout: PendingTimeout = PENDING_TIMEOUT,
    sample_interval_ms: SampleInterval = SAMPLE_INTERVAL_MS,
) -> None:
    """kit run's options, in --help's order: the list the other commands take theirs from. Never called."""


Command = TypeVar("Command", bound=Callable[..., None])


def with_run_options(*, omit: tuple[str, ...] = (), **defaults: Any) -> Callable[[Command], Command]:
    """Give a command `run_options`' parameters as its signature, which typer reads: the command's own
    named parameters replace those of the same name and lead, right after --strategy; `omit` drops
    options the command has no use for; `defaults` changes a default. The command takes the rest as
    **options."""
    unknown = (set(omit) | set(defaults)) - set(inspect.signature(run_options).parameters)
    if unknown:
        raise TypeError(f"not options of kit run: {sorted(unknown)}")

    def apply(command: Command) -> Command:
        hints = get_type_hints(run_options, include_extras=True) | get_type_hints(command, include_extras=True)
        own = {name: parameter.replace(annotation=hints[name])
               for name, parameter in inspect.signature(command).parameters.items()
               if parameter.kind is not inspect.Parameter.VAR_KEYWORD}
        shared = [parameter.replace(annotation=hints[name], default=defaults.get(name, parameter.default))
                  for name, parameter in inspect.signature(run_options).parameters.items()
                  if name not in omit and name not in own]
        listed = [*shared[:1], *own.values(), *shared[1:]]   # --strategy, then what the command is about
        command.__signature__ = inspect.Signature(listed, return_annotation=None)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in listed} | {"return": None}
        return command

    return apply
