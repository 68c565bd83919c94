"""Go on the task workloads, the controller's side: pi calibrated per language into per-language
manifest entries, each language verified against its own tasks, bytes moved, and a tampered
iteration count or an edited output failing verification."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kit.build import go as go_strategy
from kit.plan import config as configuration
from kit.plan.inputs import prepare
from kit.results.verify import verify_tasks
from kit.run.record import bytes_moved_per_task, workload_description
from kit.worker.programs import program
from kit.worker.workloads import pi
from kit.worker.workloads.pi import calc_pi, calibrated

GO_CALIBRATION = {"iterations": 90_000_000, "target_seconds": 0.5, "probe_iterations": 40_960_000,
                  "probe_seconds": 0.25, "seconds_per_iteration": 0.25 / 40_960_000, "go": "go1.26.8"}


# what calibrate() measures for Python on a typical machine: the measuring itself is
# tests/unit/test_workloads.py::test_pi_calibration_is_measured_once_then_cached (2 s of CPU each time)
PYTHON_CALIBRATION = {"iterations": 4_000_000, "target_seconds": 0.5, "clock": "thread CPU time",
                      "probe_iterations": 2_560_000, "probe_seconds": 0.32, "seconds_per_iteration": 0.32 / 2_560_000,
                      "cpu_share": 1.0, "python": "3.11.7", "cpu": "fixture", "measured_at": 0.0}


@pytest.fixture(autouse=True)
def python_calibration(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python's pi calibration, as Go's is below: a fixed measurement, cached the kit's way."""
    monkeypatch.setattr(pi, "calibrate", lambda *args, **kwargs: dict(PYTHON_CALIBRATION))


def _plan(tmp_path: Path, **options: object) -> configuration.RunConfig:
    return configuration.build(cache_dir=tmp_path / "cache", **options)  # type: ignore[arg-type]


def _cached_go_calibration(cache_dir: Path) -> None:
    """What `go-native --calibrate-pi 0.5` measured once, as the kit caches it."""
    root = go_strategy.source_dir()
    assert root is not None
    path = go_strategy.pi_calibration_path(cache_dir, 0.5, go_strategy.source_digest(root))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(GO_CALIBRATION))


def test_pi_is_calibrated_per_language_and_each_language_gets_its_own_tasks(tmp_path: Path) -> None:
    plan = _plan(tmp_path, workload="pi", items=3)
    _cached_go_calibration(plan.cache_dir)
    batch = prepare(plan, languages=("python", "go"))
    python = calibrated(plan.cache_dir)
    assert python["cached"] is True and python["iterations"] == PYTHON_CALIBRATION["iterations"]   # prepare's
    assert [e.task for e in batch.entries] == [{"iterations": python["iterations"]}] * 3
    go = batch.for_language("go")
    assert [e.task for e in go.entries] == [{"iterations": 90_000_000}] * 3 and go.by_language == {}
    assert batch.for_language("python") is batch
    calibration = batch.description["calibration"]
    assert calibration["languages"]["go"]["iterations"] == 90_000_000
    assert calibration["languages"]["go"]["cached"] is True
    assert calibration["languages"]["python"]["iterations"] == python["iterations"]
    ratio = python["seconds_per_iteration"] / GO_CALIBRATION["seconds_per_iteration"]
    assert calibration["go_speed_per_iteration"] == round(ratio, 1)
    described = workload_description(batch)
    assert described["task_by_language"] == {"python": {"iterations": python["iterations"]},
                                             "go": {"iterations": 90_000_000}}
    assert described["calibration"] == calibration


def test_iterations_option_fixes_them_for_every_language(tmp_path: Path) -> None:
    batch = prepare(_plan(tmp_path, workload="pi", items=2, iterations=5000), languages=("python", "go"))
    assert batch.by_language == {} and "calibration" not in batch.description
    assert batch.for_language("go").entries[0].task == {"iterations": 5000}


def test_other_task_workloads_are_the_same_tasks_for_go(tmp_path: Path) -> None:
    for workload, task in (("count", {"count_to": 1000}), ("payload", {"size_bytes": 2**20})):
        batch = prepare(_plan(tmp_path, workload=workload, items=2, count_to=1000, payload_size="1m"),
                        languages=("python", "go"))
        assert batch.by_language == {} and batch.for_language("go").entries[0].task == task


def test_go_passes_the_payload_by_reference(tmp_path: Path) -> None:
    batch = prepare(_plan(tmp_path, workload="payload", items=2, payload_size="1m"), languages=("python", "go"))
    assert bytes_moved_per_task(batch, "go-native") == 0
    assert bytes_moved_per_task(batch, "python-processes") == 2**20
    assert program("go-native").language == "go" and program("python-processes").language == "python"


def test_a_tampered_iteration_count_or_an_edited_output_fails_verification(tmp_path: Path) -> None:
    plan = _plan(tmp_path, workload="pi", items=3)
    _cached_go_calibration(plan.cache_dir)
    go = prepare(plan, languages=("python", "go")).for_language("go")
    out = tmp_path / "out"
    out.mkdir()
    # what a worker that honoured its count writes: the product reaches its final float within ~30
    # terms, so 1000 terms write the very value of 90 million (and take no time here)
    assert calc_pi(1000) == calc_pi(100)
    for entry in go.entries:
        (out / entry.output).write_text(f"{calc_pi(1000)!r}\n")
    ok, detail = verify_tasks(go, out)
    assert ok and detail["task"] == {"iterations": 90_000_000}
    # a worker that ran 5 terms instead of its task's count
    (out / go.entries[1].output).write_text(f"{calc_pi(5)!r}\n")
    ok, detail = verify_tasks(go, out)
    assert not ok and detail["mismatched"] == 1 and detail["first_problem"].startswith("task-000001")
    # a correct output edited after the fact
    (out / go.entries[1].output).write_text(f"{calc_pi(1000)!r}\n")
    assert verify_tasks(go, out)[0] is True
    (out / go.entries[2].output).write_text("3.14159\n")
    assert verify_tasks(go, out)[0] is False
