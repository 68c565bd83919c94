"""Pushed metrics against real servers: Debian's `prometheus-pushgateway` receives a real `kit run
--pushgateway` (with the scrape endpoint off), and Debian's `prometheus`, with the shipped config,
scrapes the gateway every second.

One pushed run for the module, as test_prometheus.py's scraped one (256 MiB: python-threads with
12 workers is OOM-killed, python-sequential is not), under a CPU cap of half a core so that
throttling happens. Then: the gateway's group for the run (every kit_ family, the final outcomes), Prometheus's
view of it (pushes while the run ran, every dashboard query with data), a run both scraped and
pushed (the dashboard counts it once), and a push to a gateway that is not there.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kit.metrics.exporter import series_names
from tests.conftest import need
from tests.integration.kitrun import kit, kit_env
from tests.integration.test_prometheus import (
    STRATEGIES,
    Stack,
    free_port,
    get_json,
    queries_without_data,
    substitute,
    variable_values,
)
from tests.unit.test_metrics import DASHBOARDS

ROOT = Path(__file__).resolve().parents[2]
KIT_JSON = ROOT / "grafana" / "dashboards" / "kit.json"
GATEWAY_SERIES = {"push_time_seconds", "push_failure_time_seconds"}   # the gateway's own, per group


@dataclass
class Pushed:
    """The pushed run as the gateway and Prometheus saw it."""

    stack: Stack            # Prometheus's view (the kit's own scrape endpoint was off)
    gateway: str            # http://127.0.0.1:PORT
    prometheus: str         # http://127.0.0.1:PORT (for further runs)
    kit_port: int           # where the shipped config's kit job scrapes
    exposition: str         # the gateway's /metrics after the run
    run_dir: Path


def wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not become ready: {log.read_text()}")


def start(argv: list[str], url: str, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(argv, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        wait_ready(process, url, log)
    except BaseException:
        stop(process)
        raise
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for_gateway_scrape(prometheus: str) -> None:
    """Prometheus applies its targets after a few seconds; a short run must not go unseen."""
    query = urllib.parse.urlencode({"query": 'up{job="pushgateway"} == 1'})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if get_json(f"{prometheus}/api/v1/query?{query}")["data"]["result"]:
            return
        time.sleep(0.2)
    raise AssertionError("prometheus never scraped the pushgateway")


def kit_argv(tmp: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "kit", "run", "-s", STRATEGIES[0], "-s", STRATEGIES[1], "--workers", "12",
            "--images", "24", "--distinct-images", "4", "--mem-limit", "256m", "--runtime", "cgroup",
            "--out", str(tmp / "out"), *extra]


def read(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        text: str = response.read().decode()
        return text


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path, cgroup_problem: str | None) -> Iterator[Pushed]:
    need(cgroup_problem)
    need(None if shutil.which("prometheus") else "Debian's prometheus is not installed (apt-get install -y prometheus)")
    need(None if shutil.which("prometheus-pushgateway") else
         "Debian's pushgateway is not installed (apt-get install -y prometheus-pushgateway)")
    tmp = tmp_path_factory.mktemp("pushgateway")
    gateway_port, prometheus_port, kit_port = free_port(), free_port(), free_port()
    gateway = f"http://127.0.0.1:{gateway_port}"
    # no persistence file: Debian's default one is shared by the package's own service
    pushgateway = start(["prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{gateway_port}",
                         "--persistence.file="], gateway, tmp / "pushgateway.log")
    try:
        shipped = (ROOT / "prometheus" / "prometheus.yml").read_text()
        assert '"127.0.0.1:9464"' in shipped and '"127.0.0.1:9091"' in shipped
        config = tmp / "prometheus.yml"   # the compose stack's config, pointed at this test's ports
        config.write_text(shipped.replace('"127.0.0.1:9464"', f'"127.0.0.1:{kit_port}"')
                          .replace('"127.0.0.1:9091"', f'"127.0.0.1:{gateway_port}"'))
        prometheus_url = f"http://127.0.0.1:{prometheus_port}"
        prometheus = start(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}",
                            f"--web.listen-address=127.0.0.1:{prometheus_port}"], prometheus_url,
                           tmp / "prometheus.log")
        try:
            wait_for_gateway_scrape(prometheus_url)
            started = time.time()
            done = subprocess.run(kit_argv(tmp, "--cpus", "0.5", "--metrics-port", "0", "--pushgateway", gateway),
                                  capture_output=True, text=True, timeout=600, env=kit_env(cache_dir))
            ended = time.time()
            time.sleep(2.5)  # Prometheus scrapes the gateway's final state
            run_dirs = [d for d in (tmp / "out").iterdir() if d.is_dir()] if (tmp / "out").is_dir() else []
            assert len(run_dirs) == 1, (done.stdout, done.stderr)
            stack = Stack(f"{prometheus_url}/api/v1", run_dirs[0].name, started, ended, done.returncode,
                          done.stdout, done.stderr, scrape="")
            yield Pushed(stack, gateway, prometheus_url, kit_port, read(f"{gateway}/metrics"), run_dirs[0])
        finally:
            stop(prometheus)
    finally:
        stop(pushgateway)


def group_series(exposition: str, run_id: str) -> list[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of every sample of the run's group in a gateway's exposition."""
    found = []
    for name, labels, value in re.findall(r"^(\w+)\{([^}]*)\} (\S+)$", exposition, re.M):
        parsed = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if parsed.get("run") == run_id:
            found.append((name, parsed, float(value)))
    return found


def test_the_run_completes_and_pushes_with_the_scrape_endpoint_off(pushed: Pushed) -> None:
    stack = pushed.stack
    assert stack.returncode == 0, stack.stderr
    assert f"metrics pushed to: {pushed.gateway}/metrics/job/kit/run/{stack.run_id}" in stack.stdout
    assert "metrics: http" not in stack.stdout and "metrics stay up" not in stack.stdout   # --metrics-port 0
    assert "warning" not in stack.stderr, stack.stderr


def test_the_gateway_holds_every_kit_family_under_the_runs_grouping_key(pushed: Pushed) -> None:
    series = group_series(pushed.exposition, pushed.stack.run_id)
    assert {name for name, _, _ in series} == series_names() | GATEWAY_SERIES
    for name, labels, _ in series:
        assert labels["job"] == "kit" and labels["run"] == pushed.stack.run_id, (name, labels)
    kit_series = [(name, labels) for name, labels, _ in series if name.startswith("kit_")]
    assert {labels.get("strategy") for name, labels in kit_series if name != "kit_run_info"} == set(STRATEGIES)
    assert [v for name, _, v in series if name == "push_failure_time_seconds"] == [0]


def test_the_final_push_holds_the_oom_outcome(pushed: Pushed) -> None:
    def value(name: str, strategy: str, **extra: str) -> float:
        found = [v for n, labels, v in group_series(pushed.exposition, pushed.stack.run_id)
                 if n == name and labels.get("strategy") == strategy
                 and all(labels.get(k) == e for k, e in extra.items())]
        assert len(found) == 1, (name, strategy, extra)
        return found[0]

    assert value("kit_strategy_outcome", "python-threads", outcome="oom_killed") == 1
    assert value("kit_strategy_outcome", "python-threads", outcome="ok") == 0
    assert value("kit_oom_kills_total", "python-threads") >= 1
    assert value("kit_strategy_outcome", "python-sequential", outcome="ok") == 1
    assert value("kit_oom_kills_total", "python-sequential") == 0
    assert value("kit_items_processed_total", "python-sequential") == 24
    results = json.loads((pushed.run_dir / "results.json").read_text())
    for record in results["results"]:
        assert value("kit_strategy_state", record["strategy"], state="finished") == 1
        assert value("kit_strategy_outcome", record["strategy"], outcome=record["status"]) == 1
        assert value("kit_cpu_cfs_throttled_seconds_total", record["strategy"]) == pytest.approx(
            record["cpu_throttled_seconds"], abs=1e-3)


def test_pushes_came_while_the_run_ran_with_live_throttling(pushed: Pushed) -> None:
    stack = pushed.stack
    times = stack.query_range(f'push_time_seconds{{job="kit", run="{stack.run_id}"}}')
    pushes = {float(v) for series in times for _, v in series["values"]}
    assert len(pushes) >= 3, pushes   # the first, at least one while running, the final
    running = stack.query_range(f'kit_strategy_state{{run="{stack.run_id}", state="running"}} == 1')
    assert "python-sequential" in {series["metric"]["strategy"] for series in running}
    # under half a core, python-sequential's one busy thread is throttled: seen while its sandbox ran
    live = stack.query_range(f'kit_cpu_cfs_throttled_seconds_total{{run="{stack.run_id}", '
                             f'strategy="python-sequential"}} > 0 and on (run, strategy, workers, memory_limit, '
                             f'repetition) kit_strategy_state{{state="running"}} == 1')
    assert live, "no throttling pushed while python-sequential ran"
    periods = stack.query_range(f'kit_cpu_cfs_throttled_periods_total{{run="{stack.run_id}", '
                                f'strategy="python-sequential"}} > 0 and on (run, strategy, workers, memory_limit, '
                                f'repetition) kit_strategy_state{{state="running"}} == 1')
    assert periods, "no throttled periods pushed while python-sequential ran"
    # the scrape endpoint was off: Prometheus knows the run from the gateway only
    info = stack.query_range(f'kit_run_info{{run="{stack.run_id}"}}')
    instances = {series["metric"].get("instance", "") for series in info}
    assert instances == {""}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_dashboard_query_returns_data_for_the_pushed_run(pushed: Pushed, path: Path) -> None:
    empty = queries_without_data(pushed.stack, path)
    assert not empty, "queries without data:\n" + "\n".join(empty)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_the_dashboard_variables_find_the_pushed_run(pushed: Pushed, path: Path) -> None:
    found = variable_values(pushed.stack, path)
    assert pushed.stack.run_id in found["run"]
    assert found["strategy"] == set(STRATEGIES)


def panel_values(stack: Stack, title: str, ref: str = "A") -> dict[str, float]:
    """A panel's query (by refId) as an instant query after the run: each strategy's value."""
    panel = next(p for p in json.loads(KIT_JSON.read_text())["panels"] if p["title"] == title)
    expr = next(t["expr"] for t in panel["targets"] if t["refId"] == ref)
    return {series["metric"]["strategy"]: float(series["value"][1])
            for series in stack.query(substitute(expr, stack.run_id), at=time.time())}


def test_the_final_outcomes_panel_keeps_the_pushed_outcome(pushed: Pushed) -> None:
    title = "Final outcomes (pushed runs keep theirs in the Pushgateway)"
    # outcome mapping: 1 ok, 2 oom_killed; asked now, after the run: the gateway still holds it
    assert panel_values(pushed.stack, title, "A") == {"python-sequential": 1, "python-threads": 2}
    assert panel_values(pushed.stack, title, "C")["python-sequential"] == 24
    last_push = panel_values(pushed.stack, title, "E")
    assert set(last_push) == set(STRATEGIES)
    assert all(pushed.stack.ended - 5 <= ms / 1000 <= pushed.stack.ended + 1 for ms in last_push.values()), last_push


def test_a_run_both_scraped_and_pushed_counts_once(pushed: Pushed, tmp_path: Path, cache_dir: Path) -> None:
    """The compose stack scrapes the kit and the gateway: the dashboard's sums must not double."""
    argv = [sys.executable, "-m", "kit", "run", "-s", "python-sequential", "--images", "6", "--distinct-images",
            "2", "--resolution", "1080p", "--runtime", "cgroup", "--out", str(tmp_path / "out"), "--metrics-port",
            str(pushed.kit_port), "--metrics-linger", "3", "--pushgateway", pushed.gateway]
    started = time.time()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=kit_env(cache_dir))
    assert done.returncode == 0, done.stderr
    run_id = next((tmp_path / "out").iterdir()).name
    stack = Stack(pushed.stack.api, run_id, started, time.time(), 0, done.stdout, done.stderr, "")
    instances = {series["metric"].get("instance", "")
                 for series in stack.query_range(f'kit_items_processed_total{{run="{run_id}"}}')}
    assert instances == {"", f"127.0.0.1:{pushed.kit_port}"}   # pushed and scraped: two series per sandbox
    at = stack.ended - 1    # while the kit's endpoint lingered: both sources hold the final figures
    for title, ref, expected in [("Summary per strategy (the study's table, live)", "F", 6.0),
                                 ("Summary per strategy (the study's table, live)", "G", 0.0),
                                 ("Progress (done / total)", "A", 1.0), ("OOM kills", "A", 0.0)]:
        panel = next(p for p in json.loads(KIT_JSON.read_text())["panels"] if p["title"] == title)
        expr = substitute(next(t["expr"] for t in panel["targets"] if t["refId"] == ref), run_id)
        result = stack.query(expr, at=at)
        assert [float(series["value"][1]) for series in result] == [expected], (title, ref, result)


def test_an_unreachable_gateway_is_one_warning_and_the_run_completes(tmp_path: Path, cache_dir: Path,
                                                                     cgroup_problem: str | None) -> None:
    need(cgroup_problem)
    port = free_port()   # nothing listens there
    done = kit(["run", "-s", "python-sequential", "--images", "4", "--distinct-images", "2", "--resolution", "720p",
                "--pushgateway", f"http://127.0.0.1:{port}"], tmp_path / "out", cache_dir)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, done.stderr
    assert warnings[0].startswith(f"warning: cannot push metrics to the Pushgateway at http://127.0.0.1:{port} (")
    assert done.record("python-sequential")["status"] == "ok"
    assert (done.run_dir / "report.html").is_file()
