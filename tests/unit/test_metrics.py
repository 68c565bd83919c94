"""The metrics exporter: families and values per sandbox, the endpoint, and the dashboard's names."""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from kit.cli.exits import main
from kit.core.errors import ConfigError, EnvironmentProblem
from kit.measure.monitor import Sample
from kit.metrics import exporter as metrics
from kit.metrics.exporter import FAMILIES, LABELS, MetricsObserver, memory_limit_label, series_names, serve
from kit.plan.cells import Cell
from kit.plan.parsing import parse_linger
from kit.results.records import OomEvent, StrategyRecord
from kit.worker.protocol import ItemEvent

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
RUN = "20260101-000000-abcd"
CAP = 256 * 2**20
THREADS = Cell("python-threads", repetition=0, workers=12, memory_limit_bytes=CAP, cpus=None)
LABELS_THREADS = {"run": RUN, "strategy": "python-threads", "workers": "12", "memory_limit": "256Mi",
                  "repetition": "1"}


def record(cell: Cell, **values: object) -> StrategyRecord:
    """A finished record with plain defaults; `values` override fields."""
    fields: dict[str, object] = dict(
        strategy=cell.strategy, repetition=cell.repetition, workers=cell.workers, status="ok", exit_code=0,
        wall_seconds=3.0, work_seconds=2.0, cpu_seconds=4.0, cpu_utilization=1.33, peak_memory_bytes=0,
        peak_usage_bytes=0, peak_pss_bytes=None, peak_rss_sum_bytes=None,
        memory_limit_bytes=cell.memory_limit_bytes, oom_kills=0, oom_events=[], cpu_throttled_seconds=0.0,
        items_total=24, items_ok=0, items_failed=0, failed_items=[], throughput_items_per_second=None,
        throughput_per_mib=None, verified=None, samples=[])
    fields.update(values)
    return StrategyRecord(**fields)  # type: ignore[arg-type]


def value(registry: CollectorRegistry, name: str, **extra: str) -> float | None:
    return registry.get_sample_value(name, {**LABELS_THREADS, **extra})


@pytest.fixture()
def observer() -> MetricsObserver:
    return MetricsObserver(RUN)


def test_every_child_exists_at_zero_from_the_strategy_start(observer: MetricsObserver) -> None:
    registry = observer.registry()
    assert value(registry, "kit_items_processed_total") is None  # nothing before the sandbox starts
    observer.cell_started(THREADS, 24)
    for name in ("kit_items_processed_total", "kit_items_failed_total", "kit_memory_working_set_bytes",
                 "kit_memory_usage_bytes", "kit_memory_peak_bytes", "kit_cpu_usage_seconds_total",
                 "kit_cpu_cfs_throttled_seconds_total", "kit_cpu_cfs_throttled_periods_total", "kit_oom_kills_total",
                 "kit_strategy_duration_seconds", "kit_strategy_work_duration_seconds",
                 "kit_throughput_items_per_second", "kit_item_duration_seconds_count",
                 "kit_item_duration_seconds_sum"):
        assert value(registry, name) == 0.0, name
    assert value(registry, "kit_item_duration_seconds_bucket", le="+Inf") == 0.0
    assert value(registry, "kit_batch_items") == 24
    assert value(registry, "kit_memory_limit_bytes") == CAP
    assert value(registry, "kit_strategy_state", state="running") == 1
    assert value(registry, "kit_strategy_state", state="finished") == 0
    for outcome in ("ok", "oom_killed", "failed", "timeout", "interrupted"):
        assert value(registry, "kit_strategy_outcome", outcome=outcome) == 0
    assert registry.get_sample_value("kit_run_info", {"run": RUN, "version": metrics.__version__,
                                                      "workload": "images", "unit": "images"}) == 1


def test_run_info_names_the_workload_and_its_unit() -> None:
    """The dashboard labels throughput from these: tasks/s for a task workload, not images/s."""
    registry = MetricsObserver(RUN, "pi").registry()
    assert registry.get_sample_value("kit_run_info", {"run": RUN, "version": metrics.__version__,
                                                      "workload": "pi", "unit": "tasks"}) == 1


def test_items_fill_counters_histogram_and_throughput(observer: MetricsObserver) -> None:
    registry = observer.registry()
    observer.cell_started(THREADS, 24)
    observer.item_done(THREADS, ItemEvent(0, "a.jpg", True, start=1.0, end=1.3))
    observer.item_done(THREADS, ItemEvent(1, "b.jpg", True, start=1.1, end=3.0))
    observer.item_done(THREADS, ItemEvent(2, "c.jpg", False, start=3.0, end=3.004, reason="truncated"))
    assert value(registry, "kit_items_processed_total") == 2
    assert value(registry, "kit_items_failed_total") == 1
    assert value(registry, "kit_item_duration_seconds_bucket", le="0.005") == 1
    assert value(registry, "kit_item_duration_seconds_bucket", le="0.2") == 1
    assert value(registry, "kit_item_duration_seconds_bucket", le="0.4") == 2
    assert value(registry, "kit_item_duration_seconds_bucket", le="1.5") == 2
    assert value(registry, "kit_item_duration_seconds_bucket", le="2.0") == 3
    assert value(registry, "kit_item_duration_seconds_bucket", le="5.0") == 3
    assert value(registry, "kit_item_duration_seconds_count") == 3
    assert value(registry, "kit_item_duration_seconds_sum") == pytest.approx(0.3 + 1.9 + 0.004)
    assert value(registry, "kit_strategy_work_duration_seconds") == pytest.approx(2.004)
    assert value(registry, "kit_throughput_items_per_second") == pytest.approx(2 / 2.004)


def test_samples_set_memory_and_cpu_and_keep_the_peak(observer: MetricsObserver) -> None:
    registry = observer.registry()
    observer.cell_started(THREADS, 24)
    observer.sampled(THREADS, Sample(0.25, working_set_bytes=200 * 2**20, usage_bytes=210 * 2**20,
                                     cpu_seconds=0.4, items_ok=0))
    observer.sampled(THREADS, Sample(0.5, working_set_bytes=150 * 2**20, usage_bytes=160 * 2**20,
                                     cpu_seconds=0.9, items_ok=1))
    assert value(registry, "kit_memory_working_set_bytes") == 150 * 2**20
    assert value(registry, "kit_memory_usage_bytes") == 160 * 2**20
    assert value(registry, "kit_memory_peak_bytes") == 200 * 2**20
    assert value(registry, "kit_cpu_usage_seconds_total") == 0.9
    assert value(registry, "kit_strategy_duration_seconds") == 0.5


def test_samples_update_cpu_throttling_while_the_sandbox_runs(observer: MetricsObserver) -> None:
    registry = observer.registry()
    observer.cell_started(THREADS, 24)
    observer.sampled(THREADS, Sample(0.25, 1, 1, cpu_seconds=0.3, items_ok=0, cpu_throttled_seconds=0.1,
                                     cpu_throttled_periods=2))
    assert value(registry, "kit_cpu_cfs_throttled_seconds_total") == 0.1
    assert value(registry, "kit_cpu_cfs_throttled_periods_total") == 2
    observer.sampled(THREADS, Sample(0.5, 1, 1, cpu_seconds=0.6, items_ok=0, cpu_throttled_seconds=0.35,
                                     cpu_throttled_periods=5))
    assert value(registry, "kit_cpu_cfs_throttled_seconds_total") == 0.35
    assert value(registry, "kit_cpu_cfs_throttled_periods_total") == 5
    final = Sample(0.8, 1, 1, cpu_seconds=0.9, items_ok=0, cpu_throttled_seconds=0.5, cpu_throttled_periods=8)
    observer.cell_finished(THREADS, record(THREADS, cpu_throttled_seconds=0.5, samples=[final]))
    assert value(registry, "kit_cpu_cfs_throttled_seconds_total") == 0.5
    assert value(registry, "kit_cpu_cfs_throttled_periods_total") == 8  # from the sandbox's final look


def test_an_oom_killed_strategy_shows_its_kill_and_final_state(observer: MetricsObserver) -> None:
    registry = observer.registry()
    observer.cell_started(THREADS, 24)
    observer.item_done(THREADS, ItemEvent(0, "a.jpg", True, start=1.0, end=2.0))
    observer.sampled(THREADS, Sample(1.0, working_set_bytes=250 * 2**20, usage_bytes=255 * 2**20,
                                     cpu_seconds=1.5, items_ok=1))
    observer.cell_finished(THREADS, record(
        THREADS, status="oom_killed", exit_code=-9, wall_seconds=1.6, work_seconds=1.0, cpu_seconds=1.7,
        peak_memory_bytes=CAP, oom_kills=1, items_ok=1, throughput_items_per_second=1.0,
        oom_events=[OomEvent(t_seconds=1.5, usage_bytes=255 * 2**20, items_ok=1, victim="main")]))
    assert value(registry, "kit_oom_kills_total") == 1
    assert value(registry, "kit_strategy_outcome", outcome="oom_killed") == 1
    assert value(registry, "kit_strategy_outcome", outcome="ok") == 0
    assert value(registry, "kit_strategy_state", state="finished") == 1
    assert value(registry, "kit_strategy_state", state="running") == 0
    assert value(registry, "kit_memory_working_set_bytes") == 0  # the sandbox is gone
    assert value(registry, "kit_memory_peak_bytes") == CAP
    assert value(registry, "kit_cpu_usage_seconds_total") == 1.7
    assert value(registry, "kit_strategy_duration_seconds") == 1.6
    assert value(registry, "kit_items_processed_total") == 1


def test_counters_never_go_down_when_the_record_is_behind(observer: MetricsObserver) -> None:
    registry = observer.registry()
    observer.cell_started(THREADS, 24)
    observer.sampled(THREADS, Sample(1.0, 1, 1, cpu_seconds=2.0, items_ok=0))
    observer.cell_finished(THREADS, record(THREADS, cpu_seconds=1.9999, cpu_throttled_seconds=0.5))
    assert value(registry, "kit_cpu_usage_seconds_total") == 2.0
    assert value(registry, "kit_cpu_cfs_throttled_seconds_total") == 0.5


def test_each_sandbox_is_its_own_series(observer: MetricsObserver) -> None:
    registry = observer.registry()
    sequential = Cell("python-sequential", repetition=0, workers=1, memory_limit_bytes=None, cpus=None)
    warmup = Cell("python-sequential", 0, 1, None, None, warmup=True)
    for cell in (warmup, sequential):
        observer.cell_started(cell, 4)
        observer.item_done(cell, ItemEvent(0, "a.jpg", True, 0.0, 0.1))
    base = {"run": RUN, "strategy": "python-sequential", "workers": "1", "memory_limit": "none"}
    assert registry.get_sample_value("kit_items_processed_total", {**base, "repetition": "1"}) == 1
    assert registry.get_sample_value("kit_items_processed_total", {**base, "repetition": "warmup-1"}) == 1
    assert registry.get_sample_value("kit_memory_limit_bytes", {**base, "repetition": "1"}) == 0


def test_exposition_is_what_prometheus_reads(observer: MetricsObserver) -> None:
    observer.cell_started(THREADS, 24)
    text = generate_latest(observer.registry()).decode()
    labels = ('memory_limit="256Mi",repetition="1",run="20260101-000000-abcd",strategy="python-threads",'
              'workers="12"')
    assert "# TYPE kit_oom_kills_total counter\n" in text
    assert f"kit_oom_kills_total{{{labels}}} 0.0\n" in text
    assert f"kit_memory_limit_bytes{{{labels}}} 2.68435456e+08\n" in text
    assert "# TYPE kit_item_duration_seconds histogram\n" in text
    assert "_created" not in text  # a custom collector adds no _created series
    assert set(re.findall(r"^(kit_\w+?)[{ ]", text, re.M)) == series_names()


def test_duration_buckets_span_5_ms_to_5_s() -> None:
    bounds = metrics.DURATION_BUCKETS_SECONDS
    assert bounds[0] == 0.005 and bounds[-1] == 5.0 and list(bounds) == sorted(set(bounds))


def test_names_follow_prometheus_conventions() -> None:
    for family in FAMILIES:
        assert family.name.startswith("kit_")
        assert family.name.endswith("_total") == (family.kind == "counter"), family.name
        assert family.help.endswith("."), family.name
    assert len({f.name for f in FAMILIES}) == len(FAMILIES)
    assert LABELS[:2] == ("run", "strategy")


@pytest.mark.parametrize(("limit", "label"), [(None, "none"), (CAP, "256Mi"), (2**30, "1Gi"),
                                              (1536 * 2**20, "1536Mi"), (300_000_001, "300000001")])
def test_memory_limit_label(limit: int | None, label: str) -> None:
    assert memory_limit_label(limit) == label


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_the_endpoint_serves_the_run_registry_only_while_open(observer: MetricsObserver) -> None:
    port = _free_port()
    observer.cell_started(THREADS, 24)
    with serve(observer.registry(), "127.0.0.1", port) as server:
        assert server.url == f"http://127.0.0.1:{port}/metrics"
        body = urllib.request.urlopen(server.url, timeout=5).read().decode()
        assert "kit_items_processed_total{" in body
        assert "python_gc_objects_collected_total" not in body  # not the global REGISTRY
        server.linger(0.01)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(server.url, timeout=5)


def test_a_taken_port_says_what_to_do(observer: MetricsObserver) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EnvironmentProblem, match=f"127.0.0.1:{port}.*--metrics-port"):
            with serve(observer.registry(), "127.0.0.1", port):
                pass


def test_an_unusable_host_is_a_usage_error(observer: MetricsObserver) -> None:
    with pytest.raises(ConfigError, match="--metrics-host"):
        with serve(observer.registry(), "no-such-host.invalid", _free_port()):
            pass


@pytest.mark.parametrize("text", ["nan", "inf"])
def test_a_linger_must_be_a_finite_number_of_seconds(text: str) -> None:
    with pytest.raises(ConfigError, match="--metrics-linger"):
        parse_linger(float(text))


def test_a_negative_linger_is_a_one_line_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--metrics-linger", "-1"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: --metrics-linger -1.0: must be 0 or more seconds\n"


# --- the dashboard against kit/metrics/exporter.py ---

def dashboard_exprs(path: Path) -> list[str]:
    """Every PromQL expression of a dashboard's panels (rows' nested panels included)."""
    def panels(items: list[dict[str, object]]) -> list[dict[str, object]]:
        found = []
        for panel in items:
            found.append(panel)
            found += panels(panel.get("panels", []))  # type: ignore[arg-type]
        return found
    data = json.loads(path.read_text())
    return [str(t["expr"]) for p in panels(data["panels"]) for t in p.get("targets", []) if "expr" in t]


def test_there_is_a_dashboard_with_queries() -> None:
    assert DASHBOARDS and all(dashboard_exprs(path) for path in DASHBOARDS)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_metric_name_in_the_dashboard_exists_in_kit_metrics(path: Path) -> None:
    data = json.loads(path.read_text())
    texts = dashboard_exprs(path) + [str(v["query"]["query"]) for v in data["templating"]["list"]]
    used = {name for text in texts for name in re.findall(r"\bkit_[a-z_]+", text)}
    assert used and used <= series_names(), used - series_names()


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_panel_query_follows_the_run_and_strategy_variables(path: Path) -> None:
    data = json.loads(path.read_text())
    assert [v["name"] for v in data["templating"]["list"]] == ["run", "strategy"]
    for expr in dashboard_exprs(path):
        for name, selector in re.findall(r"\b(kit_[a-z_]+)(\{[^}]*\})?", expr):
            assert 'run=~"$run"' in selector, expr
            # kit_run_info is one series per run (workload, unit): it has no strategy to filter on
            assert name == "kit_run_info" or 'strategy=~"$strategy"' in selector, expr
        for label in re.findall(r"by \(([^)]*)\)", expr):
            assert set(label.replace(" ", "").split(",")) <= {*LABELS, "le"}, expr


def test_the_datasource_the_dashboard_uses_is_provisioned() -> None:
    provisioned = (ROOT / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text()
    uids = {m for path in DASHBOARDS for m in re.findall(r'"uid": "([^"]+)"', path.read_text())}
    uids -= {json.loads(path.read_text())["uid"] for path in DASHBOARDS}
    assert uids == {"kit-prometheus"} and "uid: kit-prometheus" in provisioned


def test_the_docs_table_lists_every_family_with_its_type() -> None:
    page = (ROOT / "docs" / "metrics.md").read_text()
    rows = dict(re.findall(r"^\| `(kit_\w+)` \| (\w+) \|", page, re.M))
    assert rows == {family.name: family.kind for family in FAMILIES}
