"""The timed work per good item is the study's pipeline and nothing else (issue 11): inputs are
judged by the controller, a worker never scans bytes, known-bad items cost nothing, and a file
that changed after the controller's check is one failed item, never the end of the batch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from jpeg_samples import encode, header_only, picture

import kit.plan.input_check
from kit.plan.input_check import judge_file
from kit.worker.main import run_worker
from kit.worker.protocol import ManifestEntry, write_manifest

GOOD = encode(picture(320, 200))


def _batch(tmp_path: Path, files: dict[str, bytes]) -> tuple[Path, Path, Path]:
    """Inputs, and the manifest the controller writes for them (with its verdicts)."""
    root, out = tmp_path / "in", tmp_path / "out"
    root.mkdir()
    for name, data in files.items():
        (root / name).write_bytes(data)
    entries = [ManifestEntry(name=name, input=name, output=name, problem=judge_file(root / name).problem)
               for name in sorted(files)]
    manifest = tmp_path / "manifest.json"
    write_manifest(manifest, entries)
    return manifest, root, out


def _events(text: str) -> dict[str, dict[str, object]]:
    return {event["name"]: event for line in text.splitlines()
            if (event := json.loads(line)).get("event") == "item"}


@pytest.mark.parametrize("strategy", ["python-sequential", "python-threads"])
def test_a_validated_item_never_reaches_a_byte_scan(strategy: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    manifest, root, out = _batch(tmp_path, {"a.jpg": GOOD, "b.jpg": GOOD, "bomb.jpg": header_only(GOOD, 60000, 60000),
                                            "empty.jpg": b""})

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the worker's hot path scanned bytes")

    for name in ("jpeg_problem", "frame_size", "judge_file", "_walk", "_next_marker", "size_problem"):
        monkeypatch.setattr(kit.plan.input_check, name, forbidden)
    assert run_worker(strategy, "images", manifest, root, out, workers=2, start_method="fork") == 0
    events = _events(capsys.readouterr().out)
    assert {name: event["ok"] for name, event in events.items()} == {
        "a.jpg": True, "b.jpg": True, "bomb.jpg": False, "empty.jpg": False}
    assert str(events["bomb.jpg"]["reason"]).startswith("too large") and events["bomb.jpg"]["rejected"] is True
    assert events["empty.jpg"]["reason"] == "empty file"
    assert "rejected" not in events["a.jpg"]
    assert sorted(path.name for path in out.iterdir()) == ["a.jpg", "b.jpg"]


def test_a_file_replaced_after_the_check_is_a_failed_item_and_the_batch_goes_on(tmp_path: Path) -> None:
    """The controller judged `b.jpg` good; garbage replaces it before the worker runs (the moment
    is fixed by writing between the manifest and the worker's start)."""
    manifest, root, out = _batch(tmp_path, {"a.jpg": GOOD, "b.jpg": GOOD, "c.jpg": GOOD})
    (root / "b.jpg").write_bytes(b"\xff\xd8 replaced by garbage after validation " * 50)
    done = subprocess.run([sys.executable, "-m", "kit.worker", "--strategy", "python-sequential",
                           "--workload", "images", "--workers", "1", "--manifest", str(manifest),
                           "--input-root", str(root), "--output-dir", str(out)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    events = _events(done.stdout)
    assert {name: event["ok"] for name, event in events.items()} == {"a.jpg": True, "b.jpg": False, "c.jpg": True}
    assert events["b.jpg"]["reason"] in ("undecodable JPEG",) or str(events["b.jpg"]["reason"]).startswith("OpenCV")
    assert "rejected" not in events["b.jpg"]


def test_the_worker_entry_point_loads_no_input_check_and_nothing_of_the_controller(tmp_path: Path) -> None:
    """The byte scan lives in the controller: a worker process never even imports it, nor the
    CLI's libraries, whose memory would count against the sandbox's cap."""
    manifest, root, out = _batch(tmp_path, {"a.jpg": GOOD})
    probe = ("import runpy, sys\n"
             "sys.argv = ['kit.worker', *sys.argv[1:]]\n"
             "try:\n    runpy.run_module('kit.worker', run_name='__main__')\n"
             "except SystemExit:\n    pass\n"
             "print('MODULES', ' '.join(sorted(sys.modules)), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", probe, "--strategy", "python-sequential", "--workload", "images",
                           "--workers", "1", "--manifest", str(manifest), "--input-root", str(root),
                           "--output-dir", str(out)], capture_output=True, text=True, timeout=120, check=False)
    modules = done.stderr.split("MODULES", 1)[1].split()
    assert "kit.worker.protocol" in modules and "cv2" in modules         # it really ran the images pipeline
    assert "kit.plan.input_check" not in modules
    controller = {"typer", "click", "rich", "docker", "prometheus_client", "jinja2", "kit.cli.app", "kit.run.runner"}
    assert controller.isdisjoint(modules), controller & set(modules)
    assert (out / "a.jpg").is_file()
