"""The scheduler: plan x strategies x runtime -> records, saved after every sandbox."""

from __future__ import annotations

import hashlib
import os
import secrets
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kit import environment
from kit.config import RunConfig
from kit.errors import ConfigError, KitError
from kit.inputs import Batch, prepare
from kit.observer import Cell, RunObserver
from kit.protocol import write_manifest
from kit.results import RunResults, StrategyRecord, derived_rates, save
from kit.runtimes.base import Runtime, SandboxPaths, SandboxSpec
from kit.strategies import ALL_STRATEGIES, PYTHON_STRATEGIES, effective_workers, uses_start_method
from kit.supervisor import Limits, Outcome, supervise
from kit.verify import Reference, make_reference, verify_outputs


class Interrupted(KitError):
    """Ctrl-C: what finished is saved; exit 130."""

    exit_code = 130


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def unavailable_reason(strategy: str) -> str | None:
    """Why a contract strategy cannot run in this kit (None when it can)."""
    if strategy in PYTHON_STRATEGIES:
        return None
    return "the Go workers are not part of this kit version yet"


def choose_strategies(config: RunConfig) -> tuple[list[str], dict[str, str]]:
    """The strategies to run (asked for, or every available one) and why the others are skipped."""
    skipped = {name: reason for name in ALL_STRATEGIES if (reason := unavailable_reason(name))}
    if config.strategies:
        for name in config.strategies:
            if name in skipped:
                raise ConfigError(f"strategy {name} is not available: {skipped[name]}")
        return list(config.strategies), {}
    return [name for name in ALL_STRATEGIES if name not in skipped], skipped


def plan_cells(config: RunConfig, strategies: list[str]) -> list[Cell]:
    """Warmups first, then repetitions, the strategy order rotated each round (A B C, B C A, ...)
    so that drift over the run does not favour one strategy."""
    cells = []
    rounds = [(True, r) for r in range(config.warmup)] + [(False, r) for r in range(config.repeat)]
    for position, (warmup, repetition) in enumerate(rounds):
        shift = position % len(strategies)
        for strategy in strategies[shift:] + strategies[:shift]:
            cells.append(Cell(strategy=strategy, repetition=repetition,
                              workers=effective_workers(strategy, config.workers),
                              memory_limit_bytes=config.memory_limit_bytes, cpus=config.cpus, warmup=warmup))
    return cells


@dataclass(frozen=True, slots=True)
class WorkerCommand:
    """The `kit worker` command line, built from the paths as the sandbox sees them."""

    strategy: str
    workload: str
    workers: int
    start_method: str

    def __call__(self, paths: SandboxPaths) -> list[str]:
        return [paths.python, "-m", "kit", "worker", "--strategy", self.strategy,
                "--workload", self.workload, "--workers", str(self.workers),
                "--start-method", self.start_method, "--manifest", str(paths.manifest),
                "--input-root", str(paths.input_root), "--output-dir", str(paths.output_dir)]


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

    def run(self) -> RunResults:
        strategies, skipped = choose_strategies(self.config)
        batch = prepare(self.config, self.observer.phase)
        self.observer.phase("making reference outputs (sequential pipeline, outside timing)")
        reference = make_reference(batch, self.config.cache_dir / "reference" / _key(batch))
        manifest = self.run_dir / "manifest.json"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_manifest(manifest, batch.entries)
        results = RunResults(
            run_id=self.run_id, command=self.argv, config=self.config.to_json(),
            environment=environment.capture(self.runtime.describe()),
            concurrency={"start_method": self.config.start_method}, inputs=batch.description,
            warnings=[f"{name} skipped: {reason}" for name, reason in skipped.items()],
        )
        if self.config.workers > (os.cpu_count() or 1):
            results.warnings.append(f"{self.config.workers} workers on {os.cpu_count()} CPUs: "
                                    "more workers than cores show memory, not speed")
        save(results, self.run_dir)
        for cell in plan_cells(self.config, strategies):
            record = self._run_cell(cell, batch, reference, manifest, results)
            results.records.append(record)
            save(results, self.run_dir)
            self.observer.cell_finished(cell, record)
            if record.status == "interrupted":
                raise Interrupted(f"interrupted; finished results are in {self.run_dir}")
        return results

    def _output_dir(self, cell: Cell) -> Path:
        base = self.config.output_dir or (self.run_dir / "outputs")
        return base / cell.strategy

    def _run_cell(self, cell: Cell, batch: Batch, reference: Reference, manifest: Path,
                  results: RunResults) -> StrategyRecord:
        output_dir = self._output_dir(cell)
        shutil.rmtree(output_dir, ignore_errors=True)  # each repetition writes every output anew
        output_dir.mkdir(parents=True)
        spec = SandboxSpec(
            name=f"{self.run_id}-{cell.strategy}-{'w' if cell.warmup else 'r'}{cell.repetition}",
            command=WorkerCommand(cell.strategy, self.config.workload, cell.workers,
                                  self.config.start_method), input_root=batch.input_root,
            output_dir=output_dir, manifest=manifest, log_dir=self.run_dir / "logs",
            memory_limit_bytes=cell.memory_limit_bytes, cpus=cell.cpus, pids_max=pids_limit(cell.workers),
        )
        load = [round(x, 2) for x in os.getloadavg()]
        self.observer.cell_started(cell, len(batch.entries))
        sandbox = self.runtime.start(spec)
        try:
            outcome = supervise(
                sandbox, Limits(self.config.timeout_seconds, self.config.stall_seconds),
                on_event=lambda event: _item(self.observer, cell, event),
                on_sample=lambda sample: self.observer.sampled(cell, sample))
            notes = dict(sandbox.notes)
        finally:
            sandbox.close()
        if outcome.concurrency:
            results.concurrency.setdefault("workers", {})[cell.strategy] = outcome.concurrency
        verified, detail = (verify_outputs(batch, reference, output_dir) if outcome.status == "ok"
                            else (None, {}))
        return build_record(cell, outcome, len(batch.entries), verified, detail,
                            {"load_average_at_start": load, "sandbox": notes},
                            self.config.start_method if uses_start_method(cell.strategy) else None)


def _item(observer: RunObserver, cell: Cell, event: object) -> None:
    from kit.protocol import ItemEvent

    if isinstance(event, ItemEvent):
        observer.item_done(cell, event)


def _key(batch: Batch) -> str:
    return hashlib.sha256("\n".join(sorted(batch.digests.values())).encode()).hexdigest()[:16]


def build_record(cell: Cell, outcome: Outcome, items_total: int, verified: bool | None,
                 verification: dict[str, object], extras: dict[str, object],
                 start_method: str | None) -> StrategyRecord:
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
        throughput_items_per_second=round(throughput, 4) if throughput else None,
        throughput_per_mib=round(per_mib, 6) if per_mib else None,
        verified=verified, samples=outcome.samples, warmup=cell.warmup, cpus=cell.cpus,
        start_method=start_method, message=outcome.message, verification=verification,
        environment=extras,
    )


def command_line(argv: list[str]) -> str:
    return shlex.join(argv)
