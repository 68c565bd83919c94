"""`kit setup` and `kit build`: the steps that prepare this machine for every strategy (system
packages, the Go workers, the free-threaded interpreter, the worker image) and the lines they say."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kit.core.errors import ConfigError, EnvironmentProblem, KitError, RuntimeUnavailable
from kit.plan.config import default_cache_dir
from kit.report.console import Consoles

if TYPE_CHECKING:
    from kit.build.go import HostBuild


@dataclass(frozen=True, slots=True)
class ImageOptions:
    """`kit build`'s and `kit setup`'s choices for the worker image."""

    python_image: str | None = None
    go_image: str | None = None
    ca_bundle: Path | None = None
    no_cache: bool = False


def setup(say: Consoles, with_deps: bool, free_threaded: bool, image: ImageOptions | None) -> None:
    """Every step in order; the image last, so that it carries the free-threaded interpreter."""
    from kit.build import setup as system
    from kit.build import system_opencv
    from kit.build.go import build_host

    started = time.monotonic()
    if with_deps:
        plan = system.package_plan(free_threaded=free_threaded)
        system.install_packages(plan, log=lambda line: say.out.print(line, highlight=False))
        say.out.print(f"system packages ready ({time.monotonic() - started:.0f} s)")
    built = build_host(default_cache_dir(), log=lambda line: say.out.print(line, highlight=False, soft_wrap=True))
    print_built(built, say)
    say.out.print(system_opencv.summary(system_opencv.probe(default_cache_dir())), highlight=False, soft_wrap=True)
    if free_threaded:
        _setup_free_threaded(say)
    if image is not None:
        _setup_image(image, say)
    say.out.print(f"setup took {time.monotonic() - started:.0f} s", highlight=False)
    _raise_unbuilt(built)


def build_image(options: ImageOptions, quiet: bool, say: Consoles) -> None:
    """`kit build`: the worker image kit-worker:<version> from this kit's sources."""
    from kit.build.image import VERSION_LABELS, BuildOptions, default_ca_bundle
    from kit.build.image import build as build
    from kit.core.units import format_bytes

    if options.ca_bundle is not None and not options.ca_bundle.is_file():
        raise ConfigError(f"--ca-bundle {options.ca_bundle}: no such file")
    prefix = _free_threaded_prefix()
    built = build(BuildOptions(python_image=options.python_image, go_image=options.go_image,
                               ca_bundle=options.ca_bundle or default_ca_bundle(), no_cache=options.no_cache,
                               free_threaded=prefix),
                  log=(lambda line: None) if quiet else (lambda line: say.line(line)))
    versions = ", ".join(f"{label.split('.', 1)[1]} {built.labels[label]}"
                         for label in VERSION_LABELS.values() if label in built.labels)
    say.out.print(f"built {built.tag} ({built.image_id[:19]}, {format_bytes(built.size_bytes)}) "
                  f"in {built.build_seconds:.0f} s: {versions}")
    _print_free_threaded(built.labels, prefix, say)


def build_host(quiet: bool, say: Consoles) -> None:
    """`kit build --target host`: go-native and go-gocv for the cgroup runtime; one that cannot
    build is reported with how to fix it (exit 1), the other is still built."""
    from kit.build.go import build_host as build

    started = time.monotonic()
    built = build(default_cache_dir(), log=(lambda line: None) if quiet else say.out.print)
    print_built(built, say, where=True)
    say.out.print(f"host build took {time.monotonic() - started:.1f} s", highlight=False)
    _raise_unbuilt(built)


def print_built(built: HostBuild, say: Consoles, note: str = "", where: bool = False) -> None:
    """One line per Go worker built: toolchain, where it came from, seconds (and the binary's path)."""
    for name, seconds in built.built.items():
        place = f": {built.directory / name}" if where else ""
        say.out.print(f"built {name} with {built.go_version} ({built.origin}) in {seconds:.1f} s{note}{place}",
                      soft_wrap=True, highlight=False)


def _raise_unbuilt(built: HostBuild) -> None:
    """`kit setup` and `kit build --target host` fail (exit 1) when a Go worker could not be built."""
    if built.failed:
        raise EnvironmentProblem("; ".join(f"{name} not built: {why}" for name, why in built.failed.items()))


def _setup_free_threaded(say: Consoles) -> None:
    """The free-threaded interpreter: built once (minutes), found again at once afterwards."""
    from kit.build import cpython

    started = time.monotonic()
    # One line per step (and every 30 s while one runs) for logs; on a terminal a spinner too.
    with say.out.status("free-threaded CPython: checking the cache, building when needed"):
        interpreter, built_now = cpython.build(default_cache_dir(), log=say.line)
    what = "built" if built_now else "already built"
    say.line(f"free-threaded CPython {interpreter.version} {what}: {interpreter.python} "
             f"({time.monotonic() - started:.0f} s)")


def _free_threaded_prefix() -> Path | None:
    """The host's free-threaded CPython, which the worker image carries when there is one."""
    from kit.build.freethreaded import installed_prefix

    return installed_prefix(default_cache_dir())


def _setup_image(options: ImageOptions, say: Consoles) -> None:
    """The worker image when an engine answers; a failure is one warning line, never the exit code."""
    from kit.build.image import BuildOptions, default_ca_bundle
    from kit.build.image import build as build
    from kit.runtimes.engine import connect

    try:
        client = connect()
    except RuntimeUnavailable:
        say.out.print("no Docker engine answers: the worker image is skipped (runs use cgroups)", highlight=False)
        return
    say.out.print("building the worker image (several minutes the first time)", highlight=False)
    try:
        prefix = _free_threaded_prefix()
        built = build(BuildOptions(python_image=options.python_image, go_image=options.go_image,
                                   ca_bundle=default_ca_bundle(), free_threaded=prefix), client=client)
        say.out.print(f"built {built.tag} in {built.build_seconds:.0f} s", highlight=False)
        _print_free_threaded(built.labels, prefix, say)
    except KitError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        say.warn(f"no worker image ({first}); runs use cgroups")
    finally:
        client.close()


def _print_free_threaded(labels: dict[str, str], prefix: Path | None, say: Consoles) -> None:
    """Whether the image carries python-threads-ft's interpreter, and if not, how it would."""
    from kit.build.image import FREE_THREADED_LABEL

    if labels.get(FREE_THREADED_LABEL):
        say.out.print(f"with the free-threaded CPython {labels[FREE_THREADED_LABEL]} at /opt/python-ft (copied from "
                      f"{prefix}): python-threads-ft runs in containers", highlight=False, soft_wrap=True)
    elif prefix is None:
        say.out.print("without a free-threaded CPython (python-threads-ft): run `kit setup --free-threaded`, then "
                      "`kit build`", highlight=False, soft_wrap=True)
    else:
        say.warn(f"the free-threaded CPython copied from {prefix} does not run GIL-free in the image: "
                 "python-threads-ft is not available in containers")
