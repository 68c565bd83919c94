"""The runner without root: kit/runtimes/process.py runs the real workers as plain subprocesses
(no cgroup, so no caps and no OOM kills: those stay in the integration tests). A whole plan of six
records, GIL probe included, is tests/integration/test_runner_process_runtime.py: about 10 s of CPU,
too much for the quick tier."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.core.errors import RuntimeUnavailable
from kit.plan import config
from kit.plan.cells import Cell
from kit.results.observer import RunObserver
from kit.run import gil
from kit.run.runner import Runner
from kit.runtimes.process import ProcessRuntime


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def test_a_worker_that_dies_before_its_first_item_is_a_failed_record_with_its_reason(
        tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the GIL probe (about 4 s of CPU, asserted in the integration test) has nothing to do with this
    monkeypatch.setattr(gil, "probe_under_watch", lambda *args, **kwargs: {"error": "not probed here"})
    plan = config.build(strategies=["python-sequential"], items=2, resolution="720p", pool_size=1,
                        out=tmp_path / "out", cache_dir=cache, metrics_port=0)
    runner = Runner(plan, ProcessRuntime(), RunObserver())
    runner.start()
    (tmp_path / "out" / runner.run_id / "manifest.json").write_text("not json")   # the worker cannot read it
    record = runner.run_cell(Cell("python-sequential", 0, 1, None, None))
    assert record.status == "failed" and record.exit_code not in (0, None) and record.verified is None
    assert record.message and "JSONDecodeError" in record.message


def test_the_process_runtime_refuses_caps() -> None:
    from kit.runtimes.base import SandboxSpec

    spec = SandboxSpec(name="x", command=lambda paths: ["true"], input_root=Path("/"), output_dir=Path("/tmp"),
                       manifest=Path("/dev/null"), log_dir=Path("/tmp"), memory_limit_bytes=2**30)
    with pytest.raises(RuntimeUnavailable, match="cannot cap"):
        ProcessRuntime().start(spec)
