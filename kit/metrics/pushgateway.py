"""Pushes a run's metrics to a Prometheus Pushgateway: the Prometheus way for a batch job.

While the run goes on, a thread pushes the run's registry every `PUSH_INTERVAL_SECONDS`, and at
once when a sandbox starts or ends (so a strategy killed within a second still shows it ran, and
its outcome arrives without waiting); `close()` stops it and pushes once more, with the final
outcomes. Every push replaces the run's group (HTTP PUT, prometheus_client's own
`push_to_gateway`) under the grouping key job="kit", run=<run id>: the `run` label every series
carries already, so pushed series read like scraped ones. The group stays in the gateway after
the run (the Pushgateway keeps a batch job's last outcome on purpose); docs/metrics.md says how
to delete old groups.

A push that fails is one warning line and never fails the run: the metrics are a view of the run,
results.json is its record. Only reads the registry; the observer's lock keeps each push consistent.
"""

from __future__ import annotations

import http.client
import threading
import urllib.error
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, push_to_gateway

from kit.plan.cells import Cell
from kit.results.observer import RunObserver
from kit.results.records import StrategyRecord

JOB = "kit"
# Prometheus scrapes the gateway every second (prometheus/prometheus.yml) and Grafana's
# $__rate_interval is then 4 s: a push every 2 s keeps two pushes in every rate window, for the
# price of one small PUT (a few kB).
PUSH_INTERVAL_SECONDS = 2.0
PUSH_TIMEOUT_SECONDS = 5.0   # a gateway that does not answer delays the run's end by at most this


def group_path(run_id: str) -> str:
    """The run's group below the gateway's URL (what `curl -X DELETE` takes to remove it)."""
    return f"/metrics/job/{JOB}/run/{run_id}"


class Pusher(RunObserver):
    """Pushes `registry` to the gateway at `url` until `close()`, which pushes the final values;
    as an observer (after the MetricsObserver), it pushes soon after a sandbox starts or ends.

    >>> pusher = Pusher(observer.registry(), "http://127.0.0.1:9091", run_id, warn=print)
    >>> pusher.start(); ...; pusher.close()
    """

    def __init__(self, registry: CollectorRegistry, url: str, run_id: str, warn: Callable[[str], None],
                 interval_seconds: float = PUSH_INTERVAL_SECONDS) -> None:
        self.registry, self.url, self.run_id, self.warn = registry, url, run_id, warn
        self.interval_seconds = interval_seconds
        self.pushes = 0          # successful pushes so far
        self._failing = False    # the last push failed: its warning is out, say nothing more until one works
        self._stop = threading.Event()
        self._soon = threading.Event()   # set by a sandbox's start or end, and by close()
        self._thread = threading.Thread(target=self._loop, name="kit-pushgateway", daemon=True)
        self._closed = False

    def start(self) -> None:
        """Push now (the run's group appears at once), then every interval in the background."""
        self.push()
        self._thread.start()

    def push(self) -> bool:
        """One push of the whole registry; a failure warns once per run of failures, never raises."""
        try:
            push_to_gateway(self.url, job=JOB, registry=self.registry, grouping_key={"run": self.run_id},
                            timeout=PUSH_TIMEOUT_SECONDS)
        except (OSError, http.client.HTTPException) as exc:  # URLError and the gateway's 4xx/5xx are OSErrors
            if not self._failing:
                self.warn(f"cannot push metrics to the Pushgateway at {self.url} ({_reason(exc)}); "
                          "the run goes on")
            self._failing = True
            return False
        self._failing = False
        self.pushes += 1
        return True

    def close(self) -> None:
        """Stop the periodic pushes and push the final values (once; later calls do nothing)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._soon.set()
        if self._thread.is_alive():
            self._thread.join()  # a periodic push in flight must not land after the final one
        self.push()

    def cell_started(self, cell: Cell, items_total: int) -> None:
        self._soon.set()   # the push itself runs on the pusher's thread, never the runner's

    def cell_finished(self, cell: Cell, record: StrategyRecord) -> None:
        self._soon.set()

    def _loop(self) -> None:
        while True:
            self._soon.wait(self.interval_seconds)
            self._soon.clear()
            if self._stop.is_set():
                return
            self.push()


def _reason(exc: BaseException) -> str:
    """One line: the gateway's answer (status and its first words), or the connection's error."""
    if isinstance(exc, urllib.error.HTTPError):
        try:
            said = " ".join(exc.read(300).decode(errors="replace").split())
        except OSError:
            said = ""
        return f"HTTP {exc.code} {exc.reason}" + (f": {said}" if said else "")
    reason = getattr(exc, "reason", None)  # URLError wraps the socket's error
    return str(reason if reason is not None else exc) or type(exc).__name__


@contextmanager
def pushing(registry: CollectorRegistry, url: str, run_id: str, warn: Callable[[str], None],
            interval_seconds: float = PUSH_INTERVAL_SECONDS) -> Iterator[Pusher]:
    """Push while the block runs and once more when it ends, however it ends."""
    pusher = Pusher(registry, url, run_id, warn, interval_seconds)
    pusher.start()
    try:
        yield pusher
    finally:
        pusher.close()
