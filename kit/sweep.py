"""`kit sweep`: the grid of cells over worker counts x memory caps x strategies x repetitions.

Interleaved like `kit run`: every round visits the whole grid, and both the order of the
settings and the order of the strategies within a setting rotate from round to round, so slow
drift (thermal, a neighbour's load) spreads over every cell instead of favouring one.
"""

from __future__ import annotations

from collections.abc import Sequence

from kit.config import MAX_WORKERS, parse_memory_limit
from kit.errors import ConfigError
from kit.observer import Cell
from kit.programs import program
from kit.units import Bytes

Setting = tuple[int, Bytes | None]   # workers, memory_limit_bytes


def parse_workers_list(text: str) -> tuple[int, ...]:
    """'1,2,4,8' -> (1, 2, 4, 8): distinct, in the order given."""
    values: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or not 1 <= int(part) <= MAX_WORKERS:
            raise ConfigError(f"--workers {text!r}: give a comma-separated list of counts from 1 to "
                              f"{MAX_WORKERS}, e.g. 1,2,4,8")
        values.append(int(part))
    return tuple(dict.fromkeys(values))


def parse_caps_list(text: str | None) -> tuple[Bytes | None, ...]:
    """'256m,512m,none' -> sizes in bytes (None: no cap); no option at all means one uncapped setting."""
    if text is None:
        return (None,)
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        raise ConfigError(f"--mem-limit {text!r}: give a comma-separated list of sizes, e.g. 256m,512m,1g")
    return tuple(dict.fromkeys(parse_memory_limit(part) for part in parts))


def plan_grid(strategies: Sequence[str], workers: Sequence[int], caps: Sequence[Bytes | None], repeat: int,
              warmup: int = 0, cpus: float | None = None) -> list[Cell]:
    """Warmup rounds then measured rounds; each round runs every (workers, cap, strategy) once.

    python-sequential has one worker whatever the setting, so it runs once per cap, not once
    per worker count (the duplicates would be the same measurement)."""
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
                key = (strategy, program(strategy).effective_workers(w), cap)
                if key in seen:
                    continue
                seen.add(key)
                cells.append(Cell(strategy=strategy, repetition=repetition, workers=key[1],
                                  memory_limit_bytes=cap, cpus=cpus, warmup=is_warmup))
    return cells


def grid_description(cells: Sequence[Cell]) -> dict[str, object]:
    """What results.json records under config.grid: the axes actually run."""
    return {"workers": sorted({c.workers for c in cells}),
            "memory_limit_bytes": sorted({c.memory_limit_bytes for c in cells},
                                         key=lambda b: -1 if b is None else b),
            "strategies": list(dict.fromkeys(c.strategy for c in cells)),
            "cells": len(cells)}
