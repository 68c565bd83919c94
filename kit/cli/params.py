"""The plan's option declarations (kit/plan/config.py) as typer parameters: a command that takes a
plan is written `def run(plan: RunConfig)`, and `plan_command` gives typer the options the plan
declares for it, builds the plan from what was typed and calls the command with it."""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Optional, TypeVar

import typer

from kit.plan import config
from kit.plan.options import Declared, by_panel, declared

Command = TypeVar("Command", bound=Callable[..., None])


def _optional(typed: Any) -> Any:
    """`X | None` as typer reads it: Optional[X]."""
    if typing.get_origin(typed) in (types.UnionType, typing.Union):
        rest = [arg for arg in typing.get_args(typed) if arg is not type(None)]
        if len(rest) == 1 and len(typing.get_args(typed)) == 2:
            return Optional[rest[0]]  # noqa: UP045 (typer reads Optional)
    return typed


def parameter(entry: Declared, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    """One declared option as the keyword parameter typer reads."""
    found = entry.option
    info = typer.Option(*(found.flags if found.flags_given else ()), help=found.help, rich_help_panel=found.panel,
                        hidden=found.hidden, envvar=found.envvar)
    return inspect.Parameter(found.name, inspect.Parameter.KEYWORD_ONLY,
                             default=found.default if default is inspect.Parameter.empty else default,
                             annotation=Annotated[_optional(found.typed), info])


def plan_parameters(command: str, plan_type: type = config.RunConfig,
                    defaults: dict[str, Any] | None = None) -> list[inspect.Parameter]:
    """The options `command` takes, --strategy first, then panel by panel (kit floor's own lead)."""
    defaults = defaults or {}
    entries = by_panel(list(declared(plan_type, command)) + list(declared(config.FloorSearch, command)))
    return [parameter(entry, defaults.get(entry.option.name, inspect.Parameter.empty)) for entry in entries]


def plan_command(app: typer.Typer, name: str, *, plan_type: type = config.RunConfig, check_paths: bool = True,
                 **defaults: Any) -> Callable[[Command], Command]:
    """Register `function(plan, **own)` as command `name`: its own parameters lead, the plan's options
    follow; the typed values become the plan through `config.build()`. Returns the function as it was."""

    def apply(function: Command) -> Command:
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in inspect.signature(function).parameters.values()
               if p.name != "plan"]
        hints = typing.get_type_hints(function, include_extras=True)
        own = [p.replace(annotation=hints[p.name]) for p in own]
        shared = plan_parameters(name, plan_type, defaults)
        floor_names = {entry.option.name for entry in declared(config.FloorSearch, name)}

        @functools.wraps(function)
        def command(**typed: Any) -> None:
            mine = {p.name: typed.pop(p.name) for p in own}
            bounds = {key: typed.pop(key) for key in floor_names}
            search = config.floor_search(**bounds) if bounds else None
            function(config.build(plan_type, check_paths=check_paths, floor=search, **typed), **mine)

        listed = [*shared[:1], *own, *shared[1:]]    # --strategy, then what the command is about
        command.__signature__ = inspect.Signature(listed, return_annotation=None)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in listed} | {"return": None}
        del command.__wrapped__   # typer must read the signature above, not the function's
        app.command(name)(command)
        return function

    return apply


def unwrap_docstrings(app: typer.Typer) -> None:
    """Each command's help from its docstring with the source's line breaks joined within a paragraph:
    typer keeps them in `kit --help`'s command list, which then breaks mid-phrase at any width."""
    for info in app.registered_commands:
        if info.help is None and info.callback is not None and info.callback.__doc__:
            paragraphs = inspect.cleandoc(info.callback.__doc__).split("\n\n")
            info.help = "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)
