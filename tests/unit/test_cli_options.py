"""The plan's declared options (kit/plan/config.py) as typer sees them on each command: run and
manifests take the same list, sweep swaps one worker count and one cap for lists, floor leads with
its bisection, doctor takes what it checks, and the values a user types reach the plan by name."""

from __future__ import annotations

from typing import Any

import pytest
from typer.main import get_command

from kit.cli.app import app
from kit.plan import config
from kit.plan.options import declared


def params(command: str) -> dict[str, Any]:
    """The command's parameters as typer builds them (its own click: duck-typed here)."""
    found = get_command(app).commands[command]  # type: ignore[attr-defined]
    return {str(p.name): p for p in found.params}


def names(command: str) -> list[str]:
    return [entry.option.name for entry in declared(config.RunConfig, command)]


def test_run_and_manifests_take_every_declared_option_strategy_first() -> None:
    assert list(params("run"))[0] == "strategies"
    assert set(params("run")) == set(names("run")) == set(params("manifests"))
    assert params("run")["runtime"].default == config.RunConfig().runtime == "auto"
    assert params("manifests")["runtime"].default == "kubernetes"


def test_options_are_grouped_by_panel_in_declared_order() -> None:
    panels = [p.rich_help_panel for p in params("run").values()]
    seen: list[str] = []
    for panel in panels:
        if not seen or seen[-1] != panel:
            assert panel not in seen, f"panel {panel} split in two"
            seen.append(panel)
    assert seen == ["Batch", "Sandbox and limits", "Measurement", "Output and metrics", "Kubernetes", "Advanced"]


def test_sweep_takes_lists_where_run_takes_one_value_and_drops_what_a_grid_has_no_use_for() -> None:
    sweep = params("sweep")
    assert {"workers_list", "mem_limit_list", "parallel"} <= set(sweep)
    assert not {"workers", "mem_limit", "skip_current"} & set(sweep)
    assert sweep["workers_list"].opts == ["--workers"] and sweep["workers_list"].default == "1,2,4"
    assert sweep["mem_limit_list"].opts == ["--mem-limit"]


def test_floor_has_its_bisection_options_and_none_of_the_task_workloads() -> None:
    floor = params("floor")
    assert {"low", "high", "step", "confirmations", "cold"} <= set(floor)
    assert floor["items"].default == 48 and floor["low"].default == "32m"
    for absent in ("mem_limit", "workers_list", "parallel"):
        assert absent not in floor


def test_doctor_takes_what_it_checks_and_its_own_options() -> None:
    doctor = params("doctor")
    assert {"clean", "image_check", "runtime", "namespace", "mem_limit", "metrics_port"} <= set(doctor)
    assert not {"repeat", "items", "out"} & set(doctor)


def test_typed_values_reach_the_plan_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    seen: list[config.RunConfig] = []
    monkeypatch.setattr("kit.run.race.race", lambda plan, what, say: seen.append(plan))
    done = CliRunner().invoke(app, ["run", "-s", "python-threads", "-s", "go-native", "--mem-limit", "1g",
                                    "--cpus", "1.5", "--images", "7", "--metrics-linger", "0", "--out", "/tmp"])
    assert done.exit_code == 0, done.output
    plan = seen[0]
    assert plan.strategies == ("python-threads", "go-native") and plan.memory_limit_bytes == 2**30
    assert (plan.cpus, plan.items, plan.metrics_linger_seconds, str(plan.out_dir)) == (1.5, 7, 0.0, "/tmp")


def test_a_bad_value_is_a_usage_error_before_the_race(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    monkeypatch.setattr("kit.run.race.race", lambda plan, what, say: pytest.fail("raced"))
    done = CliRunner().invoke(app, ["run", "--mem-limit", "1k"])
    assert done.exit_code != 0 and "below the smallest cap" in str(done.exception)


def test_naming_an_option_the_plan_lacks_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match="not options of RunConfig"):
        config.build(no_such_option=1)
