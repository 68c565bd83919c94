"""Options, declared once: a plan field declared with `option(...)` is a command-line option.

The declaration carries what the plan needs (the field, its default) and what the command line needs
(flags, the type a user types, help, the --help panel, the commands that take it). The CLI turns the
declarations into typer parameters (kit/cli/params.py) and `config.build()` turns the values typed
back into the plan through the same declarations: adding an option is one field plus the code that
uses it. Nothing here imports typer: the plan stays loadable without the command line.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

# --help's panels, in the order they appear (a command's own options lead, in "Options")
BATCH = "Batch"
SANDBOX = "Sandbox and limits"
MEASUREMENT = "Measurement"
OUTPUT = "Output and metrics"
KUBERNETES = "Kubernetes"
ADVANCED = "Advanced"
PANELS = (BATCH, SANDBOX, MEASUREMENT, OUTPUT, KUBERNETES, ADVANCED)

# The commands that take a plan's options (kit doctor takes a few, to check what a run would need)
RUNS = ("run", "sweep", "floor", "manifests")
_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class Option:
    """One command-line option: the flags a user types, the type typer parses them into, help and
    panel, and how the typed value becomes the plan's (`parse`; None: as typed)."""

    name: str                      # the keyword build() and the command take ("mem_limit")
    flags: tuple[str, ...]         # the first is the long flag (--mem-limit); more are aliases
    typed: Any                     # what the command line gives: str for sizes, list[str] when repeatable
    help: str
    panel: str
    commands: tuple[str, ...]
    default: Any                   # the command line's default (as typed)
    parse: Callable[[Any], Any] | None = None
    hidden: bool = False
    envvar: str | None = None
    flags_given: bool = True       # False: --name, as typer derives it (--name/--no-name for a bool)


@dataclass(frozen=True, slots=True)
class Declared:
    """An option and the plan field it fills."""

    field: str
    option: Option


def option(default: Any = _UNSET, *flags: str, help: str, panel: str, typed: Any = _UNSET,
           name: str | None = None, parse: Callable[[Any], Any] | None = None, typed_default: Any = _UNSET,
           commands: tuple[str, ...] = RUNS, hidden: bool = False, envvar: str | None = None,
           factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field that is also a command-line option. `default` is the plan's default;
    `typed_default` the command line's when it differs (None for "decided by the plan", or the
    unparsed text of a parsed option). `name` defaults to the field's name, `flags` to --name."""
    meta = {"option": (name, flags, typed, help, panel, commands, typed_default, parse, hidden, envvar, default)}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def declared(plan_type: type, command: str | None = None) -> Iterator[Declared]:
    """The options a plan class declares, in field order; only those `command` takes when given."""
    hints = typing.get_type_hints(plan_type)
    for item in dataclasses.fields(plan_type):
        if "option" not in item.metadata:
            continue
        name, flags, typed, help_text, panel, commands, typed_default, parse, hidden, envvar, default = (
            item.metadata["option"])
        if command is not None and command not in commands:
            continue
        name = name or item.name
        if typed_default is _UNSET:
            typed_default = default if default is not _UNSET else None
        resolved = Option(name=name, flags=flags or (f"--{name.replace('_', '-')}",),
                          typed=hints[item.name] if typed is _UNSET else typed, help=help_text, panel=panel,
                          commands=commands, default=typed_default, parse=parse, hidden=hidden, envvar=envvar,
                          flags_given=bool(flags))
        yield Declared(item.name, resolved)


def by_panel(options: list[Declared]) -> list[Declared]:
    """--help's order: panel by panel (batch, sandbox and limits, ...), declaration order within one."""
    return sorted(options, key=lambda entry: PANELS.index(entry.option.panel))
