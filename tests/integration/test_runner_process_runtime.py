"""The runner end to end without root, on a whole plan: kit/runtimes/process.py runs the real
workers as plain subprocesses (no cgroup, so no caps and no OOM kills: those are in the cgroup
runtime's tests), and the runner plans, probes the GIL, supervises, builds, verifies and saves six
records as it does on every runtime. Moved out of the quick tier (tests/unit) for its cost: six
sandboxes, the reference outputs and the real GIL probe take about 10 s of CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kit.plan import config
from kit.plan.cells import Cell
from kit.results.observer import RunObserver
from kit.results.records import StrategyRecord
from kit.run.runner import Runner
from kit.runtimes.process import ProcessRuntime
from kit.worker.programs import PYTHON_ALLOCATOR_ENV


class Recorder(RunObserver):
    def __init__(self) -> None:
        self.started: list[Cell] = []
        self.finished: list[StrategyRecord] = []
        self.items = 0

    def cell_started(self, cell: Cell, items_total: int) -> None:
        self.started.append(cell)

    def item_done(self, cell: Cell, event: object) -> None:
        self.items += 1

    def cell_finished(self, cell: Cell, record: StrategyRecord) -> None:
        self.finished.append(record)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def test_a_plan_runs_interleaved_and_every_record_is_built_verified_and_saved(tmp_path: Path, cache: Path) -> None:
    plan = config.build(strategies=["python-sequential", "python-threads", "python-processes"], items=6,
                        resolution="720p", pool_size=3, workers=2, repeat=2, out=tmp_path / "out", cache_dir=cache,
                        metrics_port=0, runtime="cgroup")
    observer = Recorder()
    results = Runner(plan, ProcessRuntime(), observer).run()
    order = [(cell.strategy, cell.repetition) for cell in observer.started]
    assert order == [("python-sequential", 0), ("python-threads", 0), ("python-processes", 0),
                     ("python-threads", 1), ("python-processes", 1), ("python-sequential", 1)]   # rotated
    assert observer.items == 6 * 6
    for record in results.records:
        assert record.status == "ok" and record.exit_code == 0 and record.verified is True
        assert (record.items_total, record.items_ok, record.items_failed) == (6, 6, 0)
        assert record.work_seconds and record.throughput_items_per_second and record.cpu_seconds > 0
        assert record.workers == (1 if record.strategy == "python-sequential" else 2)
        assert record.gil_free_fraction is not None and 0 <= record.gil_free_fraction <= 1
        assert record.contended is not None and record.controller_cpu_seconds is not None
        assert record.oom_kills == 0 and record.memory_limit_bytes is None
    saved = json.loads((results_dir := tmp_path / "out" / results.run_id / "results.json").read_text())
    assert len(saved["results"]) == 6 and saved["environment"]["runtime"] == "process"
    assert (results_dir.parent / "results.csv").is_file()
    assert saved["concurrency"]["workers"]["python-processes"]["start_method"] == "fork"
    for name in ("python-sequential", "python-threads", "python-processes"):   # every Python strategy alike
        assert saved["concurrency"]["workers"][name]["allocator"] == PYTHON_ALLOCATOR_ENV
