"""Pushing to a Pushgateway: against a real local HTTP server (as client_python's own push tests do),
the grouping key, periodic and final pushes, one warning for a failing gateway, and --pushgateway."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from kit.cli.exits import main
from kit.core.errors import ConfigError
from kit.metrics.exporter import MetricsObserver
from kit.metrics.pushgateway import Pusher, group_path, pushing
from kit.plan.config import build, parse_pushgateway
from tests.unit.test_metrics import RUN, THREADS, record


class Gateway(HTTPServer):
    """Records every request; answers `status`."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[tuple[str, str, str]] = []   # method, path, body
        self.status = 200
        self.url = f"http://127.0.0.1:{self.server_port}"


class Handler(BaseHTTPRequestHandler):
    server: Gateway

    def do_PUT(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.server.requests.append(("PUT", self.path, body))
        self.send_response(self.server.status)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture()
def gateway() -> Iterator[Gateway]:
    server = Gateway()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_pushes_go_to_the_run_group_while_running_and_once_more_with_the_final_outcome(gateway: Gateway) -> None:
    observer = MetricsObserver(RUN)
    warnings: list[str] = []
    observer.cell_started(THREADS, 24)
    with pushing(observer.registry(), gateway.url, RUN, warnings.append, interval_seconds=0.05) as pusher:
        deadline = time.monotonic() + 30
        while len(gateway.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        observer.cell_finished(THREADS, record(THREADS, status="oom_killed", oom_kills=1))
    assert warnings == [] and pusher.pushes == len(gateway.requests) >= 4
    assert {(method, path) for method, path, _ in gateway.requests} == {("PUT", f"/metrics/job/kit/run/{RUN}")}
    assert group_path(RUN) == f"/metrics/job/kit/run/{RUN}"
    first, last = gateway.requests[0][2], gateway.requests[-1][2]
    assert 'outcome="oom_killed",repetition="1",run="20260101-000000-abcd"' in first
    assert 'kit_strategy_state{memory_limit="256Mi",repetition="1",run="20260101-000000-abcd",state="running"' \
           in first
    oom = ('kit_strategy_outcome{memory_limit="256Mi",outcome="oom_killed",repetition="1",'
           'run="20260101-000000-abcd",strategy="python-threads",workers="12"}')
    assert f"{oom} 0.0\n" in first and f"{oom} 1.0\n" in last    # the last push holds the final outcome
    assert "kit_oom_kills_total{" in last and "python_gc" not in last   # the run's registry only


def test_a_sandbox_starting_or_ending_is_pushed_at_once(gateway: Gateway) -> None:
    observer = MetricsObserver(RUN)
    with pushing(observer.registry(), gateway.url, RUN, lambda text: None, interval_seconds=3600) as pusher:
        assert len(gateway.requests) == 1                     # the first push, when the run starts
        observer.cell_started(THREADS, 24)
        pusher.cell_started(THREADS, 24)                      # after the exporter, as cli.py orders them
        deadline = time.monotonic() + 30
        while len(gateway.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert re.search(r'kit_strategy_state\{[^}]*state="running"[^}]*\} 1\.0', gateway.requests[-1][2])
        observer.cell_finished(THREADS, record(THREADS))
        pusher.cell_finished(THREADS, record(THREADS))
        while len(gateway.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert re.search(r'kit_strategy_outcome\{[^}]*outcome="ok"[^}]*\} 1\.0', gateway.requests[-1][2])
    assert len(gateway.requests) == 4                         # and the final one


def test_a_closed_pusher_pushes_no_more(gateway: Gateway) -> None:
    pusher = Pusher(MetricsObserver(RUN).registry(), gateway.url, RUN, lambda text: None, interval_seconds=0.01)
    pusher.start()
    pusher.close()
    pushed = len(gateway.requests)
    pusher.close()
    time.sleep(0.1)
    assert len(gateway.requests) == pushed >= 2


def test_an_unreachable_gateway_is_one_warning_and_never_an_error() -> None:
    with Gateway() as closed:  # bound, then closed: nothing listens on its port any more
        url = closed.url
    warnings: list[str] = []
    with pushing(MetricsObserver(RUN).registry(), url, RUN, warnings.append, interval_seconds=0.01) as pusher:
        time.sleep(0.2)
    assert pusher.pushes == 0
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"cannot push metrics to the Pushgateway at {url} (") and "\n" not in warnings[0]


def test_a_gateway_that_refuses_warns_once_and_again_only_after_it_had_recovered(gateway: Gateway) -> None:
    gateway.status = 400
    warnings: list[str] = []
    pusher = Pusher(MetricsObserver(RUN).registry(), gateway.url, RUN, warnings.append)
    assert not pusher.push() and not pusher.push()
    assert len(warnings) == 1 and "400" in warnings[0]
    gateway.status = 200
    assert pusher.push()
    gateway.status = 500
    assert not pusher.push()
    assert len(warnings) == 2 and "500" in warnings[1]


@pytest.mark.parametrize(("text", "url"), [
    ("http://127.0.0.1:9091", "http://127.0.0.1:9091"),
    ("https://gateway.example:443/prefix/", "https://gateway.example:443/prefix"),
    ("127.0.0.1:9091", "http://127.0.0.1:9091"),
    ("gateway", "http://gateway"),
    ("http://[::1]:9091", "http://[::1]:9091"),
    (None, None),
    ("", None),
])
def test_pushgateway_urls(text: str | None, url: str | None) -> None:
    assert parse_pushgateway(text) == url
    assert build(pushgateway=text).pushgateway == url


@pytest.mark.parametrize("text", ["http://", "ftp://127.0.0.1:9091", "http://127.0.0.1:99999", "http://host:port",
                                  "http://127.0.0.1:9091/?x=1", "http://127.0.0.1:9091/#top", ":9091"])
def test_a_malformed_pushgateway_url_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="--pushgateway") as info:
        build(pushgateway=text)
    assert "\n" not in str(info.value) and info.value.exit_code == 2


def test_credentials_in_the_url_are_refused_not_recorded() -> None:
    with pytest.raises(ConfigError, match="credentials") as info:
        build(pushgateway="http://user:secret@127.0.0.1:9091")
    assert "secret" not in str(info.value)


@pytest.mark.parametrize("command", ["run", "sweep", "floor"])
def test_a_malformed_pushgateway_is_a_one_line_usage_error(command: str, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--pushgateway", "ftp://127.0.0.1:9091"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --pushgateway ftp://127.0.0.1:9091: not a Pushgateway URL") and err.count("\n") == 1
    monkeypatch.setenv("KIT_PUSHGATEWAY", "http://")   # the environment variable is checked the same way
    with pytest.raises(SystemExit) as exit_info:
        main([command])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: --pushgateway http://: not a Pushgateway URL")
