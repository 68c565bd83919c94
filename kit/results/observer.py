"""Who hears about a run while it happens: the progress bars, the metrics exporter.

Data flows one way: the runner calls these; observers never call back into the run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kit.measure.monitor import Sample
from kit.results.records import StrategyRecord
from kit.worker.protocol import ItemEvent

if TYPE_CHECKING:
    from kit.plan.cells import Cell


class RunObserver:
    """Does nothing; subclasses override what they care about."""

    def phase(self, text: str) -> None:
        """A step outside any sandbox (generating images, reference outputs)."""

    def planned(self, cells: list[Cell]) -> None:
        """Every cell the run will go through, in order (an overall progress bar needs the total)."""

    def cell_started(self, cell: Cell, items_total: int) -> None:
        """A sandbox is about to start."""

    def item_done(self, cell: Cell, event: ItemEvent) -> None:
        """The worker reported one finished item (ok or failed)."""

    def sampled(self, cell: Cell, sample: Sample) -> None:
        """The monitor kept a sample of the sandbox."""

    def cell_finished(self, cell: Cell, record: StrategyRecord) -> None:
        """The sandbox is gone and its record written."""


class Observers(RunObserver):
    """Fan-out to several observers."""

    def __init__(self, *observers: RunObserver) -> None:
        self.observers = observers

    def phase(self, text: str) -> None:
        for observer in self.observers:
            observer.phase(text)

    def planned(self, cells: list[Cell]) -> None:
        for observer in self.observers:
            observer.planned(cells)

    def cell_started(self, cell: Cell, items_total: int) -> None:
        for observer in self.observers:
            observer.cell_started(cell, items_total)

    def item_done(self, cell: Cell, event: ItemEvent) -> None:
        for observer in self.observers:
            observer.item_done(cell, event)

    def sampled(self, cell: Cell, sample: Sample) -> None:
        for observer in self.observers:
            observer.sampled(cell, sample)

    def cell_finished(self, cell: Cell, record: StrategyRecord) -> None:
        for observer in self.observers:
            observer.cell_finished(cell, record)
