"""The scheduler: plan x strategies x runtime -> records, saved after every sandbox.

The runner knows no runtime by name: what differs between runtimes it asks of their capabilities
(kit/runtimes/base.py). Its helpers each have a room: which runtime and strategies (choose.py), a
cell's sandbox and command line (sandboxes.py), the GIL probe (gil.py), the builds the workers ran
(provenance.py) and a cell's record (record.py)."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from kit.core import signals
from kit.core.errors import ConfigError, EnvironmentProblem, KitError
from kit.core.files import hand_over_tree, make_dirs
from kit.measure import environment
from kit.measure.contention import Contention, assess, read_counters
from kit.measure.cpuset import Pinning, pin_controller
from kit.measure.cpuset import plan as plan_cpuset
from kit.plan.cells import Cell, grid_description, plan_cells
from kit.plan.config import RunConfig, allowed_cpus, plan_warnings
from kit.plan.inputs import Batch, pod_recipe, prepare, with_problems
from kit.plan.skip import split_current
from kit.results.observer import RunObserver
from kit.results.records import RunResults, StrategyRecord, save
from kit.results.stats import oversubscribed
from kit.results.summary import summarize
from kit.results.verify import Reference, make_reference, output_verified
from kit.run.choose import choose_strategies, given_strategies
from kit.run.gil import probe_for_run
from kit.run.provenance import builds_used
from kit.run.record import (
    build_record,
    bytes_moved_per_task,
    keep_least_contended,
    record_jpeg_library,
    record_library,
    verify_outputs,
    workload_description,
)
from kit.run.sandboxes import sandbox_name, sandbox_spec
from kit.run.supervisor import Limits, Outcome, not_started, supervise
from kit.runtimes.base import NotStarted, Runtime, SandboxSpec
from kit.worker.programs import program
from kit.worker.protocol import ManifestEntry, write_manifest


class Interrupted(KitError):
    """Ctrl-C, SIGTERM or SIGHUP: what finished is saved; exit 130, 143 or 129 (kit/core/signals.py)."""

    exit_code = 130


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


class _Prepared(NamedTuple):
    """What every cell of a run shares, made once by `Runner.start`."""

    batch: Batch
    reference: Reference
    manifest: Path
    results: RunResults


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
        """--parallel N (a runtime with `parallel_cells`): up to N cells at once, each in a thread that
        supervises its own sandbox (each on a node of its own). Ctrl-C or a failed cell stops every
        running sandbox (their records say interrupted), removes every one and starts no other cell."""
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
                self.runtime.cleanup()   # sandboxes still waiting for a node end too
                pool.shutdown(wait=True)
            if isinstance(exc, KeyboardInterrupt):
                raise Interrupted(f"{signals.describe()}; finished results are in {self.run_dir}") from None
            raise
        pool.shutdown()

    def start(self, cells: list[Cell] | None = None) -> RunResults:
        """Inputs, reference outputs and the results file; then `run_cell` adds records one by one."""
        strategies, skipped = (choose_strategies(self.config, self.runtime.capabilities) if cells is None
                               else (given_strategies(cells, self.config, self.runtime.capabilities), {}))
        self.strategies = strategies
        batch, reference = self._inputs(strategies)
        most = max((cell.workers for cell in cells), default=1) if cells is not None else self.config.workers
        self.pinning = plan_cpuset(self.config.cpuset, most)
        if self.pinning.note:
            self.observer.phase(self.pinning.note)
        probe = probe_for_run(batch, strategies, self.runtime.capabilities, self.config, self.observer.phase)
        if self.pinning.controller:   # after the probe: it measures on the whole machine
            pin_controller(self.pinning.controller)
        if not self.runtime.capabilities.shares_files:   # the recipe travels in every spec: refuse what won't fit
            if problem := self.runtime.recipe_problem(pod_recipe(self.config, batch.entries, batch.digests)[0]):
                raise ConfigError(problem)
        manifest = self._write_manifests(batch)
        results = self._results(batch, reference, strategies, skipped, probe)
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

    def _inputs(self, strategies: list[str]) -> tuple[Batch, Reference]:
        """The batch, judged, and its reference outputs; inputs the pipeline cannot decode are known bad too."""
        languages = tuple(dict.fromkeys(program(name).language for name in strategies))
        batch = prepare(self.config, self.observer.phase, languages)
        if batch.workload == "images":
            self.observer.phase("making reference outputs (sequential pipeline, outside timing)")
        reference = make_reference(batch, self.config.cache_dir / "reference" / _key(batch))
        if reference.problems != batch.problems:
            batch = replace(batch, entries=with_problems(batch.entries, reference.problems),
                            problems=reference.problems)
        return batch, reference

    def _write_manifests(self, batch: Batch) -> Path:
        """The run's directory and its item lists: the whole batch's, and one per language with its own tasks."""
        manifest = self.run_dir / "manifest.json"
        _written(self.run_dir, lambda: make_dirs(self.run_dir))
        signals.hook("setup")
        _written(manifest, lambda: write_manifest(manifest, batch.entries))
        for lang, entries in batch.by_language.items():   # pi calibrated per language: its own tasks
            target = _language_manifest(self.run_dir, lang)
            _written(target, lambda target=target, entries=entries: write_manifest(target, entries))  # type: ignore[misc]
        return manifest

    def _results(self, batch: Batch, reference: Reference, strategies: list[str], skipped: dict[str, str],
                 probe: dict[str, object] | None) -> RunResults:
        """The results file before its first record: the plan, the environment, the builds the workers run."""
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
        results.environment.update(builds_used(self.runtime.capabilities, strategies, self.config, batch.workload))
        if probe is not None:
            results.concurrency["gil_probe"] = probe
            fraction = probe.get("fraction")
            self.gil_free_fraction = float(fraction) if isinstance(fraction, (int, float)) else None
            if "error" in probe:
                results.warnings.append(f"GIL probe failed: {probe['error']}")
            elif "skipped" in probe:
                results.warnings.append(f"GIL probe not run ({probe['skipped']}): claim 1 has no ceiling from it")
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
                    keep_least_contended(results.records, attempts)
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

    def _output_dir(self, cell: Cell) -> Path:
        base = self.config.output_dir or (self.run_dir / "outputs")
        return base / cell.strategy

    def _run_cell(self, cell: Cell, batch: Batch, reference: Reference, manifest: Path,
                  results: RunResults) -> tuple[StrategyRecord, str | None]:
        """One sandbox, measured and verified: its record, and the full disk that stopped it, if one did."""
        output_dir = self._output_dir(cell)
        batch, manifest, skipped = self._cell_inputs(cell, batch, reference, manifest, output_dir)
        remote = None
        if not self.runtime.capabilities.shares_files:   # the sandbox makes its own inputs from the recipe
            remote = pod_recipe(self.config, batch.entries, batch.digests)
        spec = sandbox_spec(self.run_id, cell, self.config, manifest, batch.input_root, output_dir,
                            self.run_dir / "logs", self.pinning.sandbox, remote)
        load = [round(x, 2) for x in os.getloadavg()]
        steal_before = environment.cpu_steal_seconds()
        self.observer.cell_started(cell, len(batch.entries) - len(skipped))
        # contention on the CPUs the sandbox may use: its own set when pinned, else the run's
        cpus = list(self.pinning.sandbox) if self.pinning.sandbox else sorted(os.sched_getaffinity(0))
        counters_before, started = read_counters(cpus), time.monotonic()
        outcome, notes = self._supervised(cell, spec, started)
        # sandboxes on another machine use its CPUs: this machine's counters say nothing of them
        contention = (None if not self.runtime.capabilities.local else
                      assess(counters_before, read_counters(cpus), outcome.stats.cpu_seconds if outcome.stats else 0.0,
                             len(cpus), time.monotonic() - started, self.config.contention_threshold,
                             controller_elsewhere=bool(self.pinning.controller)))
        if outcome.concurrency:
            results.concurrency.setdefault("workers", {})[cell.strategy] = outcome.concurrency
        verified, detail = self._verified(cell, outcome, batch, reference, output_dir)
        extras: dict[str, object] = {"load_average_at_start": load, "sandbox": notes,
                                     "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
                                     "cpu_steal_seconds": _delta(steal_before, environment.cpu_steal_seconds())}
        return self._record(cell, outcome, batch, skipped, verified, detail, extras, contention), outcome.disk_full

    def _cell_inputs(self, cell: Cell, batch: Batch, reference: Reference, manifest: Path,
                     output_dir: Path) -> tuple[Batch, Path, list[ManifestEntry]]:
        """The cell's batch and item list (its language's own tasks; --skip-current: only what is not
        current yet), with its output directory ready; and the items skipped."""
        if (lang := program(cell.strategy).language) in batch.by_language:   # run and verified on its own tasks
            batch, manifest = batch.for_language(lang), _language_manifest(self.run_dir, lang)
        skipped: list[ManifestEntry] = []
        if self.config.skip_current:  # seed 004: keep earlier outputs, give the worker the rest only
            check = program(cell.strategy).output_check(self.config.library)
            todo, skipped = split_current(batch.entries, batch.input_root, output_dir,
                                          lambda entry, output: output_verified(reference, entry.input, output, check))
            manifest = self.run_dir / f"manifest-{sandbox_name(self.run_id, cell)}.json"
            _written(manifest, lambda: write_manifest(manifest, todo))
        else:
            shutil.rmtree(output_dir, ignore_errors=True)  # each repetition writes every output anew
        _written(output_dir, lambda: output_dir.mkdir(parents=True, exist_ok=True))
        return batch, manifest, skipped

    def _supervised(self, cell: Cell, spec: SandboxSpec, started: float) -> tuple[Outcome, dict[str, str]]:
        """Start the sandbox and supervise it to its end; a sandbox that never started is a failed outcome."""
        try:
            sandbox = self.runtime.start(spec)
        except NotStarted as never:   # no node took it, or its image could not be pulled: a failed record
            return not_started(never), dict(never.notes)
        except KeyboardInterrupt:     # Ctrl-C while it waited for a node: the runtime removed it
            return not_started(NotStarted(signals.reason(), time.monotonic() - started), "interrupted"), {}
        try:
            outcome = supervise(
                sandbox, Limits(self.config.timeout_seconds, self.config.stall_seconds),
                on_event=lambda event: _item(self.observer, cell, event),
                on_sample=lambda sample: self.observer.sampled(cell, sample), stop=self._stop.is_set)
            return outcome, dict(sandbox.notes)
        finally:
            with signals.hold():  # never a half-removed sandbox; the signal is delivered after saving
                sandbox.close()

    def _verified(self, cell: Cell, outcome: Outcome, batch: Batch, reference: Reference,
                  output_dir: Path) -> tuple[bool | None, dict[str, object]]:
        try:
            signals.hook("verify")
            return verify_outputs(self.runtime.capabilities, outcome, batch, reference, output_dir,
                                  program(cell.strategy).output_check(self.config.library))
        except KeyboardInterrupt:  # the strategy finished: its record is kept, unverified
            return None, {"interrupted": True}

    def _record(self, cell: Cell, outcome: Outcome, batch: Batch, skipped: list[ManifestEntry],
                verified: bool | None, detail: dict[str, object], extras: dict[str, object],
                contention: Contention | None) -> StrategyRecord:
        entry = program(cell.strategy)
        return build_record(cell, outcome, len(batch.entries), verified, detail, extras,
                            self.config.start_method if entry.process_workers else None,
                            workload=batch.workload, items_skipped=len(skipped),
                            bytes_moved_per_task=bytes_moved_per_task(batch, cell.strategy, self.config.chunksize),
                            # the GIL build's figure: it says nothing of an interpreter without a GIL
                            gil_free_fraction=(self.gil_free_fraction
                                               if entry.language == "python" and not entry.free_threaded else None),
                            contention=contention,
                            library=record_library(cell.strategy, batch.workload, outcome.concurrency),
                            jpeg_library=record_jpeg_library(batch.workload, outcome.concurrency))


def _written(path: Path, write: Callable[[], object]) -> None:
    """A file or directory the run needs; a full or read-only disk is one line naming the path."""
    try:
        write()
    except OSError as exc:
        raise EnvironmentProblem(f"cannot write {path}: {exc.strerror or exc}; free space there or choose "
                                 "another --out / --output-dir") from None


def _item(observer: RunObserver, cell: Cell, event: object) -> None:
    from kit.worker.protocol import ItemEvent

    if isinstance(event, ItemEvent):
        observer.item_done(cell, event)


def _language_manifest(run_dir: Path, lang: str) -> Path:
    return run_dir / f"manifest-{lang}.json"


def _delta(before: float | None, after: float | None) -> float | None:
    return round(after - before, 3) if before is not None and after is not None else None


def _key(batch: Batch) -> str:
    return hashlib.sha256("\n".join(sorted(batch.digests.values())).encode()).hexdigest()[:16]

