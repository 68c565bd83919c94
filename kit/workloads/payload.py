"""Seed 001's serialization test: every task gets one large string and returns its length.

The string is built once in the worker's main process (outside the timed work) and handed to
every task as its argument, so a strategy that pickles arguments to other processes copies it
once per task while threads and the sequential loop pass a reference.

Each task returns the length and a digest of what it received (Go's tasks the same, in
kit/go/internal/tasks): sha256 of every DIGEST_STRIDE-th character and the last one. Sampled on
purpose: a digest of all 10^8 characters would cost every task 0.1-0.3 s in both languages, more
than Go's whole task, and the figure would measure hashing instead of handing the string over;
the sample costs microseconds and still tells a whole, right string from a cut or altered one
(the length catches a cut, the sample a string rebuilt or garbled on the way).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from kit.workloads.base import Item, ItemFailed, Session, write_result

# What the worker itself needs beside the string (interpreter, kit, a pool's bookkeeping):
# a cap below size + this can never hold the payload, so the run is refused before it starts.
PAYLOAD_OVERHEAD_BYTES = 32 * 2**20


DIGEST_STRIDE = 4096
PAYLOAD_CHAR = "1"   # seed 001's string: "1" repeated


def build(size: int) -> str:
    """Seed 001's payload of `size` characters."""
    return PAYLOAD_CHAR * size


def digest(payload: str) -> str:
    """sha256 (16 hex digits) of every DIGEST_STRIDE-th character and the last: see the module doc."""
    return hashlib.sha256((payload[::DIGEST_STRIDE] + payload[-1:]).encode("utf-8")).hexdigest()[:16]


def result(payload: str) -> str:
    """What a task writes: "<length> <digest>"."""
    return f"{len(payload)} {digest(payload)}"


def expected_result(size: int) -> str:
    """The result of a task handed build(size) intact, computed from its sample alone (the
    controller never builds the whole string)."""
    sample = PAYLOAD_CHAR * len(range(0, size, DIGEST_STRIDE)) + PAYLOAD_CHAR * (size > 0)
    return f"{size} {hashlib.sha256(sample.encode('utf-8')).hexdigest()[:16]}"


def check(task: Mapping[str, Any], name: str, text: str) -> str | None:
    """None when the task returned the payload's length and digest."""
    expected = expected_result(int(task["size_bytes"]))
    got = text.strip()
    if got == expected:
        return None
    if got.split(" ")[0] != expected.split(" ")[0]:
        return f"length {got.split(' ')[0][:20]!r}, expected {expected.split(' ')[0]}"
    return f"digest {got[len(expected.split(' ')[0]) + 1:][:20]!r}, expected {expected.split(' ')[1]}"


class PayloadWorkload:
    name = "payload"

    def setup(self) -> None:
        pass

    def process(self, item: Item) -> None:
        if not isinstance(item.argument, str):
            raise ItemFailed("no payload: the worker's session did not run")
        write_result(item, result(item.argument))

    @contextmanager
    def session(self, items: Sequence[Item]) -> Iterator[Session]:
        size = int(items[0].task["size_bytes"]) if items else 0
        started = time.monotonic()
        payload = build(size)   # one str shared by every item: copies happen only where a strategy makes them
        yield Session(argument=payload, notes={"payload_bytes": size,
                                               "build_seconds": round(time.monotonic() - started, 4)})
