"""The program registry: what each strategy is, written once.

A strategy is a program that speaks the worker contract (kit/worker/protocol.py): the Python worker
(`python -m kit.worker`, one module per strategy under kit/worker/strategies/) or a Go binary (kit/go/).
Everything that asks "what is this strategy" (the plan, the worker's dispatch, the command line,
the record's fields, the report's order) asks `PROGRAMS`. Adding a strategy is one entry here plus
its file under kit/worker/strategies/ (Python) or kit/go/cmd/ (Go).

Stdlib only: the worker imports this module inside the sandbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from kit.worker.sampler import DEFAULT_SAMPLE_INTERVAL_MS

Language = Literal["python", "go"]
START_METHODS: tuple[str, ...] = ("fork", "spawn", "forkserver")
DEFAULT_START_METHOD = START_METHODS[0]    # fork on Linux, whatever Python's own default becomes
DEFAULT_WORKLOAD = "images"                # the study's; the task workloads are seeds 001-004's
DEFAULT_CHUNKSIZE = 1                      # python-pool-imap(-unordered): tasks per pool message
_ALL_WORKLOADS: tuple[str, ...] = ("images", "pi", "count", "payload", "io")


class WorkerPaths(Protocol):
    """How a sandbox sees the kit's directories (kit.runtimes.base.SandboxPaths has this shape)."""

    @property
    def python(self) -> str: ...
    @property
    def input_root(self) -> Path: ...
    @property
    def output_dir(self) -> Path: ...
    @property
    def manifest(self) -> Path: ...
    @property
    def bin_dir(self) -> Path | None: ...


# What a free-threaded interpreter cannot load. Checked 2026-12-03 with pip 26.3: `pip download
# opencv-python-headless --only-binary=:all: --python-version 3.13 --implementation cp --abi cp313t
# --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --no-deps` finds no wheel of any
# version ("from versions: none"; likewise opencv-python and opencv-contrib-python-headless), while
# the same command with --abi cp313 --abi abi3 gets 5.1.0.95's cp37-abi3 wheel: the stable ABI, which
# a free-threaded 3.13 cannot load. NumPy has cp313t wheels; OpenCV's Python bindings do not.
NO_FREE_THREADED_OPENCV = ("no free-threaded (cp313t) OpenCV wheel exists: PyPI's opencv-python-headless "
                           "ships cp37-abi3 wheels only, which a free-threaded CPython cannot load; "
                           "use --library pillow (Pillow publishes cp313t wheels) or another workload")


@dataclass(frozen=True, slots=True)
class Interpreter:
    """A Python other than the sandbox's own (python-threads-ft's free-threaded CPython, built by
    kit/build/freethreaded.py; the distribution's Python with its OpenCV, kit/build/system_opencv.py):
    its executable and a directory that holds the kit package and nothing else, on the host and in
    the worker image. Nothing is installed into the interpreter: the kit goes on its path through
    PYTHONPATH (`worker_argv`)."""

    host_python: str
    host_kit_path: str
    image_python: str | None = None     # None: in the worker image, the image's own Python
    image_kit_path: str | None = None


# glibc's malloc, the same for every Python worker (issue 23). By default glibc adapts its mmap
# threshold to the largest block freed (at most 32 MiB) and trims the heap's top once more than twice
# that is free. A 4K frame is 25 MB, and freeing one item's arrays frees ~52 MB at the heap's top:
# just over the ~50 MB trim threshold, so the heap is handed back to the kernel after every item and
# the next item faults ~7,200 fresh pages (28 MB) back in, ~14 ms of kernel time per 4K image on
# this machine kind. Whether that happens hung on whether the previous item's arrays were still
# alive, so the kit and a bare loop differed by 10-15 ms per image without any code of the kit's
# own. Fixed thresholds keep the heap: blocks under 32 MiB (the largest threshold glibc accepts) come
# from the heap, and it is trimmed only past 1 GiB free. The worker records what it ran with
# (`concurrency.allocator`); Go's own allocator and its binaries' environment are left as they are.
PYTHON_ALLOCATOR_ENV: dict[str, str] = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "1073741824"}
ALLOCATOR_VARIABLES: tuple[str, ...] = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX",
                                        "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_", "GLIBC_TUNABLES")


def worker_argv(python: str, kit_path: str) -> list[str]:
    """`python -m kit.worker` on an interpreter the kit is not installed in: `env` puts the kit's
    directory (and only it: no other interpreter's site-packages) on its path, -s keeps the user's
    site-packages out. PYTHON_GIL and the rest of the sandbox's environment pass unchanged."""
    return ["env", f"PYTHONPATH={kit_path}", python, "-s", "-m", "kit.worker"]


@dataclass(frozen=True, slots=True)
class Program:
    """One strategy: how it spreads items over workers and how its sandbox command is made."""

    name: str
    language: Language
    summary: str
    process_workers: bool = False       # workers are processes: --start-method; task arguments pickled
    chunks: bool = False                # a multiprocessing.Pool: --chunksize tasks per message
    single_worker: bool = False         # one worker by definition, whatever --workers says
    workloads: tuple[str, ...] = _ALL_WORKLOADS
    other_workloads: str = ""           # why it runs no other workload (shown when one is asked for)
    entry: str = ""                     # Python: "module:function" under kit.worker.strategies
    free_threaded: bool = False         # runs on a free-threaded CPython (no GIL), which loads no OpenCV
    # A Go worker's image pipeline is fixed by its program: (the library as records name it, the key
    # of the worker's report that holds its version). A Python worker names its own (--library).
    image_library: tuple[str, str] | None = None

    def library_used(self, workload: str, report: Mapping[str, object] | None) -> tuple[str | None, str | None]:
        """(library, version) that decoded, resized and encoded a record's images, from what its
        worker reported (`report`: its concurrency figures); (None, None) for a task workload or a
        worker that never reported."""
        if workload != "images" or not report:
            return None, None
        if report.get("library"):
            return str(report["library"]), str(report.get("library_version") or "") or None
        if self.image_library is not None:
            name, version_key = self.image_library
            return name, str(report.get(version_key) or "") or None
        return None, None

    def workload_problem(self, workload: str, library: str = "opencv") -> str | None:
        """Why this program cannot run `workload` (None when it can); `library` is the images
        workload's (--library), which a free-threaded interpreter can load only as Pillow."""
        if self.free_threaded and workload == "images" and library != "pillow":
            return NO_FREE_THREADED_OPENCV
        if workload in self.workloads:
            return None
        return self.other_workloads.format(workload=workload) or f"{self.name} does not run {workload}"

    def env(self) -> dict[str, str]:
        """What the sandbox adds to this program's environment: the allocator settings for a Python
        worker (every Python strategy alike, pool processes inherit them), nothing for Go."""
        return dict(PYTHON_ALLOCATOR_ENV) if self.language == "python" else {}

    def effective_workers(self, workers: int) -> int:
        return 1 if self.single_worker else workers

    def output_check(self, library: str = "opencv") -> str:
        """Byte-identical outputs for the Python pipeline with OpenCV (the reference's own code); PSNR
        plus exact dimensions for Go and for Pillow (another decoder, resizer or encoder)."""
        return "psnr" if self.language == "go" or library != "opencv" else "sha256"

    def command(self, workload: str, workers: int, start_method: str, chunksize: int = 1,
                host_bin_dir: Path | None = None, library: str = "opencv",
                sample_interval_ms: int = DEFAULT_SAMPLE_INTERVAL_MS,
                interpreter: Interpreter | None = None) -> WorkerCommand:
        """The sandbox's command; `library` (images) reaches the Python worker only: each Go worker
        has its own pipeline. `interpreter`: another Python than the sandbox's (python-threads-ft)."""
        return WorkerCommand(self.name, self.language, workload, self.effective_workers(workers), start_method,
                             chunksize if self.chunks else 1, host_bin_dir,
                             library if self.language == "python" else "opencv", sample_interval_ms,
                             interpreter)


@dataclass(frozen=True, slots=True)
class WorkerCommand:
    """A worker's command line, built from the paths as the sandbox sees them: the same arguments
    for the Python worker (`python -m kit.worker`, which loads nothing of the controller) and the
    Go binaries (in the sandbox's bin_dir, or the host's build when the sandbox shares its files)."""

    strategy: str
    language: Language
    workload: str
    workers: int
    start_method: str
    chunksize: int = 1
    host_bin_dir: Path | None = None
    library: str = "opencv"          # images, Python worker: opencv or pillow (--library)
    sample_interval_ms: int = DEFAULT_SAMPLE_INTERVAL_MS   # its own cgroup samples (kit/worker/sampler.py); 0: none
    interpreter: Interpreter | None = None   # another Python than the sandbox's (python-threads-ft)

    def __call__(self, paths: WorkerPaths) -> list[str]:
        if self.language == "go":
            directory = paths.bin_dir or self.host_bin_dir
            program = [str((directory or Path("go-bin-missing")) / self.strategy)]
        else:
            program = self._python(paths)
        return [*program, "--strategy", self.strategy, "--workload", self.workload,
                "--workers", str(self.workers), "--start-method", self.start_method,
                "--manifest", str(paths.manifest), "--input-root", str(paths.input_root),
                "--output-dir", str(paths.output_dir),
                *(["--chunksize", str(self.chunksize)] if self.chunksize != 1 else []),
                *(["--library", self.library] if self.library != "opencv" else []),
                *(["--sample-interval-ms", str(self.sample_interval_ms)]
                  if self.sample_interval_ms != DEFAULT_SAMPLE_INTERVAL_MS else [])]

    def _python(self, paths: WorkerPaths) -> list[str]:
        """The Python worker's program: the sandbox's own Python, or `interpreter`'s on the host or
        in the worker image (a container: the image's programs and sources)."""
        other = self.interpreter
        in_image = paths.bin_dir is not None
        if other is None or (in_image and other.image_python is None):
            return [paths.python, "-m", "kit.worker"]
        if in_image:
            return worker_argv(other.image_python or paths.python, other.image_kit_path or "")
        return worker_argv(other.host_python, other.host_kit_path)


_GO_TASKS = ("images", "pi", "count", "payload")

PROGRAMS: tuple[Program, ...] = (
    Program("python-sequential", "python", "one loop, the baseline", single_worker=True,
            entry="sequential:run"),
    Program("python-threads", "python", "ThreadPoolExecutor: one interpreter, the GIL shared",
            entry="threads:run"),
    Program("python-processes", "python", "ProcessPoolExecutor: one interpreter per worker",
            process_workers=True, entry="processes:run"),
    Program("python-pool-imap", "python", "multiprocessing.Pool.imap, ordered", process_workers=True,
            chunks=True, entry="pool_imap:run_imap"),
    Program("python-pool-imap-unordered", "python", "multiprocessing.Pool.imap_unordered",
            process_workers=True, chunks=True, entry="pool_imap:run_imap_unordered"),
    Program("python-asyncio", "python", "asyncio over a process pool (run_in_executor)",
            process_workers=True, entry="asyncio_pool:run"),
    Program("python-threads-ft", "python", "ThreadPoolExecutor on a free-threaded CPython: no GIL",
            entry="threads:run", free_threaded=True),
    Program("go-native", "go", "goroutines, Go's image/jpeg and an area resize", workloads=_GO_TASKS,
            image_library=("image/jpeg (go)", "go"),
            other_workloads="the Go workers run " + ", ".join(_GO_TASKS) + ", not {workload}"),
    Program("go-gocv", "go", "goroutines, OpenCV through GoCV (cgo)", workloads=("images",),
            image_library=("opencv (gocv)", "opencv"),
            other_workloads=("go-gocv differs from go-native only in its OpenCV image pipeline; the "
                             "{workload} workload uses none, so it runs on go-native (-s go-native)")),
)
BY_NAME: dict[str, Program] = {program.name: program for program in PROGRAMS}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def program(name: str) -> Program:
    """The registry entry of a strategy name (KeyError for a name the registry does not know)."""
    return BY_NAME[name]


def names(language: Language | None = None, *, process_workers: bool | None = None,
          chunks: bool | None = None, free_threaded: bool | None = None) -> tuple[str, ...]:
    """Strategy names in the registry's order, filtered by what the caller asks."""
    return tuple(p.name for p in PROGRAMS
                 if (language is None or p.language == language)
                 and (process_workers is None or p.process_workers == process_workers)
                 and (chunks is None or p.chunks == chunks)
                 and (free_threaded is None or p.free_threaded == free_threaded))
