"""go-native on the task workloads for real: `kit run` in real cgroups beside python-processes,
pi calibrated per language (go-native measures its own speed), every result verified by the
controller's rules; a Go worker given a tampered iteration count, or an output edited after the
run, fails verification."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from kit.build import go as go_strategy
from kit.plan.inputs import Batch
from kit.results.verify import verify_tasks
from kit.worker.protocol import ManifestEntry, write_manifest
from kit.worker.workloads.payload import expected_result
from kit.worker.workloads.pi import CALIBRATION_CLOCK
from tests.conftest import need
from tests.integration.kitrun import kit

pytestmark = [pytest.mark.cgroup, pytest.mark.usefixtures("cgroups")]

SMALL = {"pi": [], "count": ["--count-to", "200000"], "payload": ["--payload-size", "8m", "--mem-limit", "256m"]}


@pytest.fixture(scope="module")
def go_native(cache_dir: Path) -> Path:
    tool, why = go_strategy.go_tool()
    need(None if tool else why)
    built = go_strategy.build_host(cache_dir, strategies=("go-native",))
    need(built.failed.get("go-native"))
    return built.directory / "go-native"


def _batch(run_dir: Path, manifest: str, workload: str) -> Batch:
    items = json.loads((run_dir / manifest).read_text())["items"]
    entries = [ManifestEntry(e["name"], e["input"], e["output"], e.get("task")) for e in items]
    return Batch(input_root=run_dir, entries=entries, digests={}, description={}, workload=workload)


@pytest.mark.parametrize("workload", sorted(SMALL))
def test_go_native_runs_and_verifies_each_task_workload_beside_python(workload: str, tmp_path: Path,
                                                                      cache_dir: Path, go_native: Path) -> None:
    run = kit(["run", "--workload", workload, "-s", "python-processes", "-s", "go-native", "--workers", "2",
               "--items", "4", "--metrics-linger", "0", *SMALL[workload]], tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    for name in ("python-processes", "go-native"):
        record = run.record(name)
        assert record["status"] == "ok" and record["verified"] is True, record["verification"]
        assert record["items_ok"] == 4 and record["verification"]["method"] == "task-result"
    go = run.results["concurrency"]["workers"]["go-native"]
    assert go["language"] == "go" and go["workers"] == 2
    if workload == "payload":
        assert run.record("go-native")["bytes_moved_per_task"] == 0
        assert run.record("python-processes")["bytes_moved_per_task"] == 8 * 2**20
        assert go["workload_session"]["payload_bytes"] == 8 * 2**20
    if workload == "pi":   # calibrated per language: each cell ran and was checked on its own count
        calibration = run.results["workload"]["calibration"]
        go_iterations = calibration["languages"]["go"]["iterations"]
        python_iterations = calibration["languages"]["python"]["iterations"]
        assert calibration["go_speed_per_iteration"] > 1 and go_iterations > python_iterations
        # the same clock on both sides (Go's tasks.Clock, Python's CALIBRATION_CLOCK), or the task times differ
        assert calibration["languages"]["go"]["clock"] == calibration["languages"]["python"]["clock"] \
            == CALIBRATION_CLOCK
        assert run.record("go-native")["verification"]["task"] == {"iterations": go_iterations}
        assert run.record("python-processes")["verification"]["task"] == {"iterations": python_iterations}
        assert run.results["workload"]["task_by_language"]["go"] == {"iterations": go_iterations}


def test_a_tampered_iteration_count_or_an_edited_output_fails_verification(tmp_path: Path, cache_dir: Path,
                                                                           go_native: Path) -> None:
    run = kit(["run", "--workload", "pi", "-s", "go-native", "--workers", "2", "--items", "4",
               "--metrics-linger", "0"], tmp_path / "out", cache_dir)
    assert run.returncode == 0 and run.record("go-native")["verified"] is True, run.stderr
    batch = _batch(run.run_dir, "manifest-go.json", "pi")
    outputs = run.run_dir / "outputs" / "go-native"
    assert verify_tasks(batch, outputs)[0] is True
    # The same Go worker given 5 terms instead of its task's count: the controller's check, which
    # knows the count the task should have run, refuses the result.
    tampered = tmp_path / "tampered.json"
    write_manifest(tampered, [ManifestEntry(e.name, "", e.output, {"iterations": 5}) for e in batch.entries])
    out = tmp_path / "tampered-out"
    done = subprocess.run([str(go_native), "--strategy", "go-native", "--workload", "pi", "--workers", "2",
                           "--manifest", str(tampered), "--input-root", str(tmp_path), "--output-dir", str(out)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    ok, detail = verify_tasks(batch, out)
    assert not ok and detail["mismatched"] == 4 and "is not within" in detail["first_problem"]
    # An output edited after the run.
    (outputs / batch.entries[0].output).write_text("3.1416\n")
    ok, detail = verify_tasks(batch, outputs)
    assert not ok and detail["examples"] == [batch.entries[0].name]


def test_go_payload_results_carry_the_digest_and_a_wrong_one_fails(tmp_path: Path, cache_dir: Path,
                                                                   go_native: Path) -> None:
    """The real Go worker writes the length and the digest Python's check expects; a result whose
    digest (or length) is wrong is refused."""
    run = kit(["run", "--workload", "payload", "-s", "go-native", "--items", "2", "--payload-size", "1m",
               "--metrics-linger", "0"], tmp_path / "out", cache_dir)
    assert run.returncode == 0 and run.record("go-native")["verified"] is True, run.stderr
    batch = _batch(run.run_dir, "manifest.json", "payload")
    outputs = run.run_dir / "outputs" / "go-native"
    text = (outputs / batch.entries[0].output).read_text().strip()
    assert text == expected_result(2**20) and len(text.split(" ")[1]) == 16
    (outputs / batch.entries[0].output).write_text(f"{2**20} 0123456789abcdef\n")
    ok, detail = verify_tasks(batch, outputs)
    assert not ok and "digest" in detail["first_problem"]
    (outputs / batch.entries[0].output).write_text(f"{2**20 - 1} {text.split(' ')[1]}\n")
    ok, detail = verify_tasks(batch, outputs)
    assert not ok and "length" in detail["first_problem"]
