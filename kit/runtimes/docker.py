"""The docker runtime: each worker in a hardened, memory-capped container, measured like a cgroup.

Every container gets a `--cgroup-parent` that the kit creates and owns; with the cgroupfs driver
the engine puts the container's cgroup at `<parent>/<container id>`. The parent's hierarchical
figures (usage, watermark, CPU) outlive the container, which the engine removes the moment it
stops, so one reading code (cgroupfs.py) serves both runtimes. What is not hierarchical on
cgroup v1 (the OOM-kill counter, CPU throttling) is read from the container's own group while it
lives, and once more the moment its first process exits (a pidfd wakes the kit before the engine
hears of the exit and removes the group), so the last moments' throttling is not lost between two
readings; the engine's `State.OOMKilled` covers a kill should that last reading lose the race.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import re
import select
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from kit.core import signals
from kit.core.errors import RuntimeUnavailable
from kit.measure.cgroupstat import CgroupStats
from kit.runtimes.base import Capabilities, SandboxPaths, SandboxSpec, Setup, last_line
from kit.runtimes.cgroup_parent import ParentGroup
from kit.runtimes.cgroupfs import PROBE_NAME, CgroupHost
from kit.runtimes.engine import connect, engine_gone, is_engine_gone
from kit.runtimes.markers import OWNER_LABEL, SANDBOX_LABEL, owner_label

# Where the worker sees its files inside the container.
INPUT_ROOT = Path("/kit/input")
OUTPUT_DIR = Path("/kit/output")
MANIFEST = Path("/kit/manifest.json")
PYTHON = "/opt/venv/bin/python"
UNPRIVILEGED = (65532, 65532)      # the image's numeric user, used when the kit itself runs as root
SCRATCH = "rw,nosuid,nodev,size=256m"  # tmpfs pages count against the memory cap, like emptyDir medium Memory
STOP_SECONDS = 10.0
EXIT_READING_SECONDS = 5.0   # the container's group read at its exit: microseconds, unless stuck


def container_name(sandbox_name: str) -> str:
    return "kit-" + re.sub(r"[^a-zA-Z0-9_.-]", "-", sandbox_name)


def deferred_interrupt() -> contextlib.AbstractContextManager[None]:
    """Hold Ctrl-C (and SIGTERM, SIGHUP) while a container is being torn down, then deliver it:
    no half-removed leftovers."""
    return signals.deferred()


def _in_group(pid: int, container_id: str) -> bool:
    """Whether `pid` (as this kit sees it) is a process of that container."""
    try:
        return container_id in Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return False


class DockerSandbox:
    """One running container; its stdout is the worker's JSON-lines stream (through a pipe)."""

    def __init__(self, client: Any, container: Any, parent: ParentGroup, stream: Any,
                 stderr_path: Path, notes: dict[str, str]) -> None:
        self.client, self.container, self.parent, self.stderr_path = client, container, parent, stderr_path
        self.notes = notes
        self._stream = stream
        read_fd, self._write_fd = os.pipe()
        self.stdout: IO[str] = os.fdopen(read_fd, "r", encoding="utf-8", errors="replace")
        self._exit_code: int | None = None
        self._wait_error: BaseException | None = None
        self._oom_killed = False
        self._child_kills, self._throttled, self._throttled_periods = 0, 0.0, 0
        self._child_lock = threading.Lock()   # the reading at exit and the supervisor's
        self._closed = False
        self._pump = threading.Thread(target=self._copy_stdout, daemon=True)
        self._pump.start()
        # Apart from the waiter: an engine that stops answering must still fail the wait at once,
        # while the container's process (kept by containerd) may run on.
        self._exit_reader = threading.Thread(target=self._read_child_at_exit, daemon=True)
        self._exit_reader.start()
        self._waiter = threading.Thread(target=self._wait, daemon=True)
        self._waiter.start()

    def _copy_stdout(self) -> None:
        try:
            for chunk in self._stream:
                os.write(self._write_fd, chunk)
        except Exception:  # the stream ends with the container, or breaks with the engine
            pass
        finally:
            os.close(self._write_fd)

    def _wait(self) -> None:
        try:
            result = self.container.wait()
            state = self.client.api.inspect_container(self.container.id)["State"]
            self._exit_reader.join(EXIT_READING_SECONDS)   # the exit was before: it has read, or is reading
            self._oom_killed = bool(state.get("OOMKilled"))
            self._exit_code = int(result.get("StatusCode", state.get("ExitCode", -1)))
        except Exception as exc:
            self._wait_error = exc

    def _read_child_at_exit(self) -> None:
        """Block until the container's first process exits, then read its own group once more.

        The engine removes that group only after the exit has travelled shim -> containerd -> dockerd
        -> `runc delete`; a pidfd wakes this thread at the exit itself, well before. Best effort: an
        engine that does not answer, a process already gone or a kit in another pid namespace (the
        pid is not the container's here) leave the last tick's reading as the final figure."""
        try:
            pid = int(self.client.api.inspect_container(self.container.id)["State"].get("Pid") or 0)
            if pid <= 0:
                return
            descriptor = os.pidfd_open(pid)
        except Exception:
            return
        try:
            if not _in_group(pid, self.container.id):   # a reused pid, or another pid namespace
                return
            exited = select.poll()   # not select(): a descriptor may be above FD_SETSIZE
            exited.register(descriptor, select.POLLIN)
            while not exited.poll(500):
                if self._closed:     # closed with the process still there (an engine gone)
                    return
            self._note_child(self.parent.child_stats(self.container.id))
        except Exception:
            return
        finally:
            os.close(descriptor)

    def _note_child(self, child: tuple[int, float, int] | None) -> None:
        if child is not None:
            with self._child_lock:
                self._child_kills = max(self._child_kills, child[0])
                self._throttled = max(self._throttled, child[1])
                self._throttled_periods = max(self._throttled_periods, child[2])

    def poll(self) -> int | None:
        if self._wait_error is not None:
            if is_engine_gone(self._wait_error):
                raise engine_gone(self._wait_error, "a strategy ran")
            raise RuntimeUnavailable(f"the Docker engine failed while a strategy ran: {self._wait_error}")
        return self._exit_code if not self._waiter.is_alive() else None

    def stats(self) -> CgroupStats:
        stats = self.parent.group.stats()
        self._note_child(self.parent.child_stats(self.container.id))
        with self._child_lock:
            kills = max(stats.oom_kills, self._child_kills, 1 if self._oom_killed else 0)
            return dataclasses.replace(stats, oom_kills=kills, throttled_seconds=self._throttled,
                                       throttled_periods=self._throttled_periods)

    def pids(self) -> list[int]:
        return self.parent.pids()

    def stop(self) -> None:
        """Kill the container if it still runs and wait for the engine to report how it ended."""
        if self._waiter.is_alive():
            try:
                self.container.kill()
            except Exception:  # already gone, or the engine is: close() still cleans up
                pass
            self._waiter.join(STOP_SECONDS)
        self._save_stderr()

    def _save_stderr(self) -> None:
        if self.stderr_path.exists():
            return
        try:
            text = self.container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
        except Exception:
            text = ""
        self.stderr_path.write_text(text)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with deferred_interrupt():
            self.stop()
            try:
                self.container.remove(force=True)
            except Exception:
                pass  # engine gone: nothing left to remove that the engine still knows of
            with contextlib.suppress(Exception):
                self._stream.close()
            self._pump.join(2.0)
            self.stdout.close()
            self.parent.remove()

    def stderr_tail(self) -> str:
        return last_line(self.stderr_path)


class DockerRuntime:
    name = "docker"
    # This machine, its files bind-mounted, figures read from outside (the --cgroup-parent group);
    # the worker image of this machine's engine; groups under the kit's own cgroup.
    capabilities = Capabilities(image=True, image_local=True, cgroup_host=True)

    def __init__(self, image: str, image_problem: Callable[[Any, str], str | None] | None = None,
                 host: CgroupHost | None = None, bin_dir: Path | None = None) -> None:
        self.image = image
        self.bin_dir = bin_dir                 # the image's compiled workers (the caller knows its layout)
        self.image_problem = image_problem   # the caller's check of the image (its freshness)
        self.host = host or CgroupHost()
        self._client: Any = None

    @classmethod
    def create(cls, setup: Setup) -> DockerRuntime:
        return cls(setup.image, setup.image_problem, bin_dir=setup.image_bin_dir)

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = connect()
        return self._client

    def available(self) -> str | None:
        try:
            client = self.client
            driver = client.info().get("CgroupDriver", "cgroupfs")
        except RuntimeUnavailable as exc:
            return str(exc)
        if driver != "cgroupfs":
            return (f"the Docker engine uses the {driver} cgroup driver; the kit measures through "
                    "--cgroup-parent groups it makes itself, which needs the cgroupfs driver "
                    "(dockerd --exec-opt native.cgroupdriver=cgroupfs) or --runtime cgroup")
        problem = self.image_problem(client, self.image) if self.image_problem else None
        if problem:
            return problem
        try:
            ParentGroup(self.host, PROBE_NAME).remove()
        except (OSError, RuntimeUnavailable) as exc:
            return f"cannot create a --cgroup-parent group for containers ({exc}); run as root"
        return None

    def _user(self, output_dir: Path) -> str:
        uid, gid = os.getuid(), os.getgid()
        if uid != 0:
            return f"{uid}:{gid}"  # the outputs stay the invoking user's
        uid, gid = UNPRIVILEGED
        os.chown(output_dir, uid, gid)  # the unprivileged worker writes here, root reads after
        return f"{uid}:{gid}"

    def start(self, spec: SandboxSpec) -> DockerSandbox:
        from docker.errors import DockerException

        spec.log_dir.mkdir(parents=True, exist_ok=True)
        paths = SandboxPaths(python=PYTHON, input_root=INPUT_ROOT, output_dir=OUTPUT_DIR, manifest=MANIFEST,
                             bin_dir=self.bin_dir)
        # A signal while the parent group is made is delivered inside the `try` that removes it.
        with signals.hold():
            parent = ParentGroup(self.host, spec.name)
        container: Any = None
        try:
            signals.deliver()
            # The engine makes the container even when a signal cuts the call short: held until the
            # kit has its handle, so the `except` below removes it (none is left "Created").
            with signals.hold():
                container = self._create(spec, paths, parent)
            signals.deliver()
            # Attach before start, as `docker run` does, so that no early progress line is lost.
            stream = self.client.api.attach(container.id, stdout=True, stderr=False, stream=True, logs=True)
            container.start()
        except BaseException as exc:
            with deferred_interrupt():
                if container is not None:
                    with contextlib.suppress(Exception):
                        container.remove(force=True)
                parent.remove()
            if isinstance(exc, Exception) and is_engine_gone(exc):
                raise engine_gone(exc, f"starting {spec.name}") from exc
            if isinstance(exc, DockerException):  # e.g. the image was removed, a mount refused
                raise RuntimeUnavailable(f"the Docker engine could not start {spec.name}: {exc}") from exc
            raise
        notes = {"container": container.id[:12], "cgroup_parent": parent.path}
        if spec.memory_limit_bytes is not None:
            notes["swap"] = "disabled (--memory-swap = --memory)"
        stderr_path = spec.log_dir / f"{spec.name}.stderr"
        return DockerSandbox(self.client, container, parent, stream, stderr_path, notes)

    def _create(self, spec: SandboxSpec, paths: SandboxPaths, parent: ParentGroup) -> Any:
        """The hardened container, created (not started): caps, mounts, no network, read-only root."""
        from docker.types import Mount

        memory = spec.memory_limit_bytes
        return self.client.containers.create(
            self.image, spec.command(paths), name=container_name(spec.name),
            labels={SANDBOX_LABEL: spec.name, OWNER_LABEL: owner_label()}, environment=dict(spec.env),
            user=self._user(spec.output_dir),
            mounts=[Mount(str(INPUT_ROOT), str(spec.input_root.resolve()), type="bind", read_only=True),
                    Mount(str(OUTPUT_DIR), str(spec.output_dir.resolve()), type="bind"),
                    Mount(str(MANIFEST), str(spec.manifest.resolve()), type="bind", read_only=True)],
            cgroup_parent=parent.path, mem_limit=memory, memswap_limit=memory,
            nano_cpus=round(spec.cpus * 1e9) if spec.cpus else None, pids_limit=spec.pids_max,
            cpuset_cpus=",".join(map(str, spec.cpuset)) if spec.cpuset else None,
            network_mode="none", read_only=True, tmpfs={"/tmp": SCRATCH}, cap_drop=["ALL"],
            security_opt=["no-new-privileges"], init=True, stdin_open=False, tty=False)

    def cleanup(self) -> list[str]:
        """Every container was removed by its own close(); the `kit/` parents of their groups
        (--cgroup-parent) left empty go now."""
        from kit.runtimes.owners import remove_empty_parents

        remove_empty_parents(self.host)
        return []

    def leftovers(self) -> list[str]:
        """The parent groups and the containers of killed runs."""
        from kit.runtimes.owners import find, orphan_containers

        lines = [f"leftover sandbox group {leftover.line()}" for leftover in find(self.host)]
        with contextlib.suppress(Exception):  # the engine answered a moment ago; a hiccup is no reason to stop
            lines += [f"leftover container {c.name} ({why})" for c, why in orphan_containers(self.client)]
        return lines

    def recipe_problem(self, recipe: dict[str, str]) -> str | None:
        return None   # its containers bind-mount the host's inputs

    def describe(self) -> dict[str, Any]:
        image = self.client.images.get(self.image)
        return {"runtime": self.name, "cgroup_version": self.host.version,
                "engine_version": self.client.version().get("Version"), "image": self.image,
                "image_digest": image.id, "image_labels": dict(image.labels or {}),
                "kernel": platform.release(), "pid": os.getpid()}


def leftover_containers(client: Any, run_id: str = "") -> list[str]:
    """Names of kit sandboxes (of one run) the engine still holds: none after a run, interrupted or not."""
    return [c.name for c in client.containers.list(all=True, filters={"label": SANDBOX_LABEL})
            if c.labels.get(SANDBOX_LABEL, "").startswith(run_id)]
