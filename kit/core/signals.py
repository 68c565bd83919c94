"""Ctrl-C, SIGTERM and SIGHUP end a run the same way: the sandbox is stopped, finished records are
saved, the report is written, and the exit code says which signal it was (130, 143, 129).

The handler raises KeyboardInterrupt, so every `except KeyboardInterrupt` in the kit (the
supervisor's, the metrics linger's) treats the three alike. Inside `deferred()` a signal is only
noted and raised when the block ends: saving results, writing the report and tearing down a
sandbox are never cut in half.

Only the first signal raises. Later ones (a burst: Ctrl-C pressed twice, SIGTERM from a service
manager after SIGHUP from the terminal) are noted and change nothing: a KeyboardInterrupt raised
while the first one is being handled would cut the stop short and lose the running strategy's
record. The exit code is the first signal's.
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
_ignored: set[int] = set()     # ignored when the kit started (nohup's SIGHUP): left ignored


def _handler(signum: int, frame: FrameType | None) -> None:
    first = not _received
    _received.append(signum)
    if first:   # a later one repeats a stop already under way: noted only (see the module's docstring)
        raise KeyboardInterrupt


def _note(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    _state["pending"] = signum


def install() -> dict[int, Any]:
    """Handle SIGINT, SIGTERM and SIGHUP like Ctrl-C (main thread of the controller only); returns
    the handlers replaced, for `uninstall`.

    A SIGHUP ignored when the kit starts stays ignored: `nohup kit run ...` asked for a run that
    outlives the terminal. (SIGINT is not kept ignored: a shell ignores it for every background
    job of a script, which asked for nothing.)"""
    if threading.current_thread() is not threading.main_thread():
        return {}
    _ignored.clear()
    if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN:
        _ignored.add(signal.SIGHUP)
    return {signum: signal.signal(signum, _handler) for signum in _handled()}


def _handled() -> tuple[int, ...]:
    """The signals the kit handles: HANDLED but a SIGHUP that nohup made ignored."""
    return tuple(signum for signum in HANDLED if signum not in _ignored)


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
    previous = {signum: signal.signal(signum, _note) for signum in _handled()} if outermost else {}
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


@contextmanager
def ending() -> Iterator[None]:
    """The process's last moments (the exit message, flushing output): every handled signal is
    noted, none raises, so the kit never dies of one nor loses its exit code."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    for signum in _handled():
        signal.signal(signum, _note)
    yield


def quiet() -> None:
    """After the exit code is decided: a signal can no longer change it, nor kill the process while
    the interpreter shuts down (which puts back the default handlers of Python-level ones)."""
    if threading.current_thread() is threading.main_thread():
        for signum in HANDLED:
            signal.signal(signum, signal.SIG_IGN)


# Failpoints (as etcd's gofail or TiKV's fail-rs): the moments tests can hit on purpose.
MOMENTS = {
    "setup": "the run directory exists, before the first sandbox (inputs, reference, manifests)",
    "sandbox": "a sandbox's group is being made: its owner marker is written, its directories not yet",
    "item": "an item's progress line arrived from the worker",
    "verify": "the worker exited, its outputs are being verified",
    "table": "the results table is about to be printed",
    "report": "report.html is about to be written",
    "cleanup": "the run's end: empty parent groups removed, files handed over",
    "exit": "the exit message is printed, the process is about to exit",
}
DEFAULT_BURST_GAP_MS = 20.0


def hook(moment: str) -> None:
    """Tests only: with KIT_TEST_SIGNALS="verify:INT,report:TERM" the controller sends itself the
    named signal the first time it reaches each named moment (MOMENTS), so tests hit a narrow
    window deterministically instead of by timing. A burst: "item:INT+TERM+HUP" sends the first
    signal at the moment and each next one DEFAULT_BURST_GAP_MS later ("item:INT+INT/150": 150 ms)."""
    spec = os.environ.get("KIT_TEST_SIGNALS")
    if not spec:
        return
    for part in spec.split(","):
        name, _, which = part.partition(":")
        if name == moment and part not in _fired:
            _fired.add(part)
            burst, gap_ms = parse_burst(which)
            first_sent = threading.Event()   # the rest of a burst never overtakes its first signal
            if len(burst) > 1:
                threading.Thread(target=_send_later, args=(burst[1:], gap_ms / 1000, first_sent),
                                 daemon=True).start()
            try:
                os.kill(os.getpid(), burst[0])   # raises here when the handler does
            finally:
                first_sent.set()


def parse_burst(which: str) -> tuple[list[int], float]:
    """"INT+TERM/50" -> ([SIGINT, SIGTERM], 50.0): the signals of one hook and the gap between them."""
    names, _, gap = which.partition("/")
    return ([int(getattr(signal, f"SIG{name.strip().upper()}")) for name in names.split("+")],
            float(gap) if gap else DEFAULT_BURST_GAP_MS)


def _send_later(signums: list[int], gap_seconds: float, first_sent: threading.Event) -> None:
    import time

    first_sent.wait()
    for signum in signums:
        time.sleep(gap_seconds)
        os.kill(os.getpid(), signum)


def reset() -> None:
    """Forget received signals (tests running several commands in one process)."""
    _received.clear()
    _fired.clear()
    _state.update(depth=0, pending=0)
