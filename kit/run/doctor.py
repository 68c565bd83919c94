"""`kit doctor`: what runs need on this machine (or, for Kubernetes, on the cluster), each check a
line saying how to fix what is missing. Returns whether a needed check failed; the CLI exits 1 then."""

from __future__ import annotations

import contextlib
import socket

from kit.plan.config import RunConfig, default_cache_dir
from kit.report.console import Consoles

Check = tuple[str, str | None]


def needed(plan: RunConfig, clean: bool, image_check: bool, say: Consoles) -> bool:
    """The checks the plan's runtime needs: the cluster's for Kubernetes, else this machine's."""
    from kit import runtimes

    if not all(can.local for can in runtimes.candidates(plan.runtime)):   # sandboxes on a cluster's nodes
        return cluster(plan, image_check, say)
    return local(plan, clean, say)


def local(plan: RunConfig, clean: bool, say: Consoles) -> bool:
    """The cgroup host, the metrics port and leftovers (needed); Docker, Go and the free-threaded
    interpreter (optional: without them fewer strategies or runtimes); what skews benchmarks here."""
    from kit.measure import system
    from kit.report.console import doctor_lines
    from kit.run import leftovers
    from kit.runtimes.cgroupfs import CgroupHost

    host = CgroupHost()
    removed = lambda line: say.out.print(f"[green]removed[/green] {line}", highlight=False, soft_wrap=True)  # noqa: E731
    needed: list[Check] = [
        (f"cgroup v{host.version}: a child group with a memory cap", host.problem()),
        (f"metrics port 127.0.0.1:{plan.metrics_port} free", port_problem(plan.metrics_port)),
        ("no sandboxes left by killed runs", leftovers.problem(host, clean, removed)),
    ]
    lines, failed = doctor_lines(needed, [*_docker_checks(), *_go_checks(), _free_threaded_check()],
                                 system.findings(system.capture()))
    for line in lines:
        say.out.print(line, highlight=False, soft_wrap=True)
    return failed


def cluster(plan: RunConfig, image_check: bool, say: Consoles) -> bool:
    """The cluster's checks only: the local runtimes' are not what a Kubernetes run needs."""
    from rich.markup import escape

    from kit.run.choose import cluster_settings
    from kit.runtimes.kube.doctor import Sandbox, checks

    settings = cluster_settings(plan)
    if image_check:
        say.out.print(f"checking the image with a probe pod in {settings.namespace} (up to "
                      f"{plan.pending_timeout_seconds:g} s, --pending-timeout; --no-image-check skips it)",
                      highlight=False, soft_wrap=True)
    failed = False
    for name, problem in checks(settings, Sandbox(plan.memory_limit_bytes, plan.cpus or float(plan.workers)),
                                image=image_check):
        optional = name.startswith("RBAC (optional)") or (not image_check and name.startswith("image "))
        name, problem = escape(name), escape(problem) if problem else None
        if problem and not optional:
            failed = True
            say.out.print(f"[red]FAIL[/red] {name}\n     {problem}", highlight=False, soft_wrap=True)
        elif problem:
            say.out.print(f"[yellow]warn[/yellow] {name}\n     {problem}", highlight=False, soft_wrap=True)
        else:
            say.out.print(f"[green] ok [/green] {name}", highlight=False, soft_wrap=True)
    return failed


def port_problem(port: int) -> str | None:
    """The metrics port taken by another process: said now, not when the run starts."""
    if port == 0:
        return None
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            return f"port {port} is taken ({exc.strerror}): pass --metrics-port with a free port, or 0"
    return None


def _go_checks() -> list[Check]:
    """Optional too: the Go strategies on the cgroup runtime need a host build."""
    from kit.build.availability import unavailable_reason
    from kit.build.go import go_tool
    from kit.worker.programs import names

    tool, version = go_tool()
    label = f"Go toolchain{' ' + version if tool else ''} (for the Go strategies on the cgroup runtime)"
    checks = [(label, None if tool else version)]
    return checks + [(f"{name} built for the cgroup runtime",
                      unavailable_reason(name, "cgroup", default_cache_dir())) for name in names("go")]


def _free_threaded_check() -> Check:
    """Optional: python-threads-ft needs the free-threaded CPython `kit setup --free-threaded` builds."""
    from kit.build import freethreaded

    found = freethreaded.installed(default_cache_dir())
    label = f"free-threaded CPython{' ' + found.version if found else ''} (for python-threads-ft)"
    return label, freethreaded.unavailable_reason("cgroup", default_cache_dir())


def _docker_checks() -> list[Check]:
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
