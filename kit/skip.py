"""--skip-current (seed 004): an image whose output exists and is newer than its source is skipped.

The controller decides before the sandbox starts and gives the worker only the other items, so a
second run over a stable --output-dir does almost nothing, whatever the strategy (Go too).
"""

from __future__ import annotations

from pathlib import Path

from kit.protocol import ManifestEntry


def is_current(source: Path, output: Path) -> bool:
    """Seed 004's should_process, inverted: the output exists, is newer than the source, and is a
    complete JPEG (outputs are written under a temporary name and renamed, but a file truncated by
    anything else, an older kit on a full disk say, must be made again, not trusted)."""
    from kit.input_check import jpeg_problem

    try:
        if output.stat().st_mtime <= source.stat().st_mtime:
            return False
        return jpeg_problem(output.read_bytes()) is None
    except OSError:
        return False


def split_current(entries: list[ManifestEntry], input_root: Path,
                  output_dir: Path) -> tuple[list[ManifestEntry], list[ManifestEntry]]:
    """(entries to process, entries skipped because their output is current)."""
    todo: list[ManifestEntry] = []
    skipped: list[ManifestEntry] = []
    for entry in entries:
        current = bool(entry.input) and is_current(input_root / entry.input, output_dir / entry.output)
        (skipped if current else todo).append(entry)
    return todo, skipped
