"""Contention from /proc/stat counters: fixture files for the arithmetic, the real file for the
reader's shape."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kit.measure.contention import CONTENTION_THRESHOLD, CpuCounters, assess, read_counters

HZ = os.sysconf("SC_CLK_TCK")


def stat_file(path: Path, per_cpu: list[tuple[int, int, int, int, int, int, int, int]]) -> Path:
    """cpuN user nice system idle iowait irq softirq steal (ticks)."""
    total = [sum(column) for column in zip(*per_cpu, strict=True)]
    lines = ["cpu  " + " ".join(map(str, total)) + " 0 0"]
    lines += [f"cpu{i} " + " ".join(map(str, values)) + " 0 0" for i, values in enumerate(per_cpu)]
    path.write_text("\n".join(lines + ["intr 1 2 3", "ctxt 99"]) + "\n")
    return path


def test_busy_and_steal_are_summed_over_the_chosen_cpus(tmp_path: Path) -> None:
    path = stat_file(tmp_path / "stat", [(100, 10, 50, 1000, 7, 3, 2, 5), (200, 0, 100, 900, 0, 0, 0, 9)])
    both = read_counters(None, path)
    assert both is not None
    assert both.busy_seconds == pytest.approx((165 + 300) / HZ) and both.steal_seconds == pytest.approx(14 / HZ)
    first = read_counters([0], path)
    assert first is not None and first.busy_seconds == pytest.approx(165 / HZ)
    assert read_counters([5], path) is None        # no such CPU: unknown, not zero
    assert read_counters(None, tmp_path / "missing") is None


def test_the_real_proc_stat_reads() -> None:
    counters = read_counters(sorted(os.sched_getaffinity(0)))
    assert counters is not None and counters.busy_seconds > 0 and counters.controller_seconds > 0


@pytest.mark.parametrize(("host_busy", "sandbox", "controller", "steal", "contended"), [
    (2.00, 1.90, 0.05, 0.0, False),     # only the sandbox and the kit worked
    (3.50, 1.90, 0.05, 0.0, True),      # someone else took 1.55 CPU-seconds of 4
    (2.00, 1.90, 0.05, 0.50, True),     # the hypervisor took it
    (2.30, 1.90, 0.05, 0.0, False),     # 0.35 of 4.0 CPU-seconds: under 10%
])
def test_assess(host_busy: float, sandbox: float, controller: float, steal: float, contended: bool) -> None:
    before = CpuCounters(100.0, 5.0, 1.0)
    after = CpuCounters(100.0 + host_busy, 5.0 + steal, 1.0 + controller)
    found = assess(before, after, sandbox, cpus=2, wall_seconds=2.0)
    assert found is not None and found.contended is contended
    assert found.other_cpu_seconds == pytest.approx(max(0.0, host_busy - sandbox - controller), abs=1e-3)
    assert found.controller_cpu_seconds == pytest.approx(controller) and found.threshold == CONTENTION_THRESHOLD
    assert found.capacity_cpu_seconds == 4.0
    assert assess(None, after, sandbox, 2, 2.0) is None
