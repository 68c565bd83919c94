"""--cpuset planning: CPU lists, whole physical cores first (SMT siblings from a fixture topology),
a machine too small for isolation told so, CPUs outside the run refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.core.errors import ConfigError
from kit.measure.cpuset import format_list, parse_list, physical_cores, plan


def topology(root: Path, siblings: dict[int, str]) -> Path:
    for cpu, text in siblings.items():
        (root / f"cpu{cpu}" / "topology").mkdir(parents=True)
        (root / f"cpu{cpu}" / "topology" / "thread_siblings_list").write_text(text + "\n")
    return root


@pytest.mark.parametrize(("text", "cpus"), [("0", (0,)), ("2-5,8", (2, 3, 4, 5, 8)), ("3,1,1", (1, 3))])
def test_cpu_lists_round_trip(text: str, cpus: tuple[int, ...]) -> None:
    assert parse_list(text) == cpus
    assert parse_list(format_list(cpus)) == cpus


@pytest.mark.parametrize("text", ["", "a", "3-1", "-2", "1,,2"])
def test_malformed_lists_are_usage_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="--cpuset"):
        parse_list(text)


def test_auto_gives_the_controller_a_whole_core_and_the_sandboxes_whole_cores(tmp_path: Path) -> None:
    # 4 cores x 2 SMT threads, Linux numbering: CPU n and n+4 are siblings
    root = topology(tmp_path, {cpu: f"{cpu % 4},{cpu % 4 + 4}" for cpu in range(8)})
    assert physical_cores(tuple(range(8)), root) == [(0, 4), (1, 5), (2, 6), (3, 7)]
    pinned = plan("auto", most_workers=4, allowed=tuple(range(8)), sys_cpu=root)
    assert pinned.controller == (0, 4) and pinned.sandbox == (1, 2, 3, 5, 6, 7) and pinned.note is None


def test_auto_on_a_machine_too_small_pins_nothing_and_says_so(tmp_path: Path) -> None:
    root = topology(tmp_path, {0: "0", 1: "1"})
    pinned = plan("auto", most_workers=2, allowed=(0, 1), sys_cpu=root)
    assert pinned.sandbox is None and pinned.controller is None
    assert pinned.note is not None and "too few" in pinned.note
    one = plan("auto", most_workers=1, allowed=(0, 1), sys_cpu=root)
    assert one.controller == (0,) and one.sandbox == (1,)


def test_a_list_pins_the_sandboxes_there_and_the_controller_elsewhere() -> None:
    assert plan("2-3", 2, allowed=(0, 1, 2, 3)).to_json() == {"sandbox": [2, 3], "controller": [0, 1], "note": None}
    everything = plan("0-1", 2, allowed=(0, 1))
    assert everything.controller is None and everything.note is not None
    with pytest.raises(ConfigError, match="CPU 4-5 is not one this run may use"):
        plan("3-5", 2, allowed=(0, 1, 2, 3))
    assert plan(None, 2, allowed=(0, 1)).sandbox is None
