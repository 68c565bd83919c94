"""Shared fixtures. On CI (KIT_REQUIRE_ALL=1) a test that would skip fails instead: CI installs
every component, so a skip there means something is missing, not optional."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REQUIRE_ALL = os.environ.get("KIT_REQUIRE_ALL") == "1"


def need(problem: str | None) -> None:
    """Skip (or fail on CI) when `problem` says a component is missing."""
    if problem is None:
        return
    if REQUIRE_ALL:
        pytest.fail(f"required component missing on CI: {problem}")
    pytest.skip(problem)


@pytest.fixture(scope="session")
def cgroup_problem() -> str | None:
    from kit.runtimes.cgroupfs import CgroupHost

    return CgroupHost().problem()


@pytest.fixture()
def cgroups(cgroup_problem: str | None) -> None:
    """Tests that really create cgroups (root on v1, a delegated subtree on v2)."""
    need(cgroup_problem)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One image cache for the whole session, so each pool is generated once."""
    return tmp_path_factory.mktemp("kit-cache")


@pytest.fixture(autouse=True)
def private_state_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests make groups in fixture trees: their owner markers (kit/runtimes/owners.py) go to a
    directory of their own, not the machine's /run/kit where real runs look for leftovers."""
    if "unit" in Path(str(request.node.path)).parts:
        monkeypatch.setenv("KIT_STATE_DIR", str(tmp_path_factory.mktemp("kit-state")))
