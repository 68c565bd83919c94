"""Building the free-threaded CPython (`kit setup --free-threaded`): Debian trixie's `python3.13`
source package through a private apt source list, its upstream tarball configured with
--disable-gil, compiled and installed into a staging directory, Pillow's cp313t wheel added, a
`.complete` marker written last, and the prefix moved into its keyed place whole. What a finished
build is and how the kit finds and checks it: kit/build/freethreaded.py.

apt reads only the private source list and keeps its lists and caches in the build's temporary
directory, so the system's sources, lists and package cache stay untouched (and no root is
needed). Debian's own patches adapt the layout to Debian's and are not applied.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kit.build.freethreaded import (
    BUILD_DEPENDENCIES,
    CONFIGURE_FLAGS,
    DEPS_HINT,
    MARKER,
    SETUP_HINT,
    SOURCE_PACKAGE,
    SUITE,
    Build,
    clean_env,
    executable,
    gil_status,
    import_name,
    installed,
    locked_requirements,
    missing_wheels,
    prefix_for,
    root,
    site_packages,
    worker_lock,
)
from kit.core.errors import EnvironmentProblem

MIRROR_ENV = "KIT_DEBIAN_MIRROR"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
HEARTBEAT_SECONDS = 30.0


def debian_mirror(sources: Sequence[Path] = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
                  ) -> str | None:
    """The Debian archive this machine's apt already uses (its main archive, not security), so
    the build reaches only a registry the machine is configured for; $KIT_DEBIAN_MIRROR wins."""
    if os.environ.get(MIRROR_ENV):
        return os.environ[MIRROR_ENV].rstrip("/")
    files: list[Path] = []
    for source in sources:
        files += sorted(source.glob("*.sources")) + sorted(source.glob("*.list")) if source.is_dir() else [source]
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        uris: list[str] = re.findall(r"^\s*URIs:\s*(\S+)", text, re.MULTILINE)
        uris += re.findall(r"^\s*deb(?:-src)?\s+(?:\[[^]]*\]\s+)?(\S+)", text, re.MULTILINE)
        for uri in uris:
            if uri.rstrip("/").endswith("/debian"):
                return uri.rstrip("/")
    return None


Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Phase:
    """A build step: its name for the progress lines and its command."""

    name: str
    argv: tuple[str, ...]
    cwd: Path


def _run_phase(phase: Phase, log_file: Path, log: Log, env: dict[str, str] | None = None) -> float:
    """Run one step with its output in the build log; a line every HEARTBEAT_SECONDS while it runs
    (a terminal or a CI log alike: whole lines), the log's last lines when it fails."""
    started = time.monotonic()
    log(f"{phase.name}: started")
    with log_file.open("a", encoding="utf-8") as sink:
        sink.write(f"\n$ {' '.join(phase.argv)}\n")
        sink.flush()
        try:
            process = subprocess.Popen(phase.argv, cwd=phase.cwd, stdout=sink, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})
        except OSError as exc:
            raise EnvironmentProblem(f"{phase.name}: cannot run {phase.argv[0]} ({exc.strerror or exc}): "
                                     f"install the build tools with `{DEPS_HINT}`") from exc
        stop = threading.Event()

        def heartbeat() -> None:
            while not stop.wait(HEARTBEAT_SECONDS):
                log(f"{phase.name}: running, {time.monotonic() - started:.0f} s{_last_step(log_file)}")

        beat = threading.Thread(target=heartbeat, daemon=True)
        beat.start()
        try:
            code = process.wait()
        finally:
            stop.set()
            if process.poll() is None:   # interrupted: the step goes with the build
                process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)
                if process.poll() is None:
                    process.kill()
                    process.wait()
    elapsed = time.monotonic() - started
    if code != 0:
        tail = [line for line in log_file.read_text(errors="replace").splitlines() if line.strip()][-8:]
        raise EnvironmentProblem(f"{phase.name} failed (exit {code}) after {elapsed:.0f} s; the build log's "
                                 f"last lines:\n  " + "\n  ".join(tail) + f"\nfull log: {log_file}")
    log(f"{phase.name}: done in {elapsed:.0f} s")
    return elapsed


def _last_step(log_file: Path) -> str:
    """What the build is at, from its log's last line (the file being compiled), for the heartbeat."""
    try:
        with log_file.open("rb") as sink:
            sink.seek(max(0, log_file.stat().st_size - 4096))
            lines = [line for line in sink.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    if not lines:
        return ""
    sources = re.findall(r"\S+\.c\b", lines[-1])
    return f": {sources[-1]}" if sources else f": {lines[-1].strip()[:60]}"


def configure_argv(prefix: Path) -> tuple[str, ...]:
    """CPython's configure for the prefix: --disable-gil and nothing slow (no PGO, no LTO)."""
    return ("./configure", f"--prefix={prefix}", *CONFIGURE_FLAGS)


def apt_options(private: Path, euid: int | None = None) -> tuple[str, ...]:
    """apt reading only the private source list, with lists and caches in `private`."""
    options = {"Dir::Etc::sourcelist": str(private / "sources.list"), "Dir::Etc::sourceparts": "-",
               "Dir::State::Lists": str(private / "lists"), "Dir::Cache": str(private / "cache"),
               "APT::Get::List-Cleanup": "0"}
    if (os.geteuid() if euid is None else euid) == 0:
        options["APT::Sandbox::User"] = "root"   # the private dirs are not the _apt user's to read
    return tuple(part for key, value in options.items() for part in ("-o", f"{key}={value}"))


def source_list(mirror: str, keyring: Path = KEYRING) -> str:
    signed = f" [signed-by={keyring}]" if keyring.is_file() else ""
    return f"deb-src{signed} {mirror} {SUITE} main\n"


def _upstream_version(download: Path) -> str:
    tarballs = sorted(download.glob(f"{SOURCE_PACKAGE}_*.orig.tar.*"))
    tarballs = [t for t in tarballs if not t.name.endswith(".asc")]
    if not tarballs:
        raise EnvironmentProblem(f"apt fetched no upstream tarball of {SOURCE_PACKAGE} into {download}")
    return tarballs[0].name.split("_", 1)[1].split(".orig", 1)[0]


def _build_tools() -> str:
    """apt-get, make, a C compiler and tar, and a Debian archive to fetch from (its URI)."""
    if shutil.which("apt-get") is None:
        raise EnvironmentProblem("kit setup --free-threaded fetches CPython's source with apt-get (Debian, Ubuntu) "
                                 "and there is none here: build CPython 3.13 with --disable-gil yourself")
    for tool in ("make", "cc", "tar"):
        if shutil.which(tool) is None:
            raise EnvironmentProblem(f"no `{tool}` here: run `{DEPS_HINT}` (it installs "
                                     f"{' '.join(BUILD_DEPENDENCIES)})")
    mirror = debian_mirror()
    if mirror is None:
        raise EnvironmentProblem(f"no Debian archive in this machine's apt sources: set {MIRROR_ENV} to one "
                                 f"(its URI, as in a sources.list line)")
    return mirror


def _fetch(work: Path, mirror: str, log_file: Path, log: Log) -> None:
    """The source package into work/download, through a private apt source list."""
    private = work / "apt"
    for directory in (private / "lists" / "partial", private / "cache" / "archives" / "partial",
                      work / "download"):
        directory.mkdir(parents=True)
    (private / "sources.list").write_text(source_list(mirror))
    options = apt_options(private)
    log(f"fetching {SOURCE_PACKAGE}'s source package from {SUITE} (a private apt source list; "
        f"the system's stays untouched)")
    _run_phase(Phase("fetch: apt-get update", ("apt-get", *options, "update"), work), log_file, log)
    _run_phase(Phase("fetch: apt-get source", ("apt-get", *options, "source", "--download-only", SOURCE_PACKAGE),
                     work / "download"), log_file, log)


def build(cache_dir: Path, log: Log, jobs: int | None = None) -> tuple[Build, bool]:
    """The free-threaded interpreter, built now unless a complete build is already there.
    Returns (interpreter, built now?). Every failure is one EnvironmentProblem saying what to do."""
    existing = installed(cache_dir)
    if existing is not None:
        add_wheels(existing.prefix, log)   # a lock that gained a free-threaded wheel since the build
        return existing, False
    mirror = _build_tools()
    base = root(cache_dir)
    base.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=base))
    log_file = work / "build.log"
    try:
        _fetch(work, mirror, log_file, log)
        version = _upstream_version(work / "download")
        prefix = prefix_for(cache_dir, version)
        tarball = next(t for t in sorted((work / "download").glob(f"{SOURCE_PACKAGE}_*.orig.tar.*"))
                       if not t.name.endswith(".asc"))
        _run_phase(Phase("unpack", ("tar", "-xf", str(tarball), "-C", str(work)), work), log_file, log)
        source = next(p for p in work.iterdir() if p.is_dir() and p.name.startswith("Python-"))
        log(f"building CPython {version} with {' '.join(CONFIGURE_FLAGS)} (no --enable-optimizations: "
            "PGO would double the build time)")
        _run_phase(Phase("configure", configure_argv(prefix), source),
                   log_file, log)
        jobs = jobs or len(os.sched_getaffinity(0))   # the CPUs this process may use, as kit run counts them
        _run_phase(Phase(f"build: make -j{jobs}", ("make", f"-j{jobs}"), source), log_file, log)
        stage = work / "stage"
        _run_phase(Phase("install", ("make", "install", f"DESTDIR={stage}"), source), log_file, log)
        staged = stage / prefix.relative_to(prefix.anchor)
        _check_staged(staged, log)
        add_wheels(staged, log)
        seconds = time.monotonic() - started
        (staged / MARKER).write_text(json.dumps({"version": version, "flags": list(CONFIGURE_FLAGS),
                                                 "source": f"debian {SUITE} {SOURCE_PACKAGE} (upstream tarball)",
                                                 "build_seconds": round(seconds, 1)}) + "\n")
        if prefix.exists():          # a leftover without its marker (an older, interrupted build)
            shutil.rmtree(prefix)
        staged.rename(prefix)        # the whole prefix appears at once, marker included
    except EnvironmentProblem:
        _keep_log(log_file, base)
        raise
    except OSError as exc:
        _keep_log(log_file, base)
        raise EnvironmentProblem(f"building the free-threaded interpreter failed: {exc}; "
                                 f"free space in {base}?") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    interpreter = installed(cache_dir)
    assert interpreter is not None
    return interpreter, True


def add_wheels(prefix: Path, log: Log, lock: Path | None = None) -> list[str]:
    """Install the lock's free-threaded wheels into the prefix (hash-checked, binary only, chosen
    for cp313t by the kit's own pip since the prefix has none), then check that importing them
    leaves the GIL off. Returns the requirement lines installed; already there: nothing to do."""
    import platform

    lock = lock or worker_lock()
    wanted = locked_requirements(lock)
    pins = missing_wheels(prefix, lock)
    if not pins:
        return []
    target = site_packages(prefix)
    machine = platform.machine()
    with tempfile.TemporaryDirectory(prefix="kit-ft-wheels-") as directory:
        requirements = Path(directory) / "requirements.txt"
        requirements.write_text(wanted)
        _run_phase(Phase(f"wheels: {' '.join(pins)} (cp313t)", (
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
            "--only-binary", ":all:", "--require-hashes", "--upgrade", "--target", str(target),
            "--python-version", "3.13", "--implementation", "cp", "--abi", "cp313t",
            "--platform", f"manylinux_2_28_{machine}", "--platform", f"manylinux_2_17_{machine}",
            "--platform", f"manylinux2014_{machine}", "-r", str(requirements)), Path(directory)),
            Path(directory) / "pip.log", log)
    imports = "; ".join(f"import {import_name(p)}" for p in pins)
    enabled, problem = gil_status(executable(prefix), clean_env(), prelude=imports)
    if enabled is None or enabled:
        raise EnvironmentProblem(f"importing {', '.join(pins)} turns the free-threaded interpreter's GIL back on "
                                 f"({problem or 'GIL enabled'}): remove {target} and run `{SETUP_HINT}` again")
    return pins


def _check_staged(prefix: Path, log: Log) -> None:
    """The staged interpreter runs (from its staged place: the prefix is relocatable) without the GIL."""
    enabled, problem = gil_status(executable(prefix), clean_env())
    if enabled is None or enabled:
        raise EnvironmentProblem(f"the interpreter just built does not run GIL-free ({problem or 'GIL enabled'})")
    log("check: the new interpreter runs with the GIL disabled")


def _keep_log(log_file: Path, base: Path) -> None:
    with contextlib.suppress(OSError):
        shutil.copyfile(log_file, base / "last-build.log")
