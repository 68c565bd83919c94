"""Adding an option is one declaration: a field of the plan declared with `option(...)`. Here a
plan with one more field (`--frobnicate`) is given to the real `kit run` command; the option shows up
in `kit run --help`, in its panel, and the value typed reaches the plan and its results.json config."""

from __future__ import annotations

import dataclasses

import pytest
import typer
from typer.testing import CliRunner

from kit.cli import app as cli
from kit.cli.params import plan_command
from kit.plan.config import RunConfig
from kit.plan.options import ADVANCED, option


@dataclasses.dataclass(frozen=True, slots=True)
class Frobnicated(RunConfig):
    """The plan with one more option: this declaration is all it takes."""

    frobnicate: int = option(3, help="Frobnicate every item this many times.", panel=ADVANCED)


@pytest.fixture()
def app() -> typer.Typer:
    """The real `kit run` command (cli.run: the function the kit registers) on the extended plan."""
    demo = typer.Typer()
    plan_command(demo, "run", plan_type=Frobnicated)(cli.run)
    plan_command(demo, "sweep", plan_type=Frobnicated)(cli.sweep)   # typer needs two commands for `run`
    return demo


def test_the_option_shows_up_in_kit_run_help_in_its_panel(app: typer.Typer) -> None:
    done = CliRunner().invoke(app, ["run", "--help"], terminal_width=200)
    assert done.exit_code == 0, done.output
    assert "--frobnicate" in done.output and "Frobnicate every item this many times." in done.output
    advanced = done.output.split("Advanced")[1]
    assert "--frobnicate" in advanced and "[default: 3]" in advanced.split("--frobnicate")[1]


def test_the_value_typed_reaches_the_plan(app: typer.Typer, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[RunConfig] = []
    monkeypatch.setattr("kit.run.race.race", lambda plan, what, say: seen.append(plan))
    done = CliRunner().invoke(app, ["run", "--frobnicate", "9", "--metrics-port", "0"])
    assert done.exit_code == 0, done.output
    assert isinstance(seen[0], Frobnicated) and seen[0].frobnicate == 9
    assert seen[0].to_json()["frobnicate"] == 9          # recorded in results.json's config like any option
    done = CliRunner().invoke(app, ["run", "--metrics-port", "0"])
    assert seen[1].frobnicate == 3                        # the declared default, written once


def test_the_real_kit_run_lacks_it() -> None:
    done = CliRunner().invoke(cli.app, ["run", "--frobnicate", "9"])
    assert done.exit_code == 2
