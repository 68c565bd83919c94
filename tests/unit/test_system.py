"""What skews benchmarks, read from fixture /sys trees (the real ones differ per machine) and, for
busy processes, from a real busy loop outside the kit's own process tree."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from kit.measure import system


def sys_tree(root: Path, governors: list[str], no_turbo: str | None = None, boost: str | None = None,
             smt: str | None = None) -> Path:
    for cpu, governor in enumerate(governors):
        (root / f"cpu{cpu}" / "cpufreq").mkdir(parents=True)
        (root / f"cpu{cpu}" / "cpufreq" / "scaling_governor").write_text(governor + "\n")
    if no_turbo is not None:
        (root / "intel_pstate").mkdir()
        (root / "intel_pstate" / "no_turbo").write_text(no_turbo + "\n")
    if boost is not None:
        (root / "cpufreq").mkdir(exist_ok=True)
        (root / "cpufreq" / "boost").write_text(boost + "\n")
    if smt is not None:
        (root / "smt").mkdir()
        (root / "smt" / "active").write_text(smt + "\n")
    return root


def test_a_tuned_bare_metal_host_has_nothing_to_say(tmp_path: Path) -> None:
    root = sys_tree(tmp_path, ["performance", "performance"], no_turbo="1", smt="0")
    state = system.SystemState(system.governors(root), system.turbo(root), system.smt(root), False)
    assert state.governors == ("performance",) and state.turbo is False and state.smt is False
    assert all(problem is None for _, problem in system.findings(state))


def test_a_laptop_like_host_gets_a_fix_for_each_finding(tmp_path: Path) -> None:
    root = sys_tree(tmp_path, ["powersave", "performance"], boost="1", smt="1")
    state = system.SystemState(system.governors(root), system.turbo(root), system.smt(root), True,
                               (system.BusyProcess(42, "make", 180.0),))
    problems = dict(system.findings(state))
    assert "cpupower frequency-set -g performance" in (problems["CPU frequency governor: performance, powersave"] or "")
    assert "boost = 0" in (problems["turbo/boost on"] or "")
    assert "--cpuset auto" in (problems["SMT (hyper-threading) active"] or "")
    assert "steal" in (problems["virtual machine"] or "")
    assert "make (pid 42, 180% of a core)" in (problems["other busy processes at start"] or "")


def test_a_vm_without_cpufreq_reports_what_it_cannot_see_as_unknown(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu vme sse2 hypervisor avx2\n")
    assert system.virtual_machine(cpuinfo) is True
    assert system.governors(tmp_path) == () and system.turbo(tmp_path) is None and system.smt(tmp_path) is None


def test_a_busy_process_outside_the_kit_is_found() -> None:
    """A busy loop re-parented away from this process (the kit never counts its own children)."""
    started = subprocess.run(["sh", "-c", "timeout 30 python3 -c 'while True: pass' >/dev/null 2>&1 & echo $!"],
                             capture_output=True, text=True, check=True)
    pid = int(started.stdout.strip())
    try:
        time.sleep(0.3)
        busy = system.busy_processes(look_seconds=0.5)
        assert any(p.pid in (pid, *_children(pid)) and p.cpu_percent > system.BUSY_PERCENT for p in busy), busy
    finally:
        for each in (*_children(pid), pid):
            try:
                os.kill(each, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _children(pid: int) -> tuple[int, ...]:
    import psutil

    try:
        return tuple(child.pid for child in psutil.Process(pid).children(recursive=True))
    except psutil.NoSuchProcess:
        return ()
