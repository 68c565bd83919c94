"""The worker contract: a manifest in, one JSON object per stdout line out (Python and Go alike)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kit.worker.protocol import (
    DoneEvent,
    Event,
    ItemEvent,
    ManifestEntry,
    StartEvent,
    format_event,
    parse_event,
    read_manifest,
    write_manifest,
)
from kit.worker.workloads.base import Item

EVENTS: list[Event] = [
    StartEvent(pid=4242, workers=4, concurrency={"start_method": "fork", "opencv_threads": 1}),
    ItemEvent(index=0, name="a.jpg", ok=True, start=0.51, end=0.58),
    ItemEvent(index=1, name="b ü \"q\".jpg", ok=False, start=0.6, end=0.61, reason="truncated JPEG"),
    DoneEvent(items_ok=1, items_failed=1),
    ItemEvent(index=2, name="bomb.jpg", ok=False, start=0.1, end=0.1, reason="too large", rejected=True),
    ItemEvent(index=3, name="c.jpg", ok=True, start=0.7, end=0.8,
              stages={"read": 0.0004, "decode": 0.045, "resize": 0.003, "encode": 0.008, "write": 0.0006}),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_round_trip(event: Event) -> None:
    line = format_event(event)
    assert "\n" not in line                       # one event, one line
    assert parse_event(line) == event
    assert parse_event(line + "\n") == event      # as read from a pipe


def test_wire_format() -> None:
    """Exactly what a Go worker must print too."""
    assert json.loads(format_event(EVENTS[1])) == {"event": "item", "index": 0, "name": "a.jpg", "ok": True,
                                                   "start": 0.51, "end": 0.58}
    assert json.loads(format_event(EVENTS[2]))["reason"] == "truncated JPEG"
    assert json.loads(format_event(EVENTS[3])) == {"event": "done", "items_ok": 1, "items_failed": 1}
    assert json.loads(format_event(EVENTS[0]))["event"] == "start"
    assert "rejected" not in json.loads(format_event(EVENTS[2]))       # written only when true
    assert json.loads(format_event(EVENTS[4]))["rejected"] is True
    assert "stages" not in json.loads(format_event(EVENTS[1]))         # written only when measured
    assert json.loads(format_event(EVENTS[5]))["stages"] == {"read": 0.0004, "decode": 0.045, "resize": 0.003,
                                                             "encode": 0.008, "write": 0.0006}


def test_go_style_lines_parse() -> None:
    """Integers where Python writes floats, keys in another order, extra keys: all fine."""
    line = '{"end": 2, "start": 1, "ok": true, "name": "x.jpg", "index": 3, "event": "item", "extra": 1}'
    assert parse_event(line) == ItemEvent(index=3, name="x.jpg", ok=True, start=1.0, end=2.0)
    go = ('{"event":"item","index":0,"name":"y.jpg","ok":true,"start":1,"end":2,'
          '"stages":{"read":0,"decode":0.04,"resize":0.003,"encode":0.01,"write":0.001}}')
    assert parse_event(go).stages == {"read": 0.0, "decode": 0.04, "resize": 0.003,  # type: ignore[union-attr]
                                      "encode": 0.01, "write": 0.001}
    start = StartEvent(pid=1, workers=2, concurrency={})
    assert parse_event('{"event":"start","pid":1,"workers":2}') == start


@pytest.mark.parametrize("line", [
    "", "\n", "hello from a library", "[ WARN:0@0.1] global loadsave.cpp", "{", "[]", "42", "null",
    '"item"', '{"event": "item"}',
    '{"event": "item", "index": "x", "name": "a", "ok": true, "start": 0, "end": 1}',
    '{"event": "bogus", "pid": 1}', '{"no": "event"}', '{"event": "done", "items_ok": 1}',
    '{"event": "start", "pid": 1, "workers": 2, "concurrency": 5}',
])
def test_anything_else_is_not_an_event(line: str) -> None:
    assert parse_event(line) is None


def test_manifest_write_read(tmp_path: Path) -> None:
    entries = [ManifestEntry(name="photo 1.jpg", input="src/photo 1.jpg", output="0000.jpg"),
               ManifestEntry(name="b.jpg", input="b.jpg", output="0001.jpg")]
    manifest = tmp_path / "manifest.json"
    write_manifest(manifest, entries)
    items = read_manifest(manifest, Path("/in"), Path("/out"))
    assert items == [
        Item(index=0, name="photo 1.jpg", input_path="/in/src/photo 1.jpg", output_path="/out/0000.jpg"),
        Item(index=1, name="b.jpg", input_path="/in/b.jpg", output_path="/out/0001.jpg"),
    ]


def test_manifest_carries_the_controllers_verdicts(tmp_path: Path) -> None:
    """A bad input's reason travels to the worker; good inputs carry no key at all."""
    entries = [ManifestEntry(name="a.jpg", input="a.jpg", output="a.jpg"),
               ManifestEntry(name="bomb.jpg", input="bomb.jpg", output="bomb.jpg", problem="too large")]
    manifest = tmp_path / "manifest.json"
    write_manifest(manifest, entries)
    assert [sorted(item) for item in json.loads(manifest.read_text())["items"]] == [
        ["input", "name", "output"], ["input", "name", "output", "problem"]]
    items = read_manifest(manifest, Path("/in"), Path("/out"))
    assert [item.problem for item in items] == [None, "too large"]
