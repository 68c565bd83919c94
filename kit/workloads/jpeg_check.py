"""Is this a complete JPEG? libjpeg (and so OpenCV) decodes a truncated file into a grey-filled
image with only a warning, so the kit walks the marker structure itself to tell.

Bytes after the end-of-image marker are allowed (cameras and editors append data there);
an end-of-image marker inside an APPn segment (an EXIF thumbnail) does not count.
"""

from __future__ import annotations

import re

# In entropy-coded data 0xFF is followed by 0x00 (stuffing) or RSTn; fill bytes 0xFF may repeat.
_NEXT_MARKER = re.compile(rb"\xff+[^\x00\xd0-\xd7\xff]")
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def jpeg_problem(data: bytes) -> str | None:
    """Return why `data` is not a complete JPEG, or None when it is."""
    if not data:
        return "empty file"
    if not data.startswith(b"\xff\xd8"):
        return "not a JPEG (no start-of-image marker)"
    pos, size, frames = 2, len(data), 0
    while True:
        while pos < size and data[pos] == 0xFF and pos + 1 < size and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes before a marker
        if pos + 2 > size:
            return "truncated JPEG (ends inside the headers)"
        if data[pos] != 0xFF:
            return f"corrupt JPEG (no marker at byte {pos})"
        marker = data[pos + 1]
        if marker == 0xD9:
            return None if frames else "corrupt JPEG (no image data before end-of-image)"
        if marker in _STANDALONE:
            pos += 2
            continue
        if pos + 4 > size:
            return "truncated JPEG (ends inside a segment header)"
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        end = pos + 2 + length
        if length < 2 or end > size:
            return "truncated JPEG (ends inside a segment)"
        if marker != 0xDA:  # not start-of-scan: skip the whole segment
            pos = end
            continue
        frames += 1
        match = _NEXT_MARKER.search(data, end)
        if match is None:
            return "truncated JPEG (image data ends without an end-of-image marker)"
        pos = match.end() - 2
