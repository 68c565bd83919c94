"""What skews benchmarks, read from fixture /sys trees (the real ones differ per machine) and, for
busy processes, from a real busy loop outside the kit's own process tree."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

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


class FakeProcess:
    """A process as psutil.process_iter yields it: a pid, a name, and its CPU share on each call
    (an exception instance: what psutil raises for a process gone or not ours)."""

    def __init__(self, pid: int, name: str, *percents: float | Exception) -> None:
        self.pid, self.info, self._percents = pid, {"pid": pid, "name": name}, list(percents)

    def cpu_percent(self, interval: None) -> float:
        value = self._percents.pop(0)
        if isinstance(value, Exception):
            raise value
        return value


def test_busy_means_over_the_threshold_outside_the_kits_own_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule on fixed figures, so other processes on this machine cannot change the answer."""
    import psutil

    me = os.getpid()
    processes = [FakeProcess(me, "pytest", 0.0, 400.0),                  # the kit itself: never counted
                 FakeProcess(101, "make", 0.0, 180.0),
                 FakeProcess(102, "cc1", 0.0, system.BUSY_PERCENT + 0.1),
                 FakeProcess(103, "idle", 0.0, system.BUSY_PERCENT),     # at the threshold: not busy
                 FakeProcess(104, "gone", 0.0, psutil.NoSuchProcess(104)),
                 FakeProcess(105, "root-owned", psutil.AccessDenied(105)),
                 FakeProcess(106, "excluded", 0.0, 99.0)]
    monkeypatch.setattr(psutil, "process_iter", lambda attrs: iter(processes))
    busy = system.busy_processes(look_seconds=0, exclude={106})
    assert busy == (system.BusyProcess(101, "make", 180.0),
                    system.BusyProcess(102, "cc1", round(system.BUSY_PERCENT + 0.1, 1)))


def test_a_busy_process_outside_the_kit_is_found_by_its_pid_and_the_kits_own_child_is_not(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Real processes: a busy loop re-parented away from this process, and one that stays this
    process's child (the kit never counts its own children). How much CPU each gets depends on what
    else runs here, so the threshold is set to nothing: the test asks whether each is seen, by pid,
    and the rule on the figures is the test above."""
    monkeypatch.setattr(system, "BUSY_PERCENT", 0.0)
    started = subprocess.run(["sh", "-c", "timeout 60 python3 -c 'while True: pass' >/dev/null 2>&1 & echo $!"],
                             capture_output=True, text=True, check=True)
    pid = int(started.stdout.strip())
    own = subprocess.Popen(["python3", "-c", "while True: pass"], stdout=subprocess.DEVNULL)
    try:
        for _ in range(20):   # on a loaded machine a look can miss a runnable loop: look again
            outside = (pid, *_children(pid))   # timeout, and python3 once timeout has started it
            busy = {p.pid: p for p in system.busy_processes(look_seconds=0.5)}
            assert own.pid not in busy, busy[own.pid]
            seen = [busy[each] for each in outside if each in busy]
            if any(p.cpu_percent > 0 and p.name.startswith("python") for p in seen):
                break
        else:
            raise AssertionError(f"the busy loop {outside} was never seen: {sorted(busy.values(), key=str)}")
    finally:
        own.kill()
        own.wait()
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
