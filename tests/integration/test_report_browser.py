"""The report in a real browser: Debian's headless Chromium opens report.html from file://.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe: JSON messages
separated by NUL bytes on fds 3 and 4), so no websocket library and no port are needed. The test
collects console messages, uncaught exceptions, browser log errors and every network request,
then takes a full-page screenshot 1280 pixels wide.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from kit.report import write_report
from tests.conftest import need
from tests.integration.kitrun import kit, kit_env

DATA = Path(__file__).resolve().parent.parent / "data" / "results"
WIDTH = 1280
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe"]


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """A headless Chromium and one page, spoken to over the DevTools pipe."""

    def __init__(self, binary: str, profile: Path) -> None:
        commands_r, self._commands_w = os.pipe()
        self._replies_r, replies_w = os.pipe()

        def fds() -> None:  # Chromium reads commands on fd 3 and writes replies on fd 4
            os.dup2(commands_r, 3)
            os.dup2(replies_w, 4)

        self.process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"], preexec_fn=fds, pass_fds=(3, 4),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(commands_r)
        os.close(replies_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> dict[str, Any]:
        """One command; events that arrive meanwhile are kept in `events`."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._commands_w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                return event
        deadline = time.monotonic() + timeout
        while True:
            event = self._read(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._replies_r], [], [], max(left, 0))
            if not ready:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._replies_r, 1 << 20)
            if not chunk:
                stderr = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise AssertionError(f"Chromium closed the DevTools pipe: {stderr[-2000:]}")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": WIDTH, "height": 900, "deviceScaleFactor": 1, "mobile": False})
        self.send("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")

    def screenshot(self, path: Path) -> None:
        """The whole page, WIDTH pixels wide."""
        height = self.send("Runtime.evaluate", {
            "expression": "Math.ceil(document.documentElement.scrollHeight)", "returnByValue": True,
        })["result"]["value"]
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": WIDTH, "height": int(height), "deviceScaleFactor": 1, "mobile": False})
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        path.write_bytes(base64.b64decode(data))

    def evaluate(self, expression: str) -> Any:
        return self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})["result"]["value"]

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions, browser log errors, and any request that
        is not to a file: or data: URL (the page must need no network)."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
                found.append(f"console.{params['type']}: {params.get('args')}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {params.get('exceptionDetails')}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
                found.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
            elif method == "Network.requestWillBeSent":
                url = params.get("request", {}).get("url", "")
                if not url.startswith(("file:", "data:", "about:")):
                    found.append(f"network request: {url}")
            elif method == "Network.loadingFailed":
                found.append(f"load failed: {params.get('errorText')}")
        return found

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (AssertionError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._commands_w, self._replies_r):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[Browser]:
    binary = chromium_binary()
    need(None if binary else "chromium is not installed (apt-get install -y chromium)")
    assert binary
    with tempfile.TemporaryDirectory(prefix="kit-chromium-") as profile:
        chrome = Browser(binary, Path(profile))
        try:
            yield chrome
        finally:
            chrome.close()


def open_report(browser: Browser, fixture: str, tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(DATA / fixture, run_dir / "results.json")
    report = write_report(run_dir)
    browser.open(report.resolve().as_uri())
    return report


# a sweep over workers adds the scaling chart and the speedup chart (speedup over one worker); records
# with stage_seconds add the stage chart
CHARTS = {"real_oom_repeats.json": 4, "sweep_every_strategy.json": 6,
          "sweep_two_caps_floors.json": 6, "contended_stages.json": 5}


@pytest.mark.parametrize("fixture", list(CHARTS))
@pytest.mark.browser
def test_report_opens_from_file_without_errors_and_is_not_blank(browser: Browser, fixture: str,
                                                               tmp_path: Path) -> None:
    open_report(browser, fixture, tmp_path)
    shot = tmp_path / "report.png"
    browser.screenshot(shot)
    assert browser.problems() == []
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[1] == WIDTH
    assert image.shape[0] > 2000  # the whole page, not one screen
    # Not blank: many distinct colours, and the charts drew shapes that have a size.
    assert len(np.unique(image.reshape(-1, 3)[::97], axis=0)) > 50
    assert float(image.std()) > 20
    sizes = browser.evaluate("[...document.querySelectorAll('svg.chart')]"
                             ".map(s => Math.round(s.getBoundingClientRect().width))")
    assert len(sizes) == CHARTS[fixture] and min(sizes) > 300
    text = browser.evaluate("document.body.innerText")
    assert "The study's claims on this machine" in text and "Reproduce" in text
    # readable on a laptop: nothing wider than the window, no table needing a sideways scroll
    assert browser.evaluate("document.documentElement.scrollWidth") <= WIDTH
    assert browser.evaluate("[...document.querySelectorAll('.table-wrap')]"
                            ".filter(e => e.scrollWidth > e.clientWidth + 1).length") == 0
    if os.environ.get("KIT_REPORT_SHOT"):  # keep a screenshot to look at
        shutil.copy(shot, Path(os.environ["KIT_REPORT_SHOT"]) / fixture.replace(".json", ".png"))


@pytest.mark.browser
def test_hostile_file_name_is_text_in_the_browser(browser: Browser, tmp_path: Path) -> None:
    """The page has no script, no image and no handler: the name is shown, never run."""
    open_report(browser, "real_oom_repeats.json", tmp_path)
    assert browser.evaluate("document.images.length") == 0
    assert browser.evaluate("document.scripts.length") == 0
    assert browser.evaluate("document.querySelectorAll('[onerror]').length") == 0
    assert "<img src=x onerror=alert(1)>.jpg" in browser.evaluate("document.body.innerText")
    assert browser.problems() == []


@pytest.mark.cgroup
@pytest.mark.usefixtures("cgroups")
@pytest.mark.browser
def test_kit_run_writes_the_report_and_prints_its_path(browser: Browser, tmp_path: Path, cache_dir: Path) -> None:
    """A real small run, end to end: the report is beside results.json and opens cleanly."""
    run = kit(["run", "-s", "python-sequential", "-s", "python-threads", "--images", "6", "--distinct-images", "2",
               "--resolution", "720p", "--workers", "2", "--mem-limit", "512m", "--runtime", "cgroup"],
              tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    report = run.run_dir / "report.html"
    assert f"report: {report}" in run.stdout
    browser.open(report.resolve().as_uri())
    assert browser.problems() == []
    text = browser.evaluate("document.body.innerText")
    assert "python-threads" in text and "512 MiB" in text and run.results["run_id"] in text


@pytest.mark.cgroup
@pytest.mark.usefixtures("cgroups")
def test_an_interrupted_run_reports_what_completed(tmp_path: Path, cache_dir: Path) -> None:
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "kit", "run", "-s", "python-sequential", "--images", "2000", "--distinct-images", "2",
         "--resolution", "720p", "--runtime", "cgroup", "--out", str(out), "--metrics-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=kit_env(cache_dir))
    deadline = time.monotonic() + 120
    while not list(out.glob("*/results.json")) and time.monotonic() < deadline:  # saved as the first starts
        time.sleep(0.1)
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stdout + stderr
    report = next(out.iterdir()) / "report.html"
    assert report.is_file() and f"report: {report}" in stdout
    page = report.read_text(encoding="utf-8")
    assert "This run was interrupted" in page and "python-sequential" in page


# Every pair of texts in one chart whose rendered boxes intersect by more than a pixel each way.
OVERLAPPING_LABELS = """
[...document.querySelectorAll('svg.chart')].flatMap(svg => {
  const boxes = [...svg.querySelectorAll('text')].map(t => [t.textContent, t.getBoundingClientRect()])
    .filter(([, r]) => r.width > 0 && r.height > 0);
  const found = [];
  boxes.forEach(([a, r], i) => boxes.slice(i + 1).forEach(([b, q]) => {
    const dx = Math.min(r.right, q.right) - Math.max(r.left, q.left);
    const dy = Math.min(r.bottom, q.bottom) - Math.max(r.top, q.top);
    if (dx > 1 && dy > 1) found.push(`${svg.getAttribute('aria-label')}: "${a}" over "${b}"`);
  }));
  return found;
})
"""


def gigabytes_of_memory(tmp_path: Path) -> str:
    """real_oom_repeats.json with its memory figures x10 and no cap: the ticks reach "2,000", four
    digits beside the timeline's rotated axis title and under the peak memory chart's."""
    data = json.loads((DATA / "real_oom_repeats.json").read_text())
    for record in data["results"]:
        record["memory_limit_bytes"] = None
        record["peak_memory_bytes"] = record["peak_memory_bytes"] * 10 + 1500 * 2**20
        record["samples"] = [{**s, "working_set_bytes": s["working_set_bytes"] * 10 + 1500 * 2**20}
                             for s in record["samples"]]
    (tmp_path / "wide.json").write_text(json.dumps(data))
    return str(tmp_path / "wide.json")


@pytest.mark.parametrize("fixture", [*CHARTS, "wide ticks"])
@pytest.mark.browser
def test_chart_labels_do_not_overlap(browser: Browser, fixture: str, tmp_path: Path) -> None:
    """Issue 26: tick, axis, cap and OOM-kill labels each readable, measured in the browser's own fonts."""
    open_report(browser, gigabytes_of_memory(tmp_path) if fixture == "wide ticks" else fixture, tmp_path)
    assert browser.evaluate("document.querySelectorAll('svg.chart text').length") > 20
    assert browser.evaluate(OVERLAPPING_LABELS) == []


@pytest.mark.browser
def test_result_cards_start_below_the_contention_box(browser: Browser, tmp_path: Path) -> None:
    """Issue 26: on a busy machine the box is one sentence, its details folded, and the headline
    cards start below it, folded or open."""
    open_report(browser, "contended_stages.json", tmp_path)
    gap = ("document.querySelector('.cards').getBoundingClientRect().top"
           " - document.getElementById('contention-warning').getBoundingClientRect().bottom")
    folded = browser.evaluate("document.getElementById('contention-warning').getBoundingClientRect().height")
    assert browser.evaluate(gap) >= 8 and folded < 120
    browser.evaluate("document.querySelector('#contention-warning details').open = true")
    assert browser.evaluate("document.getElementById('contention-warning').getBoundingClientRect().height") > folded
    assert browser.evaluate(gap) >= 8
    marks = browser.evaluate("[...document.querySelectorAll('#results .pill.contended')].length")
    assert marks == 4
