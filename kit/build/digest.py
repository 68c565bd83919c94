"""One digest of a source tree, so a build is never used for other sources than its own."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path


def tree_digest(root: Path, files: Iterable[Path]) -> str:
    """sha256 (hex) over each file's path relative to `root` and its content, in sorted order:
    equal digests, equal sources."""
    total = hashlib.sha256()
    for path in sorted(root / f for f in files):
        total.update(path.relative_to(root).as_posix().encode() + b"\0")
        total.update(hashlib.sha256(path.read_bytes()).digest())
    return total.hexdigest()
