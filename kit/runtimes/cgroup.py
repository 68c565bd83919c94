"""The local runtime: each worker is a process tree in a fresh cgroup under the kit's own."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from kit.core import signals
from kit.measure.cgroupstat import CgroupStats
from kit.runtimes.base import Capabilities, SandboxPaths, SandboxSpec, Setup, last_line, worker_env
from kit.runtimes.cgroupfs import CgroupHost, CgroupV1, CgroupV2

# The child joins its cgroup before exec, so every byte the worker allocates is charged to it
# (preexec_fn is unsafe in a threaded controller; a shell line is not).
_ATTACH = ('IFS="\n"; for f in $KIT_CGROUP_PROCS; do echo $$ > "$f" || exit 125; done; '
           'unset KIT_CGROUP_PROCS; exec "$@"')


class CgroupSandbox:
    def __init__(self, group: CgroupV1 | CgroupV2, process: subprocess.Popen[str], stderr_path: Path) -> None:
        self.group, self.process, self.stderr_path = group, process, stderr_path
        assert process.stdout is not None
        self.stdout: IO[str] = process.stdout
        self.notes = dict(group.notes)
        self._closed = False

    def poll(self) -> int | None:
        return self.process.poll()

    def stats(self) -> CgroupStats:
        return self.group.stats()

    def pids(self) -> list[int]:
        return self.group.pids()

    def stop(self) -> None:
        self.group.kill_all()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stop()
        self.stdout.close()
        self.group.remove()

    def stderr_tail(self) -> str:
        return last_line(self.stderr_path)


class CgroupRuntime:
    name = "cgroup"
    # This machine, its files, figures read from outside; the host's builds; a group per sandbox.
    capabilities = Capabilities(cgroup_host=True)

    def __init__(self, host: CgroupHost | None = None) -> None:
        self.host = host or CgroupHost()

    @classmethod
    def create(cls, setup: Setup) -> CgroupRuntime:
        return cls()

    def available(self) -> str | None:
        return self.host.problem()

    def start(self, spec: SandboxSpec) -> CgroupSandbox:
        # A signal while the group is made (its marker and directories) is delivered inside the
        # `try` that removes them: a sandbox that never started leaves nothing behind.
        with signals.hold():
            group = self.host.create(spec.name, spec.memory_limit_bytes, spec.cpus, spec.pids_max, spec.cpuset)
        try:
            signals.deliver()
            paths = SandboxPaths(python=sys.executable, input_root=spec.input_root,
                                 output_dir=spec.output_dir, manifest=spec.manifest)
            spec.log_dir.mkdir(parents=True, exist_ok=True)
            stderr_path = spec.log_dir / f"{spec.name}.stderr"
            env = worker_env(spec.env)
            env["KIT_CGROUP_PROCS"] = "\n".join(str(path) for path in group.procs_files())
            with open(stderr_path, "w") as stderr:
                process = subprocess.Popen(
                    ["/bin/sh", "-c", _ATTACH, "kit-attach", *spec.command(paths)],
                    stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, text=True,
                    env=env, start_new_session=True,  # Ctrl-C reaches the kit, which stops the worker
                )
        except BaseException:
            with signals.hold():   # a second signal must not cut the removal short
                group.remove()
            raise
        return CgroupSandbox(group, process, stderr_path)

    def cleanup(self) -> list[str]:
        """Every sandbox was removed by its own close(); the `kit/` parents it leaves empty go now."""
        from kit.runtimes.owners import remove_empty_parents

        remove_empty_parents(self.host)
        return []

    def leftovers(self) -> list[str]:
        from kit.runtimes.owners import find

        return [f"leftover sandbox group {leftover.line()}" for leftover in find(self.host)]

    def recipe_problem(self, recipe: dict[str, str]) -> str | None:
        return None   # its sandboxes read the host's inputs

    def describe(self) -> dict[str, Any]:
        return {"runtime": self.name, "cgroup_version": self.host.version,
                "engine_version": None, "image_digest": None, "kernel": platform.release(),
                "pid": os.getpid()}
