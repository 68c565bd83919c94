"""The console entry point and its exit codes (product.md section 4): every user mistake is one
line and exit 2, an environment problem one line and exit 1, never a traceback; Ctrl-C, SIGTERM and
SIGHUP end a run alike (exit 130, 143, 129) with its finished records and report.

The console script and `python -m kit` start here: this module imports only kit.core, so the
signal handlers are in place before typer, rich and the rest of the kit load."""

from __future__ import annotations

import contextlib
import errno
import sys

from kit.core import pipe, signals
from kit.core.errors import KitError


def main(argv: list[str] | None = None) -> None:
    """Console entry point: every user mistake is one line and exit 2, never a traceback; Ctrl-C,
    SIGTERM and SIGHUP end a run alike (exit 130, 143, 129) with its finished records and report.

    A signal that arrives at any moment before the process exits makes the exit code the first
    signal's, and none kills the process on its way out. Called without `argv` (the console script,
    `python -m kit`) main owns the process: signals stay noted until it is gone. With `argv`
    (tests calling it in-process) it puts back the handlers it replaced."""
    previous = signals.install()
    code: int = 1
    try:
        code = _main(argv)
    except KeyboardInterrupt:   # a signal between _main's own handlers (it prints the word once)
        code = signals.exit_code()
        with signals.ending():
            _say(signals.describe())
    finally:
        with signals.ending():
            signals.hook("exit")
            _flush_stdout()
            if signals.received() is not None:
                code = signals.exit_code()   # also a signal during the final cleanup, after the report
            if argv is None:
                signals.quiet()
            else:
                signals.uninstall(previous)
    sys.exit(code)


def _say(line: str) -> None:
    """One line on stderr, which a closed pipe cannot turn into a traceback."""
    with contextlib.suppress(OSError):
        print(line, file=sys.stderr, flush=True)


def _flush_stdout() -> None:
    """Whatever is still buffered; a reader that went away (`kit run | head`) costs nothing."""
    try:
        sys.stdout.flush()
    except OSError as exc:
        if exc.errno not in (errno.EPIPE, errno.EINVAL):
            raise
        pipe.silence_stdout()


def _main(argv: list[str] | None) -> int:
    """Run the command; its exit code, every error said in one line."""
    import typer  # here, not above: the handlers are installed before the heavy imports

    from kit.cli.app import app

    try:
        code = app(args=argv, standalone_mode=False)
    except typer.TyperException as exc:  # usage errors (exit 2) from typer's own parser
        _say(f"error: {exc.format_message()}")
        return int(exc.exit_code)
    except KitError as exc:
        with signals.ending():
            _say(f"error: {exc}")
        return signals.exit_code() if exc.exit_code == 130 else exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        with signals.ending():
            _say(signals.describe())
        return signals.exit_code()
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise  # a bug: keep its traceback
        _say(f"error: cannot write {exc.filename or 'a file'}: {exc.strerror}; free space there or choose "
             "another --out / --output-dir")
        return 1
    if code == 130:  # typer turns a KeyboardInterrupt into Exit(130)
        with signals.ending():
            _say(signals.describe())
        return signals.exit_code()
    return code if isinstance(code, int) else 0
