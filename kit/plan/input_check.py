"""Every input judged once, by the controller, before any timing: complete, not a decompression
bomb, readable. Workers get the verdicts in the manifest and never scan bytes themselves, so the
timed work per good item is the study's pipeline and nothing else (product.md section 5).

Completeness is judged on the marker structure, not left to the decoder: libjpeg (and so OpenCV
4.x) decodes a truncated file into a grey-filled image with only a warning. Bytes after the
end-of-image marker are allowed (cameras and editors append data there); an end-of-image marker
inside an APPn segment (an EXIF thumbnail) does not count. The pixel count comes from the frame
header alone, so a bomb is refused without decoding a byte of it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

# A 100 MP frame is larger than any camera photo of 2026 (medium format tops out near 150 MP, but
# their JPEGs rarely exceed 100 MP); 4K is 8.3 MP. A decoder allocates 3 bytes per pixel: 300 MB.
DEFAULT_MAX_PIXELS = 100_000_000
CHECKER_VERSION = 2          # part of every cache key that holds verdicts

_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
# Start-of-frame markers carry the image's size: SOF0-SOF15 but DHT (C4), JPG (C8) and DAC (CC).
_START_OF_FRAME = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


@dataclass(frozen=True, slots=True)
class Verdict:
    """One input's judgement: `problem` is None for a good file; its sha256 either way."""

    digest: str
    problem: str | None
    width: int | None = None
    height: int | None = None


def _next_marker(data: bytes, start: int) -> int:
    """Position of the first marker after entropy-coded data at `start`, or -1. In that data 0xFF
    is followed by 0x00 (stuffing) or RSTn; fill bytes 0xFF may repeat. bytes.find runs in C."""
    size, pos = len(data), start
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= size:
            return -1
        following = data[pos + 1]
        if following == 0xFF:
            pos += 1
        elif following == 0x00 or 0xD0 <= following <= 0xD7:
            pos += 2
        else:
            return pos


def jpeg_problem(data: bytes, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> str | None:
    """Why `data` is not a complete JPEG within `max_pixels`, or None when it is."""
    return _walk(data, max_pixels, [])


def _walk(data: bytes, max_pixels: int | None, sizes: list[tuple[int, int]]) -> str | None:
    """The marker walk behind jpeg_problem; the first frame header's (width, height) goes into `sizes`."""
    if not data:
        return "empty file"
    if not data.startswith(b"\xff\xd8"):
        return "not a JPEG (no start-of-image marker)"
    pos, size, scans, framed = 2, len(data), 0, False
    while True:
        while pos < size and data[pos] == 0xFF and pos + 1 < size and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes before a marker
        if pos + 2 > size:
            return "truncated JPEG (ends inside the headers)"
        if data[pos] != 0xFF:
            return f"corrupt JPEG (no marker at byte {pos})"
        marker = data[pos + 1]
        if marker == 0xD9:
            return None if scans else "corrupt JPEG (no image data before end-of-image)"
        if marker in _STANDALONE:
            pos += 2
            continue
        if pos + 4 > size:
            return "truncated JPEG (ends inside a segment header)"
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        end = pos + 2 + length
        if length < 2 or end > size:
            return "truncated JPEG (ends inside a segment)"
        if marker in _START_OF_FRAME and not framed:
            if length < 8:
                return "corrupt JPEG (frame header too short)"
            height, width = int.from_bytes(data[pos + 5:pos + 7], "big"), int.from_bytes(data[pos + 7:pos + 9], "big")
            sizes.append((width, height))
            if problem := size_problem(width, height, max_pixels):
                return problem
            framed = True
        if marker != 0xDA:  # not start-of-scan: skip the whole segment
            pos = end
            continue
        if not framed:
            return "corrupt JPEG (image data before the frame header)"
        scans += 1
        pos = _next_marker(data, end)
        if pos < 0:
            return "truncated JPEG (image data ends without an end-of-image marker)"


def size_problem(width: int, height: int, max_pixels: int | None) -> str | None:
    """A frame header's size, judged: a zero side (DNL, which libjpeg refuses too) or a bomb."""
    if width == 0 or height == 0:
        return f"corrupt JPEG (frame header declares {width}x{height})"
    if max_pixels is not None and width * height > max_pixels:
        return (f"too large: the header declares {width}x{height} = {width * height / 1e6:.1f} MP, "
                f"above --max-pixels {max_pixels} (a decompression bomb is never decoded)")
    return None


def frame_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first frame header, without decoding; None when there is none."""
    sizes: list[tuple[int, int]] = []
    _walk(data, None, sizes)
    return sizes[0] if sizes else None


def judge_file(path: Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Verdict:
    """Read one input once (this also warms the page cache), digest it and judge it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = f"unreadable: {exc.strerror or exc}"
        return Verdict(digest=reason, problem=reason)
    sizes: list[tuple[int, int]] = []   # one walk gives the verdict and the declared size
    problem = _walk(data, max_pixels, sizes)
    width, height = sizes[0] if sizes else (None, None)
    return Verdict(digest=hashlib.sha256(data).hexdigest(), problem=problem, width=width, height=height)
