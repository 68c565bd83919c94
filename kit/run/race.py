"""The race as a command runs it: the runtime chosen, the metrics endpoint up, progress bars while
the runner works, then the table, the verdicts, the warnings and the report; and whatever way it
ends, the run's empty parent groups gone and its files handed to the user who asked.

`kit run`, `kit sweep` and `kit floor` differ only in their header, what the runner executes and the
lines after the table (`Race`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kit.core import signals
from kit.core.errors import KitError
from kit.core.units import format_bytes
from kit.plan.config import DEFAULT_LIBRARY, RunConfig, plan_warnings
from kit.report.console import Consoles
from kit.results.records import RunResults
from kit.run import leftovers

if TYPE_CHECKING:
    from kit.metrics.exporter import MetricsServer
    from kit.metrics.pushgateway import Pusher
    from kit.run.runner import Runner
    from kit.runtimes.base import Runtime


@dataclass(frozen=True, slots=True)
class Race:
    """What a racing command asks for: its header, the runner's work, lines after the table, and
    whether the study's verdicts apply (kit floor's caps are not the study's question)."""

    header: str
    execute: Callable[[Runner], RunResults]
    footer: Callable[[RunResults], list[str]] = field(default=lambda results: [])
    verdicts: bool = True


def run_race(plan: RunConfig) -> Race:
    """`kit run`: the batch through every strategy, then a line when a capped run killed nobody."""
    from kit.results.summary import no_oom_lines

    cap = (f"{format_bytes(plan.memory_limit_bytes)} ({plan.memory_limit_bytes} bytes)"
           if plan.memory_limit_bytes else "none")
    noun = ("items" + (f" ({plan.library})" if plan.library != DEFAULT_LIBRARY else "")
            if plan.workload == "images" else f"{plan.workload} tasks")
    header = (f"[bold]kit run[/bold]: {plan.items or 'all'} {noun}, {plan.workers} workers, memory cap {cap}, "
              f"CPU cap {plan.cpus or 'none'}")
    return Race(header, lambda runner: runner.run(), lambda results: no_oom_lines(results.records))


def sweep_race(plan: RunConfig) -> Race:
    """`kit sweep`: every strategy at every worker count and cap."""
    caps = ", ".join(format_bytes(c) if c else "none" for c in plan.grid_memory_limits_bytes)
    return Race(f"[bold]kit sweep[/bold]: {plan.items or 'all'} items, workers "
                f"{', '.join(map(str, plan.grid_workers))}, memory caps {caps}", lambda runner: runner.run())


def floor_race(plan: RunConfig) -> Race:
    """`kit floor`: the bisection of each strategy's smallest cap, a line per floor found."""
    from kit.run.floor import run_floors

    search = plan.floor
    assert search is not None

    def footer(results: RunResults) -> list[str]:
        return [f"[bold]floor[/bold] {f['strategy']} x{f['workers']}: {f['note']} "
                f"[dim](page cache {f['page_cache']}, {f['confirmations']} run(s) per cap)[/dim]"
                for f in results.floors]

    header = (f"[bold]kit floor[/bold]: {plan.items} items, {plan.workers} workers, caps "
              f"{format_bytes(search.low_bytes)} to {format_bytes(search.high_bytes)} by "
              f"{format_bytes(search.step_bytes)}, {search.confirmations} runs per cap")
    return Race(header, lambda runner: run_floors(runner, search), footer, verdicts=False)


def race(plan: RunConfig, what: Race, say: Consoles) -> None:
    """Run it: announce, serve metrics, show progress, then the table and the report."""
    from kit.metrics.exporter import MetricsObserver
    from kit.run.runner import new_run_id

    chosen = _announce(plan, what.header, say)
    run_id = new_run_id()
    metrics = MetricsObserver(run_id, plan.workload)
    with contextlib.ExitStack() as stack:  # the endpoint is up before image generation starts
        stack.callback(_end_of_run, chosen, plan.out_dir / run_id, say)
        stack.callback(_late_report, plan.out_dir / run_id, say)   # stopped while the table printed
        server, pusher = _endpoints(stack, plan, metrics, run_id, say)
        runner, results = _execute(plan, chosen, what, say, _observers(metrics, server, pusher), run_id)
        _after(results, runner.run_dir, what, say)
        if pusher:
            pusher.close()  # the final outcomes reach the gateway now, not after the linger
        if server and plan.metrics_linger_seconds > 0:
            say.out.print(f"[dim]metrics stay up {plan.metrics_linger_seconds:g} s for a last scrape "
                          "(Ctrl-C ends the wait)[/dim]")
            server.linger(plan.metrics_linger_seconds)


def _announce(plan: RunConfig, header: str, say: Consoles) -> Any:
    """The runtime chosen, Go workers built on first use, what is unavailable, warnings, leftovers."""
    from kit.run.choose import availability_lines, select_runtime

    chosen, note = select_runtime(plan.runtime, plan)
    if note:
        say.err.print(note)
    say.out.print(f"{header}, runtime {chosen.name}")
    if not chosen.capabilities.image:   # the host's Go workers, not an image's
        _first_use_builds(plan, say)
    for line in availability_lines(chosen.name, plan.cache_dir, plan.workload, plan.library, plan.strategies):
        say.out.print(line, highlight=False, soft_wrap=True)
    for warning in plan_warnings(plan):
        say.warn(warning)
    for line in leftovers.lines(chosen):
        say.warn(line, markup=False)
    return chosen


def _endpoints(stack: contextlib.ExitStack, plan: RunConfig, metrics: Any, run_id: str,
               say: Consoles) -> tuple[MetricsServer | None, Pusher | None]:
    """The metrics endpoint and the Pushgateway pusher, each when asked for."""
    from kit.metrics.exporter import serve
    from kit.metrics.pushgateway import group_path, pushing

    server = (stack.enter_context(serve(metrics.registry(), plan.metrics_host, plan.metrics_port))
              if plan.metrics_port else None)
    if server:
        say.out.print(f"metrics: {server.url}")
    pusher = (stack.enter_context(pushing(metrics.registry(), plan.pushgateway, run_id,
                                          lambda text: say.warn(text, markup=False)))
              if plan.pushgateway else None)
    if pusher:
        say.out.print(f"metrics pushed to: {plan.pushgateway}{group_path(run_id)}", soft_wrap=True)
    return server, pusher


def _observers(metrics: Any, server: MetricsServer | None, pusher: Pusher | None) -> Callable[[Any], Any]:
    """The progress view alone, or with the exporter (and the pusher after it: the push a
    sandbox's start or end asks for then sees the exporter's figures)."""
    from kit.results.observer import Observers

    return lambda view: Observers(view, metrics, *([pusher] if pusher else [])) if server or pusher else view


def _execute(plan: RunConfig, chosen: Any, what: Race, say: Consoles, observers: Callable[[Any], Any],
             run_id: str) -> tuple[Runner, RunResults]:
    """The runner's work under progress bars; stopped early, what completed is saved and reported."""
    from kit.report.progress import ProgressView
    from kit.run.runner import Interrupted, Runner

    with ProgressView(say.out) as view:
        runner = Runner(plan, chosen, observers(view), run_id=run_id)
        try:
            return runner, what.execute(runner)
        except BaseException as exc:
            view.progress.stop()
            # never hide why the run stopped; a second Ctrl-C waits for the report
            with signals.hold(), contextlib.suppress(Exception):
                runner.save_unfinished(signals.reason() if isinstance(exc, (KeyboardInterrupt, Interrupted))
                                       else str(exc) or type(exc).__name__)   # stopped during setup
                write_report(runner.run_dir, say)  # what completed is reported
            raise
        finally:
            view.progress.stop()


def _after(results: RunResults, run_dir: Path, what: Race, say: Consoles) -> None:
    """The table, the command's lines, the verdicts, the warnings, then the report."""
    from kit.report.console import after_table_warnings
    from kit.report.table import results_table

    signals.hook("table")
    say.out.print(results_table(results.records))
    for line in what.footer(results):
        say.out.print(line)
    if what.verdicts:   # the run's answer, in the reports' words
        from kit.report.answer import verdict_lines

        for line in verdict_lines(results.records, results.concurrency, results.workload, say.out.width):
            say.line(line)
    for warning in after_table_warnings(results.warnings):
        say.finding(warning)   # '(under 1 s)' kept whole
    say.out.print(f"results: {run_dir / 'results.json'}")
    with signals.deferred():  # Ctrl-C now ends the run after the report, never in the middle of it
        write_report(run_dir, say)


def _first_use_builds(plan: RunConfig, say: Consoles) -> None:
    """The Go workers the run asks for (every one that runs the workload by default) are compiled on
    first use, once per Go source digest: go-native always, go-gocv when OpenCV's dev files are here."""
    from kit.build.go import ensure_built
    from kit.run.prepare import print_built
    from kit.worker.programs import names, program

    wanted = tuple(name for name in (plan.strategies or names("go"))
                   if program(name).language == "go" and program(name).workload_problem(plan.workload) is None)
    built = ensure_built(plan.cache_dir, wanted, log=lambda line: say.out.print(line, highlight=False,
                                                                                  soft_wrap=True))
    if built is None:
        return
    print_built(built, say, note=" (once per Go source)")
    for name, why in built.failed.items():
        say.warn(f"{name} could not be built: {why}")


def _end_of_run(runtime: Runtime, run_dir: Path, say: Consoles) -> None:
    """Whatever way the run ends: the runtime's own cleanup (Kubernetes: the Jobs a failed call or
    Ctrl-C left; cgroup and Docker: the empty `kit/` parent groups), and under sudo the run's files
    (outputs, logs) handed to the user who asked."""
    from kit.core.files import hand_over_tree

    with signals.hold():   # a signal now is noted: main() exits with its code once this is done
        signals.hook("cleanup")
        for line in runtime.cleanup():
            say.warn(line, markup=False)
        hand_over_tree(run_dir)


def _late_report(run_dir: Path, say: Consoles) -> None:
    """The run stopped after its last record but before its report: a signal while the table
    printed to a blocked stdout (a full pipe, Ctrl-S). What completed is reported all the same,
    its path said on stderr (stdout is what blocked)."""
    from kit.report import write_report as render

    if (run_dir / "report.html").exists() or not (run_dir / "results.json").is_file():
        return   # written already, or nothing to report
    with signals.hold(), contextlib.suppress(Exception):
        say.err.print(f"report: {render(run_dir)}", soft_wrap=True, markup=False, highlight=False)


def write_report(run_dir: Path, say: Consoles) -> None:
    """Render report.html from the run's results.json and print its path."""
    from kit.report import write_report as render

    if not (run_dir / "results.json").is_file():
        return  # stopped before anything was saved: nothing to report
    signals.hook("report")
    try:
        say.line(f"report: {render(run_dir)}")
    except KitError as exc:
        say.warn(f"no report: {exc}")

