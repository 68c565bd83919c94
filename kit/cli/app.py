"""The typer app: each command parses, calls one function in the room that owns the job, and prints.
The plan's options come from their declarations (kit/plan/config.py via kit/cli/params.py); the exit
codes (product.md section 4) are kit/cli/exits.py's."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kit.cli.params import plan_command, unwrap_docstrings
from kit.core import pipe
from kit.core.errors import ConfigError
from kit.plan.config import RunConfig
from kit.report.console import Consoles, WordConsole

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Concurrency Wars reproducibility kit: strategies race through a batch of "
                       "4K images, each in a memory-capped sandbox.")
# soft_wrap: wrapped between words, paths whole; `kit run | head`: a closed stdout never costs the run
say = Consoles(out=WordConsole(file=pipe.stdout()), err=WordConsole(stderr=True))


@plan_command(app, "run")
def run(plan: RunConfig) -> None:
    """Race the strategies through the batch, each in its own capped sandbox."""
    from kit.run.race import race, run_race

    race(plan, run_race(plan), say)


@plan_command(app, "manifests", check_paths=False, runtime="kubernetes")
def manifests(plan: RunConfig) -> None:
    """Print the Kubernetes Jobs `kit run --runtime kubernetes` would create, as one multi-document
    YAML stream on stdout (for kubectl apply or GitOps); needs no cluster and no kubeconfig."""
    from kit.run.manifests import print_jobs

    print_jobs(plan, say)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (reports/<run-id>) or its results.json.")],
    output_format: Annotated[str, typer.Option("--format", help="html (write report.html), or print markdown, csv or json.")] = "html",  # noqa: E501
) -> None:
    """Re-render report.html from results.json alone (old runs and other machines' runs too), or
    print the study table as Markdown (for a pull request), the records as CSV, or the JSON."""
    from kit.report import write_report
    from kit.report.formats import render_text

    if output_format not in ("html", "markdown", "csv", "json"):
        raise ConfigError(f"--format {output_format!r}: choose html, markdown, csv or json")
    if output_format == "html":
        say.line(f"report: {write_report(run_dir)}")
    else:
        print(render_text(run_dir, output_format), end="")


@plan_command(app, "sweep")
def sweep(plan: RunConfig) -> None:
    """Run a grid: every strategy at every worker count and memory cap, repeated, into one results set."""
    from kit.run.race import race, sweep_race

    race(plan, sweep_race(plan), say)


@plan_command(app, "floor", items=48)
def floor(plan: RunConfig) -> None:
    """Find by bisection the smallest memory cap under which each strategy completes the batch
    (a short batch finds the same floor faster: peak memory comes once every worker holds an image)."""
    from kit.run.race import floor_race, race

    race(plan, floor_race(plan), say)


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
        say.out.print(comparison_table(comparison))
        for line in comparison_lines(comparison):
            say.out.print(line, highlight=False)
    if fail_above is not None:
        verdict = gate(comparison, fail_above)
        for line in verdict.lines:
            (say.err if verdict.exit_code else say.out).print(line, highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(verdict.exit_code)


@app.command()
def data(
    count: Annotated[int, typer.Option(help="Distinct images in the pool.")] = 16,
    resolution: Annotated[str, typer.Option(help="4k, 1080p, 720p or WxH.")] = "4k",
) -> None:
    """Generate (or find cached) the pool of synthetic photo-like JPEGs."""
    from kit.core.units import format_bytes
    from kit.plan.config import build
    from kit.plan.inputs import generate

    if count < 1:
        raise ConfigError(f"--count {count}: must be at least 1")
    plan = build(resolution=resolution, items=count, check_paths=False)
    paths = generate(plan, count)
    mean = sum(path.stat().st_size for path in paths) / len(paths)
    say.out.print(f"{len(paths)} images of {plan.width}x{plan.height} in {paths[0].parent} "
                  f"(mean {format_bytes(mean)})")


@plan_command(app, "doctor", check_paths=False)
def doctor(
    plan: RunConfig,
    clean: Annotated[bool, typer.Option("--clean", help="Remove the sandboxes (cgroups, containers) of killed runs.")] = False,  # noqa: E501
    image_check: Annotated[bool, typer.Option(help="kubernetes: start a tiny pod with the image to check that a node pulls and runs it.")] = True,  # noqa: E501
) -> None:
    """Check what runs need here and say how to fix what is missing; with --runtime kubernetes, the
    cluster: reachable, RBAC in the namespace, nodes that fit a sandbox, the image."""
    from kit.run import doctor as checks

    if checks.needed(plan, clean, image_check, say):
        raise typer.Exit(1)


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
    from kit.run import prepare

    if target not in ("image", "host"):
        raise ConfigError(f"--target {target!r}: choose image or host")
    if target == "host":
        prepare.build_host(quiet, say)
    else:
        prepare.build_image(prepare.ImageOptions(python_image, go_image, ca_bundle, no_cache), quiet, say)


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
    from kit.run import prepare

    image = None if no_image else prepare.ImageOptions(python_image, go_image)
    prepare.setup(say, with_deps, free_threaded, image)


unwrap_docstrings(app)   # after the last command: `kit --help` wraps between words
