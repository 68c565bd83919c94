"""`kit build`: the worker image from the installed kit's own sources, and whether it is current.

The build context comes with the package (kit/container/Dockerfile and requirements.lock are
package data), so an installed kit builds the same image as a checkout's `docker build .`. The
image carries a digest of the kit's sources as a label; `kit run --runtime auto|docker` and
`kit doctor` compare it with the installed kit (`image_problem`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kit
from kit.build.digest import tree_digest
from kit.core.errors import EnvironmentProblem
from kit.runtimes.engine import connect, engine_gone, is_engine_gone

IMAGE_REPOSITORY = "kit-worker"
SOURCE_LABEL = "kit.source-digest"
# The image's Python side, from /opt/kit/versions.json: Debian's OpenCV (the build go-gocv links),
# the JPEG library's release it runs ("libjpeg-turbo 2.1.5"), Debian's NumPy and python3.
VERSION_LABELS = {"opencv": "kit.opencv-version", "jpeg_library": "kit.jpeg-library", "numpy": "kit.numpy-version",
                  "python": "kit.python-version"}
VERSIONS_FILE = "/opt/kit/versions.json"   # written inside the image by the Dockerfile
WORKER_USER = "65532:65532"                # the image's numeric non-root user
GO_WORKERS_LABEL = "kit.go-workers"        # the Go strategies the image's Go stage built
BIN_DIR = Path("/opt/kit/bin")             # where the Dockerfile puts them, on the image's PATH
# python-threads-ft in the image (kit/build/freethreaded.py): the host's build copied to a known prefix,
# labelled only when that copy runs GIL-free there; the kit's sources as the Dockerfile puts them.
FREE_THREADED_PREFIX = Path("/opt/python-ft")
FREE_THREADED_PYTHON = FREE_THREADED_PREFIX / "bin" / "python3.13t"
FREE_THREADED_LABEL = "kit.python-ft-version"
FREE_THREADED_WHEELS_LABEL = "kit.python-ft-wheels"   # what its site-packages holds: "pillow==12.2.0"
FREE_THREADED_KIT_PATH = Path("/opt/kit/src")


class BuildFailed(EnvironmentProblem):
    """The engine could not build the image; the message carries the failing step's output."""


def image_tag(version: str = kit.__version__) -> str:
    return f"{IMAGE_REPOSITORY}:{version}"


def package_root() -> Path:
    return Path(kit.__file__).resolve().parent


def _skipped(path: Path) -> bool:
    return any(part == "__pycache__" or part.startswith(".") for part in path.parts) or path.suffix == ".pyc"


def source_files(root: Path | None = None) -> list[Path]:
    """Every file of the kit package that goes into the image, relative to the package, sorted."""
    root = root or package_root()
    return sorted(p.relative_to(root) for p in root.rglob("*")
                  if p.is_file() and not _skipped(p.relative_to(root)))


def source_digest(root: Path | None = None) -> str:
    """sha256 over every source file's relative path and content: equal digests, equal images."""
    root = root or package_root()
    return f"sha256:{tree_digest(root, source_files(root))}"


def assemble_context(target: Path, ca_bundle: Path | None = None, root: Path | None = None,
                     free_threaded: Path | None = None) -> None:
    """The checkout's layout, from the installed package: Dockerfile, kit/ (the Go workers' sources
    are package data, kit/go/), optional ca-bundle.crt, and python-ft/: the host's free-threaded
    CPython (`kit setup --free-threaded`) when there is one, else empty (the Dockerfile's COPY of
    it then adds nothing)."""
    if free_threaded is not None:
        copy_free_threaded(free_threaded, target / "python-ft")
    else:
        (target / "python-ft").mkdir()
    root = root or package_root()
    shutil.copyfile(root / "container" / "Dockerfile", target / "Dockerfile")
    for relative in source_files(root):
        destination = target / "kit" / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / relative, destination)
    if ca_bundle is not None:
        shutil.copyfile(ca_bundle, target / "ca-bundle.crt")


# Not needed to run the worker, and most of the prefix's size: the static library, twice (lib/ and
# config-3.13t-*/; the interpreter is linked with it already), the test package, IDLE and tkinter.
_NOT_COPIED = re.compile(r"^(libpython3[^/]*\.a|test|idlelib|tkinter|turtledemo|ensurepip)$")


def copy_free_threaded(prefix: Path, target: Path) -> None:
    """The prefix as the worker image carries it: symlinks kept (bin/python3 and friends), and a
    hard link (`make install` links bin/python3.13 to bin/python3.13t, 35 MB) made a symlink, so
    the image holds the interpreter once whatever the build context's transport does to links."""
    seen: dict[tuple[int, int], Path] = {}

    def copy(source: str, destination: str) -> object:
        stat = os.stat(source)
        first = seen.setdefault((stat.st_dev, stat.st_ino), Path(destination))
        if stat.st_nlink > 1 and first != Path(destination) and first.parent == Path(destination).parent:
            os.symlink(first.name, destination)
            return destination
        return shutil.copy2(source, destination)

    shutil.copytree(prefix, target, symlinks=True, copy_function=copy,
                    ignore=lambda _, names: [name for name in names if _NOT_COPIED.match(name)])


@dataclass(frozen=True, slots=True)
class BuildOptions:
    python_image: str | None = None   # None: the Dockerfile's pinned default
    go_image: str | None = None
    ca_bundle: Path | None = None     # extra CA bundle for pip inside the build (TLS proxies)
    free_threaded: Path | None = None  # the host's free-threaded CPython prefix, copied into the image
    no_cache: bool = False
    network_mode: str = "host"        # the legacy builder's RUN steps reach the package registries


@dataclass(frozen=True, slots=True)
class BuiltImage:
    tag: str
    image_id: str
    labels: dict[str, str]
    size_bytes: int
    build_seconds: float


def default_ca_bundle() -> Path | None:
    """pip's own CA setting on this machine, passed on to pip inside the build."""
    value = os.environ.get("PIP_CERT")
    return Path(value) if value and Path(value).is_file() else None


def build(options: BuildOptions, log: Callable[[str], None] = lambda line: None,
          client: Any | None = None) -> BuiltImage:
    """Build (or rebuild) kit-worker:<version>, then label it with its library versions."""
    client = client or connect()
    tag, started = image_tag(), time.monotonic()
    args = {"KIT_VERSION": kit.__version__, "KIT_SOURCE_DIGEST": source_digest()}
    if options.python_image:
        args["PYTHON_IMAGE"] = options.python_image
    if options.go_image:
        args["GO_IMAGE"] = options.go_image
    previous = _image_id(client, tag)
    try:
        with tempfile.TemporaryDirectory(prefix="kit-build-") as directory:
            assemble_context(Path(directory), options.ca_bundle, free_threaded=options.free_threaded)
            _follow(client.api.build(path=directory, tag=tag, buildargs=args, rm=True, forcerm=True,
                                     nocache=options.no_cache, network_mode=options.network_mode,
                                     pull=False, decode=True), log)
        versions = json.loads(client.containers.run(
            tag, ["cat", VERSIONS_FILE], remove=True, network_mode="none", user=WORKER_USER))
        labels = {VERSION_LABELS[key]: str(versions[key]) for key in VERSION_LABELS if key in versions}
        if free_threaded := _free_threaded_version(client, tag):
            labels[FREE_THREADED_LABEL], labels[FREE_THREADED_WHEELS_LABEL] = free_threaded
        # LABEL needs values at build time, and these are only known once the wheels are in: a
        # one-line build on top adds them (no new layer).
        label_line = " ".join(f"{key}={json.dumps(value)}" for key, value in sorted(labels.items()))
        dockerfile = f"FROM {tag}\nLABEL {label_line}\n".encode()
        _follow(client.api.build(fileobj=io.BytesIO(dockerfile), tag=tag, rm=True, forcerm=True,
                                 pull=False, decode=True), log)
        image = client.images.get(tag)
    except EnvironmentProblem:
        raise
    except Exception as exc:
        if is_engine_gone(exc):
            raise engine_gone(exc, "building the image") from exc
        raise BuildFailed(f"building {tag} failed: {exc}") from exc
    if previous and previous != image.id:
        # The tag moved: drop the image it left (and its unlabelled parent); stage caches stay.
        with contextlib.suppress(Exception):
            client.images.remove(previous)
    return BuiltImage(tag=tag, image_id=image.id, labels=dict(image.labels or {}),
                      size_bytes=int(image.attrs.get("Size", 0)), build_seconds=time.monotonic() - started)


def _free_threaded_version(client: Any, tag: str) -> tuple[str, str] | None:
    """The image's copy of the free-threaded CPython, run as the worker runs it (its user, no
    network, the kit's worker imported): its version and the wheels in its site-packages when
    the GIL stays off, else None."""
    code = ("import sys, importlib.metadata as m; sys.path.insert(0, sys.argv[1]); import kit.worker.main; "
            "sys.exit('GIL enabled') if sys._is_gil_enabled() else print(sys.version.split()[0], "
            "' '.join(sorted(f\"{d.metadata['Name'].lower()}=={d.version}\" for d in m.distributions())))")
    try:
        out = client.containers.run(tag, [str(FREE_THREADED_PYTHON), "-s", "-c", code, str(FREE_THREADED_KIT_PATH)],
                                    remove=True, network_mode="none", user=WORKER_USER)
    except Exception:  # no copy in this image (an empty python-ft/ in the context), or it does not run there
        return None
    version, _, wheels = (out.decode() if isinstance(out, bytes) else str(out)).strip().partition(" ")
    return (version, wheels) if version else None


def _image_id(client: Any, tag: str) -> str | None:
    try:
        return str(client.images.get(tag).id)
    except Exception:  # not there yet
        return None


def _follow(stream: Iterator[dict[str, Any]], log: Callable[[str], None]) -> None:
    """Pass the build's output on, line by line; a failing step raises with its last lines."""
    tail: list[str] = []
    for chunk in stream:
        if "stream" in chunk:
            for line in str(chunk["stream"]).splitlines():
                if line.strip():
                    tail = (tail + [line])[-15:]
                    log(line)
        if "error" in chunk:
            context = "\n".join(tail[-10:])
            raise BuildFailed(f"the image build failed: {str(chunk['error']).strip()}\n{context}")


def image_problem(client: Any, tag: str | None = None) -> str | None:
    """None when the worker image exists and was built from these kit sources; otherwise what to run."""
    import docker

    tag = tag or image_tag()
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return f"no worker image {tag}: run `kit build` (air-gapped: docs/containers.md)"
    built_from = (image.labels or {}).get(SOURCE_LABEL)
    if built_from != source_digest():
        return (f"the worker image {tag} is stale (built from other sources than this kit's): "
                "run `kit build`")
    return None
