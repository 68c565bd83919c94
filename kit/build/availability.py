"""Whether a program can run on a runtime here, and if not, how to get it.

Python programs run wherever the kit runs (the image carries the kit for containers), except
python-threads-ft, which needs the free-threaded CPython `kit setup --free-threaded` builds
(kit/build/freethreaded.py; the image carries a copy when `kit build` found one). Go programs
need their binaries: the host build for the cgroup runtime (kit/build/go.py), the worker image's Go
stage for containers (kit/build/image.py labels which it built).
"""

from __future__ import annotations

from pathlib import Path

from kit.build import go
from kit.build.image import GO_WORKERS_LABEL, image_tag
from kit.runtimes import capabilities
from kit.runtimes.base import Capabilities
from kit.worker.programs import program


def unavailable_reason(strategy: str, runtime: str | Capabilities, cache_dir: Path) -> str | None:
    """Why `strategy` cannot run on `runtime` (a registered name, or its capabilities) here, and how
    to get it; None when it can."""
    can = capabilities(runtime) if isinstance(runtime, str) else runtime
    if program(strategy).free_threaded:
        from kit.build import freethreaded

        return freethreaded.unavailable_reason(can, cache_dir)
    if program(strategy).language == "python":
        return None
    if can.image and not can.image_local:   # a registry's image, not inspectable here; the Dockerfile builds both
        return None
    if can.image:
        return _image_reason(strategy)
    root = go.source_dir()
    if root is None:
        return "the Go sources (kit/go/) are missing from this install: reinstall the kit"
    directory = go.bin_dir(cache_dir, root)
    assert directory is not None
    if (directory / strategy).is_file():
        return None
    note = go.failure_note(directory, strategy)
    if note.is_file():
        return f"the last host build could not build it: {note.read_text().strip()}"
    if strategy == "go-gocv" and not go.opencv_dev_files():
        return f"needs a C++ compiler and OpenCV's dev files: run `{go.SETUP_HINT}`"
    return f"not built for these Go sources yet: {go.BUILD_HINT}"


def _image_reason(strategy: str) -> str | None:
    """In containers the programs come with the worker image: its Go stage labels which."""
    try:
        from kit.runtimes.engine import connect

        labels = connect().images.get(image_tag()).labels or {}
    except Exception as exc:  # no engine or no image: the docker runtime itself says so
        return f"cannot inspect the worker image ({type(exc).__name__}): run `kit build`"
    if strategy in labels.get(GO_WORKERS_LABEL, "").split():
        return None
    return ("the worker image has no Go workers: rebuild it with `kit build` (the Dockerfile's Go stage "
            "builds them), or use --runtime cgroup after `kit build --target host`")


def host_bin_dir(cache_dir: Path) -> Path:
    """Where the host build of the current Go sources puts its binaries (the cgroup runtime's)."""
    return go.bin_dir(cache_dir) or cache_dir / "go-bin" / "missing"
