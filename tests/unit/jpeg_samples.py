"""Small JPEGs for the unit tests, made with OpenCV itself, and EXIF segments built by hand."""

from __future__ import annotations

import struct

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
