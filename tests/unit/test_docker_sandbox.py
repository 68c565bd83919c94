"""A Docker engine that vanishes mid-run: the one docker-runtime path a shared CI engine cannot
be put through for real (stopping dockerd would end every other container), so fakes stand in
for the engine's objects here; tests/integration/test_docker.py covers the rest for real."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from kit.cgroupstat import CgroupStats
from kit.errors import RuntimeUnavailable
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
