"""Seed 002's pure-Python counter: count from 0 to `count_to` per task, one bytecode loop."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from kit.worker.workloads.base import Item, Session, no_session, write_result


def count(count_to: int) -> int:
    """The loop is the work: the interpreter holds the GIL for all of it."""
    counter = 0
    while counter < count_to:
        counter += 1
    return counter


def check(task: Mapping[str, Any], name: str, text: str) -> str | None:
    """None when the task counted exactly to its target."""
    expected = int(task["count_to"])
    return None if text.strip() == str(expected) else f"counted {text.strip()[:20]!r}, expected {expected}"


class CountWorkload:
    name = "count"

    def setup(self) -> None:
        pass

    def process(self, item: Item) -> None:
        write_result(item, count(int(item.task["count_to"])))

    def session(self, items: Sequence[Item]) -> AbstractContextManager[Session]:
        return no_session(items)
