"""Live Prometheus metrics of a run: every name, help text and label is declared here, and only here.

Design: the run's events arrive as observer callbacks (`item_done` from the worker's progress
lines, `sampled` from the monitor's cgroup samples every 0.25 s, `cell_started`/`cell_finished`).
`MetricsObserver` keeps plain numbers per sandbox under a lock, and is itself a custom collector:
`collect()` builds fresh metric families from a consistent snapshot at scrape time, as
client_python's `ProcessCollector` does. So there is no background thread mutating gauges, no
global `REGISTRY` (each run gets its own `CollectorRegistry`), and a scrape never sees half of an
update. The callbacks run on the runner's thread and cost a lock and a few additions each.

Meanings mirror cAdvisor where it has the quantity (container_memory_working_set_bytes,
container_memory_usage_bytes, container_spec_memory_limit_bytes with 0 for no cap,
container_cpu_usage_seconds_total, container_cpu_cfs_throttled_seconds_total,
container_oom_events_total), so panels read like a Kubernetes cluster's.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from kit import __version__
from kit.core.errors import ConfigError, EnvironmentProblem
from kit.measure.monitor import Sample
from kit.plan.cells import Cell
from kit.results.observer import RunObserver
from kit.results.records import STATUSES, StrategyRecord, derived_rates
from kit.worker.protocol import ItemEvent
from kit.worker.workloads import unit

# Every series of a sandbox carries these; `repetition` is "1", "2", ... or "warmup-1", ...
LABELS = ("run", "strategy", "workers", "memory_limit", "repetition")
STATES = ("running", "finished")
OUTCOMES = STATUSES
# Per-item time: a 720p image on a fast core (~5 ms) to a 4K image on a crowded CPU (~5 s); dense
# enough (about 1-1.5-2-3-5 per decade) that latency quantiles are not just bucket bounds.
DURATION_BUCKETS_SECONDS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75,
                            1.0, 1.5, 2.0, 3.0, 5.0)


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family as scraped: `name` is the sample name (counters end in _total)."""

    name: str
    kind: str               # counter, gauge or histogram
    help: str
    extra_label: str | None = None   # an enum's label (state, outcome), one series per value


FAMILIES = (
    Family("kit_run_info", "gauge", "Always 1; labels name the run, the kit version, the workload and its unit."),
    Family("kit_items_processed_total", "counter", "Items the worker finished successfully."),
    Family("kit_items_failed_total", "counter", "Items the worker reported as failed (bad input)."),
    Family("kit_batch_items", "gauge", "Items in the sandbox's batch; progress = (processed+failed) / this."),
    Family("kit_item_duration_seconds", "histogram", "Time one item took inside the worker, start to end."),
    Family("kit_memory_working_set_bytes", "gauge",
           "Sandbox memory usage minus inactive file cache (as container_memory_working_set_bytes); "
           "0 once the sandbox is gone."),
    Family("kit_memory_usage_bytes", "gauge",
           "Sandbox memory usage, page cache included (as container_memory_usage_bytes); 0 once gone."),
    Family("kit_memory_peak_bytes", "gauge",
           "Highest working set of the sandbox so far (peak_memory_bytes)."),
    Family("kit_memory_limit_bytes", "gauge",
           "Memory cap of the sandbox; 0 means no cap (as container_spec_memory_limit_bytes)."),
    Family("kit_cpu_usage_seconds_total", "counter",
           "CPU time used by the sandbox (as container_cpu_usage_seconds_total)."),
    Family("kit_cpu_cfs_throttled_seconds_total", "counter",
           "Time the sandbox was throttled by its CPU cap, from cpu.stat at every sample "
           "(as container_cpu_cfs_throttled_seconds_total)."),
    Family("kit_cpu_cfs_throttled_periods_total", "counter",
           "CFS periods in which the CPU cap stopped the sandbox, from cpu.stat at every sample "
           "(as container_cpu_cfs_throttled_periods_total)."),
    Family("kit_oom_kills_total", "counter",
           "Processes the kernel OOM-killed inside the sandbox (as container_oom_events_total)."),
    Family("kit_strategy_state", "gauge", "1 for the sandbox's current state, 0 for the others.", "state"),
    Family("kit_strategy_outcome", "gauge",
           "1 for what became of the sandbox (results.json status) once it ended, else 0.", "outcome"),
    Family("kit_strategy_duration_seconds", "gauge", "The sandbox's life so far (wall_seconds)."),
    Family("kit_strategy_work_duration_seconds", "gauge",
           "First item start to last item end so far (work_seconds)."),
    Family("kit_throughput_items_per_second", "gauge",
           "Items processed per second of work so far (throughput_items_per_second)."),
)
FAMILY = {family.name: family for family in FAMILIES}
_PLAIN = [f.name for f in FAMILIES
          if f.kind != "histogram" and f.extra_label is None and f.name != "kit_run_info"]


def series_names() -> set[str]:
    """Every sample name a scrape can contain (histograms add _bucket, _sum and _count)."""
    names = set()
    for family in FAMILIES:
        if family.kind == "histogram":
            names |= {f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count")}
        else:
            names.add(family.name)
    return names


def repetition_label(cell: Cell) -> str:
    """`1`, `2`, ... for measured repetitions, `warmup-1`, ... for warmups."""
    return f"warmup-{cell.repetition + 1}" if cell.warmup else str(cell.repetition + 1)


def memory_limit_label(limit_bytes: int | None) -> str:
    """`512Mi`, `1Gi` (Kubernetes' spelling) when exact, else bytes; `none` without a cap."""
    if not limit_bytes:
        return "none"
    for suffix, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if limit_bytes % size == 0:
            return f"{limit_bytes // size}{suffix}"
    return str(limit_bytes)


@dataclass(slots=True)
class _Sandbox:
    """The numbers of one sandbox as the callbacks left them."""

    labels: tuple[str, ...]
    items_total: int
    limit_bytes: int
    processed: int = 0
    failed: int = 0
    bucket_counts: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS_SECONDS) + 1))
    duration_sum: float = 0.0
    working_set_bytes: int = 0
    usage_bytes: int = 0
    peak_bytes: int = 0
    cpu_seconds: float = 0.0
    throttled_seconds: float = 0.0
    throttled_periods: int = 0
    oom_kills: int = 0
    state: str = "running"
    outcome: str | None = None
    wall_seconds: float = 0.0
    first_start: float | None = None
    last_end: float | None = None
    work_seconds: float | None = None
    throughput: float | None = None


class MetricsObserver(RunObserver):
    """Turns a run's events into metric families; register it in the run's own registry.

    >>> observer = MetricsObserver("20260101-000000-abcd")
    >>> registry = observer.registry()   # pass to serve(), or read with get_sample_value()
    """

    def __init__(self, run_id: str, workload: str = "images") -> None:
        self.run_id = run_id
        self.workload = workload   # throughput is in unit/s: the dashboard labels it from kit_run_info
        self._lock = threading.Lock()
        self._sandboxes: dict[tuple[str, ...], _Sandbox] = {}
        self._keys: dict[Cell, tuple[str, ...]] = {}

    def registry(self) -> CollectorRegistry:
        """A fresh registry holding only this run's collector (never the global REGISTRY)."""
        registry = CollectorRegistry()
        registry.register(self)
        return registry

    def cell_started(self, cell: Cell, items_total: int) -> None:
        labels = (self.run_id, cell.strategy, str(cell.workers), memory_limit_label(cell.memory_limit_bytes),
                  repetition_label(cell))
        with self._lock:  # a cell with the same labels again starts anew (Prometheus sees a reset)
            self._keys[cell] = labels
            self._sandboxes[labels] = _Sandbox(labels, items_total, cell.memory_limit_bytes or 0)

    def item_done(self, cell: Cell, event: ItemEvent) -> None:
        with self._lock:
            box = self._sandboxes[self._keys[cell]]
            if event.ok:
                box.processed += 1
            else:
                box.failed += 1
            took = max(0.0, event.end - event.start)
            box.duration_sum += took
            box.bucket_counts[_bucket(took)] += 1
            box.first_start = event.start if box.first_start is None else min(box.first_start, event.start)
            box.last_end = event.end if box.last_end is None else max(box.last_end, event.end)
            box.work_seconds = box.last_end - box.first_start
            box.throughput = derived_rates(box.processed, box.work_seconds, 0.0, 0.0, 0)[0]

    def sampled(self, cell: Cell, sample: Sample) -> None:
        with self._lock:
            box = self._sandboxes[self._keys[cell]]
            box.working_set_bytes, box.usage_bytes = sample.working_set_bytes, sample.usage_bytes
            box.peak_bytes = max(box.peak_bytes, sample.working_set_bytes)
            box.cpu_seconds = max(box.cpu_seconds, sample.cpu_seconds)
            box.throttled_seconds = max(box.throttled_seconds, sample.cpu_throttled_seconds)
            box.throttled_periods = max(box.throttled_periods, sample.cpu_throttled_periods)
            box.wall_seconds = max(box.wall_seconds, sample.t_seconds)

    def cell_finished(self, cell: Cell, record: StrategyRecord) -> None:
        """The record's final figures win; counters only ever go up."""
        with self._lock:
            box = self._sandboxes[self._keys[cell]]
            box.state, box.outcome = "finished", record.status
            box.working_set_bytes = box.usage_bytes = 0  # the sandbox is gone
            box.processed = max(box.processed, record.items_ok)
            box.failed = max(box.failed, record.items_failed)
            box.peak_bytes = max(box.peak_bytes, record.peak_memory_bytes)
            box.cpu_seconds = max(box.cpu_seconds, record.cpu_seconds)
            box.throttled_seconds = max(box.throttled_seconds, record.cpu_throttled_seconds)
            if record.samples:  # the last sample is the sandbox's final look (supervisor.py)
                box.throttled_periods = max(box.throttled_periods, record.samples[-1].cpu_throttled_periods)
            box.oom_kills = max(box.oom_kills, record.oom_kills)
            box.wall_seconds = record.wall_seconds
            box.work_seconds = record.work_seconds if record.work_seconds is not None else box.work_seconds
            box.throughput = record.throughput_items_per_second

    def collect(self) -> Iterator[Metric]:
        """Fresh families from one consistent snapshot (called by the registry at each scrape)."""
        with self._lock:
            boxes = [_copy(box) for box in self._sandboxes.values()]
        info = GaugeMetricFamily("kit_run_info", FAMILY["kit_run_info"].help,
                                 labels=("run", "version", "workload", "unit"))
        info.add_metric((self.run_id, __version__, self.workload, unit(self.workload)), 1)
        yield info
        rows = [(box.labels, _values(box)) for box in boxes]
        for name in _PLAIN:
            family = _family(name)
            for labels, values in rows:
                family.add_metric(labels, values[name])
            yield family
        yield self._enum("kit_strategy_state", STATES, boxes, lambda b: b.state)
        yield self._enum("kit_strategy_outcome", OUTCOMES, boxes, lambda b: b.outcome)
        name = "kit_item_duration_seconds"
        histogram = HistogramMetricFamily(name, FAMILY[name].help, labels=LABELS)
        for box in boxes:
            cumulative, buckets = 0, []
            for bound, count in zip([*map(str, DURATION_BUCKETS_SECONDS), "+Inf"], box.bucket_counts,
                                    strict=True):
                cumulative += count
                buckets.append((bound, float(cumulative)))
            histogram.add_metric(box.labels, buckets, box.duration_sum)
        yield histogram

    @staticmethod
    def _enum(name: str, values: Iterable[str], boxes: list[_Sandbox],
              current: Callable[[_Sandbox], str | None]) -> Metric:
        """An enum as kube-state-metrics writes one: a series per value, 1 for the current one."""
        extra = FAMILY[name].extra_label
        assert extra is not None
        family = GaugeMetricFamily(name, FAMILY[name].help, labels=(*LABELS, extra))
        for box in boxes:
            for value in values:
                family.add_metric((*box.labels, value), 1.0 if current(box) == value else 0.0)
        return family


def _values(box: _Sandbox) -> dict[str, float]:
    """The plain (one number per sandbox) families' values, by name."""
    return {
        "kit_items_processed_total": box.processed,
        "kit_items_failed_total": box.failed,
        "kit_batch_items": box.items_total,
        "kit_memory_working_set_bytes": box.working_set_bytes,
        "kit_memory_usage_bytes": box.usage_bytes,
        "kit_memory_peak_bytes": box.peak_bytes,
        "kit_memory_limit_bytes": box.limit_bytes,
        "kit_cpu_usage_seconds_total": box.cpu_seconds,
        "kit_cpu_cfs_throttled_seconds_total": box.throttled_seconds,
        "kit_cpu_cfs_throttled_periods_total": box.throttled_periods,
        "kit_oom_kills_total": box.oom_kills,
        "kit_strategy_duration_seconds": box.wall_seconds,
        "kit_strategy_work_duration_seconds": box.work_seconds or 0.0,
        "kit_throughput_items_per_second": box.throughput or 0.0,
    }


def _family(name: str) -> CounterMetricFamily | GaugeMetricFamily:
    family = FAMILY[name]
    if family.kind == "counter":
        return CounterMetricFamily(name, family.help, labels=LABELS)
    return GaugeMetricFamily(name, family.help, labels=LABELS)


def _bucket(seconds: float) -> int:
    for index, bound in enumerate(DURATION_BUCKETS_SECONDS):
        if seconds <= bound:
            return index
    return len(DURATION_BUCKETS_SECONDS)


def _copy(box: _Sandbox) -> _Sandbox:
    return replace(box, bucket_counts=list(box.bucket_counts))


class MetricsServer:
    """The HTTP endpoint of one run; `linger()` keeps it up after the run so the last values are scraped."""

    def __init__(self, server: WSGIServer, thread: threading.Thread, url: str) -> None:
        self._server, self._thread, self.url = server, thread, url

    def linger(self, seconds: float) -> None:
        """Keep serving for `seconds`; Ctrl-C ends the wait early, quietly."""
        try:
            time.sleep(seconds)
        except KeyboardInterrupt:
            pass

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)



@contextmanager
def serve(registry: CollectorRegistry, host: str, port: int) -> Iterator[MetricsServer]:
    """Serve `registry` at http://host:port/metrics until the block ends; a taken port is an error."""
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        if isinstance(exc, socket.gaierror):
            raise ConfigError(f"--metrics-host {host}: not a usable address ({exc.strerror})") from None
        raise EnvironmentProblem(
            f"cannot serve metrics on {host}:{port} ({exc.strerror}): pass --metrics-port with a free "
            "port, or --metrics-port 0 to run without metrics") from None
    shown = f"[{host}]" if ":" in host else host
    endpoint = MetricsServer(server, thread, f"http://{shown}:{server.server_port}/metrics")
    try:
        yield endpoint
    finally:
        endpoint.close()

