"""The controller's input check: completeness on the marker structure, not left to the decoder
(OpenCV 4.x decodes a truncated JPEG into a grey-filled image with only a warning; the 5.0 build
installed here returns None; Go's decoder differs again), and the declared size judged from the
frame header alone (decompression bombs). Real JPEGs from OpenCV's own encoder."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
from jpeg_samples import encode, exif_segment, header_only, picture, scan_start, with_declared_size, with_segment

from kit.plan.input_check import DEFAULT_MAX_PIXELS, frame_size, jpeg_problem, judge_file

BASELINE = encode(picture())
PROGRESSIVE = encode(picture(), cv2.IMWRITE_JPEG_PROGRESSIVE, 1)
RESTARTS = encode(picture(), cv2.IMWRITE_JPEG_RST_INTERVAL, 1)


def test_complete_jpeg_passes() -> None:
    assert jpeg_problem(BASELINE) is None


@pytest.mark.parametrize("where", ["soi-only", "inside-headers", "segment-length", "sos-header",
                                   "scan-start", "mid-scan", "before-eoi", "half-eoi"])
def test_truncated_jpeg_is_a_problem(where: str) -> None:
    data = BASELINE
    cut = {
        "soi-only": 2,
        "inside-headers": data.index(b"\xff\xdb") + 10,      # inside the quantisation tables
        "segment-length": data.index(b"\xff\xc0") + 3,       # between a marker and its length
        "sos-header": data.index(b"\xff\xda") + 6,
        "scan-start": scan_start(data),
        "mid-scan": (scan_start(data) + len(data)) // 2,
        "before-eoi": len(data) - 2,
        "half-eoi": len(data) - 1,                           # the 0xFF of EOI without its D9
    }[where]
    problem = jpeg_problem(data[:cut])
    assert problem is not None and "JPEG" in problem


def test_bytes_after_end_of_image_are_allowed() -> None:
    """Cameras and editors append data after EOI (Samsung trailers, Motion Photos)."""
    assert jpeg_problem(BASELINE + b"trailer data \xff\xd8 and more") is None
    assert jpeg_problem(BASELINE + bytes(4096)) is None


def test_empty_file() -> None:
    assert jpeg_problem(b"") == "empty file"


@pytest.mark.parametrize("data", [b"hello, this is text\n", b"\x89PNG\r\n\x1a\n" + bytes(32), b"\xff",
                                  b"\xd8\xff\xe0"])
def test_not_a_jpeg(data: bytes) -> None:
    problem = jpeg_problem(data)
    assert problem is not None and "not a JPEG" in problem


def test_markers_without_image_data_are_not_a_jpeg() -> None:
    assert jpeg_problem(b"\xff\xd8\xff\xd9") is not None


def test_garbage_after_soi_is_corrupt() -> None:
    assert jpeg_problem(b"\xff\xd8" + b"plain text, no markers") is not None


def test_thumbnail_end_marker_does_not_hide_a_truncated_image() -> None:
    """An EXIF thumbnail is a whole JPEG inside APP1, with its own FFD9: a naive search for the
    end-of-image marker would call the truncated main image complete."""
    thumbnail = encode(picture(16, 12))
    assert thumbnail.endswith(b"\xff\xd9")
    photo = with_segment(BASELINE, exif_segment(orientation=1, thumbnail=thumbnail))
    assert jpeg_problem(photo) is None
    truncated = photo[: (scan_start(photo) + len(photo)) // 2]
    assert b"\xff\xd9" in truncated                            # the thumbnail's marker is still there
    assert jpeg_problem(truncated) is not None


def test_progressive_jpeg() -> None:
    assert PROGRESSIVE.count(b"\xff\xda") > 1                  # really several scans
    assert jpeg_problem(PROGRESSIVE) is None
    second_scan = PROGRESSIVE.index(b"\xff\xda", PROGRESSIVE.index(b"\xff\xda") + 2)
    for cut in (second_scan, second_scan + 1, (second_scan + len(PROGRESSIVE)) // 2, len(PROGRESSIVE) - 2):
        assert jpeg_problem(PROGRESSIVE[:cut]) is not None, cut


def test_restart_markers_inside_the_scan() -> None:
    body = RESTARTS[scan_start(RESTARTS):]
    assert any(bytes([0xFF, rst]) in body for rst in range(0xD0, 0xD8))   # really has RSTn
    assert jpeg_problem(RESTARTS) is None
    assert jpeg_problem(RESTARTS[:-2]) is not None


def test_fill_bytes_before_a_marker_are_allowed() -> None:
    """0xFF fill bytes may precede any marker (ITU T.81 B.1.1.2)."""
    eoi = len(BASELINE) - 2
    assert jpeg_problem(BASELINE[:eoi] + b"\xff\xff\xff" + BASELINE[eoi:]) is None


def test_the_frame_header_gives_the_size_without_decoding() -> None:
    assert frame_size(BASELINE) == (96, 64)
    assert frame_size(PROGRESSIVE) == (96, 64)
    assert frame_size(with_segment(BASELINE, exif_segment(orientation=6))) == (96, 64)
    assert frame_size(with_declared_size(BASELINE, 60000, 50000)) == (60000, 50000)
    assert frame_size(b"\xff\xd8\xff\xd9") is None


@pytest.mark.parametrize(("data", "declared"), [
    (header_only(BASELINE, 60000, 60000), "60000x60000"),        # headers alone: nothing to decode at all
    (with_declared_size(BASELINE, 30000, 30000), "30000x30000"),  # complete structure, a 2.7 GB frame
    (with_declared_size(PROGRESSIVE, 20000, 10000), "20000x10000"),
])
def test_a_decompression_bomb_is_judged_from_its_header(data: bytes, declared: str) -> None:
    problem = jpeg_problem(data)
    assert problem is not None and problem.startswith("too large") and declared in problem
    assert str(DEFAULT_MAX_PIXELS) in problem


def test_the_pixel_limit_is_a_setting() -> None:
    big = with_declared_size(BASELINE, 12000, 9000)               # 108 MP: over the default
    assert jpeg_problem(big) is not None
    assert jpeg_problem(big, max_pixels=200_000_000) is None       # a complete file, allowed
    assert jpeg_problem(BASELINE, max_pixels=96 * 64) is None       # the limit itself is allowed
    assert "above --max-pixels 6143" in (jpeg_problem(BASELINE, max_pixels=96 * 64 - 1) or "")


def test_a_zero_side_in_the_frame_header_is_corrupt() -> None:
    """Height 0 means 'given later by a DNL marker', which libjpeg refuses too."""
    problem = jpeg_problem(with_declared_size(BASELINE, 96, 0))
    assert problem is not None and "0" in problem and "corrupt" in problem


def test_image_data_before_any_frame_header_is_corrupt() -> None:
    sof = BASELINE.index(b"\xff\xc0")
    length = int.from_bytes(BASELINE[sof + 2:sof + 4], "big")
    assert "before the frame header" in (jpeg_problem(BASELINE[:sof] + BASELINE[sof + 2 + length:]) or "")


def test_judge_file_digests_and_judges_once(tmp_path: Path) -> None:
    good, bomb = tmp_path / "good.jpg", tmp_path / "bomb.jpg"
    good.write_bytes(BASELINE)
    bomb.write_bytes(header_only(BASELINE, 60000, 60000))
    verdict = judge_file(good)
    assert verdict.problem is None and (verdict.width, verdict.height) == (96, 64) and len(verdict.digest) == 64
    assert (judge_file(bomb).problem or "").startswith("too large")
    missing = judge_file(tmp_path / "gone.jpg")
    assert missing.problem == "unreadable: No such file or directory" and missing.digest == missing.problem
