"""The Pillow pipeline (--library pillow): the images contract's geometry, outputs within the PSNR
floor of OpenCV's reference outputs (the real make_reference and verify_outputs, both libraries
real), bad inputs as failed items, and a worker path that loads neither cv2 nor NumPy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from jpeg_samples import encode, exif_segment, picture, with_segment

from kit.plan.inputs import Batch
from kit.results.verify import PSNR_THRESHOLD_DB, make_reference, psnr_db, verify_outputs
from kit.worker.programs import program
from kit.worker.protocol import ManifestEntry, write_manifest
from kit.worker.workloads import images, images_pillow, library_info, workload_for
from kit.worker.workloads.base import Item, ItemFailed
from kit.worker.workloads.imagegen import generate_image


def decoded(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    assert image is not None
    return image


@pytest.mark.parametrize(("size", "expected"), [
    ((2000, 1500), (1080, 1440)),   # non-integer factor
    ((3840, 2160), (1080, 1920)),   # exactly 2x
    ((320, 200), (200, 320)),       # never upscaled
    ((1080, 1920), (1080, 608)),    # portrait, rounded half up
])
def test_output_has_the_contracts_geometry(size: tuple[int, int], expected: tuple[int, int]) -> None:
    assert decoded(images_pillow.transform(encode(picture(*size)))).shape == (*expected, 3)


@pytest.mark.parametrize(("width", "height", "floor_db"), [
    (3840, 2160, 38.0),   # 2x: BOX and INTER_AREA are the same block mean, up to rounding
    (4000, 3000, 30.0),   # 2.78x: edge pixels counted whole (BOX) or in part (INTER_AREA)
])
def test_outputs_are_close_to_opencvs_on_generated_photos(width: int, height: int, floor_db: float) -> None:
    """The measured floors of bench/pillow_psnr.py, with a margin: well above the verification's."""
    source = generate_image(0, width, height)
    value = psnr_db(decoded(images.transform(source)), decoded(images_pillow.transform(source)))
    assert floor_db <= value < 100.0 and value > PSNR_THRESHOLD_DB


def test_a_grey_jpeg_gives_three_channels_like_opencv() -> None:
    grey = cv2.imencode(".jpg", picture(400, 300)[:, :, 0])[1].tobytes()
    output = images_pillow.transform(grey)
    assert decoded(output).shape == decoded(images.transform(grey)).shape == (300, 400, 3)
    assert psnr_db(decoded(images.transform(grey)), decoded(output)) > PSNR_THRESHOLD_DB


def test_exif_orientation_is_ignored() -> None:
    photo = with_segment(encode(picture(240, 160)), exif_segment(orientation=6))
    assert decoded(images_pillow.transform(photo)).shape[:2] == (160, 240)


@pytest.mark.parametrize("data", [b"", b"not a jpeg", b"\xff\xd8\xff\xdb\x00\x43", b"\xff\xd8" + bytes(5000),
                                  encode(picture(400, 300))[:600]])
def test_undecodable_bytes_are_a_failed_item_never_a_crash(data: bytes) -> None:
    with pytest.raises(ItemFailed, match="Pillow error"):
        images_pillow.transform(data)


def test_workload_reads_writes_and_keeps_the_controllers_verdict(tmp_path: Path) -> None:
    source, target = tmp_path / "in.jpg", tmp_path / "out.jpg"
    source.write_bytes(encode(picture(2400, 1350)))
    workload = workload_for("images", "pillow")
    workload.setup()
    workload.process(Item(index=0, name="in.jpg", input_path=str(source), output_path=str(target)))
    assert decoded(target.read_bytes()).shape == (1080, 1920, 3)
    with pytest.raises(ItemFailed, match="^too large"):
        workload.process(Item(index=1, name="b.jpg", input_path=str(tmp_path / "never-read.jpg"),
                              output_path=str(tmp_path / "b.jpg"), problem="too large: 60000x60000"))
    with pytest.raises(ItemFailed, match="unreadable"):
        workload.process(Item(index=2, name="gone.jpg", input_path=str(tmp_path / "gone.jpg"),
                              output_path=str(tmp_path / "x.jpg")))


def test_pillow_outputs_verify_by_psnr_against_the_opencv_reference(tmp_path: Path) -> None:
    """The controller's real reference (OpenCV, sequential) and the real check: Pillow's bytes differ,
    so byte equality fails and PSNR passes, with its figures recorded; a broken output fails."""
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    outputs.mkdir()
    names = ["a.jpg", "b.jpg"]
    for index, name in enumerate(names):
        (inputs / name).write_bytes(generate_image(index, 2000, 1500))
    entries = [ManifestEntry(name, name, name) for name in names]
    batch = Batch(input_root=inputs, entries=entries, digests={n: n for n in names}, description={})
    reference = make_reference(batch, tmp_path / "ref")
    workload = workload_for("images", "pillow")
    for index, name in enumerate(names):
        workload.process(Item(index=index, name=name, input_path=str(inputs / name), output_path=str(outputs / name)))
    assert program("python-threads").output_check("pillow") == "psnr" == program("go-native").output_check()
    assert program("python-threads").output_check() == "sha256"
    assert verify_outputs(batch, reference, outputs, "sha256")[0] is False
    verified, detail = verify_outputs(batch, reference, outputs, "psnr")
    assert verified, detail
    assert PSNR_THRESHOLD_DB < detail["psnr_min_db"] < 100.0 and detail["identical_pixels"] == 0
    swapped = decoded((outputs / "a.jpg").read_bytes())[:, :, ::-1]
    (outputs / "a.jpg").write_bytes(cv2.imencode(".jpg", swapped)[1].tobytes())
    verified, detail = verify_outputs(batch, reference, outputs, "psnr")
    assert verified is False and detail["below_threshold"] == 1


def test_library_info_names_the_library_and_its_jpeg_library() -> None:
    pillow, opencv = library_info("pillow"), library_info("opencv")
    assert pillow["library"] == "pillow" and pillow["library_version"][0].isdigit()
    assert "libjpeg" in pillow["libjpeg"] and opencv["library"] == "opencv"


WORKER_WITHOUT_CV2 = """
import json, sys
from kit.worker.main import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "loaded": sorted(m for m in ("cv2", "numpy") if m in sys.modules)}))
"""


@pytest.mark.parametrize("strategy", ["python-sequential", "python-threads", "python-processes"])
def test_the_pillow_worker_loads_neither_cv2_nor_numpy(tmp_path: Path, strategy: str) -> None:
    """What lets the free-threaded interpreter (no cv2 or NumPy wheel) run it: the real worker entry
    point, in a fresh interpreter, reports its library and leaves both modules unloaded."""
    inputs, outputs, manifest = tmp_path / "in", tmp_path / "out", tmp_path / "manifest.json"
    inputs.mkdir()
    (inputs / "a.jpg").write_bytes(encode(picture(800, 600)))
    write_manifest(manifest, [ManifestEntry("a.jpg", "a.jpg", "a.jpg"), ManifestEntry("a.jpg", "a.jpg", "b.jpg")])
    done = subprocess.run([sys.executable, "-c", WORKER_WITHOUT_CV2, "--strategy", strategy, "--workers", "2",
                           "--library", "pillow", "--manifest", str(manifest), "--input-root", str(inputs),
                           "--output-dir", str(outputs)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[-1] == {"code": 0, "loaded": []}
    start = next(line for line in lines if line.get("event") == "start")
    assert start["concurrency"]["library"] == "pillow" and start["concurrency"]["opencv_threads_per_worker"] is None
    assert decoded((outputs / "b.jpg").read_bytes()).shape == (600, 800, 3)


def test_each_images_record_names_the_library_that_made_its_outputs() -> None:
    from kit.run.record import record_library

    assert record_library("python-threads", "images", {"library": "pillow", "library_version": "12.2.0"}) == (
        "pillow", "12.2.0")
    assert record_library("go-gocv", "images", {"language": "go", "opencv": "4.6.0"}) == ("opencv (gocv)", "4.6.0")
    assert record_library("go-native", "images", {"language": "go", "go": "go1.26"}) == ("image/jpeg (go)", "go1.26")
    assert record_library("python-threads", "pi", {"library": "pillow"}) == (None, None)   # tasks: no library
    assert record_library("python-threads", "images", None) == (None, None)                # the worker never started
