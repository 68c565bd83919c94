"""Seed 001's serialization test: every task gets one large string and returns its length.

The string is built once in the worker's main process (outside the timed work) and handed to
every task as its argument, so a strategy that pickles arguments to other processes copies it
once per task while threads and the sequential loop pass a reference.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from kit.workloads.base import Item, ItemFailed, Session, write_result

# What the worker itself needs beside the string (interpreter, kit, a pool's bookkeeping):
# a cap below size + this can never hold the payload, so the run is refused before it starts.
PAYLOAD_OVERHEAD_BYTES = 32 * 2**20


def check(task: Mapping[str, Any], name: str, text: str) -> str | None:
    """None when the task returned the payload's length."""
    expected = int(task["size_bytes"])
    return None if text.strip() == str(expected) else f"length {text.strip()[:20]!r}, expected {expected}"


class PayloadWorkload:
    name = "payload"

    def setup(self) -> None:
        pass

    def process(self, item: Item) -> None:
        if not isinstance(item.argument, str):
            raise ItemFailed("no payload: the worker's session did not run")
        write_result(item, len(item.argument))

    @contextmanager
    def session(self, items: Sequence[Item]) -> Iterator[Session]:
        size = int(items[0].task["size_bytes"]) if items else 0
        started = time.monotonic()
        payload = "1" * size   # one str shared by every item: copies happen only where a strategy makes them
        yield Session(argument=payload, notes={"payload_bytes": size,
                                               "build_seconds": round(time.monotonic() - started, 4)})
