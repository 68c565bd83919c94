"""Verification by build: identical bytes only where a Python worker ran the reference's very OpenCV
build (version and JPEG library); any other build (Debian's OpenCV beside the lock's wheel) is held
to PSNR like Go, and the record says why. Real reference outputs, real outputs of another encoder."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from kit.plan.inputs import Batch
from kit.results.verify import Reference, method_for_build, verify_record
from kit.run.record import record_jpeg_library
from kit.worker.protocol import ManifestEntry

WHEEL = {"library": "opencv", "library_version": "5.0.0", "jpeg_library": "libjpeg-turbo 3.1.2"}
DEBIAN = {"library": "opencv", "library_version": "4.6.0", "jpeg_library": "libjpeg-turbo 2.1.5"}


def _reference(tmp_path: Path, build: dict[str, str | None]) -> Reference:
    return Reference(tmp_path / "ref", {"a.jpg": "digest"}, {}, build)


def test_the_same_build_keeps_bytes(tmp_path: Path) -> None:
    assert method_for_build("sha256", _reference(tmp_path, WHEEL), {**WHEEL, "language": "python"}) == ("sha256", None)


def test_another_opencv_version_or_jpeg_library_is_held_to_psnr(tmp_path: Path) -> None:
    reference = _reference(tmp_path, WHEEL)
    method, reason = method_for_build("sha256", reference, DEBIAN)
    assert method == "psnr"
    assert reason == ("the worker's build (OpenCV 4.6.0, libjpeg-turbo 2.1.5) is not the reference's "
                      "(OpenCV 5.0.0, libjpeg-turbo 3.1.2): pixels compared by PSNR, not bytes")
    assert method_for_build("sha256", reference, {**WHEEL, "jpeg_library": "libjpeg-turbo 3.0.4"})[0] == "psnr"
    unknown = method_for_build("sha256", reference, {"library_version": "5.0.0"})
    assert unknown[0] == "psnr" and "JPEG library unknown" in str(unknown[1])


def test_psnr_stays_psnr_and_tasks_have_no_build(tmp_path: Path) -> None:
    assert method_for_build("psnr", _reference(tmp_path, WHEEL), WHEEL) == ("psnr", None)   # Go, Pillow
    assert method_for_build("sha256", Reference(tmp_path, {}), DEBIAN) == ("sha256", None)  # no images reference


def test_a_record_of_another_build_is_verified_by_psnr_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "ref").mkdir()
    (tmp_path / "out").mkdir()
    rng = np.random.default_rng(3)
    image = cv2.GaussianBlur(rng.integers(0, 255, (120, 200, 3), dtype=np.uint8), (9, 9), 0)
    cv2.imwrite(str(tmp_path / "ref" / "a.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    cv2.imwrite(str(tmp_path / "out" / "a.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 80])   # other bytes
    batch = Batch(input_root=tmp_path, entries=[ManifestEntry("a.jpg", "a.jpg", "a.jpg")], digests={"a.jpg": "x"},
                  description={})
    reference = _reference(tmp_path, WHEEL)
    verified, detail = verify_record(batch, reference, tmp_path / "out", "sha256", DEBIAN)
    assert verified is True and detail["method"] == "psnr" and "4.6.0" in detail["build_reason"]
    verified, detail = verify_record(batch, reference, tmp_path / "out", "sha256", WHEEL)
    assert verified is False and detail["method"] == "sha256" and "build_reason" not in detail


def test_old_results_files_load_with_an_unknown_jpeg_library() -> None:
    from kit.results.records import load, record_from_json

    data = load(Path(__file__).resolve().parent.parent / "data" / "results" / "real_oom_repeats.json")
    record = record_from_json(data["results"][0])
    assert record.jpeg_library is None and "jpeg_library" not in data["results"][0]


def test_records_take_the_jpeg_library_their_worker_reported() -> None:
    assert record_jpeg_library("images", {"language": "go", "jpeg_library": "libjpeg-turbo 2.1.5"}) == \
        "libjpeg-turbo 2.1.5"
    assert record_jpeg_library("images", {"library": "opencv"}) is None     # an older worker: unknown
    assert record_jpeg_library("pi", {"jpeg_library": "libjpeg-turbo 2.1.5"}) is None
    assert record_jpeg_library("images", None) is None
