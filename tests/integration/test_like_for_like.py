"""Like for like on claim 3 (issue 23), for real: on a Debian 12 host after `kit setup --with-deps`
(python3-opencv, python3-numpy and OpenCV's dev files), the Python strategies run Debian's python3
with its cv2, the OpenCV build go-gocv links, and their records say so (library_version 4.6.0,
jpeg_library libjpeg-turbo 2.1.5), verified against the controller's reference (the lock's wheel)
by PSNR; in the worker image, the Python worker reports the same build.

They skip (and fail on CI) where the distribution's OpenCV is not there or not go-gocv's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kit.build import system_opencv
from kit.build.setup import distribution
from tests.conftest import need
from tests.integration.kitrun import kit
from tests.integration.test_docker import client, engine  # noqa: F401 (fixtures: a current image)

DEBIAN_12 = ("4.6.0", "libjpeg-turbo 2.1.5")   # bookworm's libopencv 4.6 and libjpeg62-turbo 2.1.5


def _bookworm() -> bool:
    try:
        return distribution()[0] == "debian" and 'VERSION_ID="12"' in Path("/etc/os-release").read_text()
    except OSError:
        return False


@pytest.mark.cgroup
@pytest.mark.usefixtures("cgroups")
def test_the_python_strategies_run_the_distributions_opencv_on_the_host(tmp_path: Path, cache_dir: Path) -> None:
    found = system_opencv.probe(cache_dir)
    need(found.problem)
    run = kit(["run", "-s", "python-sequential", "-s", "python-threads", "--images", "4", "--resolution", "1080p",
               "--metrics-port", "0"], tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    chosen = run.results["environment"]["python_system_opencv"]
    assert chosen["used"] is True and chosen["python"] == "/usr/bin/python3"
    assert chosen["opencv"] == chosen["gocv_opencv"]
    reference = run.results["workload"]["reference_build"]
    for strategy in ("python-sequential", "python-threads"):
        record = run.record(strategy)
        assert record["status"] == "ok" and record["verified"] is True, record["verification"]
        assert (record["library"], record["library_version"], record["jpeg_library"]) == (
            "opencv", found.opencv, found.jpeg_library)
        if _bookworm():
            assert (record["library_version"], record["jpeg_library"]) == DEBIAN_12
        worker = run.results["concurrency"]["workers"][strategy]
        assert worker["python_executable"] == "/usr/bin/python3" and worker["python"].startswith("3.")
        same = (reference["library_version"], reference["jpeg_library"]) == DEBIAN_12
        assert record["verification"]["method"] == ("sha256" if same else "psnr")
        if not same:   # the controller's lock wheel made the reference: pixels, not bytes, and why
            assert "is not the reference's" in record["verification"]["build_reason"]
            assert record["verification"]["below_threshold"] == 0


@pytest.mark.cgroup
@pytest.mark.docker
@pytest.mark.usefixtures("cgroups")
def test_the_worker_images_python_runs_debians_opencv(tmp_path: Path, cache_dir: Path, client: Any) -> None:  # noqa: F811
    """The image's venv: Debian's python3, cv2 4.6 and NumPy 1.x, the lock's other wheels; a real
    docker run records the same build as go-gocv's, and its outputs are verified."""
    from kit.build.image import image_tag

    labels = client.images.get(image_tag()).labels
    assert (labels["kit.opencv-version"], labels["kit.jpeg-library"]) == DEBIAN_12
    assert labels["kit.numpy-version"].startswith("1.")
    run = kit(["run", "--runtime", "docker", "-s", "python-threads", "--images", "4", "--resolution", "1080p",
               "--metrics-port", "0"], tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    record = run.record("python-threads")
    assert record["status"] == "ok" and record["verified"] is True, record["verification"]
    assert (record["library_version"], record["jpeg_library"]) == DEBIAN_12
    assert run.results["concurrency"]["workers"]["python-threads"]["python_executable"] == "/opt/venv/bin/python"
