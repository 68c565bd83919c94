"""The Docker engine as the kit talks to it: one connection helper, one way to say it is gone.

Shared by the docker runtime and `kit build`. The `docker` SDK is imported lazily so that the
cgroup path never pays for it.
"""

from __future__ import annotations

import os
from typing import Any

from kit.core.errors import RuntimeUnavailable

CONNECT_TIMEOUT_SECONDS = 10
HOW_TO_START = ("install and start a Docker engine (Debian: apt-get install docker.io && "
                "systemctl start docker), or use --runtime cgroup")


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def connect(timeout: float = CONNECT_TIMEOUT_SECONDS) -> Any:
    """A docker.DockerClient that has answered a ping; RuntimeUnavailable when none answers."""
    try:
        import docker
    except ImportError as exc:  # a dependency of the kit, but say so clearly if it is missing
        raise RuntimeUnavailable("the docker Python SDK is not installed: pip install docker") from exc
    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except Exception as exc:  # DockerException, requests' ConnectionError, FileNotFoundError...
        raise RuntimeUnavailable(f"no Docker engine answers at {engine_address()} "
                                 f"({_short(exc)}): {HOW_TO_START}") from exc
    return client


def engine_problem() -> str | None:
    """None when an engine answers; otherwise why not and how to fix it."""
    try:
        connect().close()
    except RuntimeUnavailable as exc:
        return str(exc)
    return None


def is_engine_gone(exc: BaseException) -> bool:
    """True for the errors a vanished engine causes (socket closed, connection refused)."""
    import requests

    return isinstance(exc, (requests.exceptions.ConnectionError, ConnectionError, FileNotFoundError))


def engine_gone(exc: BaseException, doing: str) -> RuntimeUnavailable:
    return RuntimeUnavailable(f"the Docker engine stopped answering while {doing} ({_short(exc)}); "
                              "restart it (systemctl start docker) and run again; finished results are kept")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) < 160 else text[:157] + "..."
