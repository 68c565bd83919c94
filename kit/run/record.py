"""A cell's record (product.md section 4) from its measured outcome: the figures, the verification
of its outputs, the libraries its worker reported and what the workload moved."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from kit.measure.contention import Contention
from kit.plan.cells import Cell
from kit.plan.inputs import Batch
from kit.results.records import StrategyRecord, derived_rates
from kit.results.verify import Reference, verify_record
from kit.run.supervisor import Outcome
from kit.runtimes.base import Capabilities
from kit.worker.programs import program
from kit.worker.workloads import unit

# A sandbox that shares no files with the controller (kubernetes: the outputs stay in the pod's
# emptyDir, which goes with the pod): the controller sees only the worker's progress lines, so it
# cannot compare bytes or PSNR with the reference.
REMOTE_UNVERIFIED = ("outputs stay in the pod's emptyDir on a remote node and go with it; the controller "
                     "cannot compare them with the reference outputs")


def verify_outputs(runtime: Capabilities, outcome: Outcome, batch: Batch, reference: Reference, output_dir: Path,
                   check: str) -> tuple[bool | None, dict[str, object]]:
    """(verified, detail) of a cell's outputs: compared with the reference when they are on this
    machine and the strategy finished; unverified, and why, when they stayed with the sandbox."""
    if outcome.status != "ok":
        return None, {}
    if not runtime.shares_files:
        return None, {"unverified": REMOTE_UNVERIFIED}
    return verify_record(batch, reference, output_dir, check, outcome.concurrency)


def keep_least_contended(records: list[StrategyRecord], attempts: list[int]) -> None:
    """Of a cell's attempts (positions in `records`), keep one and mark the others `superseded`:
    a completed attempt before one cut short, then the quiet before the contended, then the first."""
    def taken(record: StrategyRecord) -> tuple[bool, bool, float]:
        return (record.status == "interrupted", bool(record.contended),
                (record.other_cpu_seconds or 0) + (record.steal_seconds or 0))

    kept = min(attempts, key=lambda i: (taken(records[i]), i))
    for i in attempts:
        records[i] = replace(records[i], superseded=i != kept)


def workload_description(batch: Batch, library: str = "opencv") -> dict[str, object]:
    """results.json `workload`: what each item is, its unit, parameters and how it is verified."""
    from kit.worker.workloads import VERIFICATION

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
    program (the registry's `image_library`). None for task workloads."""
    return program(strategy).library_used(workload, concurrency)


def record_jpeg_library(workload: str, concurrency: Mapping[str, object] | None) -> str | None:
    """The JPEG library release a record's images went through ("libjpeg-turbo 2.1.5"), as its
    worker reported it (Python and Go alike); None for task workloads or when it could not tell."""
    if workload != "images" or not concurrency:
        return None
    return str(concurrency.get("jpeg_library") or "") or None
