"""The free-threaded CPython (PEP 703) behind python-threads-ft: built once from source by
`kit setup --free-threaded`, found by `kit run`, copied into the worker image by `kit build`.

No package of this machine's distribution ships a `--disable-gil` interpreter, so the kit builds
one from Debian's `python3.13` source package of trixie (the upstream tarball apt verifies through
the suite's signed index; Debian's own patches adapt the layout to Debian's and are not applied).
apt reads a private source list and keeps its lists and caches in the build's temporary
directory: the system's sources, lists and package cache stay untouched. The result is a prefix
in the kit's cache dir keyed by version and configure flags, moved into place whole (a
`.complete` marker inside), so an interrupted build never leaves a half interpreter that looks
ready. The worker needs only the standard library on pi, count, io and payload; for images it
needs Pillow, whose cp313t wheel from the worker's lock is added to the prefix (`add_wheels`).
The kit itself is not installed: its sources go on the interpreter's path by the command line.
"""

from __future__ import annotations

import contextlib
import hashlib
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

from kit.build.image import (
    FREE_THREADED_KIT_PATH,
    FREE_THREADED_LABEL,
    FREE_THREADED_PYTHON,
    FREE_THREADED_WHEELS_LABEL,
    image_tag,
)
from kit.errors import EnvironmentProblem
from kit.programs import Interpreter

SOURCE_PACKAGE = "python3.13"
SUITE = "trixie"
# No --enable-optimizations: PGO runs the test suite and roughly doubles a build that already
# takes many minutes on two cores. The GIL interpreter it is compared with may have PGO (Debian's
# python3 has): each record's python_build.configure_args shows both builds' flags.
# No ensurepip: the kit's own pip adds the few wheels the prefix needs.
CONFIGURE_FLAGS: tuple[str, ...] = ("--disable-gil", "--without-ensurepip", "--disable-test-modules")
BUILD_DEPENDENCIES: tuple[str, ...] = ("build-essential", "pkg-config", "xz-utils", "libssl-dev", "zlib1g-dev",
                                       "libffi-dev", "libbz2-dev", "liblzma-dev", "libsqlite3-dev", "uuid-dev")
SETUP_HINT = "kit setup --free-threaded"             # no root needed: apt runs on private directories
DEPS_HINT = "sudo .venv/bin/kit setup --with-deps --free-threaded"   # the compilers and -dev packages
MARKER = ".complete"
MIRROR_ENV = "KIT_DEBIAN_MIRROR"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
HEARTBEAT_SECONDS = 30.0


def flags_digest(flags: Sequence[str] = CONFIGURE_FLAGS) -> str:
    return hashlib.sha256(" ".join(flags).encode()).hexdigest()[:12]


def root(cache_dir: Path) -> Path:
    return cache_dir / "python-ft"


@dataclass(frozen=True, slots=True)
class Build:
    """A finished build: its prefix, its python executable and what the marker says of it."""

    prefix: Path
    version: str
    flags: tuple[str, ...]
    build_seconds: float

    @property
    def python(self) -> Path:
        return executable(self.prefix)


def executable(prefix: Path) -> Path:
    """`make install` of a --disable-gil build names the interpreter python3.13t."""
    for name in ("python3.13t", "python3t", "python3"):
        if (prefix / "bin" / name).exists():
            return prefix / "bin" / name
    return prefix / "bin" / "python3.13t"


def installed(cache_dir: Path) -> Build | None:
    """The newest complete build with today's configure flags, or None."""
    found = []
    for marker in root(cache_dir).glob(f"*-{flags_digest()}/{MARKER}"):
        try:
            info = json.loads(marker.read_text())
            found.append(Build(marker.parent, str(info["version"]), tuple(info["flags"]),
                                     float(info.get("build_seconds", 0.0))))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return max(found, key=lambda i: tuple(int(n) for n in re.findall(r"\d+", i.version)), default=None)


def installed_prefix(cache_dir: Path) -> Path | None:
    """What `kit build` copies into the worker image (None: no build here, the image has none)."""
    interpreter = installed(cache_dir)
    return interpreter.prefix if interpreter else None


def kit_path(cache_dir: Path) -> Path:
    """A directory that holds this kit's package and nothing else, for the interpreter's PYTHONPATH.
    Not the package's parent: for an installed kit that is a site-packages whose cp311 Pillow or
    numpy would shadow the prefix's own cp313t wheels. A symlink named `kit` in the cache, one per
    kit location, made once (atomically: a rename)."""
    import kit

    package = Path(kit.__file__).resolve().parent
    directory = root(cache_dir) / "kit-path" / hashlib.sha256(str(package).encode()).hexdigest()[:12]
    link = directory / "kit"
    if not (link.is_symlink() and link.resolve() == package):
        directory.mkdir(parents=True, exist_ok=True)
        partial = directory / f".kit.{os.getpid()}"
        partial.unlink(missing_ok=True)
        partial.symlink_to(package, target_is_directory=True)
        partial.replace(link)
    return directory


def interpreter(cache_dir: Path) -> Interpreter:
    """Where python-threads-ft's interpreter and the kit are, on the host and in the worker image
    (a command for a missing build names a path that says so; availability refuses it first)."""
    found = installed(cache_dir)
    python = found.python if found else root(cache_dir) / "missing" / "bin" / "python3.13t"
    return Interpreter(host_python=str(python), host_kit_path=str(kit_path(cache_dir)),
                       image_python=str(FREE_THREADED_PYTHON), image_kit_path=str(FREE_THREADED_KIT_PATH))


def gil_status(python: Path, env: dict[str, str] | None = None, prelude: str = "") -> tuple[bool | None, str]:
    """(GIL enabled?, why unknown) as the interpreter reports it under this environment:
    PYTHON_GIL=1 turns the GIL back on in a free-threaded build."""
    code = (f"{prelude}; " if prelude else "") + (
        "import sys, sysconfig; print(int(bool(sysconfig.get_config_var('Py_GIL_DISABLED'))),"
        " int(getattr(sys, '_is_gil_enabled', lambda: True)()))")
    try:
        done = subprocess.run([str(python), "-s", "-c", code], capture_output=True, text=True, timeout=60,
                              check=False, env=env)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{python} does not run: {exc}"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return None, f"{python} failed: {lines[-1] if lines else f'exit {done.returncode}'}"
    disabled_build, enabled = done.stdout.split()
    if disabled_build != "1":
        return None, f"{python} is not a free-threaded build (Py_GIL_DISABLED is not set)"
    return enabled == "1", ""


def unavailable_reason(runtime: str, cache_dir: Path) -> str | None:
    """Why python-threads-ft cannot run on `runtime` (no build yet, or its GIL is on), or None."""
    if runtime == "docker":
        return _image_reason()
    interpreter = installed(cache_dir)
    if interpreter is None:
        return (f"no free-threaded CPython built yet: run `{SETUP_HINT}` (once: about 20 minutes on a busy "
                "2-core machine)")
    enabled, problem = gil_status(interpreter.python)
    if enabled is None:
        return f"{problem}: rebuild it with `{SETUP_HINT}`"
    if enabled:
        return ("the free-threaded interpreter reports the GIL enabled (PYTHON_GIL=1 in the environment?): "
                "unset PYTHON_GIL")
    if missing := missing_wheels(interpreter.prefix):
        return (f"the free-threaded interpreter lacks the worker lock's {', '.join(missing)}: run `{SETUP_HINT}` "
                "(seconds: it adds the wheels to the existing build)")
    return None


def _image_reason() -> str | None:
    """In containers the interpreter comes with the worker image: `kit build` copies the host's
    build in and labels the image only when that copy runs GIL-free there."""
    try:
        from kit.runtimes.engine import connect

        labels = connect().images.get(image_tag()).labels or {}
    except Exception as exc:  # no engine or no image: the docker runtime itself says so
        return f"cannot inspect the worker image ({type(exc).__name__}): run `kit build`"
    if not labels.get(FREE_THREADED_LABEL):
        return (f"the worker image has no free-threaded CPython: run `{SETUP_HINT}`, then `kit build` "
                "(it copies the host's build into the image)")
    have = set(labels.get(FREE_THREADED_WHEELS_LABEL, "").split())
    if missing := [pin for pin in locked_pins() if pin.lower() not in have]:
        return (f"the worker image's free-threaded CPython lacks the lock's {', '.join(missing)}: run "
                f"`{SETUP_HINT}`, then `kit build`")
    return None


# ---- the build ------------------------------------------------------------------------------------


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


def prefix_for(cache_dir: Path, version: str, flags: Sequence[str] = CONFIGURE_FLAGS) -> Path:
    """A build's place: keyed by version and configure flags, so another version or other flags
    never reuse it."""
    return root(cache_dir) / f"{version}-{flags_digest(flags)}"


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


def build(cache_dir: Path, log: Log, jobs: int | None = None) -> tuple[Build, bool]:
    """The free-threaded interpreter, built now unless a complete build is already there.
    Returns (interpreter, built now?). Every failure is one EnvironmentProblem saying what to do."""
    existing = installed(cache_dir)
    if existing is not None:
        add_wheels(existing.prefix, log)   # a lock that gained a free-threaded wheel since the build
        return existing, False
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
    base = root(cache_dir)
    base.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=base))
    log_file = work / "build.log"
    try:
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


# Wheels of the worker's lock that a free-threaded interpreter can load (cp313t builds on PyPI) and
# a workload of python-threads-ft needs: Pillow, for `--workload images --library pillow`. OpenCV
# and numpy stay out: no cp313t OpenCV wheel exists (kit/programs.py says so to the user).
FREE_THREADED_WHEELS: tuple[str, ...] = ("pillow",)


def locked_requirements(lock: Path, wanted: Sequence[str] = FREE_THREADED_WHEELS) -> str:
    """The lock's blocks (`name==version \\ --hash=...` lines) for the wanted names, as a hash-checked
    requirements file of their own; empty when the lock pins none of them."""
    blocks, keep = [], False
    for line in lock.read_text(encoding="utf-8").splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            keep = line.split("==", 1)[0].strip().lower() in wanted
        if keep and not line.lstrip().startswith("#"):
            blocks.append(line)
    return "\n".join(blocks) + "\n" if blocks else ""


def site_packages(prefix: Path) -> Path:
    return prefix / "lib" / "python3.13t" / "site-packages"


def add_wheels(prefix: Path, log: Log, lock: Path | None = None) -> list[str]:
    """Install the lock's free-threaded wheels into the prefix (hash-checked, binary only, chosen
    for cp313t by the kit's own pip since the prefix has none), then check that importing them
    leaves the GIL off. Returns the requirement lines installed; already there: nothing to do."""
    import platform

    lock = lock or _worker_lock()
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
    imports = "; ".join(f"import {_module(p)}" for p in pins)
    enabled, problem = gil_status(executable(prefix), _clean_env(), prelude=imports)
    if enabled is None or enabled:
        raise EnvironmentProblem(f"importing {', '.join(pins)} turns the free-threaded interpreter's GIL back on "
                                 f"({problem or 'GIL enabled'}): remove {target} and run `{SETUP_HINT}` again")
    return pins


def _worker_lock() -> Path:
    import kit

    return Path(kit.__file__).resolve().parent / "container" / "requirements.lock"


def locked_pins(lock: Path | None = None) -> list[str]:
    """The lock's free-threaded pins, `name==version`."""
    wanted = locked_requirements(lock or _worker_lock())
    return [line.strip().rstrip("\\").strip() for line in wanted.splitlines() if "==" in line]


def missing_wheels(prefix: Path, lock: Path | None = None) -> list[str]:
    """The lock's free-threaded pins (`name==version`) the prefix does not have at that version."""
    pins = locked_pins(lock)
    if not pins:
        return []
    code = ("import importlib.metadata as m, sys\nfor n in sys.argv[1:]:\n    try: print(f'{n}=={m.version(n)}')\n"
            "    except m.PackageNotFoundError: pass")
    done = subprocess.run([str(executable(prefix)), "-s", "-c", code, *(p.split("==")[0] for p in pins)],
                          capture_output=True, text=True, timeout=60, check=False)
    have = set(done.stdout.lower().split()) if done.returncode == 0 else set()
    return [pin for pin in pins if pin.lower() not in have]


def _module(pin: str) -> str:
    """The import name of a pinned distribution (Pillow imports as PIL)."""
    name = pin.split("==")[0].lower()
    return {"pillow": "PIL.Image"}.get(name, name.replace("-", "_"))


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHON_GIL", "PYTHONPATH", "PYTHONHOME")}


def _check_staged(prefix: Path, log: Log) -> None:
    """The staged interpreter runs (from its staged place: the prefix is relocatable) without the GIL."""
    enabled, problem = gil_status(executable(prefix), _clean_env())
    if enabled is None or enabled:
        raise EnvironmentProblem(f"the interpreter just built does not run GIL-free ({problem or 'GIL enabled'})")
    log("check: the new interpreter runs with the GIL disabled")


def _keep_log(log_file: Path, base: Path) -> None:
    with contextlib.suppress(OSError):
        shutil.copyfile(log_file, base / "last-build.log")


def describe(cache_dir: Path) -> dict[str, object] | None:
    """What results.json's environment records of the interpreter behind python-threads-ft."""
    interpreter = installed(cache_dir)
    if interpreter is None:
        return None
    return {"version": interpreter.version, "configure_flags": list(interpreter.flags),
            "source": f"debian {SUITE} {SOURCE_PACKAGE}", "prefix": str(interpreter.prefix)}

