"""Sweep planning and floor bisection, with a fake probe.

Why a fake probe here: the bisection's answer must be checked exactly, and a real probe's true
floor is unknown (peak memory varies 10-30 MB run to run) while each real probe takes seconds
to minutes. A fake with a known floor, known flakiness and a call log makes the logic
assertable; tests/integration/test_sweep.py runs the real thing in real cgroups.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from kit.core.errors import ConfigError, EnvironmentProblem
from kit.plan.cells import grid_description, plan_grid
from kit.plan.config import parse_caps_list, parse_workers_list
from kit.run.floor import (
    Attempt,
    align_caps,
    bisect,
    cold_problem,
    confirm,
    drop_page_cache,
    find_floor,
    library_residency,
)
from tests.conftest import need

MIB = 2**20
STEP = 8 * MIB
STRATEGIES = ["python-sequential", "python-threads", "python-processes"]


def test_parse_lists() -> None:
    assert parse_workers_list("1, 2,4,2") == (1, 2, 4)
    assert parse_caps_list("256m,1Gi,none") == (256 * MIB, 2**30, None)
    assert parse_caps_list(None) == (None,)
    for bad in ("1,x", "0", "", "2,,4"):
        with pytest.raises(ConfigError, match="--workers"):
            parse_workers_list(bad)
    with pytest.raises(ConfigError, match="--mem-limit"):
        parse_caps_list("256m,,1g")
    with pytest.raises(ConfigError, match="below the smallest cap"):
        parse_caps_list("1m")


def test_grid_covers_every_cell_repeat_times() -> None:
    cells = plan_grid(STRATEGIES, [1, 2], [256 * MIB, 512 * MIB], repeat=2)
    counts = Counter((c.strategy, c.workers, c.memory_limit_bytes) for c in cells)
    # sequential has one worker whatever the setting: once per cap, not once per worker count
    assert counts[("python-sequential", 1, 256 * MIB)] == 2
    assert ("python-sequential", 2, 256 * MIB) not in counts
    assert len(counts) == 2 + 4 + 4 and set(counts.values()) == {2}
    assert len(cells) == 20
    for key in counts:
        assert sorted(c.repetition for c in cells if (c.strategy, c.workers, c.memory_limit_bytes) == key) == [0, 1]


def test_grid_is_interleaved_round_by_round() -> None:
    cells = plan_grid(STRATEGIES[1:], [1, 2], [None], repeat=2)
    first, second = cells[:4], cells[4:]
    assert {c.repetition for c in first} == {0} and {c.repetition for c in second} == {1}
    order = [(c.strategy, c.workers) for c in first]
    assert order == [("python-threads", 1), ("python-processes", 1), ("python-threads", 2), ("python-processes", 2)]
    # the next round starts at another setting, with the strategies in another order
    assert [(c.strategy, c.workers) for c in second] == [
        ("python-processes", 2), ("python-threads", 2), ("python-processes", 1), ("python-threads", 1)]


def test_warmups_come_first_and_are_marked() -> None:
    cells = plan_grid(["python-threads"], [1, 2], [None], repeat=1, warmup=1, cpus=1.5)
    assert [c.warmup for c in cells] == [True, True, False, False]
    assert {c.cpus for c in cells} == {1.5}


def test_grid_description() -> None:
    cells = plan_grid(STRATEGIES[:2], [4, 1], [512 * MIB, None], repeat=1)
    assert grid_description(cells) == {"workers": [1, 4], "memory_limit_bytes": [None, 512 * MIB],
                                       "strategies": ["python-sequential", "python-threads"], "cells": 6}


class FakeProbe:
    """A strategy whose batch completes under caps >= floor; `flaky` caps fail on a third run."""

    def __init__(self, floor: int, flaky: range = range(0)) -> None:
        self.floor, self.flaky = floor, flaky
        self.calls: list[tuple[int, int]] = []

    def __call__(self, cap: int, attempt: int) -> Attempt:
        self.calls.append((cap, attempt))
        ok = cap >= self.floor and not (cap in self.flaky and attempt == 2)
        return Attempt("ok" if ok else "oom_killed", min(cap, self.floor), 0.9)


def test_bisection_finds_the_floor_to_the_step() -> None:
    probe = FakeProbe(floor=300 * MIB)
    found, failing = bisect(lambda cap: probe(cap, 0).status == "ok", 64 * MIB, 1024 * MIB, STEP)
    assert (found, failing) == (304 * MIB, 296 * MIB)
    caps = [cap for cap, _ in probe.calls]
    assert caps[:2] == [1024 * MIB, 64 * MIB]                 # the bounds are checked first
    assert all(cap % STEP == 0 for cap in caps) and len(set(caps)) == len(caps)
    assert len(caps) <= 2 + 7                                 # log2(960 MiB / 8 MiB) = 6.9


def test_bisection_reports_bounds_that_do_not_bracket() -> None:
    assert bisect(lambda cap: False, 64 * MIB, 512 * MIB, STEP) == (None, 512 * MIB)
    assert bisect(lambda cap: True, 64 * MIB, 512 * MIB, STEP) == (64 * MIB, None)


def test_bounds_are_aligned_to_the_step() -> None:
    assert align_caps(70 * MIB, 500 * MIB, STEP) == (64 * MIB, 504 * MIB)
    with pytest.raises(ConfigError):
        align_caps(512 * MIB, 256 * MIB, STEP)
    with pytest.raises(ConfigError):
        align_caps(64 * MIB, 256 * MIB, 1000)


def test_a_probe_passes_only_if_every_confirmation_completes() -> None:
    probe = FakeProbe(floor=300 * MIB, flaky=range(300 * MIB, 320 * MIB))
    flaky = confirm(probe, 304 * MIB, confirmations=3)
    assert not flaky.passed and flaky.statuses == ("ok", "ok", "oom_killed")
    failed = confirm(probe, 200 * MIB, confirmations=3)
    assert not failed.passed and failed.statuses == ("oom_killed",)   # stops at the first failure
    solid = confirm(probe, 400 * MIB, confirmations=3)
    assert solid.passed and solid.statuses == ("ok",) * 3 and solid.library_resident_fraction == 0.9


def test_confirmation_raises_a_floor_that_one_lucky_run_would_have_put_too_low() -> None:
    flaky = range(300 * MIB, 320 * MIB)
    once = find_floor("python-threads", 4, FakeProbe(300 * MIB, flaky), 64 * MIB, 1024 * MIB, STEP,
                      confirmations=1)
    thrice = find_floor("python-threads", 4, FakeProbe(300 * MIB, flaky), 64 * MIB, 1024 * MIB, STEP)
    assert once.floor_bytes == 304 * MIB
    assert thrice.floor_bytes == 320 * MIB and thrice.highest_failing_bytes == 312 * MIB
    assert thrice.page_cache == "warm" and thrice.note == "floor 320 MiB (fails at 312 MiB; 8 MiB resolution)"
    data = thrice.to_json()
    assert data["probes"][0]["memory_limit_bytes"] == 1024 * MIB and data["probes"][0]["passed"] is True


def test_floor_notes_when_the_range_is_wrong() -> None:
    too_low = find_floor("s", 1, FakeProbe(2048 * MIB), 64 * MIB, 1024 * MIB, STEP, cold=True)
    assert too_low.floor_bytes is None and "raise --high" in too_low.note and too_low.page_cache == "cold"
    too_high = find_floor("s", 1, FakeProbe(8 * MIB), 64 * MIB, 1024 * MIB, STEP)
    assert too_high.floor_bytes == 64 * MIB and "lower --low" in too_high.note


def test_drop_page_cache_without_permission_says_what_to_do(tmp_path: Path) -> None:
    target = tmp_path / "drop_caches"
    target.write_text("")
    target.chmod(0o444)
    if cold_problem(target) is None:  # root can write anything: nothing to refuse here
        drop_page_cache(target)
        assert target.read_text() == "3\n"
        return
    with pytest.raises(EnvironmentProblem, match="run as root"):
        drop_page_cache(target)


def test_library_residency_reads_the_page_cache(tmp_path: Path) -> None:
    need(None if shutil.which("fincore") else "fincore (util-linux) is not installed")
    lib = tmp_path / "lib.so"
    lib.write_bytes(b"\0" * (4 * 4096))
    lib.read_bytes()                      # just written and read: in the page cache
    fraction = library_residency([lib])
    assert fraction is not None and 0.5 <= fraction <= 1.0
    assert library_residency([]) is None


@pytest.mark.parametrize(("args", "message"), [
    (["sweep", "--workers", "1,x"], "--workers '1,x': give a comma-separated list"),
    (["sweep", "--workers", "1,2", "--mem-limit", "256m,,1g"], "--mem-limit '256m,,1g'"),
    (["sweep", "--workers", "2", "--repeat", "0"], "--repeat 0: must be at least 1"),
    (["floor", "--low", "1g", "--high", "512m"], "--low must be below --high"),
    (["floor", "--confirmations", "0"], "--confirmations 0: must be at least 1"),
    (["floor", "--high", "3m"], "below the smallest cap"),
])
def test_sweep_and_floor_usage_errors_are_one_line(args: list[str], message: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from kit.cli.exits import main

    with pytest.raises(SystemExit) as done:
        main([*args, "--metrics-port", "0"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
