"""The options declared once (kit/plan/options.py) as typer sees them on each command: `with_run_options`
gives run, sweep, floor and manifests one list, each command's own options lead it, and the values a
user types reach the command by name."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import typer
from typer.main import get_command

from kit.cli.app import app
from kit.plan import options as o

SHARED = [name for name in inspect.signature(o.run_options).parameters]


def params(command: str) -> dict[str, Any]:
    """The command's parameters as typer builds them (its own click: duck-typed here)."""
    found = get_command(app).commands[command]  # type: ignore[attr-defined]
    return {str(p.name): p for p in found.params}


def test_run_and_manifests_take_every_shared_option_in_the_declared_order() -> None:
    assert list(params("run")) == SHARED
    assert list(params("manifests")) == SHARED
    assert params("run")["runtime"].default == o.RUNTIME and params("manifests")["runtime"].default == "kubernetes"


def test_sweep_leads_with_its_axes_and_drops_what_a_grid_has_no_use_for() -> None:
    names = list(params("sweep"))
    assert names[:4] == ["strategy", "workers", "mem_limit", "parallel"]
    assert "skip_current" not in names and set(names) == set(SHARED) - {"skip_current"} | {"parallel"}
    workers = params("sweep")["workers"]
    assert workers.default == o.SWEEP_WORKERS == "1,2,4"   # the comma-separated list, not one int


def test_floor_has_its_bisection_options_and_none_of_the_task_workloads() -> None:
    names = list(params("floor"))
    assert names[:7] == ["strategy", "images", "low", "high", "step", "confirmations", "cold"]
    assert params("floor")["images"].default == 48
    for absent in ("workload", "iterations", "mem_limit", "repeat", "output_dir"):
        assert absent not in names


def test_typed_values_reach_the_command_by_name() -> None:
    seen: dict[str, Any] = {}
    demo = typer.Typer()

    @demo.command()
    @o.with_run_options(omit=("workload",), namespace="elsewhere")
    def probe(low: int = 3, **options: Any) -> None:
        seen.update(options, low=low)

    from typer.testing import CliRunner

    done = CliRunner().invoke(demo, ["--low", "5", "-s", "a", "-s", "b", "--mem-limit", "1g", "--cpus", "1.5"])
    assert done.exit_code == 0, done.output
    assert seen["low"] == 5 and seen["strategy"] == ["a", "b"] and seen["mem_limit"] == "1g" and seen["cpus"] == 1.5
    assert seen["namespace"] == "elsewhere" and "workload" not in seen


def test_naming_an_option_kit_run_lacks_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="not options of kit run"):
        o.with_run_options(omit=("no_such_option",))
