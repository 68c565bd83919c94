"""Live metrics against a real Prometheus: Debian's `prometheus` scrapes a real `kit run` every second.

One run for the module: an OOM-killing cap (256 MiB: python-threads with 12 workers on 4K images
is killed, python-sequential is not), then Prometheus's HTTP API is asked for the kit's series,
the OOM outcome, and every PromQL query of grafana/dashboards/*.json. Also: `promtool check
metrics` on a live scrape, and the compose file through Debian's docker-compose.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kit.metrics.exporter import series_names
from tests.conftest import need
from tests.integration.kitrun import kit_env
from tests.unit.test_metrics import DASHBOARDS, dashboard_exprs

ROOT = Path(__file__).resolve().parents[2]
STRATEGIES = ("python-sequential", "python-threads")
RATE_INTERVAL = "4s"   # what Grafana makes of $__rate_interval with the 1 s scrape interval
LINGER_SECONDS = 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get_json(url: str) -> Any:
    """Prometheus's answer; a 4xx (a bad query) still carries JSON that says why."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        return json.load(error)


@dataclass
class Stack:
    """The finished run as Prometheus saw it."""

    api: str            # http://127.0.0.1:PORT/api/v1
    run_id: str
    started: float      # unix seconds, before the kit was launched
    ended: float        # unix seconds, after the kit exited
    returncode: int
    stdout: str
    stderr: str
    scrape: str         # the last scrape of the kit's endpoint (during the linger)

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params = {"query": expr, "time": f"{at or self.ended + 1:.3f}"}
        data = get_json(f"{self.api}/query?{urllib.parse.urlencode(params)}")
        assert data["status"] == "success", data
        result: list[dict[str, Any]] = data["data"]["result"]
        return result

    def query_range(self, expr: str) -> list[dict[str, Any]]:
        params = {"query": expr, "start": f"{self.started:.3f}", "end": f"{self.ended:.3f}", "step": "1"}
        data = get_json(f"{self.api}/query_range?{urllib.parse.urlencode(params)}")
        assert data["status"] == "success", data
        result: list[dict[str, Any]] = data["data"]["result"]
        return result

    def final(self, name: str, strategy: str, **labels: str) -> float:
        """The last value Prometheus scraped (stale markers after the kit exited are skipped)."""
        matchers = ",".join([f'run="{self.run_id}"', f'strategy="{strategy}"',
                             *(f'{k}="{v}"' for k, v in labels.items())])
        result = self.query(f"last_over_time({name}{{{matchers}}}[5m])")
        assert len(result) == 1, (name, strategy, labels, result)
        return float(result[0]["value"][1])


def start_prometheus(tmp: Path, kit_port: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = tmp / "prometheus.yml"  # the compose stack's own config, pointed at this test's kit port
    shipped = (ROOT / "prometheus" / "prometheus.yml").read_text()
    assert '"127.0.0.1:9464"' in shipped
    config.write_text(shipped.replace('"127.0.0.1:9464"', f'"127.0.0.1:{kit_port}"'))
    log = (tmp / "prometheus.log").open("wb")
    process = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, (tmp / "prometheus.log").read_text()
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError(f"prometheus did not become ready: {(tmp / 'prometheus.log').read_text()}")


def wait_for_first_scrape(url: str) -> None:
    """Prometheus applies discovered targets only after a few seconds (its discovery manager batches
    updates); until its first scrape of the kit's address, a short run would go unseen. The address
    answers nothing yet, so that first scrape records up == 0."""
    query = urllib.parse.urlencode({"query": 'up{job="kit"}'})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=5) as response:
            if json.loads(response.read())["data"]["result"]:
                return
        time.sleep(0.2)
    raise AssertionError("prometheus never scraped the kit's address")


def run_kit(tmp: Path, cache_dir: Path, kit_port: int) -> tuple[subprocess.CompletedProcess[str], str]:
    """The real CLI; polls its endpoint meanwhile and returns the last scrape it got."""
    argv = [sys.executable, "-m", "kit", "run", "-s", STRATEGIES[0], "-s", STRATEGIES[1], "--workers", "12",
            "--images", "24", "--distinct-images", "4", "--mem-limit", "256m", "--out", str(tmp / "out"),
            "--metrics-port", str(kit_port), "--metrics-linger", str(LINGER_SECONDS), "--runtime", "cgroup"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=kit_env(cache_dir))
    last = ""
    deadline = time.monotonic() + 600
    while process.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{kit_port}/metrics", timeout=2) as response:
                last = response.read().decode()
        except OSError:
            pass
        time.sleep(0.5)
    if process.poll() is None:
        process.kill()
    stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr), last


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path, cgroup_problem: str | None) -> Iterator[Stack]:
    need(cgroup_problem)
    need(None if shutil.which("prometheus") else
         "Debian's prometheus is not installed (apt-get install -y prometheus)")
    tmp = tmp_path_factory.mktemp("prometheus")
    kit_port = free_port()
    prometheus, url = start_prometheus(tmp, kit_port)
    try:
        wait_for_first_scrape(url)
        started = time.time()
        done, scrape = run_kit(tmp, cache_dir, kit_port)
        ended = time.time()
        time.sleep(1.5)  # let Prometheus write the scrape that found the endpoint gone
        run_dirs = [d for d in (tmp / "out").iterdir() if d.is_dir()] if (tmp / "out").is_dir() else []
        assert len(run_dirs) == 1, (done.stdout, done.stderr)
        yield Stack(f"{url}/api/v1", run_dirs[0].name, started, ended, done.returncode, done.stdout,
                    done.stderr, scrape)
    finally:
        prometheus.terminate()
        try:
            prometheus.wait(timeout=30)
        except subprocess.TimeoutExpired:
            prometheus.kill()


def test_the_run_completes_and_serves_before_preparing_images(stack: Stack) -> None:
    assert stack.returncode == 0, stack.stderr
    lines = stack.stdout.splitlines()
    served = next(i for i, line in enumerate(lines) if line.startswith("metrics: http://127.0.0.1:"))
    prepared = next(i for i, line in enumerate(lines) if "inputs" in line or "generating" in line)
    assert served < prepared, stack.stdout
    assert f"metrics stay up {LINGER_SECONDS} s" in stack.stdout


def test_prometheus_holds_every_family_for_both_strategies(stack: Stack) -> None:
    params = urllib.parse.urlencode({"match[]": f'{{run="{stack.run_id}"}}', "start": f"{stack.started:.0f}",
                                     "end": f"{stack.ended + 1:.0f}"})
    series = get_json(f"{stack.api}/series?{params}")["data"]
    assert {s["__name__"] for s in series} == series_names()
    assert {s.get("strategy") for s in series if s["__name__"] != "kit_run_info"} == set(STRATEGIES)
    threads = next(s for s in series if s["__name__"] == "kit_oom_kills_total" and s["strategy"] == STRATEGIES[1])
    assert threads["workers"] == "12" and threads["memory_limit"] == "256Mi" and threads["repetition"] == "1"


def test_the_oom_kill_and_final_states_are_visible(stack: Stack) -> None:
    assert stack.final("kit_strategy_outcome", "python-threads", outcome="oom_killed") == 1
    assert stack.final("kit_strategy_outcome", "python-threads", outcome="ok") == 0
    assert stack.final("kit_oom_kills_total", "python-threads") >= 1
    assert stack.final("kit_strategy_outcome", "python-sequential", outcome="ok") == 1
    assert stack.final("kit_oom_kills_total", "python-sequential") == 0
    assert stack.final("kit_items_processed_total", "python-sequential") == 24
    for strategy in STRATEGIES:
        assert stack.final("kit_strategy_state", strategy, state="finished") == 1
        assert stack.final("kit_memory_limit_bytes", strategy) == 256 * 2**20
        assert 0 < stack.final("kit_memory_peak_bytes", strategy) <= 256 * 2**20 + 2**20
    # the sequential strategy's kill counter was a real series at 0 all along, not absent
    never = stack.query_range(f'max_over_time(kit_oom_kills_total{{run="{stack.run_id}",'
                              f'strategy="python-sequential"}}[1m])')
    assert never and all(float(v) == 0 for _, v in never[0]["values"])
    # the kit served the OOM outcome while it lingered: the scrape the test took shows it
    assert re.search(r'kit_strategy_outcome\{[^}]*outcome="oom_killed"[^}]*strategy="python-threads"[^}]*\} 1\.0',
                     stack.scrape), stack.scrape


def substitute(text: str, run_id: str) -> str:
    """Grafana's variables as Grafana would fill them for this run and every strategy."""
    return (text.replace("$__rate_interval", RATE_INTERVAL).replace("$run", run_id)
            .replace("$strategy", "(" + "|".join(STRATEGIES) + ")"))


def queries_without_data(stack: Stack, path: Path) -> list[str]:
    """The dashboard's queries, with its variables filled for the run, that Prometheus answers
    with no finite value over the run (scraped or pushed alike)."""
    assert "$" not in substitute(" ".join(dashboard_exprs(path)), stack.run_id)
    empty = []
    for expr in dashboard_exprs(path):
        result = stack.query_range(substitute(expr, stack.run_id))
        finite = [float(v) for series in result for _, v in series["values"] if math.isfinite(float(v))]
        if not finite:
            empty.append(expr)
    return empty


def variable_values(stack: Stack, path: Path) -> dict[str, set[str]]:
    """What each of the dashboard's `label_values(...)` variables offers for the run."""
    found = {}
    for variable in json.loads(path.read_text())["templating"]["list"]:
        match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"]["query"])
        assert match, variable
        params = urllib.parse.urlencode({"match[]": substitute(match.group(1), stack.run_id),
                                         "start": f"{stack.started:.0f}", "end": f"{stack.ended:.0f}"})
        found[variable["name"]] = set(get_json(f"{stack.api}/label/{match.group(2)}/values?{params}")["data"])
    return found


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_dashboard_query_returns_data(stack: Stack, path: Path) -> None:
    empty = queries_without_data(stack, path)
    assert not empty, "queries without data:\n" + "\n".join(empty)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_the_dashboard_variables_find_the_run_and_strategies(stack: Stack, path: Path) -> None:
    found = variable_values(stack, path)
    assert stack.run_id in found["run"]
    assert found["strategy"] == set(STRATEGIES)


def test_promtool_finds_the_live_scrape_clean(stack: Stack) -> None:
    need(None if shutil.which("promtool") else "promtool is missing (apt-get install -y prometheus)")
    assert "kit_item_duration_seconds_bucket" in stack.scrape
    check = subprocess.run(["promtool", "check", "metrics"], input=stack.scrape, capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0 and check.stdout == check.stderr == "", check.stdout + check.stderr


# --- the compose stack's files, checked by the tools available here ---

def test_compose_files_are_valid_for_docker_compose() -> None:
    need(None if shutil.which("docker-compose") else
         "Debian's docker-compose is not installed (apt-get install -y docker-compose)")
    for files in (["compose.yaml"], ["compose.yaml", "compose.desktop.yaml"]):
        argv = ["docker-compose", "--project-directory", str(ROOT)]
        for name in files:
            argv += ["-f", str(ROOT / name)]
        check = subprocess.run([*argv, "config"], capture_output=True, text=True, timeout=120,
                               env={"PATH": "/usr/bin:/bin:/usr/local/bin"})
        assert check.returncode == 0, check.stderr
        merged = check.stdout
        assert re.findall(r"image: (\S+)", merged) and all(
            re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+", image) for image in re.findall(r"image: (\S+)", merged))
        for port in re.findall(r"- (\S+:\d+:\d+)", merged):
            assert port.startswith("127.0.0.1:"), port
        assert "prometheus-data:" in merged and "grafana-data:" in merged
    linux = (ROOT / "compose.yaml").read_text()
    assert linux.count("network_mode: host") == 3   # prometheus, pushgateway (issue 17), grafana
    assert "--web.listen-address=127.0.0.1:9090" in linux and "GF_SERVER_HTTP_ADDR: 127.0.0.1" in linux
    assert "--web.listen-address=127.0.0.1:9091" in linux
    assert "GF_SECURITY_ADMIN_PASSWORD: ${KIT_GRAFANA_ADMIN_PASSWORD" in linux


@pytest.mark.parametrize("name", ["prometheus.yml", "prometheus.desktop.yml"])
def test_prometheus_configs_are_valid_and_scrape_every_second(name: str) -> None:
    need(None if shutil.which("promtool") else "promtool is missing (apt-get install -y prometheus)")
    path = ROOT / "prometheus" / name
    check = subprocess.run(["promtool", "check", "config", str(path)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "scrape_interval: 1s" in path.read_text() and ":9464" in path.read_text()
    # the Pushgateway's job keeps the pushed labels (job="kit", run), not its own (issue 17)
    assert re.search(r"- job_name: pushgateway\n    honor_labels: true\n    static_configs:\n"
                     r"      - targets: \[\"[\w.]+:9091\"\]\n", path.read_text()), path.read_text()


def last_values(stack: Stack, path: Path, title: str) -> dict[str, float]:
    """The panel's first query over the run: each strategy's last value."""
    panel = next(p for p in json.loads(path.read_text())["panels"] if p["title"] == title)
    result = stack.query_range(substitute(panel["targets"][0]["expr"], stack.run_id))
    return {series["metric"]["strategy"]: float(series["values"][-1][1]) for series in result}


def test_the_outcome_and_progress_panels_tell_who_was_killed(stack: Stack) -> None:
    path = ROOT / "grafana" / "dashboards" / "kit.json"
    # the Outcome panel's value mapping: 1 ok, 2 oom_killed
    assert last_values(stack, path, "Outcome") == {"python-sequential": 1, "python-threads": 2}
    progress = last_values(stack, path, "Progress (done / total)")
    assert progress["python-sequential"] == 1 and progress["python-threads"] < 1
    kills = last_values(stack, path, "OOM kills")
    assert kills["python-sequential"] == 0 and kills["python-threads"] >= 1
