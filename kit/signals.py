"""Ctrl-C, SIGTERM and SIGHUP end a run the same way: the sandbox is stopped, finished records are
saved, the report is written, and the exit code says which signal it was (130, 143, 129).

The handler raises KeyboardInterrupt, so every `except KeyboardInterrupt` in the kit (the
supervisor's, the metrics linger's) treats the three alike. Inside `deferred()` a signal is only
noted and raised when the block ends: saving results, writing the report and tearing down a
sandbox are never cut in half.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_NAMES = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}

_received: list[int] = []      # every handled signal, in order of arrival
_fired: set[str] = set()       # test hooks already fired (KIT_TEST_SIGNALS)
_state = {"depth": 0, "pending": 0}


def _handler(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise KeyboardInterrupt


def _note(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    _state["pending"] = signum


def install() -> dict[int, Any]:
    """Handle SIGINT, SIGTERM and SIGHUP like Ctrl-C (main thread of the controller only); returns
    the handlers replaced, for `uninstall`."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.signal(signum, _handler) for signum in HANDLED}


def uninstall(previous: dict[int, Any]) -> None:
    """Put back what `install` replaced (the kit called in-process, by tests: processes they fork
    later must not inherit the controller's handling)."""
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def restore_defaults() -> None:
    """What a sandboxed worker needs: the interpreter's own handling of every signal."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def received() -> int | None:
    """The first signal that asked the kit to stop, if any."""
    return _received[0] if _received else None


def exit_code(default: int = 130) -> int:
    """128 + the first signal received (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP)."""
    first = received()
    return 128 + first if first is not None else default


def describe() -> str:
    """"interrupted", "terminated" or "hung up": how the run was stopped."""
    first = received()
    return _NAMES.get(signal.Signals(first), "interrupted") if first is not None else "interrupted"


def reason() -> str:
    """The `message` of an interrupted record."""
    first = received()
    if first is None or first == signal.SIGINT:
        return "interrupted by the user (Ctrl-C)"
    return f"{describe()} ({signal.Signals(first).name})"


@contextmanager
def hold() -> Iterator[None]:
    """Note the handled signals while the block runs without raising; `deliver()` raises later."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    outermost = _state["depth"] == 0
    previous = {signum: signal.signal(signum, _note) for signum in HANDLED} if outermost else {}
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] -= 1
        if outermost:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def pending() -> bool:
    """A signal arrived inside `hold()` and was not delivered yet."""
    return bool(_state["pending"])


def discard() -> None:
    """Forget a held signal (it only repeated a stop already under way)."""
    _state["pending"] = 0


def deliver() -> None:
    """Raise KeyboardInterrupt for a signal held earlier."""
    if _state["pending"] and not _state["depth"]:
        _state["pending"] = 0
        raise KeyboardInterrupt


@contextmanager
def deferred() -> Iterator[None]:
    """Hold the handled signals while the block runs, then deliver one as KeyboardInterrupt."""
    with hold():
        yield
    deliver()


def hook(moment: str) -> None:
    """Tests only: with KIT_TEST_SIGNALS="verify:INT,report:TERM" the controller sends itself the
    named signal the first time it reaches each named moment (item, verify, report), so tests hit
    a narrow window deterministically instead of by timing."""
    spec = os.environ.get("KIT_TEST_SIGNALS")
    if not spec:
        return
    for part in spec.split(","):
        name, _, which = part.partition(":")
        if name == moment and part not in _fired:
            _fired.add(part)
            os.kill(os.getpid(), getattr(signal, f"SIG{which}"))


def reset() -> None:
    """Forget received signals (tests running several commands in one process)."""
    _received.clear()
    _fired.clear()
    _state.update(depth=0, pending=0)
