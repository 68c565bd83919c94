"""The typer app: parse, call, print. The only module that exits (codes in product.md section 4)."""

from __future__ import annotations

import contextlib
import errno
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from kit.core import pipe, signals
from kit.core.errors import ConfigError, KitError
from kit.plan import config as configuration
from kit.plan import options as o
from kit.report.console import WordConsole

if TYPE_CHECKING:
    from kit.build.go import HostBuild
    from kit.results.records import RunResults
    from kit.run.runner import Runner

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Concurrency Wars reproducibility kit: strategies race through a batch of "
                       "4K images, each in a memory-capped sandbox.")
err = WordConsole(stderr=True)   # soft_wrap=True: wrapped between words, paths whole
out = WordConsole(file=pipe.stdout())   # `kit run | head`: a closed stdout never costs the run (kit/core/pipe.py)


@app.command()
@o.with_run_options()
def run(**options: Any) -> None:
    """Race the strategies through the batch, each in its own capped sandbox."""
    from kit.core.units import format_bytes
    from kit.metrics.exporter import check_linger

    linger = check_linger(options["metrics_linger"])
    plan = _plan(options)
    cap = (f"{format_bytes(plan.memory_limit_bytes)} ({plan.memory_limit_bytes} bytes)"
           if plan.memory_limit_bytes else "none")
    noun = ("items" + (f" ({plan.library})" if plan.library != configuration.DEFAULT_LIBRARY else "")
            if plan.workload == "images" else f"{plan.workload} tasks")
    header = (f"[bold]kit run[/bold]: {plan.items or 'all'} {noun}, {plan.workers} workers, memory cap {cap}, "
              f"CPU cap {plan.cpus or 'none'}")
    _race(plan, header, options["metrics_host"], linger, lambda runner: runner.run(), _no_oom_footer)


def _no_oom_footer(results: RunResults) -> list[str]:
    """After the table of a capped run that killed nobody: the line that says so, and how to get a kill."""
    from kit.results.summary import no_oom_lines

    return no_oom_lines(results.records)


@app.command()
@o.with_run_options(runtime="kubernetes")
def manifests(**options: Any) -> None:
    """Print the Kubernetes Jobs `kit run --runtime kubernetes` would create, as one multi-document
    YAML stream on stdout (for kubectl apply or GitOps); needs no cluster and no kubeconfig."""
    from kit.build.image import BIN_DIR
    from kit.run.manifests import job_manifests, yaml_stream
    from kit.run.runner import new_run_id

    if options["runtime"] != "kubernetes":
        raise ConfigError(f"--runtime {options['runtime']}: kit manifests prints Kubernetes Jobs; omit --runtime")
    plan = _plan(options, check_paths=False)
    run_id = new_run_id()
    jobs = job_manifests(plan, run_id, BIN_DIR)
    sys.stdout.write(yaml_stream(jobs))
    err.print(f"{len(jobs)} Jobs (label kit.dev/run={run_id}) in namespace {plan.namespace}; "
              "apply with: kubectl apply -f -", highlight=False, soft_wrap=True)


# CLI parameter -> kit.plan.config.build() argument, where the names differ
_RENAMED = {"strategy": "strategies", "images": "items", "stall_timeout": "stall", "out_dir": "out",
            "distinct_images": "pool_size"}
_CLI_ONLY = {"metrics_host", "metrics_linger"}   # the CLI's own (the endpoint), never the plan's


def _plan(options: dict[str, object], **extra: object) -> configuration.RunConfig:
    """The one way from a command's options to a validated plan (run, sweep and floor alike)."""
    arguments = {_RENAMED.get(name, name): value for name, value in options.items() if name not in _CLI_ONLY}
    return configuration.build(**{**arguments, **extra})  # type: ignore[arg-type]


def _race(plan: configuration.RunConfig, header: str, metrics_host: str, linger: float,
          execute: Callable[[Runner], RunResults],
          footer: Callable[[RunResults], list[str]] = lambda results: [], verdicts: bool = True) -> None:
    """What run, sweep and floor share: runtime, metrics endpoint, progress bars, table, warnings."""
    from rich.markup import escape

    from kit.metrics.exporter import MetricsObserver, serve
    from kit.metrics.pushgateway import group_path, pushing
    from kit.report.console import ProgressView, after_table_warnings, results_table
    from kit.results.observer import Observers
    from kit.run.runner import Interrupted, Runner, availability_lines, new_run_id, select_runtime

    chosen, note = select_runtime(plan.runtime, plan)
    if note:
        err.print(note)
    out.print(f"{header}, runtime {chosen.name}")
    if chosen.name == "cgroup":
        _first_use_builds(plan)
    for line in availability_lines(chosen.name, plan.cache_dir, plan.workload, plan.library, plan.strategies):
        out.print(line, highlight=False, soft_wrap=True)
    for warning in configuration.plan_warnings(plan):
        err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
    for line in _leftover_lines(chosen):
        err.print(f"[yellow]warning:[/yellow] {line}", markup=False, highlight=False, soft_wrap=True)
    run_id = new_run_id()
    metrics = MetricsObserver(run_id, plan.workload)
    with contextlib.ExitStack() as stack:  # the endpoint is up before image generation starts
        stack.callback(_end_of_run, chosen, plan.out_dir / run_id)
        stack.callback(_late_report, plan.out_dir / run_id)   # stopped while the table printed
        server = (stack.enter_context(serve(metrics.registry(), metrics_host, plan.metrics_port))
                  if plan.metrics_port else None)
        if server:
            out.print(f"metrics: {server.url}")
        pusher = (stack.enter_context(pushing(metrics.registry(), plan.pushgateway, run_id,
                                              lambda text: err.print(f"[yellow]warning:[/yellow] {escape(text)}",
                                                                     soft_wrap=True)))
                  if plan.pushgateway else None)
        if pusher:
            out.print(f"metrics pushed to: {plan.pushgateway}{group_path(run_id)}", soft_wrap=True)
        with ProgressView(out) as view:
            # the pusher after the exporter: the push a sandbox's start or end asks for sees it
            observers = Observers(view, metrics, *([pusher] if pusher else [])) if server or pusher else view
            runner = Runner(plan, chosen, observers, run_id=run_id)
            try:
                results = execute(runner)
            except BaseException as exc:
                view.progress.stop()
                # never hide why the run stopped; a second Ctrl-C waits for the report
                with signals.hold(), contextlib.suppress(Exception):
                    runner.save_unfinished(signals.reason() if isinstance(exc, (KeyboardInterrupt, Interrupted))
                                           else str(exc) or type(exc).__name__)   # stopped during setup
                    _write_report(runner.run_dir)  # what completed is reported
                raise
            finally:
                view.progress.stop()
        signals.hook("table")
        out.print(results_table(results.records))
        for line in footer(results):
            out.print(line)
        if verdicts:   # the run's answer, in the reports' words
            from kit.report.answer import verdict_lines

            for line in verdict_lines(results.records, results.concurrency, results.workload, out.width):
                out.print(line, markup=False, highlight=False, soft_wrap=True)
        for warning in after_table_warnings(results.warnings):
            out.print(f"[yellow]warning:[/yellow] {warning}", soft_wrap=True)   # '(under 1 s)' kept whole
        out.print(f"results: {runner.run_dir / 'results.json'}")
        with signals.deferred():  # Ctrl-C now ends the run after the report, never in the middle of it
            _write_report(runner.run_dir)
        if pusher:
            pusher.close()  # the final outcomes reach the gateway now, not after the linger
        if server and linger > 0:
            out.print(f"[dim]metrics stay up {linger:g} s for a last scrape (Ctrl-C ends the wait)[/dim]")
            server.linger(linger)


def _first_use_builds(plan: configuration.RunConfig) -> None:
    """The Go workers the run asks for (every one that runs the workload by default) are compiled on
    first use, once per Go source digest: go-native always, go-gocv when OpenCV's dev files are here."""
    from kit.build.go import ensure_built
    from kit.worker.programs import names, program

    wanted = tuple(name for name in (plan.strategies or names("go"))
                   if program(name).language == "go" and program(name).workload_problem(plan.workload) is None)
    built = ensure_built(plan.cache_dir, wanted, log=lambda line: out.print(line, highlight=False, soft_wrap=True))
    if built is None:
        return
    _print_built(built, note=" (once per Go source)")
    for name, why in built.failed.items():
        err.print(f"[yellow]warning:[/yellow] {name} could not be built: {why}", highlight=False)


def _leftover_lines(runtime: object) -> list[str]:
    """Sandboxes of killed runs (their controller is gone): said before a run, removed by doctor --clean."""
    from kit.runtimes.cgroupfs import CgroupHost
    from kit.runtimes.owners import find, orphan_containers

    host = getattr(runtime, "host", None)
    lines = []
    if isinstance(host, CgroupHost):
        lines += [f"leftover sandbox group {leftover.line()}" for leftover in find(host)]
    if getattr(runtime, "name", "") == "docker":
        with contextlib.suppress(Exception):  # the engine answered a moment ago; a hiccup is no reason to stop
            lines += [f"leftover container {c.name} ({why})" for c, why in orphan_containers(runtime.client)]  # type: ignore[attr-defined]
    if lines:
        lines.append("`kit doctor --clean` removes them")
    return lines


def _end_of_run(runtime: object, run_dir: Path) -> None:
    """Whatever way the run ends: the empty `kit/` parent groups go, and under sudo the run's
    files (outputs, logs) are handed to the user who asked."""
    from kit.core.files import hand_over_tree
    from kit.runtimes.cgroupfs import CgroupHost
    from kit.runtimes.owners import remove_empty_parents

    with signals.hold():   # a signal now is noted: main() exits with its code once this is done
        signals.hook("cleanup")
        cleanup = getattr(runtime, "cleanup", None)
        if cleanup is not None:   # kubernetes: Jobs a failed call or Ctrl-C left (the others are gone)
            for line in cleanup():
                err.print(f"[yellow]warning:[/yellow] {line}", markup=False, highlight=False, soft_wrap=True)
        host = getattr(runtime, "host", None)
        if isinstance(host, CgroupHost):
            remove_empty_parents(host)
        hand_over_tree(run_dir)


def _late_report(run_dir: Path) -> None:
    """The run stopped after its last record but before its report: a signal while the table
    printed to a blocked stdout (a full pipe, Ctrl-S). What completed is reported all the same,
    its path said on stderr (stdout is what blocked)."""
    from kit.report import write_report

    if (run_dir / "report.html").exists() or not (run_dir / "results.json").is_file():
        return   # written already, or nothing to report
    with signals.hold(), contextlib.suppress(Exception):
        err.print(f"report: {write_report(run_dir)}", soft_wrap=True, markup=False, highlight=False)


def _write_report(run_dir: Path) -> None:
    """Render report.html from the run's results.json and print its path."""
    from kit.report import write_report

    if not (run_dir / "results.json").is_file():
        return  # stopped before anything was saved: nothing to report
    signals.hook("report")
    try:
        out.print(f"report: {write_report(run_dir)}", soft_wrap=True, markup=False, highlight=False)
    except KitError as exc:
        err.print(f"[yellow]warning:[/yellow] no report: {exc}")


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (reports/<run-id>) or its results.json.")],
    output_format: Annotated[str, typer.Option("--format", help="html (write report.html), or print markdown, csv or json.")] = "html",  # noqa: E501
) -> None:
    """Re-render report.html from results.json alone (old runs and other machines' runs too), or
    print the study table as Markdown (for a pull request), the records as CSV, or the JSON."""
    from kit.report import write_report

    if output_format not in ("html", "markdown", "csv", "json"):
        raise ConfigError(f"--format {output_format!r}: choose html, markdown, csv or json")
    if output_format == "html":
        out.print(f"report: {write_report(run_dir)}", soft_wrap=True, markup=False, highlight=False)
        return
    from kit.report.formats import render_text

    print(render_text(run_dir, output_format), end="")


@app.command()
@o.with_run_options(omit=("skip_current",))
def sweep(
    workers: o.WorkersList = o.SWEEP_WORKERS,
    mem_limit: o.MemLimitList = None,
    parallel: o.Parallel = 1,
    **options: Any,
) -> None:
    """Run a grid: every strategy at every worker count and memory cap, repeated, into one results set."""
    from kit.core.units import format_bytes
    from kit.metrics.exporter import check_linger

    linger = check_linger(options["metrics_linger"])
    plan = _plan({**options, "workers": None, "mem_limit": None, "parallel": parallel}, workers_list=workers,
                 mem_limit_list=mem_limit)
    cap_text = ", ".join(format_bytes(c) if c else "none" for c in plan.grid_memory_limits_bytes)
    header = (f"[bold]kit sweep[/bold]: {plan.items or 'all'} items, workers "
              f"{', '.join(map(str, plan.grid_workers))}, memory caps {cap_text}")
    _race(plan, header, options["metrics_host"], linger, lambda runner: runner.run())


@app.command()
@o.with_run_options(omit=("workload", "iterations", "count_to", "payload_size", "io_delay", "chunksize",
                          "skip_current", "mem_limit", "repeat", "warmup", "stall_timeout", "output_dir"))
def floor(
    images: Annotated[int, typer.Option("--images", "--items", help="Items in the batch; peak memory is reached once every worker holds an image, so a short batch finds the same floor faster.")] = 48,  # noqa: E501
    low: Annotated[str, typer.Option(help="Smallest cap to try, e.g. 64m (expected to fail).")] = "32m",
    high: Annotated[str, typer.Option(help="Largest cap to try, e.g. 4g (expected to pass).")] = "4g",
    step: Annotated[str, typer.Option(help="Resolution of the answer.")] = "8m",
    confirmations: Annotated[int, typer.Option(help="Runs that must all complete for a cap to pass.")] = 3,
    cold: Annotated[bool, typer.Option(help="Drop the page cache before every run (root): libraries are then charged to the sandbox.")] = False,  # noqa: E501
    **options: Any,
) -> None:
    """Find by bisection the smallest memory cap under which each strategy completes the batch."""
    from kit.core.units import format_bytes, parse_size
    from kit.metrics.exporter import check_linger
    from kit.run.floor import align_caps

    linger = check_linger(options["metrics_linger"])
    if confirmations < 1:
        raise ConfigError(f"--confirmations {confirmations}: must be at least 1")
    low_bytes = configuration.parse_memory_limit(low)
    high_bytes = configuration.parse_memory_limit(high)
    assert low_bytes is not None and high_bytes is not None
    step_bytes = parse_size(step)
    low_bytes, high_bytes = align_caps(low_bytes, high_bytes, step_bytes)
    search = configuration.FloorSearch(low_bytes, high_bytes, step_bytes, confirmations, cold)
    plan = _plan({**options, "images": images}, floor=search)

    def footer(results: RunResults) -> list[str]:
        return [f"[bold]floor[/bold] {f['strategy']} x{f['workers']}: {f['note']} "
                f"[dim](page cache {f['page_cache']}, {f['confirmations']} run(s) per cap)[/dim]"
                for f in results.floors]

    _race(plan, f"[bold]kit floor[/bold]: {plan.items} items, {plan.workers} workers, caps "
                f"{format_bytes(low_bytes)} to {format_bytes(high_bytes)} by {format_bytes(step_bytes)}, "
                f"{confirmations} runs per cap", options["metrics_host"], linger,
          lambda runner: _floors(runner, search), footer, verdicts=False)


def _floors(runner: Runner, search: configuration.FloorSearch) -> RunResults:
    from kit.run.floor import run_floors

    return run_floors(runner, search)


@app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(help="First run directory (or its results.json): A.")],
    run_b: Annotated[Path, typer.Argument(help="Second run directory (or its results.json): B.")],
    fail_above: Annotated[Optional[float], typer.Option(help="CI gate: exit 1 when B is significantly slower than A by more than this percent (needs --repeat 5 a side; exit 2 when it cannot decide).")] = None,  # noqa: UP045,E501
    output_format: Annotated[str, typer.Option("--format", help="table (default) or markdown.")] = "table",
) -> None:
    """The same strategies across two runs: ratios B / A, significance, environment differences."""
    import math

    from kit.report.compare import compare_dirs, comparison_lines, comparison_markdown, comparison_table, gate

    if output_format not in ("table", "markdown"):
        raise ConfigError(f"--format {output_format!r}: choose table or markdown")
    if fail_above is not None and not (math.isfinite(fail_above) and 0 <= fail_above < 100):
        raise ConfigError(f"--fail-above {fail_above}: a percentage from 0 to below 100")
    comparison = compare_dirs(run_a, run_b)
    if output_format == "markdown":
        print(comparison_markdown(comparison), end="")
    else:
        out.print(comparison_table(comparison))
        for line in comparison_lines(comparison):
            out.print(line, highlight=False)
    if fail_above is not None:
        verdict = gate(comparison, fail_above)
        for line in verdict.lines:
            (err if verdict.exit_code else out).print(line, highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(verdict.exit_code)


@app.command()
def data(
    count: Annotated[int, typer.Option(help="Distinct images in the pool.")] = 16,
    resolution: Annotated[str, typer.Option(help="4k, 1080p, 720p or WxH.")] = "4k",
) -> None:
    """Generate (or find cached) the pool of synthetic photo-like JPEGs."""
    from kit.core.units import format_bytes
    from kit.plan.inputs import generate

    if count < 1:
        raise ConfigError(f"--count {count}: must be at least 1")
    plan = configuration.build(resolution=resolution, items=count, check_paths=False)
    paths = generate(plan, count)
    mean = sum(path.stat().st_size for path in paths) / len(paths)
    out.print(f"{len(paths)} images of {plan.width}x{plan.height} in {paths[0].parent} "
              f"(mean {format_bytes(mean)})")


@app.command()
def doctor(
    metrics_port: Annotated[int, typer.Option(help="Port the metrics endpoint will use.")] = o.METRICS_PORT,
    clean: Annotated[bool, typer.Option("--clean", help="Remove the sandboxes (cgroups, containers) of killed runs.")] = False,  # noqa: E501
    runtime: o.Runtime = o.RUNTIME,
    namespace: o.Namespace = o.NAMESPACE,
    image: o.Image = None,
    node_selector: o.NodeSelector = None,
    mem_limit: o.MemLimit = None,
    cpus: o.Cpus = None,
    workers: o.Workers = None,
    pending_timeout: o.PendingTimeout = o.PENDING_TIMEOUT,
    image_check: Annotated[bool, typer.Option(help="kubernetes: start a tiny pod with the image to check that a node pulls and runs it.")] = True,  # noqa: E501
) -> None:
    """Check what runs need here and say how to fix what is missing; with --runtime kubernetes, the
    cluster: reachable, RBAC in the namespace, nodes that fit a sandbox, the image."""
    if runtime == "kubernetes":
        _doctor_kubernetes(configuration.build(runtime=runtime, namespace=namespace, image=image,
                                               node_selector=node_selector, mem_limit=mem_limit, cpus=cpus,
                                               workers=workers, pending_timeout=pending_timeout, check_paths=False),
                           image_check)
        return
    from kit.runtimes.cgroupfs import CgroupHost

    checks: list[tuple[str, str | None]] = []
    host = CgroupHost()
    checks.append((f"cgroup v{host.version}: a child group with a memory cap", host.problem()))
    checks.append((f"metrics port 127.0.0.1:{metrics_port} free", _port_problem(metrics_port)))
    checks.append(("no sandboxes left by killed runs", _leftovers_problem(host, clean)))
    # Optional: without an engine (or image) runs use the cgroup runtime; without a build, fewer strategies.
    from kit.measure import system
    from kit.report.console import doctor_lines

    lines, failed = doctor_lines(checks, [*_docker_checks(), *_go_checks(), _free_threaded_check()],
                                 system.findings(system.capture()))
    for line in lines:
        out.print(line, highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)


def _doctor_kubernetes(plan: configuration.RunConfig, image_check: bool) -> None:
    """The cluster's checks only: the local runtimes' are not what a kubernetes run needs."""
    from rich.markup import escape

    from kit.run.runner import cluster_settings
    from kit.runtimes.kube.doctor import Sandbox, checks

    cluster = cluster_settings(plan)
    if image_check:
        out.print(f"checking the image with a probe pod in {cluster.namespace} (up to "
                  f"{plan.pending_timeout_seconds:g} s, --pending-timeout; --no-image-check skips it)",
                  highlight=False, soft_wrap=True)
    failed = False
    for name, problem in checks(cluster, Sandbox(plan.memory_limit_bytes, plan.cpus or float(plan.workers)),
                                image=image_check):
        optional = name.startswith("RBAC (optional)") or (not image_check and name.startswith("image "))
        name, problem = escape(name), escape(problem) if problem else None
        if problem and not optional:
            failed = True
            out.print(f"[red]FAIL[/red] {name}\n     {problem}", highlight=False, soft_wrap=True)
        elif problem:
            out.print(f"[yellow]warn[/yellow] {name}\n     {problem}", highlight=False, soft_wrap=True)
        else:
            out.print(f"[green] ok [/green] {name}", highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)


def _leftovers_problem(host: object, clean: bool) -> str | None:
    """Cgroups (and containers) whose kit controller is gone; with --clean they are removed."""
    from kit.runtimes.cgroupfs import CgroupHost
    from kit.runtimes.owners import find, orphan_containers, prune_markers, remove, remove_empty_parents

    assert isinstance(host, CgroupHost)
    if clean:
        prune_markers()
    if host.version == 1 and not (host.root / "memory").is_dir():
        return None  # no cgroups here at all: nothing can be left over
    leftovers = find(host)
    containers = []
    with contextlib.suppress(Exception):  # no engine: no containers to leave behind
        from kit.runtimes.engine import connect

        client = connect()
        with contextlib.closing(client):
            containers = orphan_containers(client)
            if clean:
                for container, _ in containers:
                    with contextlib.suppress(Exception):
                        container.remove(force=True)
    found = ([f"group {leftover.line()}" for leftover in leftovers]
             + [f"container {container.name} ({why})" for container, why in containers])
    if not found:
        return None
    if clean:
        failed = []
        for leftover in leftovers:
            try:
                remove(host, leftover)
            except OSError as exc:
                failed.append(f"{leftover.name}: {exc.strerror or exc}")
        remove_empty_parents(host)
        for line in found:
            out.print(f"[green]removed[/green] {line}", highlight=False, soft_wrap=True)
        return "could not remove " + "; ".join(failed) if failed else None
    return ("left by killed runs (run `kit doctor --clean` to remove them):\n     "
            + "\n     ".join(found))


def _go_checks() -> list[tuple[str, str | None]]:
    """Optional too: the Go strategies on the cgroup runtime need a host build."""
    from kit.build.availability import unavailable_reason
    from kit.build.go import go_tool
    from kit.plan.config import default_cache_dir
    from kit.worker.programs import names

    tool, version = go_tool()
    label = f"Go toolchain{' ' + version if tool else ''} (for the Go strategies on the cgroup runtime)"
    checks = [(label, None if tool else version)]
    return checks + [(f"{name} built for the cgroup runtime",
                      unavailable_reason(name, "cgroup", default_cache_dir())) for name in names("go")]


def _free_threaded_check() -> tuple[str, str | None]:
    """Optional: python-threads-ft needs the free-threaded CPython `kit setup --free-threaded` builds."""
    from kit.build import freethreaded
    from kit.plan.config import default_cache_dir

    found = freethreaded.installed(default_cache_dir())
    label = f"free-threaded CPython{' ' + found.version if found else ''} (for python-threads-ft)"
    return label, freethreaded.unavailable_reason("cgroup", default_cache_dir())


def _docker_checks() -> list[tuple[str, str | None]]:
    """The Docker engine, then the worker image's freshness (what `--runtime auto` decides on)."""
    from kit.build.image import image_problem, image_tag
    from kit.core.errors import RuntimeUnavailable
    from kit.runtimes.engine import connect, engine_address

    try:
        client = connect()
    except RuntimeUnavailable as exc:
        return [(f"Docker engine at {engine_address()} (for the docker runtime)", str(exc)),
                (f"worker image {image_tag()} current", "not checked: no engine")]
    with contextlib.closing(client):
        version = client.version().get("Version", "?")
        return [(f"Docker engine {version} at {engine_address()} (for the docker runtime)", None),
                (f"worker image {image_tag()} current", image_problem(client))]


@app.command()
def build(
    python_image: Annotated[Optional[str], typer.Option(help="Base image for Python (default: the Dockerfile's digest-pinned python image).")] = None,  # noqa: UP045,E501
    go_image: Annotated[Optional[str], typer.Option(help="Base image for the Go build stage (default: the Dockerfile's digest-pinned golang image).")] = None,  # noqa: UP045,E501
    ca_bundle: Annotated[Optional[Path], typer.Option(help="CA bundle for pip inside the build, for TLS-intercepting proxies (default: $PIP_CERT when set).")] = None,  # noqa: UP045,E501
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Rebuild every layer.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the result.")] = False,
    target: Annotated[str, typer.Option(help="image: the worker image; host: the Go workers for the cgroup runtime, into the kit's cache.")] = "image",  # noqa: E501
) -> None:
    """Build (or rebuild) the worker image kit-worker:<version> from this kit's sources;
    `--target host` builds the Go workers on this machine instead."""
    if target not in ("image", "host"):
        raise ConfigError(f"--target {target!r}: choose image or host")
    if target == "host":
        _build_host(quiet)
        return
    from kit.build.image import VERSION_LABELS, BuildOptions, default_ca_bundle
    from kit.build.image import build as build_image
    from kit.core.units import format_bytes

    if ca_bundle is not None and not ca_bundle.is_file():
        raise ConfigError(f"--ca-bundle {ca_bundle}: no such file")
    options = BuildOptions(python_image=python_image, go_image=go_image,
                           ca_bundle=ca_bundle or default_ca_bundle(), no_cache=no_cache,
                           free_threaded=_free_threaded_prefix())
    built = build_image(options, log=(lambda line: None) if quiet else (lambda line: out.print(line, markup=False,
                                                                                               highlight=False)))
    versions = ", ".join(f"{label.split('.', 1)[1]} {built.labels[label]}"
                         for label in VERSION_LABELS.values() if label in built.labels)
    out.print(f"built {built.tag} ({built.image_id[:19]}, {format_bytes(built.size_bytes)}) "
              f"in {built.build_seconds:.0f} s: {versions}")
    _print_free_threaded(built.labels, options.free_threaded)


def _print_free_threaded(labels: dict[str, str], prefix: Path | None) -> None:
    """Whether the image carries python-threads-ft's interpreter, and if not, how it would."""
    from kit.build.image import FREE_THREADED_LABEL

    if labels.get(FREE_THREADED_LABEL):
        out.print(f"with the free-threaded CPython {labels[FREE_THREADED_LABEL]} at /opt/python-ft (copied from "
                  f"{prefix}): python-threads-ft runs in containers", highlight=False, soft_wrap=True)
    elif prefix is None:
        out.print("without a free-threaded CPython (python-threads-ft): run `kit setup --free-threaded`, then "
                  "`kit build`", highlight=False, soft_wrap=True)
    else:
        err.print(f"[yellow]warning:[/yellow] the free-threaded CPython copied from {prefix} does not run GIL-free "
                  "in the image: python-threads-ft is not available in containers", highlight=False, soft_wrap=True)


@app.command()
def setup(
    with_deps: Annotated[bool, typer.Option("--with-deps", help="Also install the system packages go-gocv needs (a C++ compiler, OpenCV's dev files) and the distribution's Python OpenCV and NumPy (the same build, for the Python strategies) with apt or dnf; needs root.")] = False,  # noqa: E501
    no_image: Annotated[bool, typer.Option("--no-image", help="Do not build the worker image even when a Docker engine answers.")] = False,  # noqa: E501
    python_image: Annotated[Optional[str], typer.Option(help="Base image for Python in the worker image (as kit build).")] = None,  # noqa: UP045,E501
    go_image: Annotated[Optional[str], typer.Option(help="Base image for the Go stage of the worker image (as kit build).")] = None,  # noqa: UP045,E501
    free_threaded: Annotated[bool, typer.Option("--free-threaded", help="Also build CPython 3.13 with --disable-gil from Debian trixie's source package, for python-threads-ft (about 20 minutes on a busy 2-core machine, once; cached).")] = False,  # noqa: E501
) -> None:
    """Prepare every strategy this machine can run: system packages (--with-deps), both Go
    workers, the free-threaded interpreter (--free-threaded), and the worker image when a Docker
    engine answers (after the interpreter, so that the image carries it)."""
    import time

    from kit.build import setup as system
    from kit.build.go import build_host
    from kit.plan.config import default_cache_dir

    started = time.monotonic()
    if with_deps:
        plan = system.package_plan(free_threaded=free_threaded)
        system.install_packages(plan, log=lambda line: out.print(line, highlight=False))
        out.print(f"system packages ready ({time.monotonic() - started:.0f} s)")
    built = build_host(default_cache_dir(), log=lambda line: out.print(line, highlight=False, soft_wrap=True))
    _print_built(built)
    from kit.build import system_opencv

    out.print(system_opencv.summary(system_opencv.probe(default_cache_dir())), highlight=False, soft_wrap=True)
    if free_threaded:
        _setup_free_threaded()
    if not no_image:
        _setup_image(python_image, go_image)
    out.print(f"setup took {time.monotonic() - started:.0f} s", highlight=False)
    _raise_unbuilt(built)


def _setup_free_threaded() -> None:
    """The free-threaded interpreter: built once (minutes), found again at once afterwards."""
    import time

    from kit.build import cpython
    from kit.plan.config import default_cache_dir

    started = time.monotonic()
    # One line per step (and every 30 s while one runs) for logs; on a terminal a spinner too.
    with out.status("free-threaded CPython: checking the cache, building when needed"):
        interpreter, built_now = cpython.build(
            default_cache_dir(), log=lambda line: out.print(line, markup=False, highlight=False, soft_wrap=True))
    what = "built" if built_now else "already built"
    out.print(f"free-threaded CPython {interpreter.version} {what}: {interpreter.python} "
              f"({time.monotonic() - started:.0f} s)", highlight=False, soft_wrap=True)


def _free_threaded_prefix() -> Path | None:
    """The host's free-threaded CPython, which the worker image carries when there is one."""
    from kit.build.freethreaded import installed_prefix
    from kit.plan.config import default_cache_dir

    return installed_prefix(default_cache_dir())


def _setup_image(python_image: str | None, go_image: str | None) -> None:
    """The worker image when an engine answers; a failure is one warning line, never the exit code."""
    from kit.build.image import BuildOptions, default_ca_bundle
    from kit.build.image import build as build_image
    from kit.core.errors import RuntimeUnavailable
    from kit.runtimes.engine import connect

    try:
        client = connect()
    except RuntimeUnavailable:
        out.print("no Docker engine answers: the worker image is skipped (runs use cgroups)", highlight=False)
        return
    out.print("building the worker image (several minutes the first time)", highlight=False)
    try:
        prefix = _free_threaded_prefix()
        built = build_image(BuildOptions(python_image=python_image, go_image=go_image,
                                         ca_bundle=default_ca_bundle(), free_threaded=prefix), client=client)
        out.print(f"built {built.tag} in {built.build_seconds:.0f} s", highlight=False)
        _print_free_threaded(built.labels, prefix)
    except KitError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        err.print(f"[yellow]warning:[/yellow] no worker image ({first}); runs use cgroups", highlight=False)
    finally:
        client.close()


def _build_host(quiet: bool) -> None:
    """`kit build --target host`: go-native and go-gocv for the cgroup runtime; one that cannot
    build is reported with how to fix it (exit 1), the other is still built."""
    import time

    from kit.build.go import build_host
    from kit.plan.config import default_cache_dir

    started = time.monotonic()
    built = build_host(default_cache_dir(), log=(lambda line: None) if quiet else out.print)
    _print_built(built, where=True)
    out.print(f"host build took {time.monotonic() - started:.1f} s", highlight=False)
    _raise_unbuilt(built)


def _print_built(built: HostBuild, note: str = "", where: bool = False) -> None:
    """One line per Go worker built: toolchain, where it came from, seconds (and the binary's path)."""
    for name, seconds in built.built.items():
        place = f": {built.directory / name}" if where else ""
        out.print(f"built {name} with {built.go_version} ({built.origin}) in {seconds:.1f} s{note}{place}",
                  soft_wrap=True, highlight=False)


def _raise_unbuilt(built: HostBuild) -> None:
    """`kit setup` and `kit build --target host` fail (exit 1) when a Go worker could not be built."""
    from kit.core.errors import EnvironmentProblem

    if built.failed:
        raise EnvironmentProblem("; ".join(f"{name} not built: {why}" for name, why in built.failed.items()))


def _port_problem(port: int) -> str | None:
    if port == 0:
        return None
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            return f"port {port} is taken ({exc.strerror}): pass --metrics-port with a free port, or 0"
    return None


o.unwrap_docstrings(app)   # after the last command: `kit --help` wraps between words


def main(argv: list[str] | None = None) -> None:
    """Console entry point: every user mistake is one line and exit 2, never a traceback; Ctrl-C,
    SIGTERM and SIGHUP end a run alike (exit 130, 143, 129) with its finished records and report.

    A signal that arrives at any moment before the process exits makes the exit code the first
    signal's, and none kills the process on its way out. Called without `argv` (the console script,
    `python -m kit`) main owns the process: signals stay noted until it is gone. With `argv`
    (tests calling it in-process) it puts back the handlers it replaced."""
    previous = signals.install()
    code: int = 1
    try:
        code = _main(argv)
    except KeyboardInterrupt:   # a signal between _main's own handlers (it prints the word once)
        code = signals.exit_code()
        with signals.ending():
            _say(signals.describe())
    finally:
        with signals.ending():
            signals.hook("exit")
            _flush_stdout()
            if signals.received() is not None:
                code = signals.exit_code()   # also a signal during the final cleanup, after the report
            if argv is None:
                signals.quiet()
            else:
                signals.uninstall(previous)
    sys.exit(code)


def _say(line: str) -> None:
    """One line on stderr, which a closed pipe cannot turn into a traceback."""
    with contextlib.suppress(OSError):
        print(line, file=sys.stderr, flush=True)


def _flush_stdout() -> None:
    """Whatever is still buffered; a reader that went away (`kit run | head`) costs nothing."""
    try:
        sys.stdout.flush()
    except OSError as exc:
        if exc.errno not in (errno.EPIPE, errno.EINVAL):
            raise
        pipe.silence_stdout()


def _main(argv: list[str] | None) -> int:
    """Run the command; its exit code, every error said in one line."""
    try:
        code = app(args=argv, standalone_mode=False)
    except typer.TyperException as exc:  # usage errors (exit 2) from typer's own parser
        _say(f"error: {exc.format_message()}")
        return int(exc.exit_code)
    except KitError as exc:
        with signals.ending():
            _say(f"error: {exc}")
        return signals.exit_code() if exc.exit_code == 130 else exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        with signals.ending():
            _say(signals.describe())
        return signals.exit_code()
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise  # a bug: keep its traceback
        _say(f"error: cannot write {exc.filename or 'a file'}: {exc.strerror}; free space there or choose "
             "another --out / --output-dir")
        return 1
    if code == 130:  # typer turns a KeyboardInterrupt into Exit(130)
        with signals.ending():
            _say(signals.describe())
        return signals.exit_code()
    return code if isinstance(code, int) else 0
