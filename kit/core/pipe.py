"""The controller's stdout, which a reader that goes away cannot fail.

`kit run ... | head -3` closes the pipe after three lines; every later write would raise
BrokenPipeError and end the run with nothing on stderr. A closed stdout is not the run's business:
the run goes on, writes its results and report, prints nothing about the pipe and exits as it
would have (like `yes | head`, minus the SIGPIPE death).
"""

from __future__ import annotations

import errno
import io
import os
import sys
from typing import IO, cast

_state = {"closed": False}


def silence_stdout() -> None:
    """Point file descriptor 1 at /dev/null: later writes, and the interpreter's own last flush of
    what is still buffered, go nowhere instead of failing."""
    _state["closed"] = True
    try:
        fd = _target().fileno()
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return   # not a real file (a test's capture): the flag alone silences it
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def stdout_closed() -> bool:
    """Whether the reader of stdout went away during this process."""
    return _state["closed"]


def _gone(exc: OSError) -> None:
    if exc.errno != errno.EPIPE:
        raise exc
    silence_stdout()


def _target() -> IO[str]:
    """sys.stdout now (tests swap it); under rich's live display, which proxies sys.stdout to the
    console (whose file this is), the file it proxies, as rich's own Console.file does."""
    return cast(IO[str], getattr(sys.stdout, "rich_proxied_file", sys.stdout))


class Stdout(io.TextIOBase):
    """sys.stdout as it is at each write (tests swap it), silenced for good by a closed pipe."""

    def write(self, text: str) -> int:
        if not _state["closed"]:
            try:
                _target().write(text)
            except OSError as exc:
                _gone(exc)
        return len(text)

    def flush(self) -> None:
        if not _state["closed"]:
            try:
                _target().flush()
            except OSError as exc:
                _gone(exc)

    def isatty(self) -> bool:
        try:
            return bool(_target().isatty())
        except (OSError, ValueError, AttributeError):
            return False

    def fileno(self) -> int:
        return _target().fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(_target(), "encoding", None) or "utf-8")


def stdout() -> IO[str]:
    """What the controller's console writes to (rich's Console(file=...))."""
    return cast(IO[str], Stdout())
