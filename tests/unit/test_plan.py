"""Planning: which strategies run, in which order, with how many workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.core.errors import ConfigError
from kit.plan.cells import plan_cells
from kit.plan.config import RunConfig
from kit.run.choose import choose_strategies
from kit.run.sandboxes import pids_limit
from kit.runtimes.base import SandboxPaths
from kit.worker.programs import NAMES as ALL_STRATEGIES
from kit.worker.programs import names, program

PYTHON_STRATEGIES = names("python", free_threaded=False)   # python-threads-ft needs its own interpreter
A, B, C = "python-sequential", "python-threads", "python-processes"


def order(config: RunConfig, strategies: list[str]) -> list[tuple[bool, int, str]]:
    return [(cell.warmup, cell.repetition, cell.strategy) for cell in plan_cells(config, strategies)]


def test_rotation_and_warmups_first() -> None:
    config = RunConfig(workers=4, repeat=3, warmup=1)
    assert order(config, [A, B, C]) == [
        (True, 0, A), (True, 0, B), (True, 0, C),       # warmup round
        (False, 0, B), (False, 0, C), (False, 0, A),    # rotated each round, so drift favours no one
        (False, 1, C), (False, 1, A), (False, 1, B),
        (False, 2, A), (False, 2, B), (False, 2, C),
    ]


def test_one_round_keeps_the_given_order() -> None:
    assert order(RunConfig(workers=2), [B, A]) == [(False, 0, B), (False, 0, A)]


def test_every_strategy_runs_once_per_round() -> None:
    cells = plan_cells(RunConfig(workers=2, repeat=4, warmup=2), [A, B, C])
    assert len(cells) == 3 * (4 + 2)
    for warmup, rounds in ((True, 2), (False, 4)):
        for repetition in range(rounds):
            assert sorted(c.strategy for c in cells if c.warmup is warmup and c.repetition == repetition) \
                == sorted([A, B, C])


def test_single_strategy_repeats() -> None:
    assert order(RunConfig(workers=2, repeat=2), [C]) == [(False, 0, C), (False, 1, C)]


def test_cells_carry_workers_and_caps() -> None:
    config = RunConfig(workers=12, memory_limit_bytes=256 * 2**20, cpus=1.5)
    cells = {cell.strategy: cell for cell in plan_cells(config, [A, B, C])}
    assert cells[A].workers == 1                          # sequential is one worker by definition
    assert cells[B].workers == 12 and cells[C].workers == 12
    assert {(c.memory_limit_bytes, c.cpus) for c in cells.values()} == {(256 * 2**20, 1.5)}


def test_choose_every_available_strategy_by_default(tmp_path: Path) -> None:
    chosen, skipped = choose_strategies(RunConfig(cache_dir=tmp_path))  # no Go workers built there
    assert chosen == list(PYTHON_STRATEGIES)
    assert set(skipped) == set(ALL_STRATEGIES) - set(PYTHON_STRATEGIES)
    assert all(reason for reason in skipped.values())     # each skip says why


def test_choose_what_was_asked_in_that_order() -> None:
    chosen, skipped = choose_strategies(RunConfig(strategies=(C, A)))
    assert (chosen, skipped) == ([C, A], {})


def test_asking_for_an_unavailable_strategy_is_refused(tmp_path: Path) -> None:
    unavailable = sorted(set(ALL_STRATEGIES) - set(PYTHON_STRATEGIES))
    if not unavailable:
        pytest.skip("every contract strategy is available in this kit version")
    with pytest.raises(ConfigError, match=unavailable[0]):
        choose_strategies(RunConfig(strategies=(A, unavailable[0]), cache_dir=tmp_path))


def test_worker_command_line() -> None:
    paths = SandboxPaths(python="/venv/bin/python", input_root=Path("/in"), output_dir=Path("/out"),
                         manifest=Path("/run/manifest.json"))
    argv = program(B).command("images", 4, "spawn")(paths)
    assert argv[:3] == ["/venv/bin/python", "-m", "kit.worker"]
    options = dict(zip(argv[3::2], argv[4::2], strict=True))
    assert options == {"--strategy": B, "--workload": "images", "--workers": "4", "--start-method": "spawn",
                       "--manifest": "/run/manifest.json", "--input-root": "/in", "--output-dir": "/out"}


def test_pids_limit_grows_with_workers() -> None:
    assert pids_limit(16) > pids_limit(1) > 0
