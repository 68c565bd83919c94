"""The command-line options that `kit run`, `kit sweep`, `kit floor` and `kit manifests` share,
declared once.

Typer `Annotated` aliases: each names its flag, help and type here. `run_options` lists them once in
the order --help shows them, and `@with_run_options(...)` gives a command that list as its signature
(its own parameters replacing or adding to it). Defaults come from kit/plan/config.py (the DEFAULT_*
names), the one place they are written. Imported by the CLI only.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar, get_type_hints

import typer

from kit.plan import config
from kit.worker.programs import NAMES

# --help's panels, in the order they appear (a command's own options lead, in "Options")
BATCH = "Batch"
SANDBOX = "Sandbox and limits"
MEASUREMENT = "Measurement"
OUTPUT = "Output and metrics"
KUBERNETES = "Kubernetes"
ADVANCED = "Advanced"

# Help texts say the default in parentheses, "(default: ...)": rich reads "[...]" as markup and drops it.
_STRATEGY_HELP = (f"Strategy to run (repeatable): {', '.join(NAMES)} "
                  "(default: every one available here).")

# noqa below: typer reads Optional[...] (UP045) and the help texts are long on purpose (E501).
Strategies = Annotated[Optional[list[str]], typer.Option("--strategy", "-s", help=_STRATEGY_HELP, rich_help_panel=BATCH)]  # noqa: UP045,E501
Workload = Annotated[str, typer.Option(help="What each item is: images, pi, count, payload, io (seeds 001-004).", rich_help_panel=BATCH)]  # noqa: E501
Library = Annotated[str, typer.Option(help="images: the Python strategies' image library, opencv or pillow (Pillow: BOX resize, verified by PSNR against OpenCV's outputs; Go keeps its own).", rich_help_panel=BATCH)]  # noqa: E501
Items = Annotated[Optional[int], typer.Option("--images", "--items", help="Items in the batch (default: 200 images, 50 tasks; with --source, every file).", rich_help_panel=BATCH)]  # noqa: UP045,E501
Resolution = Annotated[str, typer.Option(help="Generated image size: 4k, 1080p, 720p or WxH in pixels.", rich_help_panel=BATCH)]  # noqa: E501
Source = Annotated[Optional[Path], typer.Option(help="Use the JPEG files in this directory instead of generated images (default: generated).", rich_help_panel=BATCH)]  # noqa: UP045,E501
Workers = Annotated[Optional[int], typer.Option(help="Workers per strategy (default: the CPUs the run may use).", rich_help_panel=SANDBOX)]  # noqa: UP045,E501
Iterations = Annotated[Optional[int], typer.Option(help="pi: Viete terms per task (default: calibrated per language to ~0.5 CPU seconds a task here).", rich_help_panel=BATCH)]  # noqa: UP045,E501
CountTo = Annotated[int, typer.Option(help="count: each task counts to this.", rich_help_panel=BATCH)]
PayloadSize = Annotated[Optional[str], typer.Option(help="payload: the string every task receives, in characters, e.g. 100m or 100000000 (default: 10^8).", rich_help_panel=BATCH)]  # noqa: UP045,E501
IoDelay = Annotated[float, typer.Option(help="io: seconds the loopback server waits before answering.", rich_help_panel=BATCH)]  # noqa: E501
Chunksize = Annotated[int, typer.Option(help="python-pool-imap(-unordered): tasks per pool message.", rich_help_panel=ADVANCED)]  # noqa: E501
SkipCurrent = Annotated[bool, typer.Option(help="images: skip items whose output in --output-dir is newer than the source (seed 004).", rich_help_panel=OUTPUT)]  # noqa: E501
MemLimit = Annotated[Optional[str], typer.Option(help="Memory cap per sandbox in bytes or with a binary unit, e.g. 512m, 1g, 1Gi (default: none).", rich_help_panel=SANDBOX)]  # noqa: UP045,E501
Cpus = Annotated[Optional[float], typer.Option(help="CPU cap per sandbox in cores (default: none).", rich_help_panel=SANDBOX)]  # noqa: UP045,E501
Runtime = Annotated[str, typer.Option(help="auto, cgroup, docker or kubernetes (the cluster of your kubeconfig).", rich_help_panel=SANDBOX)]  # noqa: E501
Namespace = Annotated[str, typer.Option(help="kubernetes: the namespace the Jobs are made in.", rich_help_panel=KUBERNETES)]  # noqa: E501
Image = Annotated[Optional[str], typer.Option(help="kubernetes: the worker image the cluster pulls (build it, tag it and push it to your registry) (default: kit-worker:<kit version>).", rich_help_panel=KUBERNETES)]  # noqa: UP045,E501
NodeSelector = Annotated[Optional[list[str]], typer.Option("--node-selector", help="kubernetes: key=value a node must carry as a label (repeatable; default: any node).", rich_help_panel=KUBERNETES)]  # noqa: UP045,E501
PendingTimeout = Annotated[float, typer.Option(help="kubernetes: seconds a pod may wait for a node or its image before its record is failed with the scheduler's or kubelet's reason.", rich_help_panel=KUBERNETES)]  # noqa: E501
Parallel = Annotated[int, typer.Option(help="kubernetes: cells run at once, each on its own node (pod anti-affinity); other runtimes run one at a time.", rich_help_panel=KUBERNETES)]  # noqa: E501
StartMethod = Annotated[str, typer.Option(help="Process strategies' start method (python-processes, pools, asyncio): fork, spawn, forkserver.", rich_help_panel=ADVANCED)]  # noqa: E501
Repeat = Annotated[int, typer.Option(help="Measured repetitions of every strategy (every cell of a sweep).", rich_help_panel=MEASUREMENT)]  # noqa: E501
Warmup = Annotated[int, typer.Option(help="Warmup rounds before measuring (recorded, left out of summaries).", rich_help_panel=MEASUREMENT)]  # noqa: E501
Timeout = Annotated[float, typer.Option(help="Seconds per sandbox before it is stopped.", rich_help_panel=SANDBOX)]
StallTimeout = Annotated[float, typer.Option(hidden=True, help="Seconds without a finished item before a sandbox counts as stalled.")]  # noqa: E501
OutDir = Annotated[Path, typer.Option("--out", help="Where run directories are written.", rich_help_panel=OUTPUT)]
OutputDir = Annotated[Optional[Path], typer.Option(help="Stable place for outputs (default: inside the run directory).", rich_help_panel=OUTPUT)]  # noqa: UP045,E501
MetricsPort = Annotated[int, typer.Option(help="Prometheus metrics port; 0 disables.", rich_help_panel=OUTPUT)]
MetricsHost = Annotated[str, typer.Option(help="Address the metrics endpoint binds (0.0.0.0 for Docker Desktop).", rich_help_panel=OUTPUT)]  # noqa: E501
MetricsLinger = Annotated[float, typer.Option(help="Seconds the metrics endpoint stays up after the run, for a last scrape.", rich_help_panel=OUTPUT)]  # noqa: E501
Pushgateway = Annotated[Optional[str], typer.Option(envvar="KIT_PUSHGATEWAY", help="Push the run's metrics to this Pushgateway while it runs and at its end, e.g. http://127.0.0.1:9091 (default: none).", rich_help_panel=OUTPUT)]  # noqa: UP045,E501
DistinctImages = Annotated[int, typer.Option(help="Distinct generated images, reused to reach --images.", rich_help_panel=ADVANCED)]  # noqa: E501
MaxPixels = Annotated[int, typer.Option(help="images: inputs whose JPEG header declares more pixels are failed items, never decoded (decompression bombs).", rich_help_panel=ADVANCED)]  # noqa: E501
RetryContended = Annotated[int, typer.Option(help="Re-run a sandbox whose machine was busy (contended) up to N times and keep the quiet attempt.", rich_help_panel=MEASUREMENT)]  # noqa: E501
Cpuset = Annotated[Optional[str], typer.Option(help="Pin each sandbox to CPUs of its own and the kit to the others: auto (whole cores, when the machine has enough) or a list such as 2-5 (default: no pinning).", rich_help_panel=MEASUREMENT)]  # noqa: UP045,E501
SampleInterval = Annotated[int, typer.Option("--sample-interval-ms", help="How often, in milliseconds, each worker reads its own cgroup from inside the sandbox and reports it (the record's `inside` figures); 0 turns it off.", rich_help_panel=ADVANCED)]  # noqa: E501
# kit sweep's axes: lists where kit run takes one value
WorkersList = Annotated[str, typer.Option("--workers", help="Worker counts, comma-separated, e.g. 1,2,4,8,12.", rich_help_panel=SANDBOX)]  # noqa: E501
MemLimitList = Annotated[Optional[str], typer.Option("--mem-limit", help="Memory caps, comma-separated, e.g. 256m,512m,1g; 'none' for no cap (default: none).", rich_help_panel=SANDBOX)]  # noqa: UP045,E501

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
    iterations: Iterations = None,
    count_to: CountTo = COUNT_TO,
    payload_size: PayloadSize = None,
    io_delay: IoDelay = IO_DELAY,
    workers: Workers = None,
    mem_limit: MemLimit = None,
    cpus: Cpus = None,
    runtime: Runtime = RUNTIME,
    timeout: Timeout = TIMEOUT,
    stall_timeout: StallTimeout = STALL,
    repeat: Repeat = 1,
    warmup: Warmup = 0,
    retry_contended: RetryContended = 0,
    cpuset: Cpuset = None,
    out_dir: OutDir = OUT_DIR,
    output_dir: OutputDir = None,
    skip_current: SkipCurrent = False,
    metrics_port: MetricsPort = METRICS_PORT,
    metrics_host: MetricsHost = METRICS_HOST,
    metrics_linger: MetricsLinger = METRICS_LINGER,
    pushgateway: Pushgateway = None,
    namespace: Namespace = NAMESPACE,
    image: Image = None,
    node_selector: NodeSelector = None,
    pending_timeout: PendingTimeout = PENDING_TIMEOUT,
    start_method: StartMethod = START_METHOD,
    chunksize: Chunksize = 1,
    distinct_images: DistinctImages = POOL_SIZE,
    max_pixels: MaxPixels = MAX_PIXELS,
    sample_interval_ms: SampleInterval = SAMPLE_INTERVAL_MS,
) -> None:
    """kit run's options, in --help's order (panel by panel: batch, sandbox and limits, measurement,
    output and metrics, Kubernetes, advanced): the list the other commands take theirs from. Never called."""


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


def unwrap_docstrings(app: typer.Typer) -> None:
    """Each command's help from its docstring with the source's line breaks joined within a paragraph:
    typer keeps them in `kit --help`'s command list, which then breaks mid-phrase at any width."""
    for info in app.registered_commands:
        if info.help is None and info.callback is not None and info.callback.__doc__:
            paragraphs = inspect.cleandoc(info.callback.__doc__).split("\n\n")
            info.help = "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)
