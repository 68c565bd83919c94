"""`kit floor`: the smallest memory cap under which a strategy completes the batch.

Bisection between a cap that fails and one that passes, to `step` bytes (8 MiB by default).
Run-to-run noise in peak memory is 10-30 MB here, so one lucky completion proves little: a probe
passes only when every one of `confirmations` runs (3 by default) completes, and it fails at
the first run that does not (an OOM kill usually comes early, so failures are cheap).

Page cache: file pages are charged to the cgroup that first reads them. The controller imports
OpenCV and numpy (it makes the reference outputs) before any probe, so by default every probe
runs with those libraries already cached ("warm"); `--cold` drops the page cache before every
run (root only), and each probe records how much of OpenCV's libraries was resident.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from kit.core.errors import EnvironmentProblem
from kit.core.units import MIB, Bytes
from kit.plan.parsing import align_caps

if TYPE_CHECKING:
    from kit.plan.config import FloorSearch
    from kit.results.records import RunResults
    from kit.run.runner import Runner

DEFAULT_STEP: Bytes = 8 * MIB
DEFAULT_CONFIRMATIONS = 3
DROP_CACHES = Path("/proc/sys/vm/drop_caches")


class Attempt(NamedTuple):
    """One run of the batch at a cap."""

    status: str
    peak_memory_bytes: Bytes
    library_resident_fraction: float | None = None   # measured just before the run


RunOnce = Callable[[Bytes, int], Attempt]   # (cap, attempt index) -> what happened


@dataclass(frozen=True, slots=True)
class Probe:
    """Runs at one cap: passed only if all completed; statuses stop at the first failure."""

    memory_limit_bytes: Bytes
    passed: bool
    statuses: tuple[str, ...]
    peak_memory_bytes: Bytes | None = None        # highest working set over the runs
    library_resident_fraction: float | None = None  # least of OpenCV's libraries cached before a run


@dataclass(frozen=True, slots=True)
class Floor:
    """One strategy's memory floor at one worker count (None when `high` already fails)."""

    strategy: str
    workers: int
    floor_bytes: Bytes | None
    highest_failing_bytes: Bytes | None
    step_bytes: Bytes
    confirmations: int
    page_cache: str                # "warm" or "cold"
    probes: tuple[Probe, ...]
    note: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def text(self) -> str:
        return f"{self.strategy} x{self.workers}: {self.note}"



def bisect(passes: Callable[[Bytes], bool], low: Bytes, high: Bytes,
           step: Bytes) -> tuple[Bytes | None, Bytes | None]:
    """(smallest passing cap, highest failing cap) on the step grid between low and high.

    (None, high) when high fails; (low, None) when low already passes. `passes` is called with
    high first, then low, then midpoints; it is assumed monotonic (more memory never hurts)."""
    low, high = align_caps(low, high, step)
    if not passes(high):
        return None, high
    if passes(low):
        return low, None
    good, bad = high, low
    while good - bad > step:
        middle = (good + bad) // 2 // step * step
        if passes(middle):
            good = middle
        else:
            bad = middle
    return good, bad


def confirm(run_once: RunOnce, cap: Bytes, confirmations: int = DEFAULT_CONFIRMATIONS) -> Probe:
    """Run up to `confirmations` times at `cap`; stop at the first run that does not complete."""
    attempts: list[Attempt] = []
    for index in range(confirmations):
        attempts.append(run_once(cap, index))
        if attempts[-1].status != "ok":
            break
    fractions = [a.library_resident_fraction for a in attempts if a.library_resident_fraction is not None]
    return Probe(cap, len(attempts) == confirmations and all(a.status == "ok" for a in attempts),
                 tuple(a.status for a in attempts), max(a.peak_memory_bytes for a in attempts),
                 min(fractions) if fractions else None)


def describe(floor: Bytes | None, failing: Bytes | None, low: Bytes, high: Bytes, step: Bytes) -> str:
    from kit.core.units import format_bytes

    if floor is None:
        return f"does not complete even at {format_bytes(high)}: raise --high"
    if failing is None:
        return f"completes at {format_bytes(low)} already: the floor is at or below it (lower --low)"
    return (f"floor {floor // MIB} MiB (fails at {failing // MIB} MiB; {step // MIB} MiB resolution)")


def find_floor(strategy: str, workers: int, run_once: RunOnce, low: Bytes, high: Bytes,
               step: Bytes = DEFAULT_STEP, confirmations: int = DEFAULT_CONFIRMATIONS,
               cold: bool = False) -> Floor:
    """Bisect one strategy's floor; `run_once(cap, attempt)` runs the batch once."""
    probes: list[Probe] = []

    def passes(cap: Bytes) -> bool:
        probe = confirm(run_once, cap, confirmations)
        probes.append(probe)
        return probe.passed

    floor, failing = bisect(passes, low, high, step)
    aligned_low, aligned_high = align_caps(low, high, step)
    return Floor(strategy, workers, floor, failing, step, confirmations, "cold" if cold else "warm",
                 tuple(probes), describe(floor, failing, aligned_low, aligned_high, step))


def drop_page_cache(path: Path = DROP_CACHES) -> None:
    """Write back dirty pages, then drop the clean page cache (root only; mapped pages stay)."""
    os.sync()
    try:
        path.write_text("3\n")
    except OSError as exc:
        raise EnvironmentProblem(f"--cold needs to write {path} ({exc.strerror}): run as root, "
                                 "or leave out --cold to measure with a warm page cache") from None


def cold_problem(path: Path = DROP_CACHES) -> str | None:
    """Why --cold cannot work here (None when it can), checked before any probe runs."""
    return None if os.access(path, os.W_OK) else (
        f"--cold needs write access to {path}: run as root, or leave out --cold")


def opencv_libraries() -> list[Path]:
    """OpenCV's shared objects (the Python binding and its bundled libraries)."""
    import cv2

    package = Path(cv2.__file__).parent
    found = list(package.glob("*.so")) + list(package.parent.glob("opencv_python*.libs/*.so*"))
    return sorted(p for p in found if p.is_file())


def library_residency(files: list[Path] | None = None) -> float | None:
    """Fraction of the OpenCV libraries' bytes in the page cache, via util-linux `fincore`
    (mincore(2) has no Python binding); None when fincore is missing."""
    paths = files if files is not None else opencv_libraries()
    if not paths or shutil.which("fincore") is None:
        return None
    done = subprocess.run(["fincore", "--bytes", "--noheadings", "--raw", "--output", "RES,SIZE",
                           *map(str, paths)], capture_output=True, text=True, timeout=30, check=False)
    resident = size = 0
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            resident, size = resident + int(parts[0]), size + int(parts[1])
    return round(min(resident / size, 1.0), 3) if size else None


def run_floors(runner: Runner, search: FloorSearch) -> RunResults:
    """Every chosen strategy's floor at the config's workers; each run is a record in the run's
    results.json, each floor an entry of its `floors` section (saved as soon as it is known)."""
    from kit.plan.cells import cell
    from kit.results.records import save

    if search.cold and (problem := cold_problem()):
        raise EnvironmentProblem(problem)
    results = runner.start()
    libraries = opencv_libraries()
    confirmations = search.confirmations
    for strategy in runner.strategies:
        workers = cell(strategy, 0, runner.config.workers, None, None).workers

        def run_once(cap: Bytes, attempt: int, strategy: str = strategy, workers: int = workers) -> Attempt:
            if search.cold:
                drop_page_cache()
            resident = library_residency(libraries)
            runner.observer.phase(f"{strategy} x{workers}: cap {cap // MIB} MiB, "
                                  f"run {attempt + 1}/{confirmations}")
            record = runner.run_cell(cell(strategy, attempt, workers, cap, runner.config.cpus))
            return Attempt(record.status, record.peak_memory_bytes, resident)

        floor = find_floor(strategy, workers, run_once, search.low_bytes, search.high_bytes, search.step_bytes,
                           confirmations, search.cold)
        results.floors.append(floor.to_json())
        save(results, runner.run_dir)
        runner.observer.phase(floor.text)
    return results
