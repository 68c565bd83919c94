"""Shared fixtures. On CI (KIT_REQUIRE_ALL=1) a test that would skip fails instead: CI installs
every component, so a skip there means something is missing, not optional."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REQUIRE_ALL = os.environ.get("KIT_REQUIRE_ALL") == "1"


def pytest_configure(config: pytest.Config) -> None:
    """The kits the tests start get the default signal dispositions, however the tests were started:
    an ignored signal (nohup's SIGHUP, the SIGINT a shell ignores for a script's background job) is
    inherited across exec, a Python handler is not. So an ignored one becomes a handler that ignores
    it: this process still outlives a hangup, and the kits under test hear their SIGHUP and SIGINT."""
    for signum in (signal.SIGHUP, signal.SIGINT):
        if signal.getsignal(signum) == signal.SIG_IGN:
            signal.signal(signum, lambda number, frame: None)


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


@pytest.fixture(autouse=True)
def private_working_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests run in a directory of their own: what the kit writes relative to the working
    directory (the default --out reports, grimp's cache) goes to a temporary directory, never into
    the checkout, which an unprivileged user may not be able to write."""
    if "unit" in Path(str(request.node.path)).parts:
        monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


_kube: dict[str, Any] = {}    # the session's cluster and real node, and the ids of the last tests that use them


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


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Any]:
    """A Docker engine that answers (tests marked `docker`): the connected client."""
    from kit.runtimes.engine import connect, engine_problem

    need(engine_problem())
    client = connect()
    yield client
    client.close()


# What a test needs beyond the quick tier, by the fixture that provides it, and the marker (pyproject.toml)
# it must then carry, so that `pytest -m "not docker"` and the like leave it out.
MARKER_OF_FIXTURE = {"cgroups": "cgroup", "docker_engine": "docker", "kube_cluster": "kube", "real_node": "kube",
                     "browser": "browser"}
NEED_MARKERS = frozenset({"cgroup", "docker", "kube", "vm", "browser"})
TESTS = Path(__file__).resolve().parent


def marker_problems(items: list[pytest.Item]) -> list[str]:
    """A test that uses a fixture of MARKER_OF_FIXTURE without its marker; anything in tests/unit (the
    quick tier: no root, no service, no Docker, no cluster) that needs one of them."""
    problems = []
    for item in items:
        marked = {mark.name for mark in item.iter_markers()}
        needed = {MARKER_OF_FIXTURE[name] for name in getattr(item, "fixturenames", ()) if name in MARKER_OF_FIXTURE}
        try:
            quick = Path(str(item.path)).resolve().relative_to(TESTS).parts[0] == "unit"
        except ValueError:
            quick = False
        if quick and (needed or marked & NEED_MARKERS):
            problems.append(f"{item.nodeid}: tests/unit is the quick tier, but this test needs "
                            f"{', '.join(sorted(needed | (marked & NEED_MARKERS)))}: move it to tests/integration")
        elif missing := needed - marked:
            problems.append(f"{item.nodeid}: uses the fixture of {', '.join(sorted(missing))} without its marker "
                            f"(pytest.mark.{', pytest.mark.'.join(sorted(missing))})")
    return problems


@pytest.fixture(scope="session")
def real_node(kube_cluster: Any, docker_engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One real kubelet with its own containerd beside the kwok nodes (tests/kube/node.py), labelled
    kit.test/pool=real-node, with the kit's worker image of the current sources imported. It joins the
    cluster at the first test that asks for it and leaves (its Node object deleted) right after the last
    one, before the cluster stops: the kwok tests never see it. Stopping it fails the last test's teardown
    if the host is not as it was (processes, kubepods groups, the CNI bridge, paths, sysctls)."""
    from tests.kube import node as real
    from tests.kube.cluster import ClusterError

    need(real.problem())
    image, built = real.worker_image()
    node = real.RealNode(kube_cluster, tmp_path_factory.mktemp("node"), image)
    try:
        node.start()     # stops what it started if it fails
    except BaseException as e:
        real.remove_worker_image(built)
        if isinstance(e, ClusterError):
            pytest.fail(f"the real node did not start: {e}\n{node.log_tail()}")
        raise
    _kube["node"], _kube["image"] = node, built
    yield node
    _stop_real_node()


def _stop_real_node() -> None:
    node, built = _kube.pop("node", None), _kube.pop("image", None)
    if node is None:
        return
    from tests.kube import node as real

    left = node.stop()
    real.remove_worker_image(built)
    if left:
        pytest.fail("the real node left the host changed: " + "; ".join(left))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if problems := marker_problems(items):
        raise pytest.UsageError("tests without the marker of what they need:\n  " + "\n  ".join(problems))
    for fixture, key in (("kube_cluster", "last"), ("real_node", "last_node")):
        users = [item.nodeid for item in items if fixture in getattr(item, "fixturenames", ())]
        _kube[key] = users[-1] if users else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    yield
    try:
        if item.nodeid == _kube.get("last_node"):
            _stop_real_node()     # before the cluster: the kubelet drains its pods through the API server
    finally:
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
    node = getattr(item, "funcargs", {}).get("real_node")
    if report.failed and node is not None:
        report.sections.append(("real node", node.log_tail()))
