"""What a workload is: one job per item, run inside a worker (any strategy, any sandbox)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Item:
    """One unit of work; paths are as the worker sees them inside its sandbox."""

    index: int
    name: str
    input_path: str
    output_path: str


class ItemFailed(Exception):
    """This item cannot be processed (bad input); the batch goes on."""


class Workload(Protocol):
    """Per-item work. `setup` runs once in every process that calls `process`."""

    name: str

    def setup(self) -> None: ...

    def process(self, item: Item) -> None: ...
