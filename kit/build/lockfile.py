"""The worker lock split for the worker image: its venv's part and its input generator's.

The image's Python strategies run Debian's own OpenCV and NumPy (python3-opencv, python3-numpy: the
build go-gocv links), so its venv installs the lock minus numpy and opencv-python-headless; every
other pin keeps its hashes. Those two pins go to a directory of their own, /opt/kit/generator, which
only a Kubernetes pod's init container puts on its path (kit/runtimes/kube/manifests.py): it generates the
inputs there, and they must be the controller's bytes, made with the lock's OpenCV. The Dockerfile
runs this file on its own, before the kit is installed:
`python3 lockfile.py requirements.lock numpy opencv-python-headless > image.lock` and, with
`--only`, the other part. Stdlib only, and nothing of the kit.
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
    return _select(lock, names, keep=False)


def only(lock: str, names: Iterable[str]) -> str:
    """`lock`'s text with only the blocks of `names` (and the header comments)."""
    return _select(lock, names, keep=True)


def _select(lock: str, names: Iterable[str], keep: bool) -> str:
    wanted, inside, kept = {canonical(name) for name in names}, not keep, []
    for line in lock.splitlines(keepends=True):
        if line[:1] not in ("", " ", "\t", "#", "\n"):
            match = _PIN.match(line)
            inside = (match is not None and canonical(match.group(1)) in wanted) is keep
        if inside or (keep and line.startswith("#")):
            kept.append(line)
    return "".join(kept)


def pins(lock: str) -> list[str]:
    """The lock's `name==version` pins, in order."""
    return [line.split(" ", 1)[0].strip() for line in lock.splitlines() if _PIN.match(line)]


def main(argv: list[str]) -> int:
    keep = argv[:1] == ["--only"]
    argv = argv[1:] if keep else argv
    if len(argv) < 2:
        print("usage: python3 lockfile.py [--only] LOCK NAME... (prints LOCK without NAME's pins, or only them)",
              file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as handle:
        sys.stdout.write((only if keep else without)(handle.read(), argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
