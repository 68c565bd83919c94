"""Files the kit writes: atomically (readers see the old file or the new one, never half), with
the mode a plain open() gives, and under sudo owned by the user who asked."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def current_umask() -> int:
    """This process's umask, read without changing it (os.umask would, for every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def sudo_owner() -> tuple[int, int] | None:
    """Under sudo, the user who asked: files the kit writes are theirs (SUDO_UID, SUDO_GID)."""
    if os.geteuid() != 0:
        return None
    try:
        return int(os.environ["SUDO_UID"]), int(os.environ["SUDO_GID"])
    except (KeyError, ValueError):
        return None


def hand_over(path: Path) -> None:
    """Give one file or directory to the sudo user (nothing without sudo)."""
    owner = sudo_owner()
    if owner is not None:
        try:
            os.lchown(path, *owner)
        except OSError:
            pass


def hand_over_tree(path: Path) -> None:
    """Give a directory and everything in it to the sudo user (outputs and logs root's workers wrote)."""
    if sudo_owner() is None or not path.exists():
        return
    hand_over(path)
    for directory, names, files in os.walk(path):
        for name in names + files:
            hand_over(Path(directory) / name)


def make_dirs(path: Path) -> None:
    """mkdir -p, each new directory handed over to the sudo user."""
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    path.mkdir(parents=True, exist_ok=True)
    for directory in missing:
        hand_over(directory)


def atomic_write(path: Path, text: str) -> None:
    """Write text to path so that readers see the old file or the new one, never half of one.

    The file gets the mode a plain open() would give (0666 minus the umask; mkstemp's is 0600),
    and under sudo belongs to the user who asked."""
    make_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        if (owner := sudo_owner()) is not None:
            os.fchown(fd, *owner)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:   # a write or fsync names no file: say which
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise
