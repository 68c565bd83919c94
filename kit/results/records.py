"""Result records, the results.json schema, and atomic persistence.

# JSON format history:
# 1.0 - first version: top level schema_version, run_id, command, config, environment,
#       concurrency, inputs, results (one record per strategy x repetition); see docs/results-json.md.
#       Additions that old readers may ignore: config.grid (kit sweep: the axes run), a `floors`
#       section (kit floor), per-record environment.cpu_steal_seconds and load_average_at_end.
#       Workloads (issue 8): a top-level `workload` section (name, unit, task parameters, pi's
#       calibration, verification rule); per record `workload`, `unit` ("images" or "tasks": the
#       throughput is unit/s), `items_skipped` (--skip-current) and `bytes_moved_per_task`.
#       Issue 11: per Python images record `gil_free_fraction` (the worker pipeline's share of time
#       without the GIL, from an untimed probe; details in concurrency.gil_probe); `inputs` gains
#       `max_pixels` and `inputs_rejected`; item events of inputs the controller judged bad carry
#       `rejected` (they stay out of work_seconds).
#       Contention (issue 15): per record `other_cpu_seconds`, `steal_seconds`, `contended`,
#       `controller_cpu_seconds`, `contention_threshold`, `attempt` and `superseded`.
#       Live throttling (issue 17): per sample `cpu_throttled_seconds` and `cpu_throttled_periods`.
#       Go on the task workloads (issue 16): `workload.calibration.languages` (each language's pi
#       iterations and seconds per iteration), `go_speed_per_iteration`, `workload.task_by_language`;
#       per task record `verification.task` (the parameters its cell was checked against).
#       The Pillow pipeline (issue 16): `workload.library` (opencv or pillow, --library) for images;
#       per images record `library` and `library_version` (what decoded, resized and encoded).
#       Inside-sandbox samples (issue 18): per record `inside` (null when no sample arrived: sampling
#       off with --sample-interval-ms 0, or no cgroup visible to the worker): what the worker saw
#       of its own cgroup (kit/measure/inside.py InsideFigures: samples, last_t_seconds, peak_usage_bytes,
#       working_set_max_bytes, cpu_seconds, oom_kills, cpu_throttled_seconds, cpu_throttled_periods,
#       sampler_cpu_seconds, watermark); config.sample_interval_ms.
#       The free-threaded interpreter (issue 16): per Python worker in concurrency.workers
#       `python_build` (`gil_disabled_build`, `configure_args`) beside `gil_enabled`;
#       `environment.python_free_threaded` (version, configure flags, source, prefix) when
#       python-threads-ft ran on the host; python-threads-ft records' `gil_free_fraction` is null.
#       Verdicts that hold (issue 23): per record `stage_seconds` (see StrategyRecord) and
#       `jpeg_library`; `concurrency.gil_probe` gains `round_fractions`, `contended` and
#       `other_cpu_seconds` (a contended probe gives no ceiling).
#       Like for like on claim 3 (issue 23): per images record `jpeg_library` ("libjpeg-turbo 2.1.5",
#       what its worker reported; null in older files or when the worker could not tell); per
#       Python worker in concurrency.workers `jpeg_library` and `python_executable`;
#       `workload.reference_build` (the controller's OpenCV and JPEG library, which made the
#       reference outputs); per record `verification.build_reason` when a Python record's outputs
#       were compared by PSNR because its build differs from the reference's.
#       Issue 25: a top-level `stopped` (only when set): why a run ended before its first sandbox
#       (a signal during setup, say), with no record and a warning that says the same.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from kit.core.files import atomic_write
from kit.measure.monitor import Sample

SCHEMA_VERSION = "1.0"

STATUSES = ("ok", "oom_killed", "failed", "timeout", "interrupted")


@dataclass(frozen=True, slots=True)
class OomEvent:
    """One OOM kill inside the sandbox, as the controller saw it."""

    t_seconds: float
    usage_bytes: int         # the cgroup's usage in the last sample before the kill was seen
    items_ok: int
    victim: str              # "main" (the worker itself) or "pool_worker"


@dataclass(frozen=True, slots=True)
class FailedItem:
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class StrategyRecord:
    """One strategy x repetition (x workers x cap in sweeps); formulas in product.md section 4."""

    strategy: str
    repetition: int
    workers: int
    status: str
    exit_code: int | None
    wall_seconds: float
    work_seconds: float | None
    cpu_seconds: float
    cpu_utilization: float
    peak_memory_bytes: int
    peak_usage_bytes: int
    peak_pss_bytes: int | None
    peak_rss_sum_bytes: int | None
    memory_limit_bytes: int | None
    oom_kills: int
    oom_events: list[OomEvent]
    cpu_throttled_seconds: float
    items_total: int
    items_ok: int
    items_failed: int
    failed_items: list[FailedItem]
    throughput_items_per_second: float | None
    throughput_per_mib: float | None
    verified: bool | None
    samples: list[Sample]
    warmup: bool = False
    cpus: float | None = None
    start_method: str | None = None
    message: str | None = None                  # why a strategy failed, in one line
    verification: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)   # per-record extras (load average)
    workload: str = "images"
    unit: str = "images"                        # what throughput counts: images/s or tasks/s
    items_skipped: int = 0                      # --skip-current: outputs already newer than their source
    bytes_moved_per_task: int | None = None     # payload: bytes pickled to another process per task
    gil_free_fraction: float | None = None      # Python images: the pipeline's time without the GIL, 0-1
    other_cpu_seconds: float | None = None      # CPU others took on the run's CPUs during the sandbox
    steal_seconds: float | None = None          # the hypervisor's steal on those CPUs during the sandbox
    contended: bool | None = None               # other + steal above contention_threshold x CPUs x wall
    controller_cpu_seconds: float | None = None  # the kit's own cost: the controller's CPU during the sandbox
    contention_threshold: float | None = None
    attempt: int = 0                            # --retry-contended: 0 first, 1 the first re-run, ...
    superseded: bool = False                    # a contended attempt replaced by a quieter one (not summarised)
    library: str | None = None                  # images: opencv, pillow, or the Go worker's own library
    library_version: str | None = None
    jpeg_library: str | None = None             # images: the JPEG library's release, "libjpeg-turbo 2.1.5"
    inside: dict[str, Any] | None = None        # the worker's own samples of its cgroup (kit/measure/inside.py)
    # CPU seconds over the finished items, stage by stage, on the working thread (images: read,
    # decode, resize, encode, write; payload: serialize, transfer, deserialize); None: no stages
    stage_seconds: dict[str, float] | None = None


def derived_rates(items_ok: int, work_seconds: float | None, wall_seconds: float, cpu_seconds: float,
                  peak_memory_bytes: int) -> tuple[float | None, float | None, float]:
    """(throughput, throughput per MiB, cpu utilization), exactly as product.md defines them."""
    # No work time (no item ran): no throughput. Every item failed: 0 items/s, a real figure.
    throughput = items_ok / work_seconds if work_seconds else None
    per_mib = (throughput / (peak_memory_bytes / 2**20)
               if throughput is not None and peak_memory_bytes else None)
    utilization = cpu_seconds / wall_seconds if wall_seconds > 0 else 0.0
    return throughput, per_mib, utilization


@dataclass(slots=True)
class RunResults:
    """The whole results.json; `records` grows as strategies finish."""

    run_id: str
    command: list[str]
    config: dict[str, Any]
    environment: dict[str, Any]
    concurrency: dict[str, Any]
    inputs: dict[str, Any]
    records: list[StrategyRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    floors: list[dict[str, Any]] = field(default_factory=list)   # `kit floor` only (kit/run/floor.py Floor)
    workload: dict[str, Any] = field(default_factory=dict)   # name, unit, task parameters, verification
    stopped: str | None = None   # why a run ended before its first sandbox (a signal during setup)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "command": self.command,
            "config": self.config,
            "environment": self.environment,
            "concurrency": self.concurrency,
            "inputs": self.inputs,
            **({"workload": self.workload} if self.workload else {}),
            "warnings": self.warnings,
            "results": [asdict(record) for record in self.records],
            **({"floors": self.floors} if self.floors else {}),
            **({"stopped": self.stopped} if self.stopped else {}),
        }


CSV_SKIP = ("oom_events", "failed_items", "samples", "verification", "environment", "inside")


def to_csv(records: list[StrategyRecord]) -> str:
    """Records flat: one row each; nested lists become JSON arrays in one cell (a file name may hold
    any character, so the list is split back with json.loads, never on a separator)."""
    names = [f.name for f in fields(StrategyRecord) if f.name not in CSV_SKIP]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names + ["failed_item_names", "oom_victims"])
    for record in records:
        # a mapping (stage_seconds) as JSON in its cell, as the lists below, never Python's repr
        row = [json.dumps(v) if isinstance(v := getattr(record, name), dict) else v for name in names]
        row.append(json.dumps([item.name for item in record.failed_items], ensure_ascii=False))
        row.append(json.dumps([event.victim for event in record.oom_events]))
        writer.writerow(["" if value is None else value for value in row])
    return out.getvalue()


def save(results: RunResults, run_dir: Path) -> None:
    """Rewrite results.json and results.csv atomically (called after every strategy); a disk that
    cannot take them is one line naming the file (the previous complete version stays)."""
    for path, text in ((run_dir / "results.json", json.dumps(results.to_json(), indent=1) + "\n"),
                       (run_dir / "results.csv", to_csv(results.records))):
        try:
            atomic_write(path, text)
        except OSError as exc:
            from kit.core.errors import EnvironmentProblem

            raise EnvironmentProblem(f"cannot write {path}: {exc.strerror or exc}; free space there or choose "
                                     "another --out (the last complete results file is kept)") from None


def record_from_json(data: dict[str, Any]) -> StrategyRecord:
    """Inverse of asdict for one record (used by `kit report` and tests)."""
    values = dict(data)
    values["oom_events"] = [OomEvent(**event) for event in data.get("oom_events", [])]
    values["failed_items"] = [FailedItem(**item) for item in data.get("failed_items", [])]
    values["samples"] = [Sample(**sample) for sample in data.get("samples", [])]
    known = {f.name for f in fields(StrategyRecord)}
    return StrategyRecord(**{k: v for k, v in values.items() if k in known})


def load(path: Path) -> dict[str, Any]:
    """Read a results.json (a file or a run directory)."""
    if path.is_dir():
        path = path / "results.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
