"""--skip-current (seed 004): an image whose output exists and is newer than its source is skipped.

The controller decides before the sandbox starts and gives the worker only the other items, so a
second run over a stable --output-dir does almost nothing, whatever the strategy (Go too).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kit.worker.protocol import ManifestEntry


def is_current(source: Path, output: Path) -> bool:
    """Seed 004's should_process, inverted: the output exists, is newer than the source, and is a
    complete JPEG (outputs are written under a temporary name and renamed, but a file truncated by
    anything else, an older kit on a full disk say, must be made again, not trusted)."""
    from kit.plan.input_check import jpeg_problem

    try:
        if output.stat().st_mtime <= source.stat().st_mtime:
            return False
        return jpeg_problem(output.read_bytes()) is None
    except OSError:
        return False


def split_current(entries: list[ManifestEntry], input_root: Path, output_dir: Path,
                  verified: Callable[[ManifestEntry, Path], bool] | None = None,
                  ) -> tuple[list[ManifestEntry], list[ManifestEntry]]:
    """(entries to process, entries skipped because their output is current). With `verified`
    (the record's own check against the reference outputs), an output that fails it is made again:
    a cut output with its end marker put back, or another image's output under the right name,
    is never trusted."""
    todo: list[ManifestEntry] = []
    skipped: list[ManifestEntry] = []
    for entry in entries:
        output = output_dir / entry.output
        current = (bool(entry.input) and is_current(input_root / entry.input, output)
                   and (verified is None or verified(entry, output)))
        (skipped if current else todo).append(entry)
    return todo, skipped
