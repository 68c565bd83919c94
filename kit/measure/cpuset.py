"""`--cpuset auto|LIST`: each sandbox on CPUs of its own, the controller on the others (as
BenchExec isolates its runs), so the kit's sampler and progress parsing never share a core with the
timed work.

auto keeps one whole physical core (all its SMT siblings) for the controller and gives the
sandboxes the remaining whole cores, but only when that leaves at least as many CPUs as the plan's
largest worker count: fewer would change what is measured, so a machine too small for isolation
is told so once and nothing is pinned. LIST (`2-5,8`) pins the sandboxes there and the controller
to the other allowed CPUs. The cgroup runtime writes the group's cpuset (v1 cpuset hierarchy, v2
cpuset controller); the docker runtime passes the engine's cpuset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kit.core.errors import ConfigError

SYS_CPU = Path("/sys/devices/system/cpu")


@dataclass(frozen=True, slots=True)
class Pinning:
    """What --cpuset decided; recorded in results.json (`environment.cpuset`)."""

    sandbox: tuple[int, ...] | None      # None: not pinned
    controller: tuple[int, ...] | None
    note: str | None = None              # why nothing (or only the sandbox) was pinned

    def to_json(self) -> dict[str, object]:
        return {"sandbox": list(self.sandbox) if self.sandbox else None,
                "controller": list(self.controller) if self.controller else None, "note": self.note}


def parse_list(text: str) -> tuple[int, ...]:
    """'0-3,8' -> (0, 1, 2, 3, 8); a ConfigError for anything else."""
    cpus: set[int] = set()
    try:
        for part in text.split(","):
            low, _, high = part.strip().partition("-")
            first, last = int(low), int(high) if high else int(low)
            if first < 0 or last < first:
                raise ValueError(part)
            cpus.update(range(first, last + 1))
    except ValueError:
        raise ConfigError(f"--cpuset {text!r}: use auto or a CPU list such as 2-5,8") from None
    return tuple(sorted(cpus))


def format_list(cpus: tuple[int, ...]) -> str:
    """(0, 1, 2, 5) -> '0-2,5': the kernel's own list format."""
    parts, start = [], None
    for index, cpu in enumerate(cpus):
        if start is None:
            start = cpu
        if index + 1 == len(cpus) or cpus[index + 1] != cpu + 1:
            parts.append(f"{start}-{cpu}" if cpu != start else str(cpu))
            start = None
    return ",".join(parts)


def physical_cores(cpus: tuple[int, ...], sys_cpu: Path = SYS_CPU) -> list[tuple[int, ...]]:
    """The allowed CPUs grouped by physical core (SMT siblings together), in CPU order."""
    cores: dict[tuple[int, ...], None] = {}
    for cpu in cpus:
        try:
            siblings = parse_list((sys_cpu / f"cpu{cpu}" / "topology" / "thread_siblings_list").read_text().strip())
        except (OSError, ConfigError):
            siblings = (cpu,)
        cores[tuple(c for c in siblings if c in cpus) or (cpu,)] = None
    return list(cores)


def plan(option: str | None, most_workers: int, allowed: tuple[int, ...] | None = None,
         sys_cpu: Path = SYS_CPU) -> Pinning:
    """The pinning for `--cpuset OPTION` on the CPUs this process may use."""
    allowed = allowed if allowed is not None else tuple(sorted(os.sched_getaffinity(0)))
    if option is None:
        return Pinning(None, None)
    if option == "auto":
        cores = physical_cores(allowed, sys_cpu)
        sandbox = tuple(sorted(cpu for core in cores[1:] for cpu in core))
        if len(sandbox) < most_workers:
            return Pinning(None, None, f"--cpuset auto: {len(allowed)} CPUs ({len(cores)} cores) are too few to give "
                                       f"the controller a core of its own and the sandboxes {most_workers}; "
                                       "nothing is pinned")
        return Pinning(sandbox, cores[0])
    chosen = parse_list(option)
    if outside := [cpu for cpu in chosen if cpu not in allowed]:
        raise ConfigError(f"--cpuset {option}: CPU {format_list(tuple(outside))} is not one this run may use "
                          f"({format_list(allowed)})")
    rest = tuple(cpu for cpu in allowed if cpu not in chosen)
    return Pinning(chosen, rest or None, None if rest else "the sandboxes have every allowed CPU: the controller "
                                                           "shares them")


def pin_controller(cpus: tuple[int, ...]) -> None:
    """Every thread of this process (the metrics server's too) onto `cpus`; new threads inherit it."""
    for task in Path("/proc/self/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), cpus)
        except (OSError, ValueError):
            continue
