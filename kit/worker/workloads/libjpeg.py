"""Which JPEG library an image pipeline runs, as one comparable string: "libjpeg-turbo 2.1.5".

Claim 3 compares like for like only when both sides decode and encode with the same JPEG library
build, so every images worker reports it (the start event's `jpeg_library`), Go's workers the same
way. OpenCV says it in its build information, but only for a bundled build: the wheel's JPEG line
reads `build-libjpeg-turbo (ver 3.1.2-70)`, while a distribution's names the library it linked
against (`/usr/lib/x86_64-linux-gnu/libjpeg.so (ver 62)`, the API level, not the release). Then
the library this process has mapped (/proc/self/maps) names itself: libjpeg-turbo embeds
`libjpeg-turbo version 2.1.5 (build 20230203)`. Read once at worker start, outside any timing.

Stdlib only: the worker imports it inside the sandbox (and the free-threaded interpreter too).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# "build-libjpeg-turbo (ver 3.1.2-70)" (a bundled build) or "libjpeg-turbo (ver 2.1.3-62)"; the
# suffix after the dash is the libjpeg API level it emulates, not part of the release.
_BUNDLED = re.compile(r"\blibjpeg-turbo \(ver (\d+(?:\.\d+)+)(?:-\d+)?\)")
_EMBEDDED = re.compile(rb"libjpeg-turbo version (\d+(?:\.\d+)+)")
# libjpeg.so.62.3.0, libjpeg-turbo.so.0, a wheel's libjpeg-1a2b3c4d.so.62.4.0; not libjpegxl or openjpeg
LIBJPEG_FILE = re.compile(r"^libjpeg(?:-turbo)?(?:-[0-9a-f]{8})?\.so(?:\.\d+)*$")


def jpeg_line(build_information: str) -> str | None:
    """The value of OpenCV's `JPEG:` build-information line, or None when it has none."""
    for line in build_information.splitlines():
        stripped = line.strip()
        if stripped.startswith("JPEG:"):
            return stripped.split(":", 1)[1].strip()
    return None


def bundled_jpeg(build_information: str) -> str | None:
    """"libjpeg-turbo X.Y.Z" when OpenCV was built with its own libjpeg-turbo (the wheels), else None."""
    line = jpeg_line(build_information) or ""
    match = _BUNDLED.search(line)
    return f"libjpeg-turbo {match.group(1)}" if match else None


def mapped_libraries(pattern: re.Pattern[str], maps: Path = Path("/proc/self/maps")) -> list[str]:
    """The files this process has mapped whose name matches `pattern`, first mapped first."""
    try:
        text = maps.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    found: dict[str, None] = {}
    for line in text.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5].startswith("/") and pattern.match(os.path.basename(fields[5])):
            found.setdefault(fields[5].removesuffix(" (deleted)"), None)
    return list(found)


def embedded_jpeg(path: Path) -> str | None:
    """"libjpeg-turbo X.Y.Z" from the version string a libjpeg-turbo library carries, else None."""
    try:
        match = _EMBEDDED.search(path.read_bytes())
    except OSError:
        return None
    return f"libjpeg-turbo {match.group(1).decode()}" if match else None


def opencv_jpeg(build_information: str, maps: Path = Path("/proc/self/maps"), root: Path = Path("/")) -> str | None:
    """The JPEG library of the OpenCV this process has loaded: its bundled build, else the libjpeg it
    maps (`root` prefixes the mapped paths, for fixture trees); None when neither says."""
    if bundled := bundled_jpeg(build_information):
        return bundled
    for mapped in mapped_libraries(LIBJPEG_FILE, maps):
        if found := embedded_jpeg(root / mapped.lstrip("/")):
            return found
    return None
