"""The worker lock without some of its packages, for the worker image's venv.

The image's Python strategies run Debian's own OpenCV and NumPy (python3-opencv, python3-numpy: the
build go-gocv links), so its venv installs the lock minus numpy and opencv-python-headless; every
other pin keeps its hashes. The Dockerfile runs this file on its own, before the kit is installed:
`python3 lockfile.py requirements.lock numpy opencv-python-headless > image.lock`. Stdlib only,
and nothing of the kit.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable

# A block starts at a pin in the first column (`name==version \`); its hash and comment lines are
# indented. Names compare as pip does (PEP 503: case, '-', '_' and '.' alike).
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def without(lock: str, names: Iterable[str]) -> str:
    """`lock`'s text with the blocks of `names` left out (header comments and other blocks kept)."""
    dropped, skipping, kept = {canonical(name) for name in names}, False, []
    for line in lock.splitlines(keepends=True):
        if line[:1] not in ("", " ", "\t", "#", "\n"):
            match = _PIN.match(line)
            skipping = match is not None and canonical(match.group(1)) in dropped
        if not skipping:
            kept.append(line)
    return "".join(kept)


def pins(lock: str) -> list[str]:
    """The lock's `name==version` pins, in order."""
    return [line.split(" ", 1)[0].strip() for line in lock.splitlines() if _PIN.match(line)]


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python3 lockfile.py LOCK NAME... (prints LOCK without NAME's pins)", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as handle:
        sys.stdout.write(without(handle.read(), argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
