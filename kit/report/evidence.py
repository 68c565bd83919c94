"""Whether the records under a verdict can carry it.

A claim is decided only on figures that can carry it; otherwise it is inconclusive, with the reason
named and the one option that would decide it (docs/measurement.md, "Verdicts"):
- contended: a record it uses ran on a busy machine (kit/measure/contention.py's `contended`);
- too short: a record it uses has under MIN_WORK_SECONDS of work, where start-up and one slow item
  weigh as much as the pipeline (an 8-image 1080p run works under a second);
- spread across the bar: over repetitions, the paired ratios fall on both sides of the rule's bar;
- unlike builds (claim 3): its two sides ran different OpenCV versions or JPEG libraries.

Reads summaries only (the report reads results only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from kit.results.records import StrategyRecord
from kit.results.summary import Summary

MIN_WORK_SECONDS = 2.0
# --images for a re-run that works long enough: the batch scaled to this many seconds of work
TARGET_WORK_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class Doubt:
    """Why a verdict cannot be stamped, and what would decide it."""

    reason: str     # starts with its kind: "contended", "too short", "spread across the bar", "unlike builds"
    command: str    # the one change to the run that would decide it

    def text(self) -> str:
        return f"{self.reason}; {self.command}"


def _name(group: Summary) -> str:
    return f"{group.strategy} ×{group.workers}"


def contended(groups: Sequence[Summary]) -> Doubt | None:
    """A record the verdict uses shared the machine beyond the recorded threshold."""
    busy = [(g, r) for g in groups for r in g.timed if r.contended]
    if not busy:
        return None
    names = " and ".join(dict.fromkeys(_name(g) for g, _ in busy))
    taken = sum((r.other_cpu_seconds or 0.0) + (r.steal_seconds or 0.0) for _, r in busy)
    return Doubt(f"contended: {names} ran on a busy machine (other work took {taken:.1f} CPU-s beside "
                 f"{'it' if len(busy) == 1 else 'them'})",
                 "re-run on a quiet machine with --retry-contended 3")


def images_for(record: StrategyRecord) -> int:
    """A batch that would give about TARGET_WORK_SECONDS of work, in multiples of 8."""
    work = max(record.work_seconds or 0.0, 0.01)
    wanted = record.items_total * TARGET_WORK_SECONDS / work
    return max(8, math.ceil(wanted / 8) * 8)


def too_short(groups: Sequence[Summary]) -> Doubt | None:
    """A record the verdict uses worked under MIN_WORK_SECONDS."""
    short = [(g, r) for g in groups for r in g.timed
             if r.work_seconds is not None and r.work_seconds < MIN_WORK_SECONDS]
    if not short:
        return None
    group, record = min(short, key=lambda pair: pair[1].work_seconds or 0.0)
    unit = record.unit or "items"
    return Doubt(f"too short: {_name(group)} worked {record.work_seconds:.2f} s, under the "
                 f"{MIN_WORK_SECONDS:g} s of work a verdict needs",
                 f"run more {unit}, e.g. --images {images_for(record)}")


def across(ratios: Sequence[float], bar: float, what: str) -> Doubt | None:
    """Repetitions' paired ratios on both sides of the bar."""
    if len(ratios) < 2 or not min(ratios) < bar <= max(ratios):
        return None
    return Doubt(f"spread across the bar: {what} ranged {min(ratios):.2f}–{max(ratios):.2f}× over "
                 f"{len(ratios)} repetitions, against {bar:.1f}×",
                 "re-run with --repeat 5 on a quiet machine")


def build_of(group: Summary) -> tuple[str | None, str | None]:
    """(OpenCV or library version, JPEG library) its completed records ran; None where unrecorded
    or where repetitions disagree."""
    versions = {r.library_version for r in group.ok}
    jpegs = {r.jpeg_library for r in group.ok}
    return (next(iter(versions)) if len(versions) == 1 else None,
            next(iter(jpegs)) if len(jpegs) == 1 else None)


def describe_build(build: tuple[str | None, str | None]) -> str:
    version, jpeg = build
    return f"OpenCV {version or 'unrecorded'} with {jpeg or 'an unrecorded JPEG library'}"


UNLIKE_COMMAND = ("run both in the worker image, where they share one OpenCV build: --runtime docker "
                  "(after kit build); on Debian 12 or Ubuntu 24.04, kit setup --with-deps gives the "
                  "cgroup runtime the same")


def unlike_builds(gocv: Summary, python: Summary) -> Doubt | None:
    """Claim 3's two sides must decode, resize and encode with the same OpenCV and JPEG library."""
    ours, theirs = build_of(gocv), build_of(python)
    if ours == theirs and None not in ours:
        return None
    return Doubt(f"unlike builds: {_name(gocv)} ran {describe_build(ours)}, {_name(python)} ran "
                 f"{describe_build(theirs)}", UNLIKE_COMMAND)


def doubt(groups: Sequence[Summary], ratios: Sequence[float], bar: float, what: str,
          extra: Doubt | None = None) -> Doubt | None:
    """The first reason the groups' records cannot carry a verdict on `ratios` against `bar`:
    contention, then work time, then `extra` (a claim's own), then the spread."""
    return contended(groups) or too_short(groups) or extra or across(ratios, bar, what)
