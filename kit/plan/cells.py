"""The plan builder: a validated config and the chosen strategies -> the cells to run, in order.

One place for run and sweep alike (a sweep's config carries its grid); `kit floor` makes its cells
one at a time while it bisects, with `cell()` here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kit.core.units import Bytes
from kit.plan.config import RunConfig
from kit.worker.programs import program

Setting = tuple[int, Bytes | None]   # workers, memory_limit_bytes


@dataclass(frozen=True, slots=True)
class Cell:
    """One sandbox run: a strategy at a worker count and cap, one repetition."""

    strategy: str
    repetition: int
    workers: int
    memory_limit_bytes: int | None
    cpus: float | None
    warmup: bool = False

    def labels(self, run_id: str) -> dict[str, str]:
        """What a sandbox is, as labels a cluster can select on (the Job's and its pod's)."""
        return {"kit.dev/run": run_id, "kit.dev/strategy": self.strategy, "kit.dev/workers": str(self.workers),
                "kit.dev/repetition": str(self.repetition),
                "kit.dev/memory-limit-bytes": str(self.memory_limit_bytes or "none"),
                "kit.dev/phase": "warmup" if self.warmup else "measured"}

    @property
    def label(self) -> str:
        kind = "warmup" if self.warmup else "rep"
        return f"{self.strategy} x{self.workers} ({kind} {self.repetition + 1})"


def cell(strategy: str, repetition: int, workers: int, memory_limit_bytes: Bytes | None, cpus: float | None,
         warmup: bool = False) -> Cell:
    """A cell with the registry's worker count (python-sequential has one worker whatever is asked)."""
    return Cell(strategy, repetition, program(strategy).effective_workers(workers), memory_limit_bytes, cpus, warmup)


def plan_cells(config: RunConfig, strategies: Sequence[str]) -> list[Cell]:
    """Every cell of a run or a sweep, in the order they run."""
    if config.is_grid:
        return plan_grid(strategies, config.grid_workers or (config.workers,),
                         config.grid_memory_limits_bytes or (config.memory_limit_bytes,),
                         config.repeat, config.warmup, config.cpus)
    return plan_grid(strategies, (config.workers,), (config.memory_limit_bytes,), config.repeat, config.warmup,
                     config.cpus)


def plan_grid(strategies: Sequence[str], workers: Sequence[int], caps: Sequence[Bytes | None], repeat: int,
              warmup: int = 0, cpus: float | None = None) -> list[Cell]:
    """Warmup rounds then measured rounds; each round runs every (workers, cap, strategy) once.

    Interleaved: both the order of the settings and the order of the strategies within a setting
    rotate from round to round (A B C, B C A, ...), so slow drift (thermal, a neighbour's load)
    spreads over every cell instead of favouring one. python-sequential has one worker whatever the
    setting, so it runs once per cap, not once per worker count (the duplicates would be the same
    measurement)."""
    if not strategies or not workers or not caps:
        return []
    settings: list[Setting] = [(w, cap) for w in workers for cap in caps]
    rounds = [(True, r) for r in range(warmup)] + [(False, r) for r in range(repeat)]
    cells: list[Cell] = []
    for position, (is_warmup, repetition) in enumerate(rounds):
        shift = position % len(settings)
        turn = position % len(strategies)
        seen: set[tuple[str, int, Bytes | None]] = set()
        for w, cap in settings[shift:] + settings[:shift]:
            for strategy in list(strategies[turn:]) + list(strategies[:turn]):
                planned = cell(strategy, repetition, w, cap, cpus, is_warmup)
                key = (strategy, planned.workers, cap)
                if key not in seen:
                    seen.add(key)
                    cells.append(planned)
    return cells


def grid_description(cells: Sequence[Cell]) -> dict[str, object]:
    """What results.json records under config.grid: the axes actually run."""
    return {"workers": sorted({c.workers for c in cells}),
            "memory_limit_bytes": sorted({c.memory_limit_bytes for c in cells},
                                         key=lambda b: -1 if b is None else b),
            "strategies": list(dict.fromkeys(c.strategy for c in cells)),
            "cells": len(cells)}
