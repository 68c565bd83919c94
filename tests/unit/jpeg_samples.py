"""Small JPEGs for the unit tests, made with OpenCV itself, and EXIF segments built by hand."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np


def picture(width: int = 96, height: int = 64) -> np.ndarray:
    """A deterministic, textured BGR image: gradients and a pattern so every scan has data."""
    ys, xs = np.mgrid[0:height, 0:width]
    blue = (xs * 255 // max(1, width - 1)).astype(np.uint8)
    green = (ys * 255 // max(1, height - 1)).astype(np.uint8)
    red = (((xs // 4 + ys // 4) % 2) * 200 + (xs * ys) % 55).astype(np.uint8)
    return np.dstack([blue, green, red])


def encode(image: np.ndarray, *params: int) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90, *params])
    assert ok
    return data.tobytes()


def exif_segment(orientation: int | None = None, thumbnail: bytes | None = None) -> bytes:
    """An APP1 Exif segment (big-endian TIFF): IFD0 with Orientation, IFD1 pointing at a thumbnail."""
    def ifd(entries: list[tuple[int, int, int, int]], next_offset: int) -> bytes:
        body = struct.pack(">H", len(entries))
        for tag, kind, count, value in entries:
            packed = struct.pack(">HH", value, 0) if kind == 3 else struct.pack(">I", value)  # SHORT | LONG
            body += struct.pack(">HHI", tag, kind, count) + packed
        return body + struct.pack(">I", next_offset)

    ifd0_entries = [(0x0112, 3, 1, orientation)] if orientation is not None else []
    ifd0_size = 2 + 12 * len(ifd0_entries) + 4
    ifd1_offset = 8 + ifd0_size if thumbnail else 0
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + ifd(ifd0_entries, ifd1_offset)
    if thumbnail:
        thumb_offset = ifd1_offset + 2 + 12 * 2 + 4
        tiff += ifd([(0x0201, 4, 1, thumb_offset), (0x0202, 4, 1, len(thumbnail))], 0) + thumbnail
    payload = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def with_segment(jpeg: bytes, segment: bytes) -> bytes:
    """Insert an APPn segment right after SOI, where cameras put EXIF."""
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + segment + jpeg[2:]


def scan_start(jpeg: bytes) -> int:
    """Offset of the first start-of-scan marker's entropy-coded data."""
    sos = jpeg.index(b"\xff\xda")
    return sos + 2 + int.from_bytes(jpeg[sos + 2:sos + 4], "big")


def with_declared_size(jpeg: bytes, width: int, height: int) -> bytes:
    """The same file with its frame header (SOF0) declaring another size: a decompression bomb
    when the size is large (a decoder allocates width x height x 3 bytes before reading the scan)."""
    sof = min(i for i in (jpeg.find(b"\xff\xc0"), jpeg.find(b"\xff\xc2")) if i >= 0)   # baseline or progressive
    return jpeg[:sof + 5] + struct.pack(">HH", height, width) + jpeg[sof + 9:]


def header_only(jpeg: bytes, width: int, height: int) -> bytes:
    """Start-of-image and the headers up to the frame header, declaring width x height, no scan."""
    sos = jpeg.index(b"\xff\xda")
    return with_declared_size(jpeg[:sos], width, height)


def bad_batch(directory: Path) -> dict[str, str | None]:
    """Good files beside every kind of bad one; returns what each must become (the start of its
    reason, or None for a good file)."""
    good = encode(picture(640, 400))
    files = {
        "a-good.jpg": (good, None),
        "b-truncated.jpg": (good[: len(good) // 2], "truncated JPEG"),
        "c-notes.txt": (b"not an image at all\n", "not a JPEG"),
        "d-empty.jpg": (b"", "empty file"),
        "e-bomb-60000.jpg": (header_only(good, 60000, 60000), "too large"),
        "f-bomb-30000.jpg": (with_declared_size(good, 30000, 30000), "too large"),
        "g-good.jpg": (encode(picture(300, 200)), None),
    }
    directory.mkdir()
    for name, (data, _) in files.items():
        (directory / name).write_bytes(data)
    return {name: reason for name, (_, reason) in files.items()}
