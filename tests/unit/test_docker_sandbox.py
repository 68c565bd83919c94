"""Two docker-runtime paths a shared CI engine cannot be put through for real, so fakes stand in
for the engine's objects here (tests/integration/test_docker.py covers the rest for real): an
engine that vanishes mid-run (stopping dockerd would end every other container), and the order of
the container's exit, the kit's last reading of its own group and the engine's removal of that
group (the real engine wins or loses that race by milliseconds, never on demand)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from kit.core.errors import RuntimeUnavailable
from kit.measure.cgroupstat import CgroupStats
from kit.runtimes import docker as docker_runtime
from kit.runtimes.docker import DockerSandbox

GONE = requests.exceptions.ConnectionError("('Connection aborted.', FileNotFoundError(2, 'No such file'))")


class Container:
    id = "c0ffee" * 10

    def __init__(self) -> None:
        self.calls: list[str] = []

    def wait(self) -> dict[str, int]:
        time.sleep(0.05)
        raise GONE

    def kill(self) -> None:
        self.calls.append("kill")
        raise GONE

    def remove(self, force: bool = False) -> None:
        self.calls.append("remove")
        raise GONE

    def logs(self, stdout: bool = True, stderr: bool = True) -> bytes:
        raise GONE


class Group:
    def stats(self) -> CgroupStats:
        return CgroupStats(usage_bytes=1, working_set_bytes=1, peak_usage_bytes=1, cpu_seconds=0.0,
                           throttled_seconds=0.0, oom_kills=0)


class Parent:
    group = Group()
    removed = False

    def child_stats(self, container_id: str) -> None:
        return None

    def pids(self) -> list[int]:
        return []

    def remove(self) -> None:
        self.removed = True


def stream() -> Iterator[bytes]:
    yield b'{"event": "start", "pid": 7, "workers": 1, "concurrency": {}}\n'
    raise GONE


def test_a_vanished_engine_is_one_clear_error_and_close_still_cleans_up(tmp_path: Path) -> None:
    container, parent = Container(), Parent()
    sandbox = DockerSandbox(client=None, container=container, parent=parent, stream=stream(),  # type: ignore[arg-type]
                            stderr_path=tmp_path / "w.stderr", notes={})
    assert sandbox.stdout.readline().startswith('{"event": "start"')
    assert sandbox.stdout.readline() == ""  # the broken stream ends the worker's output
    deadline = time.monotonic() + 5
    with pytest.raises(RuntimeUnavailable, match="Docker engine stopped answering.*finished results are kept"):
        while time.monotonic() < deadline:
            sandbox.poll()
            time.sleep(0.01)
    sandbox.close()
    assert container.calls == ["remove"]  # the waiter had ended: nothing to kill, removal attempted
    assert parent.removed and sandbox.stdout.closed
    sandbox.close()  # idempotent


class Engine:
    """A client whose `inspect_container` names a real process as the container's first one."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.api = self

    def inspect_container(self, container_id: str) -> dict[str, dict[str, object]]:
        return {"State": {"Pid": self.process.pid, "OOMKilled": False, "ExitCode": self.process.poll()}}


class Ending(Container):
    """A container whose wait returns as the engine's would: some time after its process exited."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        super().__init__()
        self.process, self.waited = process, False

    def wait(self) -> dict[str, int]:
        code = self.process.wait()
        time.sleep(0.5)   # shim -> containerd -> dockerd, then `runc delete` removes the group
        self.waited = True
        return {"StatusCode": code}


class ChildGroup(Parent):
    """The container's own group: it has throttling figures until the engine removes it."""

    def __init__(self, container: Ending) -> None:
        self.container, self.reads = container, 0

    def child_stats(self, container_id: str) -> tuple[int, float, int] | None:  # type: ignore[override]
        self.reads += 1
        return None if self.container.waited else (0, 2.5, 25)


def test_the_containers_own_group_is_read_at_its_exit_before_the_engine_removes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker_runtime, "_in_group", lambda pid, container_id: True)   # a host process
    process = subprocess.Popen(["sleep", "0.3"])
    container = Ending(process)
    parent = ChildGroup(container)
    sandbox = DockerSandbox(client=Engine(process), container=container, parent=parent, stream=iter(()),
                            stderr_path=tmp_path / "w.stderr", notes={})
    deadline = time.monotonic() + 10
    while sandbox.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sandbox.poll() == 0 and container.waited
    final = sandbox.stats()   # the group is gone by now: no tick read it while it ran
    assert (final.throttled_seconds, final.throttled_periods) == (2.5, 25)
    assert parent.reads == 2   # at the exit, and this last call
    sandbox.close()


def test_an_engine_gone_fails_at_once_though_the_containers_process_runs_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """containerd keeps a container's process when dockerd dies: the exit reading waits for it
    apart from the waiter, which reports the engine gone at once; close() ends that reading too."""
    monkeypatch.setattr(docker_runtime, "_in_group", lambda pid, container_id: True)
    process = subprocess.Popen(["sleep", "60"])
    try:
        container = Container()   # its wait() fails: the engine is gone
        sandbox = DockerSandbox(client=Engine(process), container=container, parent=Parent(),  # type: ignore[arg-type]
                                stream=iter(()), stderr_path=tmp_path / "w.stderr", notes={})
        deadline = time.monotonic() + 5
        with pytest.raises(RuntimeUnavailable, match="Docker engine stopped answering"):
            while time.monotonic() < deadline:
                sandbox.poll()
                time.sleep(0.01)
        assert process.poll() is None and sandbox._exit_reader.is_alive()
        sandbox.close()
        sandbox._exit_reader.join(5)
        assert not sandbox._exit_reader.is_alive()
    finally:
        process.kill()
        process.wait()
