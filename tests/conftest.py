"""Shared fixtures. On CI (KIT_REQUIRE_ALL=1) a test that would skip fails instead: CI installs
every component, so a skip there means something is missing, not optional."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    """One image cache for the whole session, so each pool is generated once. KIT_TEST_CACHE_SEED
    names a cache whose files it starts from: the cgroup v2 VM (.ci/cgroup-v2-vm) gets the pools
    generated on the host, since generating them under CPU emulation would take most of its run."""
    cache = tmp_path_factory.mktemp("kit-cache")
    if seed := os.environ.get("KIT_TEST_CACHE_SEED"):
        shutil.copytree(seed, cache, dirs_exist_ok=True)
    return cache


@pytest.fixture(autouse=True)
def private_state_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests make groups in fixture trees: their owner markers (kit/runtimes/owners.py) go to a
    directory of their own, not the machine's /run/kit where real runs look for leftovers."""
    if "unit" in Path(str(request.node.path)).parts:
        monkeypatch.setenv("KIT_STATE_DIR", str(tmp_path_factory.mktemp("kit-state")))


_kube: dict[str, Any] = {}    # the session's cluster, and the id of the last test that uses it


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real Kubernetes control plane on loopback for the whole session (tests/kube/cluster.py): etcd,
    kube-apiserver, controller-manager, scheduler, and kwok's fake nodes in place of kubelets. Yields the
    `Cluster`: .kubeconfig, .api (ApiClient), .namespace(), .pod_fate(), .pod_logs(), .stages, .log_dir.
    It stops right after the last test that uses it (it would only cost the timed tests CPU and memory)."""
    from tests.kube.cluster import Binaries, Cluster, ClusterError

    binaries = Binaries.from_cache()
    need(binaries.problem())
    cluster = Cluster(binaries, tmp_path_factory.mktemp("kube"))
    try:
        cluster.start()
    except ClusterError as e:
        pytest.fail(f"the test Kubernetes control plane did not start: {e}\n{cluster.log_tail()}")
    _kube["cluster"] = cluster
    yield cluster
    cluster.stop()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    users = [item.nodeid for item in items if "kube_cluster" in getattr(item, "fixturenames", ())]
    _kube["last"] = users[-1] if users else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    yield
    if item.nodeid == _kube.get("last") and "cluster" in _kube:
        _kube.pop("cluster").stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failing test that used the control plane reports where its logs are, with their last lines."""
    outcome = yield
    report = outcome.get_result()
    cluster = getattr(item, "funcargs", {}).get("kube_cluster")
    if report.failed and cluster is not None:
        report.sections.append(("kube control plane", cluster.log_tail()))
