"""The scheduler: plan x strategies x runtime -> records, saved after every sandbox."""

from __future__ import annotations

import hashlib
import os
import secrets
import shlex
import shutil
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from kit.core import signals
from kit.core.errors import ConfigError, EnvironmentProblem, KitError
from kit.core.files import hand_over_tree, make_dirs
from kit.measure import environment
from kit.measure.contention import Contention, assess, read_counters
from kit.measure.cpuset import Pinning, pin_controller
from kit.measure.cpuset import plan as plan_cpuset
from kit.plan.cells import Cell, grid_description, plan_cells
from kit.plan.config import RunConfig, allowed_cpus, plan_warnings
from kit.plan.inputs import Batch, prepare, with_problems
from kit.plan.skip import split_current
from kit.results.observer import RunObserver
from kit.results.records import RunResults, StrategyRecord, derived_rates, save
from kit.results.stats import oversubscribed
from kit.results.summary import summarize
from kit.results.verify import Reference, make_reference, output_verified, verify_record
from kit.run.supervisor import Limits, Outcome, not_started, supervise
from kit.runtimes.base import NotStarted, Runtime, SandboxPaths, SandboxSpec
from kit.worker.programs import NAMES, PYTHON_ALLOCATOR_ENV, program
from kit.worker.protocol import ManifestEntry, write_manifest
from kit.worker.workloads import unit

if TYPE_CHECKING:
    from kit.runtimes.kube.manifests import Cluster


class Interrupted(KitError):
    """Ctrl-C, SIGTERM or SIGHUP: what finished is saved; exit 130, 143 or 129 (kit/core/signals.py)."""

    exit_code = 130


def select_runtime(name: str, config: RunConfig | None = None) -> tuple[Runtime, str | None]:
    """`--runtime NAME` -> the runtime, with the worker image of this kit and its freshness check
    (the runtimes themselves know nothing of builds); kubernetes gets the plan's cluster settings."""
    from kit import runtimes
    from kit.build.image import BIN_DIR, image_problem, image_tag
    from kit.measure.inside import InsideTracker

    cluster = cluster_settings(config or RunConfig(runtime=name)) if name == "kubernetes" else None
    return runtimes.select(name, image_tag(), image_problem, BIN_DIR, cluster=cluster, inside=InsideTracker)


def cluster_settings(config: RunConfig) -> Cluster:
    """Where Jobs go and what they run: --namespace, --image (default this kit's worker image),
    --node-selector, --pending-timeout and --timeout."""
    from kit.build.image import image_tag
    from kit.runtimes.kube.manifests import Cluster

    return Cluster(namespace=config.namespace, image=config.image or image_tag(),
                   node_selector=config.node_selector, pending_timeout_seconds=config.pending_timeout_seconds,
                   run_timeout_seconds=config.timeout_seconds)


def sandbox_spec(run_id: str, cell: Cell, config: RunConfig, manifest: Path, input_root: Path, output_dir: Path,
                 log_dir: Path, cpuset: tuple[int, ...] | None = None,
                 remote_inputs: tuple[dict[str, str], int] | None = None) -> SandboxSpec:
    """One cell's sandbox, as every runtime (and `kit manifests`) gets it."""
    recipe, recipe_memory = remote_inputs or ({}, 0)
    return SandboxSpec(
        name=_sandbox_name(run_id, cell), command=_command(cell, config), input_root=input_root,
        output_dir=output_dir, manifest=manifest, log_dir=log_dir, memory_limit_bytes=cell.memory_limit_bytes,
        cpus=cell.cpus, pids_max=pids_limit(cell.workers), cpuset=cpuset, workers=cell.workers,
        labels=cell.labels(run_id), remote_inputs=recipe, remote_inputs_memory_bytes=recipe_memory or 256 * 2**20,
        env=program(cell.strategy).env(),
    )


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def unavailable_reason(strategy: str, runtime: str = "cgroup", cache_dir: Path | None = None) -> str | None:
    """Why a contract strategy cannot run on `runtime` here, and how to get it (None when it can)."""
    from kit.build.availability import unavailable_reason as reason
    from kit.plan.config import default_cache_dir

    return reason(strategy, runtime, cache_dir or default_cache_dir())


def strategy_problem(name: str, runtime: str, cache_dir: Path | None, workload: str = "images",
                     library: str = "opencv") -> str | None:
    """Why strategy `name` cannot run here: a workload (or image library) it does not run, else what it
    lacks on `runtime` and how to get it. None when it can."""
    return program(name).workload_problem(workload, library) or unavailable_reason(name, runtime, cache_dir)


def choose_strategies(config: RunConfig, runtime: str = "cgroup") -> tuple[list[str], dict[str, str]]:
    """The strategies to run (asked for, or every available one) and why the others are skipped."""
    skipped = {name: reason for name in NAMES
               if (reason := strategy_problem(name, runtime, config.cache_dir, config.workload, config.library))}
    if config.strategies:
        for name in config.strategies:
            if name in skipped:
                raise ConfigError(f"strategy {name} is not available: {skipped[name]}")
        return list(config.strategies), {}
    return [name for name in NAMES if name not in skipped], skipped


def availability_lines(runtime: str, cache_dir: Path, workload: str = "images", library: str = "opencv",
                       asked: Sequence[str] | None = None) -> list[str]:
    """What `kit run` says first: the strategies this runtime can run, and one line per other strategy
    with the gist of why and how to get it. Nothing when the user named the strategies (-s): the
    others are none of their business."""
    if asked:
        return []
    reasons = {name: strategy_problem(name, runtime, cache_dir, workload, library) for name in NAMES}
    lines = [f"strategies available on {runtime}: "
             + (", ".join(name for name, reason in reasons.items() if reason is None) or "none")]
    return lines + [f"  {name} not available: {gist(reason)}" for name, reason in reasons.items() if reason]


def gist(reason: str) -> str:
    """A reason as its one line before a run: whole when it names the command that fixes it, else its
    first clause ('no free-threaded (cp313t) OpenCV wheel exists: PyPI's ...' -> the part before the
    colon); the results file and the report keep it whole."""
    head = reason.split(": ", 1)[0]
    return reason if "`" in reason or len(head) < 20 else head


# kubernetes: the outputs stay in the pod's emptyDir, which goes with the pod; the controller sees
# only the worker's progress lines, so it cannot compare bytes or PSNR with the reference.
REMOTE_UNVERIFIED = ("outputs stay in the pod's emptyDir on a remote node and go with it; the controller "
                     "cannot compare them with the reference outputs")


class _Prepared(NamedTuple):
    """What every cell of a run shares, made once by `Runner.start`."""

    batch: Batch
    reference: Reference
    manifest: Path
    results: RunResults


def pids_limit(workers: int) -> int:
    """pids.max counts threads: room for every worker's threads plus the interpreter's own."""
    return 64 + 16 * workers


class Runner:
    """Runs one plan; `results` is complete on disk after every cell."""

    def __init__(self, config: RunConfig, runtime: Runtime, observer: RunObserver,
                 argv: list[str] | None = None, run_id: str | None = None) -> None:
        self.config, self.runtime, self.observer = config, runtime, observer
        self.run_id = run_id or new_run_id()
        self.run_dir = config.out_dir / self.run_id
        self.argv = argv if argv is not None else ["kit", *sys.argv[1:]]
        self.strategies: list[str] = []
        self.prepared: _Prepared | None = None
        self.gil_free_fraction: float | None = None
        self.pinning: Pinning = Pinning(None, None)
        self._saving = threading.Lock()       # --parallel: cells finish in several threads
        self._stop = threading.Event()        # --parallel: the run is stopping (Ctrl-C, a failed cell)

    def run(self, cells: list[Cell] | None = None) -> RunResults:
        """Run the config's plan (a run's or a sweep's, kit/plan/cells.py), or the given cells; results are
        saved after each cell."""
        results = self.start(cells)
        planned = cells if cells is not None else plan_cells(self.config, self.strategies)
        self.observer.planned(planned)
        if self.config.parallel > 1:
            self._run_parallel(planned)
        else:
            for cell in planned:
                self.run_cell(cell)
        # pyperf-style warnings (too short, too noisy, CPU steal) are data: the report shows them too
        results.warnings.extend(w for summary in summarize(results.records) for w in summary.warnings)
        save(results, self.run_dir)
        return results

    def _run_parallel(self, planned: list[Cell]) -> None:
        """--parallel N (kubernetes): up to N cells at once, each in a thread that supervises its own
        pod (pod anti-affinity puts each on a node of its own). Ctrl-C or a failed cell stops every
        running sandbox (their records say interrupted), deletes every Job and starts no other cell."""
        from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

        pool = ThreadPoolExecutor(max_workers=self.config.parallel, thread_name_prefix="kit-cell")
        futures = [pool.submit(self.run_cell, cell) for cell in planned]
        try:
            waiting = set(futures)
            while waiting:   # short waits: Ctrl-C reaches this (the main) thread between them
                done, waiting = wait(waiting, timeout=0.5, return_when=FIRST_EXCEPTION)
                for future in done:
                    if (failure := future.exception()) is not None:
                        raise failure
        except BaseException as exc:
            self._stop.set()
            for future in futures:
                future.cancel()
            with signals.hold():
                self.runtime.cleanup()   # pods still waiting for a node end too
                pool.shutdown(wait=True)
            if isinstance(exc, KeyboardInterrupt):
                raise Interrupted(f"{signals.describe()}; finished results are in {self.run_dir}") from None
            raise
        pool.shutdown()

    def start(self, cells: list[Cell] | None = None) -> RunResults:
        """Inputs, reference outputs and the results file; then `run_cell` adds records one by one."""
        strategies, skipped = choose_strategies(self.config, self.runtime.name)
        if cells is not None:  # a given grid: every strategy in it must be available
            strategies = list(dict.fromkeys(cell.strategy for cell in cells))
            for name in strategies:
                if reason := strategy_problem(name, self.runtime.name, self.config.cache_dir, self.config.workload,
                                              self.config.library):
                    raise ConfigError(f"strategy {name} is not available: {reason}")
            skipped = {}
        self.strategies = strategies
        languages = tuple(dict.fromkeys(program(name).language for name in strategies))
        batch = prepare(self.config, self.observer.phase, languages)
        if batch.workload == "images":
            self.observer.phase("making reference outputs (sequential pipeline, outside timing)")
        reference = make_reference(batch, self.config.cache_dir / "reference" / _key(batch))
        if reference.problems != batch.problems:   # inputs the pipeline could not decode: known bad too
            batch = replace(batch, entries=with_problems(batch.entries, reference.problems),
                            problems=reference.problems)
        most = max((cell.workers for cell in cells), default=1) if cells is not None else self.config.workers
        self.pinning = plan_cpuset(self.config.cpuset, most)
        if self.pinning.note:
            self.observer.phase(self.pinning.note)
        probe = self._probe_gil(batch, strategies)
        if self.pinning.controller:   # after the probe: it measures on the whole machine
            pin_controller(self.pinning.controller)
        if self.runtime.remote:   # the manifest travels in every pod spec: refuse what would not fit, now
            from kit.plan.inputs import pod_recipe
            from kit.runtimes.kube.manifests import check_recipe

            if problem := check_recipe(pod_recipe(self.config, batch.entries, batch.digests)[0]):
                raise ConfigError(problem)
        manifest = self.run_dir / "manifest.json"
        _written(self.run_dir, lambda: make_dirs(self.run_dir))
        signals.hook("setup")
        _written(manifest, lambda: write_manifest(manifest, batch.entries))
        for lang, entries in batch.by_language.items():   # pi calibrated per language: its own tasks
            target = _language_manifest(self.run_dir, lang)
            _written(target, lambda target=target, entries=entries: write_manifest(target, entries))  # type: ignore[misc]
        results = RunResults(
            run_id=self.run_id, command=self.argv, config=self.config.to_json(),
            environment=environment.capture(self.runtime.describe()),
            concurrency={"start_method": self.config.start_method}, inputs=batch.description,
            # said before the run in one line each (kit.report.console.after_table_warnings leaves them out)
            warnings=[f"{name} skipped: {reason}" for name, reason in skipped.items()],
        )
        results.workload = workload_description(batch, self.config.library)
        if reference.build:   # what the Python workers' builds are compared with (verify.method_for_build)
            results.workload["reference_build"] = reference.build
        if self.config.cpuset is not None:
            results.environment["cpuset"] = self.pinning.to_json()
        if (self.runtime.name not in ("docker", "kubernetes")   # those run the image's Go build
                and any(program(name).language == "go" for name in strategies)):
            from kit.build.go import toolchain_used

            results.environment["go_toolchain"] = toolchain_used(self.config.cache_dir)
        if (batch.workload == "images" and self.config.library == "opencv"
                and any(program(name).language == "python" for name in strategies)):
            # which OpenCV the Python workers ran, and why: the image's is always the distribution's
            from kit.build import system_opencv

            results.environment["python_system_opencv"] = (
                system_opencv.IN_IMAGE if self.runtime.name in ("docker", "kubernetes")
                else system_opencv.describe(self.config.cache_dir))
        if self.runtime.name != "docker" and any(program(name).free_threaded for name in strategies):
            from kit.build import freethreaded

            results.environment["python_free_threaded"] = freethreaded.describe(self.config.cache_dir)
        if probe is not None:
            results.concurrency["gil_probe"] = probe
            fraction = probe.get("fraction")
            self.gil_free_fraction = float(fraction) if isinstance(fraction, (int, float)) else None
            if "error" in probe:
                results.warnings.append(f"GIL probe failed: {probe['error']}")
            elif "skipped" in probe:
                results.warnings.append(f"GIL probe not run ({probe['skipped']}): claim 1 has no ceiling from it")
        if cells is not None or self.config.is_grid:
            results.config["grid"] = grid_description(cells if cells is not None
                                                      else plan_cells(self.config, strategies))
        cpus = min(allowed_cpus(), self.config.cpus) if self.config.cpus else allowed_cpus()
        if warning := oversubscribed(most, cpus):
            results.warnings.append(warning)
        results.warnings += plan_warnings(self.config)
        save(results, self.run_dir)
        self.prepared = _Prepared(batch, reference, manifest, results)
        return results

    def save_unfinished(self, why: str) -> bool:
        """A run stopped after its directory was made but before its results file (a signal during
        setup, a failed write): results.json with no record, saying why, so that a run directory
        never lacks its results and report. True when it wrote one."""
        if not self.run_dir.is_dir() or (self.run_dir / "results.json").exists():
            return False
        results = RunResults(run_id=self.run_id, command=self.argv, config=self.config.to_json(),
                             environment={"runtime": self.runtime.name}, concurrency={}, inputs={},
                             warnings=[f"no strategy ran: {why}, before the first sandbox"], stopped=why)
        save(results, self.run_dir)
        return True

    def _probe_gil(self, batch: Batch, strategies: list[str]) -> dict[str, object] | None:
        """The worker pipeline's GIL-free fraction, in its own untimed pass (kit/measure/gil_probe.py)."""
        if batch.workload != "images" or not any(program(name).language == "python" for name in strategies):
            return None
        if self.runtime.remote:   # it would measure this machine, not the nodes the pods run on
            return None
        good = [name for name in batch.distinct_inputs if name not in batch.problems][:GIL_PROBE_INPUTS]
        if not good:
            return None
        from kit.measure.gil_probe import skipped

        if (why := skipped()) is not None:
            return {"skipped": why}
        self.observer.phase("measuring the pipeline's GIL-free fraction (untimed probe)")
        return probe_under_watch(batch.input_root, good, self.config.library, self.config.contention_threshold,
                                 self.config.cache_dir)

    def run_cell(self, cell: Cell) -> StrategyRecord:
        """One sandbox after `start`: its record is appended and saved before this returns. A
        contended sandbox is run again up to --retry-contended times; every attempt stays in the
        results, and all but the one kept (the first quiet one, else the least contended) are
        marked `superseded`, which summaries leave out."""
        if self.prepared is None:
            raise RuntimeError("Runner.run_cell before Runner.start")
        batch, reference, manifest, results = self.prepared
        attempts: list[int] = []   # positions in results.records
        while True:
            record, disk_full = self._run_cell(cell, batch, reference, manifest, results)
            record = replace(record, attempt=len(attempts))
            with signals.deferred(), self._saving:  # a signal now is delivered once the record is saved
                attempts.append(len(results.records))
                results.records.append(record)
                if len(attempts) > 1:
                    self._keep_least_contended(results, attempts)
                save(results, self.run_dir)
                if self.config.output_dir:  # under sudo, outputs in a stable place are the user's too
                    hand_over_tree(self._output_dir(cell))
                self.observer.cell_finished(cell, record)
            if record.status == "interrupted" or record.verification.get("interrupted"):
                raise Interrupted(f"{signals.describe()}; finished results are in {self.run_dir}")
            if disk_full:
                raise EnvironmentProblem(
                    f"no space left for the outputs in {self._output_dir(cell)} ({disk_full}): free space there or "
                    f"choose another {'--output-dir' if self.config.output_dir else '--out'}; finished results are "
                    f"in {self.run_dir}")
            if not record.contended or len(attempts) > self.config.retry_contended:
                return results.records[next(i for i in attempts if not results.records[i].superseded)]

    @staticmethod
    def _keep_least_contended(results: RunResults, attempts: list[int]) -> None:
        def taken(record: StrategyRecord) -> tuple[bool, bool, float]:
            """A completed attempt before one cut short, then the quiet before the contended."""
            return (record.status == "interrupted", bool(record.contended),
                    (record.other_cpu_seconds or 0) + (record.steal_seconds or 0))

        kept = min(attempts, key=lambda i: (taken(results.records[i]), i))
        for i in attempts:
            results.records[i] = replace(results.records[i], superseded=i != kept)

    def _output_dir(self, cell: Cell) -> Path:
        base = self.config.output_dir or (self.run_dir / "outputs")
        return base / cell.strategy

    def _run_cell(self, cell: Cell, batch: Batch, reference: Reference, manifest: Path,
                  results: RunResults) -> tuple[StrategyRecord, str | None]:
        output_dir = self._output_dir(cell)
        if (lang := program(cell.strategy).language) in batch.by_language:   # run and verified on its own tasks
            batch, manifest = batch.for_language(lang), _language_manifest(self.run_dir, lang)
        skipped: list[ManifestEntry] = []
        if self.config.skip_current:  # seed 004: keep earlier outputs, give the worker the rest only
            check = program(cell.strategy).output_check(self.config.library)
            todo, skipped = split_current(batch.entries, batch.input_root, output_dir,
                                          lambda entry, output: output_verified(reference, entry.input, output, check))
            manifest = self.run_dir / f"manifest-{_sandbox_name(self.run_id, cell)}.json"
            _written(manifest, lambda: write_manifest(manifest, todo))
        else:
            shutil.rmtree(output_dir, ignore_errors=True)  # each repetition writes every output anew
        _written(output_dir, lambda: output_dir.mkdir(parents=True, exist_ok=True))
        remote = None
        if self.runtime.remote:   # the pod makes its own inputs: the manifest and generator travel in its spec
            from kit.plan.inputs import pod_recipe

            remote = pod_recipe(self.config, batch.entries, batch.digests)
        spec = sandbox_spec(self.run_id, cell, self.config, manifest, batch.input_root, output_dir,
                            self.run_dir / "logs", self.pinning.sandbox, remote)
        load = [round(x, 2) for x in os.getloadavg()]
        steal_before = environment.cpu_steal_seconds()
        self.observer.cell_started(cell, len(batch.entries) - len(skipped))
        # contention on the CPUs the sandbox may use: its own set when pinned, else the run's
        cpus = list(self.pinning.sandbox) if self.pinning.sandbox else sorted(os.sched_getaffinity(0))
        counters_before, started = read_counters(cpus), time.monotonic()
        try:
            sandbox = self.runtime.start(spec)
        except NotStarted as never:   # no node took it, or its image could not be pulled: a failed record
            outcome, notes = not_started(never), dict(never.notes)
        except KeyboardInterrupt:     # Ctrl-C while a pod waited for a node: the runtime deleted its Job
            outcome, notes = not_started(NotStarted(signals.reason(), time.monotonic() - started), "interrupted"), {}
        else:
            try:
                outcome = supervise(
                    sandbox, Limits(self.config.timeout_seconds, self.config.stall_seconds),
                    on_event=lambda event: _item(self.observer, cell, event),
                    on_sample=lambda sample: self.observer.sampled(cell, sample), stop=self._stop.is_set)
                notes = dict(sandbox.notes)
            finally:
                with signals.hold():  # never a half-removed sandbox; the signal is delivered after saving
                    sandbox.close()
        # a remote sandbox's CPUs are another machine's: this machine's counters say nothing of them
        contention = (None if self.runtime.remote else
                      assess(counters_before, read_counters(cpus), outcome.stats.cpu_seconds if outcome.stats else 0.0,
                             len(cpus), time.monotonic() - started, self.config.contention_threshold,
                             controller_elsewhere=bool(self.pinning.controller)))
        if outcome.concurrency:
            results.concurrency.setdefault("workers", {})[cell.strategy] = outcome.concurrency
        try:
            signals.hook("verify")
            detail: dict[str, object]
            if self.runtime.remote:
                verified, detail = None, ({"unverified": REMOTE_UNVERIFIED} if outcome.status == "ok" else {})
            else:
                verified, detail = (verify_record(batch, reference, output_dir,
                                                  program(cell.strategy).output_check(self.config.library),
                                                  outcome.concurrency)
                                    if outcome.status == "ok"
                                    else (None, {}))
        except KeyboardInterrupt:  # the strategy finished: its record is kept, unverified
            verified, detail = None, {"interrupted": True}
        return build_record(cell, outcome, len(batch.entries), verified, detail,
                            {"load_average_at_start": load, "sandbox": notes,
                             "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
                             "cpu_steal_seconds": _delta(steal_before, environment.cpu_steal_seconds())},
                            self.config.start_method if program(cell.strategy).process_workers else None,
                            workload=batch.workload, items_skipped=len(skipped),
                            bytes_moved_per_task=bytes_moved_per_task(batch, cell.strategy,
                                                                      self.config.chunksize),
                            # the GIL build's figure: it says nothing of an interpreter without a GIL
                            gil_free_fraction=(self.gil_free_fraction if program(cell.strategy).language == "python"
                                               and not program(cell.strategy).free_threaded else None),
                            contention=contention,
                            library=record_library(cell.strategy, batch.workload, outcome.concurrency),
                            jpeg_library=record_jpeg_library(batch.workload, outcome.concurrency)), \
            outcome.disk_full


def _written(path: Path, write: Callable[[], object]) -> None:
    """A file or directory the run needs; a full or read-only disk is one line naming the path."""
    try:
        write()
    except OSError as exc:
        raise EnvironmentProblem(f"cannot write {path}: {exc.strerror or exc}; free space there or choose "
                                 "another --out / --output-dir") from None


GIL_PROBE_INPUTS = 8   # distinct good inputs the probe cycles through


def probe_gil(input_root: Path, inputs: list[str], library: str = "opencv",
              python: list[str] | None = None) -> dict[str, object]:
    """Run `python -m kit.measure.gil_probe` (a fresh interpreter with no thread of the controller's) on
    `python` (an argv prefix: the Python the workers run, default the controller's), with the
    Python workers' allocator settings, so that it times the pipeline the workers run; its JSON, or
    {"error": why} when it could not run."""
    import json
    import os
    import subprocess

    try:
        done = subprocess.run([*(python or [sys.executable]), "-m", "kit.measure.gil_probe",
                               "--input-root", str(input_root), "--library", library, *inputs],
                              capture_output=True, text=True, timeout=300, check=False,
                              env={**os.environ, **PYTHON_ALLOCATOR_ENV})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": str(exc)}
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]}
    try:
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError) as exc:
        return {"error": f"unreadable probe output: {exc}"}


def probe_under_watch(input_root: Path, inputs: list[str], library: str, threshold: float,
                      cache_dir: Path) -> dict[str, object]:
    """The probe on the Python the workers run (the distribution's OpenCV when they use it), with
    the contention it ran under (as a sandbox's): a probe on a busy machine keeps its number, but the
    report derives no ceiling from it."""
    import resource

    from kit.build.system_opencv import python_argv

    def children_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    cpus = sorted(os.sched_getaffinity(0))
    before, cpu_before, started = read_counters(cpus), children_cpu(), time.monotonic()
    probe = probe_gil(input_root, inputs, library, python_argv(cache_dir) if library == "opencv" else None)
    contention = assess(before, read_counters(cpus), children_cpu() - cpu_before, len(cpus),
                        time.monotonic() - started, threshold)
    if contention is not None and "error" not in probe:
        probe.update(contended=contention.contended, other_cpu_seconds=contention.other_cpu_seconds,
                     steal_seconds=contention.steal_seconds)
    return probe


def _item(observer: RunObserver, cell: Cell, event: object) -> None:
    from kit.worker.protocol import ItemEvent

    if isinstance(event, ItemEvent):
        observer.item_done(cell, event)


def _command(cell: Cell, config: RunConfig) -> Callable[[SandboxPaths], list[str]]:
    """The worker's command line, from the registry: `python -m kit.worker` or a Go binary."""
    from kit.build.availability import host_bin_dir

    entry = program(cell.strategy)
    interpreter = None
    if entry.free_threaded:
        from kit.build.freethreaded import interpreter as free_threaded

        interpreter = free_threaded(config.cache_dir)
    elif entry.language == "python" and config.workload == "images" and config.library == "opencv":
        from kit.build.system_opencv import interpreter as system_opencv  # like for like with go-gocv

        interpreter = system_opencv(config.cache_dir)
    return entry.command(config.workload, cell.workers, config.start_method, config.chunksize,
                         host_bin_dir(config.cache_dir) if entry.language == "go" else None, config.library,
                         config.sample_interval_ms,
                         interpreter)


def _sandbox_name(run_id: str, cell: Cell) -> str:
    """Unique within a run: a sweep runs one strategy at several worker counts and caps."""
    cap = f"-m{cell.memory_limit_bytes // 2**20}" if cell.memory_limit_bytes else ""
    return f"{run_id}-{cell.strategy}-x{cell.workers}{cap}-{'w' if cell.warmup else 'r'}{cell.repetition}"


def _language_manifest(run_dir: Path, lang: str) -> Path:
    return run_dir / f"manifest-{lang}.json"


def _delta(before: float | None, after: float | None) -> float | None:
    return round(after - before, 3) if before is not None and after is not None else None


def _key(batch: Batch) -> str:
    return hashlib.sha256("\n".join(sorted(batch.digests.values())).encode()).hexdigest()[:16]


def workload_description(batch: Batch, library: str = "opencv") -> dict[str, object]:
    """results.json `workload`: what each item is, its unit, parameters and how it is verified."""
    from kit.worker.workloads import VERIFICATION, unit

    task = batch.description.get("task")
    return {"name": batch.workload, "unit": unit(batch.workload),
            **({"library": library} if batch.workload == "images" else {}),
            **({"task": task} if task is not None else {}),
            **({"task_by_language": batch.description["task_by_language"]}
               if "task_by_language" in batch.description else {}),
            **({"calibration": batch.description["calibration"]} if "calibration" in batch.description else {}),
            "verification": VERIFICATION[batch.workload]}


def bytes_moved_per_task(batch: Batch, strategy: str, chunksize: int = 1) -> int | None:
    """payload: the string crosses to another process (pickled) in process strategies, and is
    passed by reference (0 bytes) in threads, the sequential loop and Go's goroutines. A Pool pickles a chunk of
    tasks as one message, and pickle writes the one shared string once per message."""
    if batch.workload != "payload" or not batch.entries:
        return None
    size = int((batch.entries[0].task or {}).get("size_bytes", 0))
    entry = program(strategy)
    if entry.chunks:
        return size // chunksize
    return size if entry.process_workers else 0


def build_record(cell: Cell, outcome: Outcome, items_total: int, verified: bool | None,
                 verification: dict[str, object], extras: dict[str, object],
                 start_method: str | None, workload: str = "images", items_skipped: int = 0,
                 bytes_moved_per_task: int | None = None, gil_free_fraction: float | None = None,
                 contention: Contention | None = None,
                 library: tuple[str | None, str | None] = (None, None),
                 jpeg_library: str | None = None) -> StrategyRecord:
    """The record of product.md section 4 from a measured outcome."""
    stats = outcome.stats
    cpu_seconds = stats.cpu_seconds if stats else 0.0
    peak_memory = outcome.peaks.working_set_bytes
    throughput, per_mib, utilization = derived_rates(outcome.items_ok, outcome.work_seconds,
                                                     outcome.wall_seconds, cpu_seconds, peak_memory)
    return StrategyRecord(
        strategy=cell.strategy, repetition=cell.repetition, workers=cell.workers,
        status=outcome.status, exit_code=outcome.exit_code,
        wall_seconds=round(outcome.wall_seconds, 4),
        work_seconds=round(outcome.work_seconds, 4) if outcome.work_seconds is not None else None,
        cpu_seconds=round(cpu_seconds, 4), cpu_utilization=round(utilization, 4),
        peak_memory_bytes=peak_memory, peak_usage_bytes=outcome.peaks.usage_bytes,
        peak_pss_bytes=outcome.peaks.pss_bytes, peak_rss_sum_bytes=outcome.peaks.rss_sum_bytes,
        memory_limit_bytes=cell.memory_limit_bytes, oom_kills=len(outcome.oom_events),
        oom_events=outcome.oom_events,
        cpu_throttled_seconds=round(stats.throttled_seconds, 4) if stats else 0.0,
        items_total=items_total, items_ok=outcome.items_ok, items_failed=outcome.items_failed,
        failed_items=outcome.failed_items,
        throughput_items_per_second=round(throughput, 4) if throughput is not None else None,
        throughput_per_mib=round(per_mib, 6) if per_mib is not None else None,
        verified=verified, samples=outcome.samples, warmup=cell.warmup, cpus=cell.cpus,
        start_method=start_method, message=outcome.message, verification=verification,
        environment=extras, workload=workload, unit=unit(workload), items_skipped=items_skipped,
        bytes_moved_per_task=bytes_moved_per_task,
        gil_free_fraction=gil_free_fraction if workload == "images" else None,
        other_cpu_seconds=contention.other_cpu_seconds if contention else None,
        steal_seconds=contention.steal_seconds if contention else None,
        contended=contention.contended if contention else None,
        controller_cpu_seconds=contention.controller_cpu_seconds if contention else None,
        contention_threshold=contention.threshold if contention else None,
        library=library[0], library_version=library[1], jpeg_library=jpeg_library,
        inside=outcome.inside.to_json() if outcome.inside is not None else None,
        stage_seconds=({stage: round(seconds, 4) for stage, seconds in outcome.stage_seconds.items()}
                       if outcome.stage_seconds is not None else None),
    )


def record_library(strategy: str, workload: str,
                   concurrency: Mapping[str, object] | None) -> tuple[str | None, str | None]:
    """(library, version) that decoded, resized and encoded a record's images, from what its worker
    reported: a Python worker names its own (opencv or pillow); a Go worker's is fixed by its
    strategy (the standard library's image/jpeg, or OpenCV through GoCV). None for task workloads."""
    if workload != "images" or not concurrency:
        return None, None
    if concurrency.get("library"):
        return str(concurrency["library"]), str(concurrency.get("library_version") or "") or None
    if strategy == "go-gocv":
        return "opencv (gocv)", str(concurrency.get("opencv") or "") or None
    if strategy == "go-native":
        return "image/jpeg (go)", str(concurrency.get("go") or "") or None
    return None, None


def record_jpeg_library(workload: str, concurrency: Mapping[str, object] | None) -> str | None:
    """The JPEG library release a record's images went through ("libjpeg-turbo 2.1.5"), as its
    worker reported it (Python and Go alike); None for task workloads or when it could not tell."""
    if workload != "images" or not concurrency:
        return None
    return str(concurrency.get("jpeg_library") or "") or None


def command_line(argv: list[str]) -> str:
    return shlex.join(argv)
