"""What on this machine skews benchmarks, as `pyperf system show` reports it: the CPU frequency
governor, turbo/boost, SMT, whether it is a virtual machine, and other busy processes at start.

Recorded in results.json (`environment.system`) and shown by `kit doctor`; each finding that can
skew figures comes with what to do about it. Nothing here changes the machine.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

SYS_CPU = Path("/sys/devices/system/cpu")
BUSY_PERCENT = 20.0        # a process using more than a fifth of a core while we look is busy
LOOK_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class BusyProcess:
    pid: int
    name: str
    cpu_percent: float        # of one core, over the look


@dataclass(frozen=True, slots=True)
class SystemState:
    governors: tuple[str, ...]          # distinct scaling governors over the CPUs; () when not exposed
    turbo: bool | None                  # boost/turbo enabled; None when not exposed (VMs usually)
    smt: bool | None                    # simultaneous multithreading active
    virtual_machine: bool | None        # the CPU reports a hypervisor
    busy_processes: tuple[BusyProcess, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def governors(sys_cpu: Path = SYS_CPU) -> tuple[str, ...]:
    found = {text for path in sys_cpu.glob("cpu[0-9]*/cpufreq/scaling_governor") if (text := _read(path))}
    return tuple(sorted(found))


def turbo(sys_cpu: Path = SYS_CPU) -> bool | None:
    """intel_pstate's no_turbo (inverted) or the generic cpufreq boost switch."""
    if (no_turbo := _read(sys_cpu / "intel_pstate" / "no_turbo")) is not None:
        return no_turbo == "0"
    if (boost := _read(sys_cpu / "cpufreq" / "boost")) is not None:
        return boost == "1"
    return None


def smt(sys_cpu: Path = SYS_CPU) -> bool | None:
    active = _read(sys_cpu / "smt" / "active")
    return None if active is None else active == "1"


def virtual_machine(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool | None:
    text = _read(cpuinfo)
    if text is None:
        return None
    return any(line.startswith("flags") and " hypervisor" in line for line in text.splitlines())


def busy_processes(look_seconds: float = LOOK_SECONDS, exclude: set[int] | None = None) -> tuple[BusyProcess, ...]:
    """Processes (not this one or its children) using over BUSY_PERCENT of a core while we look."""
    me = psutil.Process()
    skip = {me.pid, *(child.pid for child in me.children(recursive=True)), *(exclude or set())}
    watched = []
    for process in psutil.process_iter(["pid", "name"]):
        if process.pid in skip:
            continue
        try:
            process.cpu_percent(None)
            watched.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    time.sleep(look_seconds)
    busy = []
    for process in watched:
        try:
            percent = process.cpu_percent(None)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if percent > BUSY_PERCENT:
            busy.append(BusyProcess(process.pid, process.info.get("name") or "?", round(percent, 1)))
    return tuple(sorted(busy, key=lambda p: -p.cpu_percent))


def capture(look_seconds: float = LOOK_SECONDS) -> SystemState:
    return SystemState(governors=governors(), turbo=turbo(), smt=smt(), virtual_machine=virtual_machine(),
                       busy_processes=busy_processes(look_seconds))


def findings(state: SystemState) -> list[tuple[str, str | None]]:
    """(what was checked, None when fine or what skews figures and how to fix it), for `kit doctor`."""
    found: list[tuple[str, str | None]] = []
    if state.governors:
        steady = state.governors == ("performance",)
        found.append((f"CPU frequency governor: {', '.join(state.governors)}",
                      None if steady else "frequencies follow the load and vary run to run: "
                                          "`cpupower frequency-set -g performance` while benchmarking"))
    if state.turbo is not None:
        found.append((f"turbo/boost {'on' if state.turbo else 'off'}",
                      "turbo clocks depend on temperature and on the other cores: turn it off for stable figures "
                      "(intel_pstate/no_turbo = 1 or cpufreq/boost = 0)" if state.turbo else None))
    if state.smt is not None:
        found.append((f"SMT (hyper-threading) {'active' if state.smt else 'off'}",
                      "sibling threads share a core: use --cpuset auto to give each sandbox whole cores"
                      if state.smt else None))
    if state.virtual_machine is not None:
        found.append(("virtual machine" if state.virtual_machine else "bare metal",
                      "a hypervisor may take CPU time (steal): every record measures it, see `contended`"
                      if state.virtual_machine else None))
    names = ", ".join(f"{p.name} (pid {p.pid}, {p.cpu_percent:.0f}% of a core)" for p in state.busy_processes[:5])
    found.append(("other busy processes at start" if state.busy_processes else "no other busy process",
                  f"{names}: they take CPU from the sandboxes; stop them or expect `contended` records"
                  if state.busy_processes else None))
    return found
