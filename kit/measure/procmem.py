"""Per-process memory of a process tree, summed: RSS (cheap, over-counts shared pages) and
PSS (shared pages divided among their sharers; costs a page-table walk, so read it rarely)."""

from __future__ import annotations

import os
from pathlib import Path

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def rss_sum(pids: list[int], proc: Path = Path("/proc")) -> int:
    """Summed resident set size from /proc/PID/statm, in bytes."""
    total = 0
    for pid in pids:
        try:
            total += int((proc / str(pid) / "statm").read_text().split()[1]) * PAGE_SIZE
        except (OSError, ValueError, IndexError):
            pass  # the process ended between listing and reading
    return total


def pss_sum(pids: list[int], proc: Path = Path("/proc")) -> int | None:
    """Summed proportional set size from /proc/PID/smaps_rollup, in bytes; None if unreadable."""
    total, seen = 0, False
    for pid in pids:
        try:
            text = (proc / str(pid) / "smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) * 1024
                seen = True
                break
    return total if seen else None
