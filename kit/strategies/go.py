"""The Go strategies (go-native, go-gocv): where their binaries are, whether they can run here,
their command line, and the host build behind `kit build --target host`.

The Go module lives in the checkout's top-level go/ (a Go module is not Python package data).
On the host, `kit build --target host` compiles it into `<cache dir>/go-bin/<source digest>/`,
so a changed Go source is never run from a stale binary; in the worker image, the Dockerfile's
Go stage puts the same programs in the sandbox's `bin_dir`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import kit
from kit.runtimes.base import SandboxPaths
from kit.strategies import GO_STRATEGIES

MIN_GO = (1, 25)   # the first Go whose default GOMAXPROCS follows the cgroup CPU limit
# GoCV's one cgo package binds every main OpenCV module, so it needs all of their headers and
# libraries although the worker calls only core, imgproc and imgcodecs. Debian bookworm: 4.6.
OPENCV_MODULES = ("stitching", "ml", "objdetect", "dnn", "calib3d", "features2d", "flann", "photo",
                  "video", "videoio", "highgui", "imgcodecs", "imgproc", "core")
OPENCV_DEV_PACKAGES = " ".join(f"libopencv-{m}-dev" for m in OPENCV_MODULES)
OPENCV_INCLUDE = "/usr/include/opencv4"
GO_HINT = "Go 1.25 or newer on PATH (https://go.dev/dl/ or /usr/local/go/bin)"
BUILD_HINT = "run `kit build --target host`"
IMAGE_LABEL = "kit.go-workers"   # the worker image's list of Go strategies (Dockerfile, Go stage)
IMAGE_BIN_DIR = Path("/opt/kit/bin")  # where the Dockerfile puts them, on the image's PATH
_SOURCE_SUFFIXES = (".go", ".cpp", ".h", ".mod", ".sum")


def source_dir() -> Path | None:
    """The checkout's go/ module beside the kit package (None for a kit installed without it)."""
    root = Path(kit.__file__).resolve().parent.parent / "go"
    return root if (root / "go.mod").is_file() else None


def source_digest(root: Path) -> str:
    """16 hex digits over every Go source file's path and content (tests included: cheap, safe)."""
    total = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith(_SOURCE_SUFFIXES)):
        total.update(path.relative_to(root).as_posix().encode() + b"\0")
        total.update(hashlib.sha256(path.read_bytes()).digest())
    return total.hexdigest()[:16]


def bin_dir(cache_dir: Path, root: Path | None = None) -> Path | None:
    """Where `kit build --target host` puts the binaries of the current Go sources."""
    root = root or source_dir()
    return cache_dir / "go-bin" / source_digest(root) if root else None


def _failure_note(directory: Path, strategy: str) -> Path:
    return directory / f"{strategy}.unavailable"


def unavailable_reason(strategy: str, runtime: str, cache_dir: Path) -> str | None:
    """Why `strategy` cannot run on `runtime` here, and how to get it; None when it can."""
    if runtime == "docker":
        return _image_reason(strategy)
    root = source_dir()
    if root is None:
        return ("the Go sources (go/) are not beside this kit: install the kit from a checkout "
                "(pip install -e .), or use --runtime docker")
    directory = bin_dir(cache_dir, root)
    assert directory is not None
    if (directory / strategy).is_file():
        return None
    note = _failure_note(directory, strategy)
    if note.is_file():
        return f"the last host build could not build it: {note.read_text().strip()}"
    needs = GO_HINT + (f" and a C++ compiler with OpenCV's dev files (apt-get install g++ {OPENCV_DEV_PACKAGES})"
                       if strategy == "go-gocv" else "")
    return f"not built for these Go sources: {BUILD_HINT} (needs {needs})"


def _image_reason(strategy: str) -> str | None:
    """In containers the programs come with the worker image: its Go stage labels which."""
    try:
        from kit.build import image_tag
        from kit.runtimes.engine import connect

        labels = connect().images.get(image_tag()).labels or {}
    except Exception as exc:  # no engine or no image: the docker runtime itself says so
        return f"cannot inspect the worker image ({type(exc).__name__}): run `kit build`"
    if strategy in labels.get(IMAGE_LABEL, "").split():
        return None
    return ("the worker image has no Go workers: rebuild it with `kit build` (the Dockerfile's Go stage "
            "builds them), or use --runtime cgroup after `kit build --target host`")


@dataclass(frozen=True, slots=True)
class GoWorkerCommand:
    """A Go worker's command line: the same arguments as `kit worker` (kit/protocol.py)."""

    strategy: str
    workload: str
    workers: int
    start_method: str
    host_bin_dir: Path   # where the binaries are when the sandbox shares the host's filesystem

    def __call__(self, paths: SandboxPaths) -> list[str]:
        program = (paths.bin_dir or self.host_bin_dir) / self.strategy
        return [str(program), "--strategy", self.strategy, "--workload", self.workload,
                "--workers", str(self.workers), "--start-method", self.start_method,
                "--manifest", str(paths.manifest), "--input-root", str(paths.input_root),
                "--output-dir", str(paths.output_dir)]


def command(strategy: str, workload: str, workers: int, start_method: str,
            cache_dir: Path) -> GoWorkerCommand:
    directory = bin_dir(cache_dir) or cache_dir / "go-bin" / "missing"
    return GoWorkerCommand(strategy, workload, workers, start_method, directory)


@dataclass(frozen=True, slots=True)
class HostBuild:
    """What `kit build --target host` did: binaries built (seconds each) and failures (why)."""

    directory: Path
    go_version: str
    built: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def go_tool() -> tuple[str | None, str]:
    """The `go` command and its version, or (None, why not)."""
    go = shutil.which("go") or next((p for p in ("/usr/local/go/bin/go",) if os.access(p, os.X_OK)), None)
    if go is None:
        return None, f"no `go` command: install {GO_HINT}"
    try:
        version = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, timeout=60,
                                 check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"`{go} env GOVERSION` failed: {exc}"
    numbers = version.removeprefix("go").split(".")
    try:
        major, minor = int(numbers[0]), int(numbers[1].split("rc")[0].split("beta")[0])
    except (ValueError, IndexError):
        return go, version
    if (major, minor) < MIN_GO:
        return None, f"{version} is too old: install {GO_HINT}"
    return go, version


def build_env(strategy: str) -> dict[str, str]:
    """go-native is pure Go (static, CGO off); go-gocv links Debian's OpenCV through cgo."""
    env = dict(os.environ)
    if strategy == "go-native":
        env["CGO_ENABLED"] = "0"
        return env
    env["CGO_ENABLED"] = "1"
    # customenv: GoCV takes its flags from here instead of pkg-config's opencv4.pc, which only
    # the 170-package libopencv-dev meta package ships.
    env["CGO_CPPFLAGS"] = f"{env.get('CGO_CPPFLAGS', '')} -I{OPENCV_INCLUDE}".strip()
    libraries = [f"-lopencv_{module}" for module in OPENCV_MODULES]
    env["CGO_LDFLAGS"] = " ".join([env.get("CGO_LDFLAGS", ""), *libraries]).strip()
    return env


def build_argv(go: str, strategy: str, output: Path) -> list[str]:
    tags = ["-tags", "customenv"] if strategy == "go-gocv" else []
    return [go, "build", "-trimpath", "-buildvcs=false", *tags, "-o", str(output), f"./cmd/{strategy}"]


def build_host(cache_dir: Path, log: Callable[[str], None] = lambda line: None,
               strategies: tuple[str, ...] = GO_STRATEGIES) -> HostBuild:
    """Compile the Go workers for this host; a strategy that cannot build is reported, not raised."""
    from kit.errors import EnvironmentProblem

    root = source_dir()
    if root is None:
        raise EnvironmentProblem("the Go sources (go/) are not beside this kit: build from a checkout")
    go, version = go_tool()
    if go is None:
        raise EnvironmentProblem(version)
    directory = bin_dir(cache_dir, root)
    assert directory is not None
    directory.mkdir(parents=True, exist_ok=True)
    result = HostBuild(directory=directory, go_version=version)
    for strategy in strategies:
        _failure_note(directory, strategy).unlink(missing_ok=True)
        started = time.monotonic()
        log(f"building {strategy} with {version} into {directory}")
        partial = directory / f".{strategy}.partial"
        done = subprocess.run(build_argv(go, strategy, partial), cwd=root, env=build_env(strategy),
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
            why = " | ".join(lines[-3:]) or f"go build exited with {done.returncode}"
            if strategy == "go-gocv" and not Path(OPENCV_INCLUDE, "opencv2", "highgui.hpp").exists():
                why = f"OpenCV's dev files are missing (apt-get install g++ {OPENCV_DEV_PACKAGES}): {why}"
            _failure_note(directory, strategy).write_text(why + "\n")
            result.failed[strategy] = why
            continue
        partial.replace(directory / strategy)  # atomic: a binary that exists is complete
        result.built[strategy] = time.monotonic() - started
    return result
