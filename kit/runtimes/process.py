"""A runtime without confinement, for tests: the worker runs as a plain subprocess (its own
session), and its figures come from the process tree (psutil) instead of a cgroup.

It honours the runtime interface for real (a real worker, real progress lines, real outputs), so
the runner, the supervisor and record building are tested without root. It cannot cap memory or
CPU and sees no OOM kills, so `kit run` never offers it: measurements need a cgroup.
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import psutil

from kit.core.errors import RuntimeUnavailable
from kit.measure.cgroupstat import CgroupStats
from kit.runtimes.base import Capabilities, SandboxPaths, SandboxSpec, Setup, last_line, worker_env


class ProcessSandbox:
    def __init__(self, process: subprocess.Popen[str], stderr_path: Path) -> None:
        self.process, self.stderr_path = process, stderr_path
        assert process.stdout is not None
        self.stdout: IO[str] = process.stdout
        self.notes: dict[str, str] = {"confinement": "none (process runtime, tests only)"}
        self._root = psutil.Process(process.pid)
        self._cpu_seconds = 0.0
        self._closed = False

    def poll(self) -> int | None:
        return self.process.poll()

    def _tree(self) -> list[psutil.Process]:
        try:
            return [self._root, *self._root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stats(self) -> CgroupStats:
        """Summed RSS stands in for the cgroup's usage; CPU is the tree's, never decreasing."""
        rss, cpu = 0, 0.0
        for process in self._tree():
            try:
                rss += process.memory_info().rss
                times = process.cpu_times()
                cpu += times.user + times.system + times.children_user + times.children_system
            except psutil.Error:
                continue
        self._cpu_seconds = max(self._cpu_seconds, cpu)
        return CgroupStats(usage_bytes=rss, working_set_bytes=rss, peak_usage_bytes=None,
                           cpu_seconds=self._cpu_seconds, throttled_seconds=0.0, oom_kills=0)

    def pids(self) -> list[int]:
        return [process.pid for process in self._tree()]

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.stop()
            self.stdout.close()

    def stderr_tail(self) -> str:
        return last_line(self.stderr_path)


class ProcessRuntime:
    name = "process"
    # Local, files shared, figures from outside (the process tree); no image, no cgroup: never offered.
    capabilities = Capabilities(offered=False)

    @classmethod
    def create(cls, setup: Setup) -> ProcessRuntime:
        return cls()

    def available(self) -> str | None:
        return None

    def start(self, spec: SandboxSpec) -> ProcessSandbox:
        if spec.memory_limit_bytes is not None or spec.cpus is not None or spec.cpuset:
            raise RuntimeUnavailable("the process runtime cannot cap memory or CPU (it exists for tests)")
        paths = SandboxPaths(python=sys.executable, input_root=spec.input_root, output_dir=spec.output_dir,
                             manifest=spec.manifest)
        spec.log_dir.mkdir(parents=True, exist_ok=True)
        stderr_path = spec.log_dir / f"{spec.name}.stderr"
        with open(stderr_path, "w") as stderr:
            process = subprocess.Popen(spec.command(paths), stdout=subprocess.PIPE, stderr=stderr,
                                       stdin=subprocess.DEVNULL, text=True, env=worker_env(spec.env),
                                       start_new_session=True)
        return ProcessSandbox(process, stderr_path)

    def cleanup(self) -> list[str]:
        return []   # every sandbox is removed by its own close()

    def leftovers(self) -> list[str]:
        return []   # a killed run's worker is a process of its own session, nothing the kit can find

    def recipe_problem(self, recipe: dict[str, str]) -> str | None:
        return None   # its sandboxes read the host's inputs

    def describe(self) -> dict[str, Any]:
        return {"runtime": self.name, "cgroup_version": None, "engine_version": None, "image_digest": None,
                "kernel": platform.release(), "pid": os.getpid()}
