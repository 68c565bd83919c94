"""The free-threaded CPython (PEP 703) behind python-threads-ft: what a finished build is (a prefix
in the kit's cache dir keyed by version and configure flags, with a `.complete` marker), how `kit
run` finds it and checks that its GIL is off, how the worker's command reaches the kit from it, and
why python-threads-ft is unavailable when it cannot run. kit/build/cpython.py builds it (`kit setup
--free-threaded`); kit/build/image.py copies it into the worker image (`kit build`).

The worker needs only the standard library on pi, count, io and payload; for images it needs
Pillow, whose cp313t wheel from the worker's lock is added to the prefix. The kit itself is not
installed: its sources go on the interpreter's path through the command line (`kit_path`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kit.build.image import (
    FREE_THREADED_KIT_PATH,
    FREE_THREADED_LABEL,
    FREE_THREADED_PYTHON,
    FREE_THREADED_WHEELS_LABEL,
    image_tag,
)
from kit.runtimes import capabilities
from kit.runtimes.base import Capabilities
from kit.worker.programs import Interpreter

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
        # per thread too: kit sweep --parallel asks from several threads of one process at once
        partial = directory / f".kit.{os.getpid()}-{threading.get_ident()}"
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


def run_code(python: Path, code: str, env: dict[str, str] | None, timeout: float,
             failed: str) -> tuple[str | None, str]:
    """`python -s -c CODE`: (its stdout, "") or (None, why): it does not run, or `failed` formatted
    with the interpreter and the last line it wrote to stderr."""
    try:
        done = subprocess.run([str(python), "-s", "-c", code], capture_output=True, text=True, timeout=timeout,
                              check=False, env=env)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{python} does not run: {exc}"
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return None, failed.format(python=python, why=lines[-1] if lines else f"exit {done.returncode}")
    return done.stdout, ""


def gil_status(python: Path, env: dict[str, str] | None = None, prelude: str = "") -> tuple[bool | None, str]:
    """(GIL enabled?, why unknown) as the interpreter reports it under this environment:
    PYTHON_GIL=1 turns the GIL back on in a free-threaded build."""
    code = (f"{prelude}; " if prelude else "") + (
        "import sys, sysconfig; print(int(bool(sysconfig.get_config_var('Py_GIL_DISABLED'))),"
        " int(getattr(sys, '_is_gil_enabled', lambda: True)()))")
    output, problem = run_code(python, code, env, timeout=60, failed="{python} failed: {why}")
    if output is None:
        return None, problem
    disabled_build, enabled = output.split()
    if disabled_build != "1":
        return None, f"{python} is not a free-threaded build (Py_GIL_DISABLED is not set)"
    return enabled == "1", ""


def unavailable_reason(runtime: str | Capabilities, cache_dir: Path) -> str | None:
    """Why python-threads-ft cannot run on `runtime` (a registered name, or its capabilities): no
    build yet, or its GIL is on; None when it can. An image this machine's engine holds says itself
    (its labels); otherwise the host's build is what counts: the cgroup runtime runs it, and `kit
    build` copies it into the image a registry serves, which cannot be inspected from here."""
    if uses_image_build(runtime):
        return _image_reason()
    interpreter = installed(cache_dir)
    if interpreter is None:
        return (f"no free-threaded CPython built yet: run `{SETUP_HINT}` (once: about 20 minutes on a busy "
                "2-core machine)")
    return _host_reason(interpreter.prefix, _identity(interpreter.prefix), os.environ.get("PYTHON_GIL"))


def uses_image_build(runtime: str | Capabilities) -> bool:
    """Whether python-threads-ft's interpreter on `runtime` is the local worker image's copy (its
    labels say what it is) rather than the host's build (`describe` says what that is)."""
    can = capabilities(runtime) if isinstance(runtime, str) else runtime
    return can.image and can.image_local


def _identity(prefix: Path) -> tuple[int, int]:
    """What changes when the build or its wheels do: the interpreter's and site-packages' mtimes."""
    return _mtime_ns(executable(prefix)), _mtime_ns(site_packages(prefix))


def _mtime_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1   # absent: a build that is not there is not the one checked before


@functools.lru_cache(maxsize=8)
def _host_reason(prefix: Path, identity: tuple[int, int], python_gil: str | None) -> str | None:
    """The checks that start the interpreter (two starts, ~0.25 s), once per process for as long as
    what they depend on is unchanged: `kit run` asks for the list, the choice and each cell."""
    enabled, problem = gil_status(executable(prefix))
    if enabled is None:
        return f"{problem}: rebuild it with `{SETUP_HINT}`"
    if enabled:
        return ("the free-threaded interpreter reports the GIL enabled (PYTHON_GIL=1 in the environment?): "
                "unset PYTHON_GIL")
    if missing := missing_wheels(prefix):
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


def prefix_for(cache_dir: Path, version: str, flags: Sequence[str] = CONFIGURE_FLAGS) -> Path:
    """A build's place: keyed by version and configure flags, so another version or other flags
    never reuse it."""
    return root(cache_dir) / f"{version}-{flags_digest(flags)}"


# Wheels of the worker's lock that a free-threaded interpreter can load (cp313t builds on PyPI) and
# a workload of python-threads-ft needs: Pillow, for `--workload images --library pillow`. OpenCV
# and numpy stay out: no cp313t OpenCV wheel exists (kit/worker/programs.py says so to the user).
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


def worker_lock() -> Path:
    import kit

    return Path(kit.__file__).resolve().parent / "container" / "requirements.lock"


def locked_pins(lock: Path | None = None) -> list[str]:
    """The lock's free-threaded pins, `name==version`."""
    wanted = locked_requirements(lock or worker_lock())
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


def import_name(pin: str) -> str:
    """The import name of a pinned distribution (Pillow imports as PIL)."""
    name = pin.split("==")[0].lower()
    return {"pillow": "PIL.Image"}.get(name, name.replace("-", "_"))


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHON_GIL", "PYTHONPATH", "PYTHONHOME")}


def describe(cache_dir: Path) -> dict[str, object] | None:
    """What results.json's environment records of the interpreter behind python-threads-ft."""
    interpreter = installed(cache_dir)
    if interpreter is None:
        return None
    return {"version": interpreter.version, "configure_flags": list(interpreter.flags),
            "source": f"debian {SUITE} {SOURCE_PACKAGE}", "prefix": str(interpreter.prefix)}

