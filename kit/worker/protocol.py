"""The worker contract, language-neutral: a manifest in, JSON lines out on stdout.

A worker (Python or Go) gets `--manifest FILE --input-root DIR --output-dir DIR --workers N`,
and prints one JSON object per line:

    {"event": "start", "pid": 12, "workers": 4, "concurrency": {...}}
    {"event": "item", "index": 0, "name": "a.jpg", "ok": true, "start": 0.51, "end": 0.58,
     "stages": {"read": 0.0004, "decode": 0.045, "resize": 0.003, "encode": 0.008, "write": 0.0006}}
    {"event": "item", "index": 1, "name": "b.jpg", "ok": false, "reason": "truncated JPEG", ...}
    {"event": "sample", "t_seconds": 0.75, "usage_bytes": ..., "working_set_bytes": ..., ...}
    {"event": "done", "items_ok": 1, "items_failed": 1}

The manifest is `{"items": [{"name", "input", "output"[, "task"][, "problem"]}, ...]}`. Image items
name an input file; a task workload's items (pi, count, payload, io) have `input` "" and a `task`
object with that task's parameters (e.g. `{"iterations": 2500000}`), and write their result as text.
`problem` is the controller's verdict on a bad input (kit/plan/input_check.py): the worker reports that
item failed with this reason without touching it, as an item event with `"rejected": true`, which
the controller leaves out of the work window (first item start to last item end).

`sample` events come from the worker's own sampler (kit/worker/sampler.py, every `--sample-interval-ms`):
the kernel's figures of the worker's own cgroup read from inside, so that a runtime whose cgroup
the controller cannot read (a pod on a remote node) is measured all the same; the last one is
written just before `done`. `sampler_cpu_seconds` is what the sampling itself has cost so far.

`stages` (images: read, decode, resize, encode, write; payload: serialize, transfer, deserialize)
are the CPU seconds of each stage of that item on the thread that did it, present on items that
finished (kit/worker/workloads/base.py StageClock; Go the same); the controller sums them into the record's
`stage_seconds`.

`start`/`end`/`t_seconds` are seconds on the worker's own clock from its start; the controller needs only
differences. Progress needs no network, so sandboxes run with none, and a killed worker's last
state is whatever lines arrived before it died.
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kit.worker.workloads.base import Item


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One item: `input` relative to the input root ("" for a task), `output` a file name in the
    output dir, `task` a task's parameters (None for an image)."""

    name: str
    input: str
    output: str
    task: dict[str, Any] | None = None
    problem: str | None = None   # the controller's verdict: why this input fails (None: a good input)


def manifest_json(entries: list[ManifestEntry]) -> str:
    items = [{k: v for k, v in asdict(entry).items() if k not in ("task", "problem") or v is not None}
             for entry in entries]
    return json.dumps({"items": items})


def write_manifest(path: Path, entries: list[ManifestEntry]) -> None:
    path.write_text(manifest_json(entries), encoding="utf-8")


def pack(text: str) -> str:
    """A manifest as it travels in a pod spec (an environment value): gzip, then base64. Item names
    repeat, so 200 items take about 1 KiB."""
    return base64.b64encode(gzip.compress(text.encode("utf-8"), mtime=0)).decode("ascii")


def unpack(packed: str) -> str:
    return gzip.decompress(base64.b64decode(packed)).decode("utf-8")


def read_manifest(path: Path, input_root: Path, output_dir: Path) -> list[Item]:
    """The items as the worker sees them, with paths inside its sandbox."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [Item(index=i, name=entry["name"],
                 input_path=str(input_root / entry["input"]) if entry["input"] else "",
                 output_path=str(output_dir / entry["output"]), task=dict(entry.get("task") or {}),
                 problem=entry.get("problem"))
            for i, entry in enumerate(data["items"])]


@dataclass(frozen=True, slots=True)
class ItemEvent:
    index: int
    name: str
    ok: bool
    start: float
    end: float
    reason: str | None = None
    rejected: bool = False    # failed by the controller's verdict, never processed (not in the work window)
    stages: dict[str, float] | None = None   # CPU seconds per stage on the working thread (see above)


@dataclass(frozen=True, slots=True)
class StartEvent:
    pid: int
    workers: int
    concurrency: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DoneEvent:
    items_ok: int
    items_failed: int


@dataclass(frozen=True, slots=True)
class SampleEvent:
    """The worker's own cgroup, read from inside (kit/measure/cgroupstat.py's CgroupStats, plus when)."""

    t_seconds: float                 # on the worker's clock, as item start/end
    usage_bytes: int
    working_set_bytes: int           # usage minus inactive file cache
    peak_usage_bytes: int | None     # the kernel's watermark (v1 max_usage_in_bytes, v2 memory.peak)
    cpu_seconds: float               # the whole group's, as the kernel counts it
    throttled_seconds: float
    throttled_periods: int
    oom_kills: int
    sampler_cpu_seconds: float = 0.0  # the sampler thread's own CPU so far (its cost)


Event = ItemEvent | StartEvent | DoneEvent | SampleEvent


def parse_event(line: str) -> Event | None:
    """One stdout line -> event; anything else (a library's chatter) is None."""
    try:
        data = json.loads(line)
        kind = data.pop("event")
        if kind == "item":
            return ItemEvent(index=int(data["index"]), name=str(data["name"]), ok=bool(data["ok"]),
                             start=float(data["start"]), end=float(data["end"]), reason=data.get("reason"),
                             rejected=bool(data.get("rejected", False)), stages=_stages(data.get("stages")))
        if kind == "start":
            return StartEvent(pid=int(data["pid"]), workers=int(data["workers"]),
                              concurrency=dict(data.get("concurrency", {})))
        if kind == "done":
            return DoneEvent(items_ok=int(data["items_ok"]), items_failed=int(data["items_failed"]))
        if kind == "sample":
            peak = data.get("peak_usage_bytes")
            return SampleEvent(t_seconds=float(data["t_seconds"]), usage_bytes=int(data["usage_bytes"]),
                               working_set_bytes=int(data["working_set_bytes"]),
                               peak_usage_bytes=None if peak is None else int(peak),
                               cpu_seconds=float(data["cpu_seconds"]),
                               throttled_seconds=float(data.get("throttled_seconds", 0.0)),
                               throttled_periods=int(data.get("throttled_periods", 0)),
                               oom_kills=int(data.get("oom_kills", 0)),
                               sampler_cpu_seconds=float(data.get("sampler_cpu_seconds", 0.0)))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return None


def _stages(raw: object) -> dict[str, float] | None:
    """An item's stages as a worker wrote them; anything else (absent, malformed) is None."""
    if not isinstance(raw, dict):
        return None
    return {str(name): float(seconds) for name, seconds in raw.items()}


def format_event(event: Event) -> str:
    """Event -> one JSON line (the worker's side)."""
    kind = {ItemEvent: "item", StartEvent: "start", DoneEvent: "done", SampleEvent: "sample"}[type(event)]
    payload = {"event": kind, **asdict(event)}
    if payload.get("reason") is None:
        payload.pop("reason", None)
    if not payload.get("rejected", True):
        payload.pop("rejected")
    if "stages" in payload:
        if payload["stages"] is None:
            payload.pop("stages")
        else:   # microseconds are plenty, and keep the line short
            payload["stages"] = {name: round(seconds, 6) for name, seconds in payload["stages"].items()}
    return json.dumps(payload, separators=(",", ":"))
