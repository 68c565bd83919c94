"""The report's workload section: what each item was, its unit, and the task workloads' verdicts.

The image study's claims and seed 000's table are about images, so a task workload (issue 8:
pi, count, payload, io) gets its own verdicts instead, each by a stated rule:
- pi / count: speedup = a strategy's throughput / python-sequential's at the same cap;
- payload: time per MiB moved = (work - sequential work) / (items_ok x bytes_moved_per_task / 2^20);
- io: concurrency gained = sequential work / the strategy's work, next to its workers,
  with the io server's start cost from the worker's `workload_session` notes.
Results written before workloads existed have none of these fields and read as images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kit.report import fmt
from kit.report.layout import Axes
from kit.results.summary import Summary

SEQUENTIAL = "python-sequential"
MIB = 2 ** 20
RULES = {
    "pi": "speedup = throughput / python-sequential's throughput at the same cap",
    "count": "speedup = throughput / python-sequential's throughput at the same cap",
    "payload": "time per MiB moved = (work − python-sequential's work) / (items ok × bytes moved per task / 2^20)",
    "io": "concurrency gained = python-sequential's work / the strategy's work, next to its workers",
}
SKIPPED_WHY = ("The study's three claims and seed 000's side-by-side table are about resizing images, "
               "so they are left out for the {name} workload; its own verdicts are below.")


@dataclass(frozen=True, slots=True)
class WorkloadInfo:
    """The results' `workload` section, with defaults for results that predate it."""

    name: str
    unit: str
    task: tuple[tuple[str, str], ...]
    calibration: str
    verification: str

    @property
    def is_task(self) -> bool:
        return self.name != "images"


def describe(data: dict[str, Any]) -> WorkloadInfo:
    """Name, unit, task parameters, pi calibration and verification rule of a results.json dict."""
    section = data.get("workload") if isinstance(data.get("workload"), dict) else {}
    assert isinstance(section, dict)
    records = data.get("results") if isinstance(data.get("results"), list) else []
    first = records[0] if records and isinstance(records[0], dict) else {}
    name = str(section.get("name") or (data.get("config") or {}).get("workload")
               or first.get("workload") or "images")
    unit = str(section.get("unit") or first.get("unit") or ("images" if name == "images" else "tasks"))
    task = section.get("task") if isinstance(section.get("task"), dict) else {}
    assert isinstance(task, dict)
    calibration = section.get("calibration")
    calibrated = ""
    languages = calibration.get("languages") if isinstance(calibration, dict) else None
    if isinstance(calibration, dict) and isinstance(languages, dict) and isinstance(languages.get("go"), dict):
        # seed 001: each language its own iterations for the same task time
        calibrated = (f"Python {languages.get('python', {}).get('iterations', '?')}, Go "
                      f"{languages['go'].get('iterations', '?')} iterations for about "
                      f"{calibration.get('target_seconds', '?')} s per task (Go "
                      f"{calibration.get('go_speed_per_iteration', '?')}× faster per iteration)")
    elif isinstance(calibration, dict):
        calibrated = (f"{calibration.get('iterations', '?')} iterations for about "
                      f"{calibration.get('target_seconds', '?')} s per task"
                      + (" (cached)" if calibration.get("cached") else ""))
    return WorkloadInfo(name, unit, tuple((str(k).replace("_", " "), str(v)) for k, v in sorted(task.items())),
                        calibrated, str(section.get("verification") or ""))


def _sequential(groups: Sequence[Summary], cap: int | None) -> Summary | None:
    """python-sequential at the same cap (it runs one worker whatever --workers says)."""
    for g in groups:
        if g.strategy == SEQUENTIAL and g.memory_limit_bytes == cap and g.ok:
            return g
    return None


def _work(group: Summary) -> float | None:
    value = group.timed_stat(lambda r: r.work_seconds)
    return value.median if value and group.ok else None


def _session_start(concurrency: dict[str, Any], strategy: str) -> str:
    workers = concurrency.get("workers") if isinstance(concurrency.get("workers"), dict) else {}
    assert isinstance(workers, dict)
    info = workers.get(strategy)
    notes = info.get("workload_session") if isinstance(info, dict) else None
    if not isinstance(notes, dict) or notes.get("start_seconds") is None:
        return "–"
    first = notes.get("first_answer_seconds")
    return fmt.seconds(float(notes["start_seconds"]) + (float(first) if first is not None else 0.0))


def verdicts(groups: Sequence[Summary], ax: Axes, info: WorkloadInfo,
             concurrency: dict[str, Any]) -> dict[str, Any]:
    """The rows of the workload verdict table, its columns and rule; empty for images."""
    if not info.is_task:
        return {"rows": [], "columns": [], "rule": "", "why": ""}
    rows = []
    for g in groups:
        seq = _sequential(groups, g.memory_limit_bytes)
        work, base = _work(g), (_work(seq) if seq else None)
        cells: list[str]
        if info.name == "payload":
            moved = g.records[0].bytes_moved_per_task
            items = min((r.items_ok for r in g.ok), default=0)
            per_mib = ((work - base) / (items * moved / MIB)
                       if work is not None and base is not None and moved and items else None)
            cells = [fmt.mib(moved) if moved is not None else "–", fmt.seconds(work),
                     "–" if per_mib is None else f"{per_mib * 1000:.2f} ms/MiB"]
        elif info.name == "io":
            gained = base / work if work and base is not None else None
            cells = [str(g.workers), fmt.seconds(work), fmt.ratio(gained),
                     _session_start(concurrency, g.strategy)]
        else:
            speed = g.throughput.median if g.throughput else None
            seq_speed = seq.throughput.median if seq and seq.throughput else None
            cells = [fmt.rate(speed), fmt.ratio(speed / seq_speed if speed and seq_speed else None)]
        rows.append({"label": ax.label(g), "cap": fmt.cap(g.memory_limit_bytes), "cells": cells,
                     "outcome": g.outcome.replace("_", " ")})
    columns = {"payload": ["Bytes moved per task", "Work", "Time per MiB moved"],
               "io": ["Workers", "Work", "Concurrency gained", "Server start"]}.get(
        info.name, [f"{info.unit}/s", "Speedup over sequential"])
    return {"rows": rows, "columns": columns, "rule": RULES.get(info.name, ""),
            "why": SKIPPED_WHY.format(name=info.name)}



IMAGE_ONLY = ("resolution", "generator_version", "source_dir", "distinct_inputs", "input_bytes_mean")


def inputs_shown(inputs: dict[str, Any], info: WorkloadInfo) -> dict[str, Any]:
    """The Inputs card: a task workload has no images, so their fields would only read as blanks;
    its name and task parameters are in the workload card."""
    if not info.is_task:
        return inputs
    return {k: v for k, v in inputs.items() if k not in IMAGE_ONLY + ("workload", "task")}
