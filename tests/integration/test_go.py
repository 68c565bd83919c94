"""The Go strategies for real: built on this host by `kit build --target host`'s code, run by
`kit run` in real cgroups beside Python, outputs verified by PSNR, bad inputs failed by name,
an OOM cap that kills one Go strategy and spares the other.

They skip only where Go 1.25+ (or, for go-gocv, OpenCV's dev files) is missing, and fail on CI.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from kit.build import go as go_strategy
from kit.plan.input_check import jpeg_problem
from kit.results.verify import PSNR_THRESHOLD_DB
from kit.worker.programs import names
from tests.conftest import need
from tests.integration.kitrun import kit
from tests.integration.test_cgroup_runtime import leftover_groups
from tests.integration.test_docker import client, engine  # noqa: F401 (fixtures: a current image)
from tests.unit.jpeg_samples import bad_batch, encode, exif_segment, picture, with_segment

GO_STRATEGIES = names("go")
pytestmark = [pytest.mark.cgroup, pytest.mark.usefixtures("cgroups")]


@pytest.fixture(scope="module")
def go_bin(cache_dir: Path) -> Path:
    """Both Go workers, built once into the session's cache as `kit build --target host` does."""
    tool, why = go_strategy.go_tool()
    need(None if tool else why)
    built = go_strategy.build_host(cache_dir)
    need("; ".join(f"{name}: {reason}" for name, reason in built.failed.items()) or None)
    return built.directory


def _jpeg(width: int, height: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    image = cv2.resize(rng.integers(0, 255, (9, 16, 3), dtype=np.uint8), (width, height))
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return data.tobytes()


def test_go_strategies_beside_python_bad_inputs_failed_by_name_outputs_verified(
        tmp_path: Path, cache_dir: Path, go_bin: Path) -> None:
    source = tmp_path / "photos"
    source.mkdir()
    good = _jpeg(2400, 1800, 1)  # 1.25x shrink: a non-integer area factor
    (source / "a-good.jpg").write_bytes(good)
    (source / "b-trailing.jpg").write_bytes(_jpeg(1280, 720, 2) + b"APPENDED-AFTER-EOI" * 100)
    (source / "c-truncated.jpg").write_bytes(good[: len(good) // 2])
    (source / "d-empty.jpg").write_bytes(b"")
    (source / "e-notes.txt").write_text("not an image")
    run = kit(["run", "-s", "python-sequential", "-s", "go-native", "-s", "go-gocv", "--workers", "2",
               "--runtime", "cgroup", "--source", str(source)], tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    # -s names the strategies: nothing is said about the others (issue 26); the records show these ran
    assert "strategies available on" not in run.stdout and "not available" not in run.stdout
    python = run.record("python-sequential")
    expected = {item["name"]: item["reason"] for item in python["failed_items"]}
    assert set(expected) == {"c-truncated.jpg", "d-empty.jpg", "e-notes.txt"}
    for strategy in GO_STRATEGIES:
        record = run.record(strategy)
        assert record["status"] == "ok" and record["exit_code"] == 0
        assert (record["items_total"], record["items_ok"], record["items_failed"]) == (5, 2, 3)
        assert {item["name"]: item["reason"] for item in record["failed_items"]} == expected
        assert record["verified"] is True, record["verification"]
        check = record["verification"]
        assert check["method"] == "psnr" and check["dimensions"] == 0 and check["missing"] == 0
        assert check["psnr_min_db"] >= PSNR_THRESHOLD_DB
        outputs = run.run_dir / "outputs" / strategy
        assert sorted(p.name for p in outputs.iterdir()) == ["a-good.jpg", "b-trailing.jpg"]
        assert cv2.imread(str(outputs / "a-good.jpg")).shape[:2] == (1080, 1440)
        assert cv2.imread(str(outputs / "b-trailing.jpg")).shape[:2] == (720, 1280)  # never upscaled
        seen = run.results["concurrency"]["workers"][strategy]
        assert seen["language"] == "go" and seen["go"].startswith("go1.") and seen["workers"] == 2
        assert seen["gomaxprocs"] >= 1 and seen["cpu_quota_cores"] is None
    assert run.results["concurrency"]["workers"]["go-gocv"]["opencv_threads_per_worker"] == 1
    # Python: identical bytes where its worker ran the reference's OpenCV build; otherwise (Debian's
    # OpenCV beside the lock's wheel, like for like with go-gocv) PSNR, and the record says why
    reference = run.results["workload"]["reference_build"]
    same = (python["library_version"], python["jpeg_library"]) == (reference["library_version"],
                                                                    reference["jpeg_library"])
    assert python["verification"]["method"] == ("sha256" if same else "psnr"), python["verification"]
    assert ("build_reason" in python["verification"]) is not same


def test_bad_files_and_bombs_fail_by_the_controllers_verdict_in_python_and_go_alike(
        tmp_path: Path, cache_dir: Path, go_bin: Path) -> None:
    """Truncated, non-JPEG, empty, a 60000x60000 header-only bomb and a 30000x30000 bomb beside
    good files: every good file is processed and verified, each bad one is a failed item with the
    controller's reason, the same in every strategy, and nothing crashes."""
    expected = bad_batch(tmp_path / "src")
    strategies = ["python-sequential", "python-threads", *GO_STRATEGIES]
    run = kit(["run", *(arg for name in strategies for arg in ("-s", name)), "--workers", "2",
               "--runtime", "cgroup", "--mem-limit", "512m", "--source", str(tmp_path / "src")],
              tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    reasons = {}
    for strategy in strategies:
        record = run.record(strategy)
        assert record["status"] == "ok" and record["verified"] is True, (strategy, record["verification"])
        assert (record["items_ok"], record["items_failed"]) == (2, 5), strategy
        reasons[strategy] = {item["name"]: item["reason"] for item in record["failed_items"]}
        for name, reason in expected.items():
            assert (name in reasons[strategy]) == (reason is not None), (strategy, name)
            if reason is not None:
                assert reasons[strategy][name].startswith(reason), (strategy, name, reasons[strategy][name])
        assert sorted(p.name for p in (run.run_dir / "outputs" / strategy).iterdir()) == ["a-good.jpg", "g-good.jpg"]
    assert all(found == reasons["python-sequential"] for found in reasons.values()), reasons
    assert run.results["inputs"]["inputs_rejected"] == 5


def test_gomaxprocs_follows_the_cpu_cap(tmp_path: Path, cache_dir: Path, go_bin: Path) -> None:
    run = kit(["run", "-s", "go-native", "-s", "go-gocv", "--workers", "2", "--cpus", "1",
               "--runtime", "cgroup", "--images", "4", "--distinct-images", "2", "--resolution", "720p"],
              tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    for strategy in GO_STRATEGIES:
        assert run.record(strategy)["status"] == "ok"
        seen = run.results["concurrency"]["workers"][strategy]
        assert seen["cpu_quota_cores"] == 1.0
        # Go 1.25+: the CPU limit rounded up, but at least 2 (and never above the CPUs).
        assert seen["gomaxprocs"] == min(seen["num_cpu"], 2)


def test_an_oom_cap_kills_go_native_and_spares_go_gocv(tmp_path: Path, cache_dir: Path, go_bin: Path) -> None:
    """448 MiB, four workers, 4K: image/jpeg + x/image/draw hold ~150 MiB per image in flight (a
    dw x sh float64 buffer of 133 MB), so four live images alone exceed the cap; GoCV holds about
    50 MiB per image plus its libraries (~275 MiB at four workers, floor 424 MiB even at twelve).
    (At 192 MiB and two workers GoCV's margin was too thin: its library and output page cache
    sometimes pushed it over.)"""
    run = kit(["run", "-s", "go-native", "-s", "go-gocv", "--workers", "4", "--mem-limit", "448m",
               "--runtime", "cgroup", "--images", "8", "--distinct-images", "2"], tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    native, gocv = run.record("go-native"), run.record("go-gocv")
    assert native["status"] == "oom_killed" and native["verified"] is None
    assert native["oom_kills"] >= 1 and native["oom_events"][0]["victim"] == "main"
    assert native["peak_usage_bytes"] <= 448 * 2**20 + 2**20
    assert gocv["status"] == "ok" and gocv["items_ok"] == 8 and gocv["verified"] is True
    assert gocv["peak_memory_bytes"] < 448 * 2**20
    assert leftover_groups(run.results["run_id"]) == []


@pytest.mark.docker
@pytest.mark.usefixtures("client")
def test_go_strategies_in_the_worker_image(tmp_path: Path, cache_dir: Path) -> None:
    """The same batch in hardened containers: the image's Go stage built both programs."""
    source = tmp_path / "photos"
    source.mkdir()
    good = _jpeg(2400, 1800, 3)
    (source / "a-good.jpg").write_bytes(good)
    (source / "b-truncated.jpg").write_bytes(good[: len(good) // 3])
    (source / "c-notes.txt").write_text("not an image")
    run = kit(["run", "--runtime", "docker", "-s", "go-native", "-s", "go-gocv", "--workers", "2",
               "--source", str(source)], tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    assert "strategies available on" not in run.stdout and "go-gocv" in run.stdout   # -s: the others unsaid
    for strategy in GO_STRATEGIES:
        record = run.record(strategy)
        assert record["status"] == "ok", record["message"]
        assert (record["items_ok"], record["items_failed"]) == (1, 2)
        assert {item["name"] for item in record["failed_items"]} == {"b-truncated.jpg", "c-notes.txt"}
        assert record["verified"] is True and record["verification"]["method"] == "psnr"
        seen = run.results["concurrency"]["workers"][strategy]
        assert seen["language"] == "go" and seen["gomaxprocs"] >= 1
    assert run.results["concurrency"]["workers"]["go-gocv"]["opencv"].startswith("4.6")


def _samples() -> dict[str, bytes]:
    """Complete, truncated (at many offsets), EXIF-carrying and odd JPEGs."""
    samples: dict[str, bytes] = {}
    for kind, data in {"baseline": encode(picture()),
                       "progressive": encode(picture(), cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
                       "restarts": encode(picture(), cv2.IMWRITE_JPEG_RST_INTERVAL, 1)}.items():
        samples[f"{kind}.jpg"] = data
        samples[f"{kind}-trailing.jpg"] = data + b"\x00\xff\xd8junk"
        for cut in [*range(0, len(data), max(1, len(data) // 40)), len(data) - 2, len(data) - 1]:
            samples[f"{kind}-cut{cut:05d}.jpg"] = data[:cut]
    baseline = samples["baseline.jpg"]
    thumbnail = encode(picture(16, 12))
    samples["exif-thumbnail.jpg"] = with_segment(baseline, exif_segment(orientation=6, thumbnail=thumbnail))
    samples["exif-thumbnail-truncated.jpg"] = samples["exif-thumbnail.jpg"][: len(baseline) // 2 + 200]
    samples["fill-bytes.jpg"] = baseline[:2] + b"\xff\xff\xff" + baseline[2:]
    samples["eoi-only.jpg"] = b"\xff\xd8\xff\xd9"
    samples["text.jpg"] = b"GIF89a not really"
    return samples


@pytest.mark.parametrize("strategy", GO_STRATEGIES)
def test_go_workers_fail_known_bad_items_by_the_controllers_verdict_and_survive_a_changed_file(
        tmp_path: Path, go_bin: Path, strategy: str) -> None:
    """The worker binary alone, through the contract: every sample judged bad by the controller's
    check is failed with exactly that reason and never read; one that turned to garbage after the
    check (no verdict in the manifest) is an undecodable item; the batch always goes on."""
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    samples = _samples()
    verdicts = {name: jpeg_problem(data) for name, data in samples.items()}
    assert sum(v is None for v in verdicts.values()) >= 5 and sum(v is not None for v in verdicts.values()) >= 40
    samples["changed-after-check.jpg"] = b"\xff\xd8 replaced by garbage after the controller's check " * 40
    verdicts["changed-after-check.jpg"] = None
    for name, data in samples.items():
        (inputs / name).write_bytes(data)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"items": [{"name": n, "input": n, "output": n,
                                               **({"problem": verdicts[n]} if verdicts[n] else {})}
                                              for n in samples]}))
    done = subprocess.run([str(go_bin / strategy), "--strategy", strategy, "--workload", "images",
                           "--workers", "2", "--start-method", "fork", "--manifest", str(manifest),
                           "--input-root", str(inputs), "--output-dir", str(outputs)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    items = {e["name"]: e for e in events if e["event"] == "item"}
    assert items.keys() == samples.keys()
    changed = items.pop("changed-after-check.jpg")
    assert changed["ok"] is False and changed["reason"] == "undecodable JPEG" and "rejected" not in changed
    disagreements = {name: (event.get("reason"), verdicts[name]) for name, event in items.items()
                     if event.get("reason") != verdicts[name] or bool(event.get("rejected")) != bool(verdicts[name])}
    assert disagreements == {}
    written = {path.name for path in outputs.iterdir()}
    assert written == {name for name, verdict in verdicts.items() if verdict is None} - {"changed-after-check.jpg"}
    assert events[-1] == {"event": "done", "items_ok": len(written), "items_failed": len(samples) - len(written)}
    # Issue 23: each ok item's CPU seconds per stage on its thread, floats; failed items none.
    for name, event in items.items():
        if event["ok"]:
            assert list(event["stages"]) == ["read", "decode", "resize", "encode", "write"], name
            assert all(isinstance(v, float) and v >= 0 for v in event["stages"].values()), event
        else:
            assert "stages" not in event, name
    assert "stages" not in changed
    jpeg_library = next(e for e in events if e["event"] == "start")["concurrency"]["jpeg_library"]
    assert jpeg_library.startswith("libjpeg-turbo " if strategy == "go-gocv" else "image/jpeg (Go go")
