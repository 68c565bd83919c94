"""The typer app: parse, call, print. The only module that exits (codes in product.md section 4)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from kit import config as configuration
from kit.errors import KitError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Concurrency Wars reproducibility kit: strategies race through a batch of "
                       "4K images, each in a memory-capped sandbox.")
err = Console(stderr=True)
out = Console()


@app.command()
def run(
    strategy: Annotated[Optional[list[str]], typer.Option("--strategy", "-s", help="Strategy to run (repeatable); default: every available one.")] = None,  # noqa: UP045,E501
    workload: Annotated[str, typer.Option(help="What each item is.")] = "images",
    images: Annotated[Optional[int], typer.Option("--images", "--items", help="Items in the batch [default: 200; with --source, every file].")] = None,  # noqa: UP045,E501
    resolution: Annotated[str, typer.Option(help="Generated image size: 4k, 1080p, 720p or WxH.")] = "4k",
    source: Annotated[Optional[Path], typer.Option(help="Use the JPEG files in this directory instead of generated images.")] = None,  # noqa: UP045,E501
    workers: Annotated[Optional[int], typer.Option(help="Workers per strategy [default: CPUs the run may use].")] = None,  # noqa: UP045,E501
    mem_limit: Annotated[Optional[str], typer.Option(help="Memory cap per sandbox, e.g. 512m, 1g, 1Gi [default: none].")] = None,  # noqa: UP045,E501
    cpus: Annotated[Optional[float], typer.Option(help="CPU cap per sandbox in cores [default: none].")] = None,  # noqa: UP045
    runtime: Annotated[str, typer.Option(help="auto, cgroup or docker.")] = "auto",
    start_method: Annotated[str, typer.Option(help="python-processes start method: fork, spawn, forkserver.")] = "fork",  # noqa: E501
    repeat: Annotated[int, typer.Option(help="Measured repetitions per strategy.")] = 1,
    warmup: Annotated[int, typer.Option(help="Unrecorded-in-summary warmup rounds before measuring.")] = 0,
    timeout: Annotated[float, typer.Option(help="Seconds per strategy before it is stopped.")] = 900.0,
    stall_timeout: Annotated[float, typer.Option(hidden=True, help="Seconds without a finished item before a strategy counts as stalled.")] = 120.0,  # noqa: E501
    out_dir: Annotated[Path, typer.Option("--out", help="Where run directories are written.")] = Path("reports"),
    output_dir: Annotated[Optional[Path], typer.Option(help="Stable place for outputs [default: inside the run directory].")] = None,  # noqa: UP045,E501
    metrics_port: Annotated[int, typer.Option(help="Prometheus metrics port on 127.0.0.1; 0 disables.")] = 9464,
    distinct_images: Annotated[int, typer.Option(help="Distinct generated images, reused to reach --images.")] = 16,
) -> None:
    """Race the strategies through the batch, each in its own capped sandbox."""
    from kit import runtimes
    from kit.console import ProgressView, results_table
    from kit.runner import Runner
    from kit.units import format_bytes

    plan = configuration.build(
        strategies=strategy, workload=workload, items=images, resolution=resolution, source=source,
        workers=workers, mem_limit=mem_limit, cpus=cpus, runtime=runtime, start_method=start_method,
        repeat=repeat, warmup=warmup, timeout=timeout, stall=stall_timeout, out=out_dir,
        output_dir=output_dir, metrics_port=metrics_port, pool_size=distinct_images)
    chosen, note = runtimes.select(plan.runtime)
    if note:
        err.print(note)
    cap = (f"{format_bytes(plan.memory_limit_bytes)} ({plan.memory_limit_bytes} bytes)"
           if plan.memory_limit_bytes else "none")
    out.print(f"[bold]kit run[/bold]: {plan.items or 'all'} items, {plan.workers} workers, memory cap {cap}, "
              f"CPU cap {plan.cpus or 'none'}, runtime {chosen.name}")
    runner = Runner(plan, chosen, observer=None)  # type: ignore[arg-type]
    with ProgressView(out) as view:
        runner.observer = view
        try:
            results = runner.run()
        finally:
            view.progress.stop()
    out.print(results_table(results.records))
    for warning in results.warnings:
        out.print(f"[yellow]warning:[/yellow] {warning}")
    out.print(f"results: {runner.run_dir / 'results.json'}")


@app.command()
def data(
    count: Annotated[int, typer.Option(help="Distinct images in the pool.")] = 16,
    resolution: Annotated[str, typer.Option(help="4k, 1080p, 720p or WxH.")] = "4k",
) -> None:
    """Generate (or find cached) the pool of synthetic photo-like JPEGs."""
    from kit.inputs import generate
    from kit.units import format_bytes

    if count < 1:
        raise configuration.ConfigError(f"--count {count}: must be at least 1")
    plan = configuration.build(resolution=resolution, items=count)
    paths = generate(plan, count)
    mean = sum(path.stat().st_size for path in paths) / len(paths)
    out.print(f"{len(paths)} images of {plan.width}x{plan.height} in {paths[0].parent} "
              f"(mean {format_bytes(mean)})")


@app.command()
def doctor(
    metrics_port: Annotated[int, typer.Option(help="Port the metrics endpoint will use.")] = 9464,
) -> None:
    """Check what runs need here and say how to fix what is missing."""
    from kit.runtimes.cgroupfs import CgroupHost

    checks: list[tuple[str, str | None]] = []
    host = CgroupHost()
    checks.append((f"cgroup v{host.version}: a child group with a memory cap", host.problem()))
    checks.append((f"metrics port 127.0.0.1:{metrics_port} free", _port_problem(metrics_port)))
    failed = False
    for name, problem in checks:
        if problem:
            failed = True
            out.print(f"[red]FAIL[/red] {name}\n     {problem}")
        else:
            out.print(f"[green] ok [/green] {name}")
    if failed:
        raise typer.Exit(1)


def _port_problem(port: int) -> str | None:
    if port == 0:
        return None
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            return f"port {port} is taken ({exc.strerror}): pass --metrics-port with a free port, or 0"
    return None


@app.command(hidden=True)
def worker(
    strategy: Annotated[str, typer.Option()],
    manifest: Annotated[Path, typer.Option()],
    input_root: Annotated[Path, typer.Option()],
    output_dir: Annotated[Path, typer.Option()],
    workers: Annotated[int, typer.Option()] = 1,
    workload: Annotated[str, typer.Option()] = "images",
    start_method: Annotated[str, typer.Option()] = "fork",
) -> None:
    """Internal: the entry point inside a sandbox (JSON lines on stdout)."""
    from kit.worker import run_worker

    raise typer.Exit(run_worker(strategy, workload, manifest, input_root, output_dir, workers, start_method))


def main(argv: list[str] | None = None) -> None:
    """Console entry point: every user mistake is one line and exit 2, never a traceback."""
    try:
        code = app(args=argv, standalone_mode=False)
    except typer.TyperException as exc:  # usage errors (exit 2) from typer's own parser
        print(f"error: {exc.format_message()}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    if code == 130:  # typer turns a KeyboardInterrupt into Exit(130)
        print("interrupted", file=sys.stderr)
    sys.exit(code if isinstance(code, int) else 0)
