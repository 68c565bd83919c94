"""The runner without root: kit/runtimes/process.py runs the real workers as plain subprocesses
(no cgroup, so no caps and no OOM kills: those stay in the integration tests). A whole plan of six
records, GIL probe included, is tests/integration/test_runner_process_runtime.py: about 10 s of CPU,
too much for the quick tier."""

from __future__ import annotations

import json
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


def test_kit_gil_probe_off_runs_no_probe_and_the_results_say_why(tmp_path: Path, cache: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The cgroup v2 VM's runs (an emulated CPU) set KIT_GIL_PROBE=off: no probe process, and
    results.json records that it was skipped and why, in place of a figure."""
    from kit.measure.gil_probe import skipped

    assert skipped({}) is None and skipped({"KIT_GIL_PROBE": "on"}) is None
    assert skipped({"KIT_GIL_PROBE": "OFF"}) == "KIT_GIL_PROBE=off"
    monkeypatch.setenv("KIT_GIL_PROBE", "off")
    monkeypatch.setattr(gil, "probe_under_watch", lambda *args: pytest.fail("the probe ran"))
    plan = config.build(strategies=["python-threads"], items=2, resolution="720p", pool_size=1, workers=2,
                        out=tmp_path / "out", cache_dir=cache, metrics_port=0)
    results = Runner(plan, ProcessRuntime(), RunObserver()).run()
    [record] = results.records
    assert record.status == "ok" and record.gil_free_fraction is None
    saved = json.loads((tmp_path / "out" / results.run_id / "results.json").read_text())
    assert saved["concurrency"]["gil_probe"] == {"skipped": "KIT_GIL_PROBE=off"}
    assert any("GIL probe not run (KIT_GIL_PROBE=off)" in warning for warning in saved["warnings"])
