"""Waiting on a cluster that converges in its own time (controllers, the scheduler, kwok's stages)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest


def eventually(what: str, probe: Callable[[], Any], timeout: float = 60.0) -> Any:
    """The first truthy value of `probe()`, polled every 0.2 s, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)
