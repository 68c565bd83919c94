"""A pool process that dies ends the strategy at once, saying how it died.

`multiprocessing.Pool` replaces a dead process and waits forever for the task it held; a
`ProcessPoolExecutor` breaks with a message that names no process and no signal. An OOM kill is
seen by the controller (the cgroup's counter), but a process killed by anything else (a signal,
a crash, `os._exit`) left the strategy to the 120 s stall limit. So the worker watches its own
pool: every process the pool starts is recorded through its multiprocessing context, a thread
polls their exit codes, and the first death before the pool is closed interrupts the main thread
(SIGUSR1) wherever it waits, which ends the worker with exit code 1 and the line "kit worker: pool
process 1234 was killed by SIGKILL" on stderr: the controller's `failed` message.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from types import FrameType, TracebackType
from typing import Any

POLL_SECONDS = 0.05
EXIT_STATUS_WAIT_SECONDS = 1.0


class RecordingContext:
    """A multiprocessing context that remembers every process started through it (Pool and
    ProcessPoolExecutor both start theirs with `context.Process`)."""

    def __init__(self, context: Any) -> None:
        self._context = context
        self.processes: list[Any] = []

    def Process(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802 - the multiprocessing name
        process = self._context.Process(*args, **kwargs)
        self.processes.append(process)
        return process

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def how_it_ended(exitcode: int) -> str:
    """"was killed by SIGKILL" or "exited with code 3"."""
    if exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with code {exitcode}"


class PoolWatch:
    """Usage (the watch must stop before the pool closes, when its processes end normally)::

        with PoolWatch(context) as watch, Pool(processes=4, context=watch.context) as pool:
            try:
                ...
            finally:
                watch.stop()

    A death ends the worker at once (`abandon`): a Pool whose process was killed while holding
    its task queue's lock can hang in `terminate()`, also at interpreter exit, so nothing of the
    broken pool is waited for.
    """

    def __init__(self, context: Any) -> None:
        self.recording = RecordingContext(context)
        self.context: Any = self.recording  # what the pool is given as its multiprocessing context
        self.died: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="kit-pool-watch", daemon=True)
        self._main = threading.main_thread().ident
        self._previous: Any = None

    def __enter__(self) -> PoolWatch:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGUSR1, self._interrupt)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._halt()
        if kind is not None:
            # The pool broke (BrokenProcessPool, asyncio's ExceptionGroup of them): the dead process
            # closed its pipes a moment before the kernel lets its exit status be read.
            deadline = time.monotonic() + EXIT_STATUS_WAIT_SECONDS
            while not self._check() and time.monotonic() < deadline:
                time.sleep(0.01)
        if self.died:
            self.abandon()
        if self._previous is not None:
            signal.signal(signal.SIGUSR1, self._previous)

    def _check(self) -> bool:
        if self.died:
            return True
        for process in list(self.recording.processes):
            try:
                code = process.exitcode
            except ValueError:  # closed by its pool: it ended normally
                continue
            if code is not None:
                self.died = f"pool process {process.pid} {how_it_ended(code)}"
                return True
        return False

    def _watch(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            if self._check():
                if self._previous is not None and self._main is not None:
                    signal.pthread_kill(self._main, signal.SIGUSR1)  # the main thread ends the worker
                else:
                    self.abandon()
                return

    def _interrupt(self, signum: int, frame: FrameType | None) -> None:
        if self.died:
            self.abandon()

    def _halt(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def stop(self) -> None:
        """The pool is about to close: stop watching; a death seen by now ends the worker."""
        self._halt()
        if self._check():
            self.abandon()

    def abandon(self) -> None:
        """Say which process died and how, kill the rest of the pool, end the worker (exit 1)."""
        sys.stdout.flush()  # progress lines already written reach the controller whole
        print(f"kit worker: {self.died}", file=sys.stderr, flush=True)
        for process in self.recording.processes:
            with contextlib.suppress(ValueError, OSError):
                if process.exitcode is None:
                    process.kill()
        os._exit(1)
