"""Seed 002's I/O-bound case without the internet: each task makes one HTTP GET to a server on
the sandbox's own loopback that answers after a fixed delay.

Sandboxes have no network, but loopback exists even under `--network none`, so the worker's
session starts the server (outside the timed work, cost recorded) and stops it after the batch.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kit.worker.workloads.base import Item, ItemFailed, Session, write_result

REQUEST_TIMEOUT_SECONDS = 60.0


def expected_body(name: str) -> str:
    """The server echoes the path: each task checks it got its own answer."""
    return f"ok /{name}"


def check(task: Mapping[str, Any], name: str, text: str) -> str | None:
    """None when the task got the server's answer to its own request."""
    return None if text.strip() == expected_body(name) else f"body {text.strip()[:40]!r}"


class _DelayedServer(ThreadingHTTPServer):
    daemon_threads = True    # a request still sleeping when the batch ends does not hold up the stop
    delay_seconds = 0.0


class _Handler(BaseHTTPRequestHandler):
    server: _DelayedServer
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        time.sleep(self.server.delay_seconds)
        body = f"ok {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # stdout is the worker's progress channel, stderr its error channel


@contextmanager
def delayed_server(delay_seconds: float) -> Iterator[Session]:
    """A loopback HTTP server on a free port; its address is every task's argument."""
    started = time.monotonic()
    server = _DelayedServer(("127.0.0.1", 0), _Handler)
    server.delay_seconds = delay_seconds
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="kit-io-server", daemon=True)
    thread.start()
    address = f"127.0.0.1:{server.server_address[1]}"
    bound = time.monotonic()
    try:
        fetch(address, "kit-probe")   # it answers before the first task is timed
        notes = {"server": "http.server.ThreadingHTTPServer", "address": address,
                 "delay_seconds": delay_seconds, "start_seconds": round(bound - started, 4),
                 "first_answer_seconds": round(time.monotonic() - bound, 4)}
        yield Session(argument=address, notes=notes)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5.0)


def fetch(address: str, name: str) -> str:
    """One GET through http.client (no proxy settings apply to loopback this way)."""
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=REQUEST_TIMEOUT_SECONDS)
    try:
        connection.request("GET", f"/{name}")
        response = connection.getresponse()
        body = response.read().decode("utf-8", "replace")
        if response.status != 200:
            raise ItemFailed(f"HTTP {response.status}")
        return body
    except OSError as exc:
        raise ItemFailed(f"request failed: {exc}") from exc
    finally:
        connection.close()


class IoWorkload:
    name = "io"

    def setup(self) -> None:
        pass

    def process(self, item: Item) -> None:
        if not isinstance(item.argument, str):
            raise ItemFailed("no server address: the worker's session did not run")
        write_result(item, fetch(item.argument, item.name))

    def session(self, items: Sequence[Item]) -> AbstractContextManager[Session]:
        delay = float(items[0].task["delay_seconds"]) if items else 0.0
        return delayed_server(delay)
