"""The command-line options that `kit run`, `kit sweep` and `kit floor` share, declared once.

Typer `Annotated` aliases: each names its flag, help and type here; the commands only list them.
Defaults come from kit/config.py (the DEFAULT_* names), the one place they are written. Imported
by the CLI only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

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
Iterations = Annotated[Optional[int], typer.Option(help="pi: Viete terms per task [default: calibrated to ~0.5 s a task here].")]  # noqa: UP045,E501
CountTo = Annotated[int, typer.Option(help="count: each task counts to this.")]
PayloadSize = Annotated[Optional[str], typer.Option(help="payload: the string every task receives, e.g. 100m or 100000000 [default: 10^8 characters].")]  # noqa: UP045,E501
IoDelay = Annotated[float, typer.Option(help="io: seconds the loopback server waits before answering.")]
Chunksize = Annotated[int, typer.Option(help="python-pool-imap(-unordered): tasks per pool message.")]
SkipCurrent = Annotated[bool, typer.Option(help="images: skip items whose output in --output-dir is newer than the source (seed 004).")]  # noqa: E501
MemLimit = Annotated[Optional[str], typer.Option(help="Memory cap per sandbox, e.g. 512m, 1g, 1Gi [default: none].")]  # noqa: UP045,E501
Cpus = Annotated[Optional[float], typer.Option(help="CPU cap per sandbox in cores [default: none].")]  # noqa: UP045
Runtime = Annotated[str, typer.Option(help="auto, cgroup or docker.")]
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
SAMPLE_INTERVAL_MS = config.DEFAULT_SAMPLE_INTERVAL_MS
