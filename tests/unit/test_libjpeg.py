"""Which JPEG library a pipeline runs (kit/worker/workloads/libjpeg.py), on fixtures: OpenCV's build
information from the lock's wheel and from Debian 12's python3-opencv (tests/data/jpeg/, copied from
both on a Debian 12 machine), the /proc/self/maps of Debian's cv2, and a tree of stand-in libraries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kit.worker.workloads import library_info
from kit.worker.workloads.libjpeg import (
    LIBJPEG_FILE,
    bundled_jpeg,
    embedded_jpeg,
    jpeg_line,
    mapped_libraries,
    opencv_jpeg,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "jpeg"
WHEEL = (DATA / "build-information-wheel.txt").read_text()
DEBIAN = (DATA / "build-information-debian.txt").read_text()
MAPS = DATA / "maps-debian.txt"
ROOT = DATA / "root"


def test_the_wheels_bundled_build_is_named_by_its_release() -> None:
    assert jpeg_line(WHEEL) == "build-libjpeg-turbo (ver 3.1.2-70)"   # not the "JPEG 2000:" line
    assert bundled_jpeg(WHEEL) == "libjpeg-turbo 3.1.2"
    assert bundled_jpeg("    JPEG:    libjpeg-turbo (ver 2.1.3-62)\n") == "libjpeg-turbo 2.1.3"
    assert opencv_jpeg(WHEEL, maps=DATA / "absent") == "libjpeg-turbo 3.1.2"   # no look at the maps


def test_a_distributions_build_names_only_the_api_level() -> None:
    assert jpeg_line(DEBIAN) == "/usr/lib/x86_64-linux-gnu/libjpeg.so (ver 62)"
    assert bundled_jpeg(DEBIAN) is None
    assert jpeg_line("General configuration for OpenCV\n") is None


def test_the_mapped_libjpeg_names_its_release() -> None:
    """Debian's cv2 maps libjpeg.so.62.3.0 and three libgdcmjpeg libraries (GDCM's, not libjpeg)."""
    assert mapped_libraries(LIBJPEG_FILE, MAPS) == ["/usr/lib/x86_64-linux-gnu/libjpeg.so.62.3.0"]
    assert embedded_jpeg(ROOT / "usr/lib/x86_64-linux-gnu/libjpeg.so.62.3.0") == "libjpeg-turbo 2.1.5"
    assert embedded_jpeg(ROOT / "usr/lib/x86_64-linux-gnu/libgdcmjpeg8.so.3.0.21") is None
    assert embedded_jpeg(ROOT / "missing.so") is None
    assert opencv_jpeg(DEBIAN, maps=MAPS, root=ROOT) == "libjpeg-turbo 2.1.5"


def test_unknown_when_nothing_says(tmp_path: Path) -> None:
    """IJG's libjpeg carries no libjpeg-turbo string; unreadable maps say nothing: None, never a guess."""
    (tmp_path / "usr/lib/x86_64-linux-gnu").mkdir(parents=True)
    (tmp_path / "usr/lib/x86_64-linux-gnu/libjpeg.so.62.3.0").write_bytes(b"\x7fELF Independent JPEG Group 9e")
    assert opencv_jpeg(DEBIAN, maps=MAPS, root=tmp_path) is None
    assert opencv_jpeg(DEBIAN, maps=tmp_path / "no-maps", root=ROOT) is None


@pytest.mark.parametrize("library", ["opencv", "pillow"])
def test_this_interpreters_library_reports_a_release(library: str) -> None:
    """The test venv's lock wheels: both bundle libjpeg-turbo, so both name a release."""
    info = library_info(library)
    assert re.fullmatch(r"libjpeg-turbo \d+(\.\d+)+", str(info["jpeg_library"])), info
