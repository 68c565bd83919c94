"""Verification of a remote sandbox's outputs, which stay in its pod: the worker reports each output's
sha256 when asked (KIT_OUTPUT_DIGESTS, set in a remote sandbox's environment only), and the controller
compares them with the reference's when the worker ran the reference's very build; otherwise the record
is unverified and says why. The workers are real (Python here, Go in kit/go/internal/worker)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from kit.plan.cells import Cell
from kit.plan.config import build as build_config
from kit.plan.inputs import Batch
from kit.results.verify import REMOTE_NO_DIGESTS, Reference, verify_digests
from kit.run.sandboxes import sandbox_spec
from kit.worker.protocol import OUTPUT_DIGESTS_ENV, ItemEvent, ManifestEntry, format_event, parse_event
from kit.worker.strategies.base import run_item
from kit.worker.workloads import workload_for
from kit.worker.workloads.base import Item

WHEEL = {"library": "opencv", "library_version": "5.0.0", "jpeg_library": "libjpeg-turbo 3.1.2"}
DEBIAN = {"library": "opencv", "library_version": "4.6.0", "jpeg_library": "libjpeg-turbo 2.1.5"}
A, B = hashlib.sha256(b"a").hexdigest(), hashlib.sha256(b"b").hexdigest()


def batch(tmp_path: Path) -> Batch:
    """Three items: two good inputs and one the reference fails (it must fail in the worker too)."""
    entries = [ManifestEntry("a.jpg", "a.jpg", "a.jpg"), ManifestEntry("b.jpg", "b.jpg", "b.jpg"),
               ManifestEntry("bad.jpg", "bad.jpg", "bad.jpg")]
    return Batch(input_root=tmp_path, entries=entries, digests={}, description={})


def reference(tmp_path: Path) -> Reference:
    return Reference(tmp_path / "ref", {"a.jpg": A, "b.jpg": B, "bad.jpg": None}, {"bad.jpg": "truncated"}, WHEEL)


def test_the_reference_build_is_verified_by_the_reported_digests(tmp_path: Path) -> None:
    verified, detail = verify_digests(batch(tmp_path), reference(tmp_path), {0: A, 1: B}, "sha256", WHEEL)
    assert verified is True
    assert detail["method"] == "sha256" and "stay in the pod" in detail["source"]
    assert (detail["items_checked"], detail["mismatched"], detail["missing"], detail["unexpected"]) == (3, 0, 0, 0)


@pytest.mark.parametrize(("digests", "key"), [({0: A, 1: A}, "mismatched"), ({0: A}, "missing"),
                                              ({0: A, 1: B, 2: A}, "unexpected")])
def test_a_wrong_missing_or_unexpected_output_fails(tmp_path: Path, digests: dict[int, str], key: str) -> None:
    verified, detail = verify_digests(batch(tmp_path), reference(tmp_path), digests, "sha256", WHEEL)
    assert verified is False and detail[key] == 1 and len(detail["examples"]) == 1


def test_another_build_is_unverified_and_says_why(tmp_path: Path) -> None:
    verified, detail = verify_digests(batch(tmp_path), reference(tmp_path), {0: A, 1: B}, "sha256", DEBIAN)
    assert verified is None and detail["digests_reported"] == 2
    assert "PSNR" in detail["unverified"] and "emptyDir" in detail["unverified"]
    assert "OpenCV 4.6.0, libjpeg-turbo 2.1.5" in detail["build_reason"]
    assert "OpenCV 5.0.0, libjpeg-turbo 3.1.2" in detail["build_reason"]
    assert "cannot match" in detail["build_reason"] and "compared by PSNR" not in detail["build_reason"]
    # Go and Pillow are always compared by pixels: unverified too, with no build to blame
    verified, detail = verify_digests(batch(tmp_path), reference(tmp_path), {0: A}, "psnr", WHEEL)
    assert verified is None and "build_reason" not in detail and "PSNR" in detail["unverified"]


def test_no_digests_and_tasks_are_unverified(tmp_path: Path) -> None:
    verified, detail = verify_digests(batch(tmp_path), reference(tmp_path), {}, "sha256", WHEEL)
    assert verified is None and detail["unverified"] == REMOTE_NO_DIGESTS
    tasks = Batch(input_root=tmp_path, entries=[], digests={}, description={}, workload="count")
    verified, detail = verify_digests(tasks, reference(tmp_path), {0: A}, "sha256", WHEEL)
    assert verified is None and "emptyDir" in detail["unverified"]


def test_the_worker_reports_digests_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workload = workload_for("count", "opencv")
    workload.setup()
    item = Item(index=0, name="c", input_path="", output_path=str(tmp_path / "c.txt"), task={"count_to": 777})
    assert run_item(workload, item, 0.0).sha256 is None
    monkeypatch.setenv(OUTPUT_DIGESTS_ENV, "sha256")
    event = run_item(workload, item, 0.0)
    assert event.ok and event.sha256 == hashlib.sha256((tmp_path / "c.txt").read_bytes()).hexdigest()
    (tmp_path / "bad.jpg").write_bytes(b"not a JPEG")
    images = workload_for("images", "opencv")
    images.setup()
    bad = Item(index=1, name="bad.jpg", input_path=str(tmp_path / "bad.jpg"), output_path=str(tmp_path / "o.jpg"))
    failed = run_item(images, bad, 0.0)
    assert not failed.ok and failed.sha256 is None


def test_the_digest_travels_in_the_item_event_and_nothing_else_passes_for_one() -> None:
    event = ItemEvent(index=2, name="x.jpg", ok=True, start=0.1, end=0.2, sha256=A)
    assert parse_event(format_event(event)) == event
    assert '"sha256"' not in format_event(ItemEvent(index=2, name="x.jpg", ok=True, start=0.1, end=0.2))
    line = format_event(event).replace(A, "not-a-digest")
    parsed = parse_event(line)
    assert isinstance(parsed, ItemEvent) and parsed.sha256 is None


def test_only_remote_sandboxes_are_asked_for_digests(tmp_path: Path) -> None:
    config = build_config(strategies=["python-sequential"], out=tmp_path, cache_dir=tmp_path, metrics_port=0)
    cell = Cell(strategy="python-sequential", repetition=0, workers=1, memory_limit_bytes=None, cpus=None)
    args = ("run", cell, config, tmp_path / "m.json", tmp_path, tmp_path, tmp_path)
    assert OUTPUT_DIGESTS_ENV not in sandbox_spec(*args).env
    assert sandbox_spec(*args, remote_inputs=({"KIT_RECIPE": "x"}, 0)).env[OUTPUT_DIGESTS_ENV] == "sha256"
