"""How much of the machine others took while a sandbox ran: the figure that tells a busy machine
from a slow strategy.

Before and after each sandbox the controller reads the host's CPU counters (/proc/stat, per CPU,
only the CPUs the run may use) and its own CPU time (getrusage). Over the sandbox's life:

    other_cpu_seconds = host busy time - the sandbox's CPU (its cgroup) - the controller's CPU
    steal_seconds     = the hypervisor's steal counter on those CPUs

A record is `contended` when other + steal exceeds CONTENTION_THRESHOLD of the CPU time the run
could use (allowed CPUs x wall seconds). Busy time is user + nice + system + irq + softirq (guest
time is inside user); idle and iowait are not busy. The counters tick at USER_HZ (10 ms), so a
sandbox shorter than a second carries up to a few percent of rounding either way.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# 10% of the run's CPU capacity: on the 2-core CI machine a quiet default run (`kit run --mem-limit
# 1g`, 8 sandboxes) measured 0.5-1.5% (the kernel's threads, the engine, the hypervisor), and a run
# beside two busy loops 55-57%: the threshold sits far from both.
CONTENTION_THRESHOLD = 0.10
PROC_STAT = Path("/proc/stat")


@dataclass(frozen=True, slots=True)
class CpuCounters:
    """Cumulative CPU seconds since boot, summed over a set of CPUs, and the controller's own."""

    busy_seconds: float
    steal_seconds: float
    controller_seconds: float


@dataclass(frozen=True, slots=True)
class Contention:
    """What others took during one sandbox, and the verdict; recorded per record."""

    other_cpu_seconds: float
    steal_seconds: float
    controller_cpu_seconds: float
    capacity_cpu_seconds: float      # allowed CPUs x wall seconds
    threshold: float
    contended: bool

    @property
    def share(self) -> float:
        """(other + steal) / capacity: 0.25 means others took a quarter of the machine."""
        taken = self.other_cpu_seconds + self.steal_seconds
        return taken / self.capacity_cpu_seconds if self.capacity_cpu_seconds > 0 else 0.0


def controller_cpu_seconds() -> float:
    """This process's own CPU (all its threads: sampler, progress parsing, metrics), no children."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def read_counters(cpus: Iterable[int] | None = None, proc_stat: Path = PROC_STAT) -> CpuCounters | None:
    """The host's busy and steal seconds over `cpus` (all when None); None when unreadable."""
    wanted = None if cpus is None else {int(cpu) for cpu in cpus}
    hertz = os.sysconf("SC_CLK_TCK")
    busy = steal = 0
    found = False
    try:
        lines = proc_stat.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if not fields or not fields[0].startswith("cpu") or fields[0] == "cpu":
            continue
        try:
            cpu = int(fields[0][3:])
            values = [int(v) for v in fields[1:9]]
        except ValueError:
            continue
        if wanted is not None and cpu not in wanted:
            continue
        user, nice, system, _idle, _iowait, irq, softirq, stolen = (values + [0] * 8)[:8]
        busy += user + nice + system + irq + softirq
        steal += stolen
        found = True
    if not found:
        return None
    return CpuCounters(busy / hertz, steal / hertz, controller_cpu_seconds())


def assess(before: CpuCounters | None, after: CpuCounters | None, sandbox_cpu_seconds: float,
           cpus: int, wall_seconds: float, threshold: float = CONTENTION_THRESHOLD,
           controller_elsewhere: bool = False) -> Contention | None:
    """The contention of one sandbox from counters read around it; None when /proc/stat is unknown.
    `cpus` are the CPUs the sandbox may use; `controller_elsewhere`: the controller is pinned to
    other CPUs (--cpuset), so its own time is not in their counters."""
    if before is None or after is None:
        return None
    controller = max(0.0, after.controller_seconds - before.controller_seconds)
    other = max(0.0, (after.busy_seconds - before.busy_seconds) - sandbox_cpu_seconds
                - (0.0 if controller_elsewhere else controller))
    steal = max(0.0, after.steal_seconds - before.steal_seconds)
    capacity = max(0.0, cpus * wall_seconds)
    return Contention(other_cpu_seconds=round(other, 3), steal_seconds=round(steal, 3),
                      controller_cpu_seconds=round(controller, 3), capacity_cpu_seconds=round(capacity, 3),
                      threshold=threshold, contended=capacity > 0 and (other + steal) > threshold * capacity)
