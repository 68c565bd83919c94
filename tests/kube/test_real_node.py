"""The Kubernetes runtime on a real node: a real kubelet with Debian's containerd and runc (tests/kube/node.py)
beside the kwok nodes of the test cluster. Here containers really run: the init container generates the
inputs in the pod, the worker runs in a pod's cgroup under its memory limit, the kernel's OOM killer and
the kubelet's `OOMKilled` decide the outcome, and the log stream ends with the container. Every kit pod
selects the node by its label (`--node-selector kit.test/pool=real-node`), with the worker image of the
current sources imported into the node's containerd (no registry: IfNotPresent never pulls).

Tolerances of the inside/outside comparison are the ones tests/integration/test_inside_samples.py measured
and explains (peak watermark 0.98-1.0x, working-set maximum 0.5-1.3x); outside here is the pod's own
container group on the node, read by the test while the worker runs (the kubelet removes it when the
container ends).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.kitrun import kit, kit_env
from tests.kube.node import NODE_LABEL, NODE_NAME, RealNode, kubepods_groups, other_containerd, sysctls
from tests.kube.waiting import eventually

pytestmark = [pytest.mark.kube, pytest.mark.docker]   # the worker image comes from a Docker engine

MIB = 2**20
SELECT = ["--node-selector", f"{NODE_LABEL[0]}={NODE_LABEL[1]}"]


@pytest.fixture()
def namespace(kube_cluster: Any, real_node: RealNode, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh namespace enforcing the restricted Pod Security Standard, and the kit pointed at the cluster."""
    monkeypatch.setenv("KUBECONFIG", str(kube_cluster.kubeconfig))
    return str(kube_cluster.namespace())


def on_node(real_node: RealNode, namespace: str, *args: str) -> list[str]:
    """`kit run` arguments for a run on the real node."""
    return ["run", "--runtime", "kubernetes", "--namespace", namespace, "--image", real_node.worker_image,
            *SELECT, *args]


def core(kube_cluster: Any) -> Any:
    from kubernetes import client

    return client.CoreV1Api(kube_cluster.api)


def jobs_in(kube_cluster: Any, namespace: str) -> list[Any]:
    from kubernetes import client

    return list(client.BatchV1Api(kube_cluster.api).list_namespaced_job(namespace).items)


def pods_in(kube_cluster: Any, namespace: str) -> list[Any]:
    return list(core(kube_cluster).list_namespaced_pod(namespace).items)


def test_the_node_is_real_and_leaves_the_host_alone(kube_cluster: Any, real_node: RealNode) -> None:
    node = core(kube_cluster).read_node(NODE_NAME)
    info = node.status.node_info
    assert info.kubelet_version == "v1.37.2" and info.container_runtime_version.startswith("containerd://1.")
    assert node.metadata.labels[NODE_LABEL[0]] == NODE_LABEL[1]
    assert any(a.type == "InternalIP" and a.address == real_node.ip for a in node.status.addresses)
    # the kubelet runs with its own settings in its own mount namespace: the host's stay as they were
    assert real_node.host is not None and sysctls() == real_node.host.sysctls
    assert kubepods_groups(), "the kubelet made its kubepods groups"
    # no iptables chain of the kubelet's (its PATH has no iptables)
    for table in ("filter", "nat", "mangle"):
        done = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True, check=False)
        assert "KUBE-" not in done.stdout, done.stdout
    # a Docker engine's containerd beside it is untouched, and told apart by its socket
    alive = other_containerd()
    assert all(alive.get(pid) == command for pid, command in real_node.host.engine_containerd.items())
    assert str(real_node.socket) not in " ".join(real_node.host.engine_containerd.values())


def test_python_and_gocv_end_ok_with_inside_figures_and_outputs_checked_where_the_builds_allow(
        real_node: RealNode, namespace: str, tmp_path: Path, cache_dir: Path) -> None:
    run = kit(on_node(real_node, namespace, "-s", "python-sequential", "-s", "go-gocv", "--workers", "1",
                      "--images", "6", "--distinct-images", "3", "--resolution", "1080p", "--mem-limit", "512Mi"),
              tmp_path / "out", cache_dir, timeout=900)
    assert run.returncode == 0, run.stderr
    reference = run.results["workload"]["reference_build"]
    for name in ("python-sequential", "go-gocv"):
        record = run.record(name)
        assert record["status"] == "ok" and record["exit_code"] == 0, (name, record["message"])
        assert record["items_ok"] == 6 and record["items_failed"] == 0
        sandbox = record["environment"]["sandbox"]
        assert sandbox["node"] == NODE_NAME and sandbox["kubelet_version"] == "v1.37.2", sandbox
        assert sandbox["container_runtime"].startswith("containerd://"), sandbox
        # figures from inside the pod's own cgroup
        inside = record["inside"]
        assert inside is not None and inside["samples"] >= 2 and inside["watermark"] is True, (name, inside)
        assert 0 < record["peak_memory_bytes"] <= 512 * MIB and record["cpu_seconds"] > 0
        assert record["peak_usage_bytes"] == inside["peak_usage_bytes"]
        # the worker reported the digest of each output it left in the pod
        verification = record["verification"]
        same_build = (record["library_version"], record["jpeg_library"]) == (reference["library_version"],
                                                                             reference["jpeg_library"])
        if name == "python-sequential" and same_build:
            assert record["verified"] is True and verification["method"] == "sha256", verification
        else:   # another build than the controller's reference, or Go (always pixels): unverified, and why
            assert record["verified"] is None, verification
            assert verification["digests_reported"] == 6 and "PSNR" in verification["unverified"]
            if name == "python-sequential":
                assert f"OpenCV {record['library_version']}" in verification["build_reason"], verification
    no_containers_left(real_node, namespace)


def no_containers_left(real_node: RealNode, namespace: str) -> None:
    """Wait until the node's containerd holds no container of the namespace's pods (the kubelet removes
    those of deleted pods in its own time)."""
    eventually(f"no container of {namespace} left in the node's containerd",
               lambda: not real_node.containers(namespace), timeout=150)


def test_a_cap_that_kills_gives_oom_killed_from_the_kubelet(real_node: RealNode, namespace: str, tmp_path: Path,
                                                           cache_dir: Path) -> None:
    """The cgroup and Docker runtimes' OOM scenario on the node: 256 MiB holds no twelve 4K frames."""
    run = kit(on_node(real_node, namespace, "-s", "python-threads", "--workers", "12", "--cpus", "2",
                      "--images", "24", "--distinct-images", "4", "--mem-limit", "256Mi",
                      "--sample-interval-ms", "50"), tmp_path / "out", cache_dir, timeout=900)
    assert run.returncode == 0, run.stderr
    record = run.record("python-threads")
    assert record["status"] == "oom_killed" and record["verified"] is None, record["message"]
    assert record["exit_code"] == 137 and record["oom_kills"] >= 1
    assert record["environment"]["sandbox"]["termination_reason"] == "OOMKilled"    # the kubelet's own status
    assert record["environment"]["sandbox"]["node"] == NODE_NAME
    assert record["oom_events"][0]["victim"] == "main"
    assert record["memory_limit_bytes"] == 256 * MIB
    # the inside peak, the kernel's watermark of the container's group, reached the cap
    assert record["inside"] is not None
    assert 200 * MIB < record["peak_usage_bytes"] <= 256 * MIB + MIB, record["peak_usage_bytes"]


def test_ctrl_c_deletes_the_job_and_leaves_no_container(kube_cluster: Any, real_node: RealNode, namespace: str,
                                                      tmp_path: Path, cache_dir: Path) -> None:
    env = {**kit_env(cache_dir), "KUBECONFIG": str(kube_cluster.kubeconfig)}
    argv = [sys.executable, "-m", "kit", *on_node(real_node, namespace, "-s", "python-sequential", "--workers", "1",
                                                   "--images", "400", "--distinct-images", "4"),
            "--metrics-port", "0", "--out", str(tmp_path / "out")]
    kit_run = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        def worker_running() -> bool:
            for pod in pods_in(kube_cluster, namespace):
                for status in pod.status.container_statuses or ():
                    if status.name == "worker" and status.state.running is not None:
                        return True
            return False
        eventually("the worker container running on the node", worker_running, timeout=300)
        assert real_node.containers(namespace), "the pod's containers are in the node's containerd"
        time.sleep(2.0)
        kit_run.send_signal(signal.SIGINT)
        _, err = kit_run.communicate(timeout=180)
    finally:
        if kit_run.poll() is None:
            kit_run.kill()
    assert kit_run.returncode == 130, err
    assert "Traceback" not in err
    eventually("no Job left after Ctrl-C", lambda: not jobs_in(kube_cluster, namespace))
    eventually("no pod left after Ctrl-C", lambda: not pods_in(kube_cluster, namespace))
    no_containers_left(real_node, namespace)
    (results,) = (tmp_path / "out").glob("*/results.json")
    assert [r["status"] for r in json.loads(results.read_text())["results"]] == ["interrupted"]


class CgroupWatch:
    """The worker containers' groups on the node, read from outside every 10 ms while they live: the
    kernel's watermark (the last read is the largest) and the largest working set (usage minus inactive
    file) per strategy. One thread finds each worker container's group through the API, another reads
    the groups it knows, so a slow API call never leaves a gap in the readings."""

    def __init__(self, kube_cluster: Any, real_node: RealNode, namespace: str) -> None:
        self.kube, self.node, self.namespace = kube_cluster, real_node, namespace
        self.groups: dict[str, Path] = {}
        self.peak: dict[str, int] = {}
        self.working_set: dict[str, int] = {}
        self.reads: dict[str, int] = {}
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._find, daemon=True),
                        threading.Thread(target=self._read, daemon=True)]

    def __enter__(self) -> CgroupWatch:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def _find(self) -> None:
        while not self.stop.is_set():
            try:
                for pod in pods_in(self.kube, self.namespace):
                    for status in pod.status.container_statuses or ():
                        if status.name == "worker" and status.container_id:
                            group = self.node.pod_cgroup(pod.metadata.uid, status.container_id.split("://")[-1])
                            if group is not None:
                                self.groups[pod.metadata.labels["kit.dev/strategy"]] = group
            except Exception:   # noqa: BLE001 - the API server is busy: try again
                pass
            time.sleep(0.1)

    def _read(self) -> None:
        while not self.stop.is_set():
            for strategy, group in list(self.groups.items()):
                try:
                    peak = int((group / "memory.max_usage_in_bytes").read_text())
                    usage = int((group / "memory.usage_in_bytes").read_text())
                    stat = dict(line.split() for line in (group / "memory.stat").read_text().splitlines())
                except (OSError, ValueError):
                    continue       # the container ended and its group went
                self.peak[strategy] = max(self.peak.get(strategy, 0), peak)
                working_set = max(0, usage - int(stat.get("total_inactive_file", 0)))
                self.working_set[strategy] = max(self.working_set.get(strategy, 0), working_set)
                self.reads[strategy] = self.reads.get(strategy, 0) + 1
            time.sleep(0.01)


def test_inside_and_outside_memory_agree_against_the_pods_own_cgroup(
        kube_cluster: Any, real_node: RealNode, namespace: str, tmp_path: Path, cache_dir: Path) -> None:
    # 4K items: each strategy works for seconds, long enough to be read from outside all along
    with CgroupWatch(kube_cluster, real_node, namespace) as watch:
        run = kit(on_node(real_node, namespace, "-s", "python-sequential", "-s", "go-gocv", "--workers", "1",
                          "--images", "24", "--distinct-images", "4", "--mem-limit", "768Mi", "--cpus", "1.5"),
                  tmp_path / "out", cache_dir, timeout=900)
    assert run.returncode == 0, run.stderr
    for name in ("python-sequential", "go-gocv"):
        record = run.record(name)
        assert record["status"] == "ok", (name, record["message"])
        inside = record["inside"]
        assert name in watch.peak, f"{name}: the pod's group was never read on the node"
        peak = inside["peak_usage_bytes"] / watch.peak[name]
        working_set = inside["working_set_max_bytes"] / watch.working_set[name]
        print(f"inside/outside {name}: peak {peak:.3f}, working set {working_set:.3f} "
              f"({watch.reads[name]} outside reads)")   # pytest -s
        assert 0.98 <= peak <= 1.0, (name, inside["peak_usage_bytes"], watch.peak[name])
        assert 0.5 <= working_set <= 1.3, (name, inside["working_set_max_bytes"], watch.working_set[name])


def test_doctor_passes_with_its_image_probe_pod_on_the_node(kube_cluster: Any, real_node: RealNode,
                                                            namespace: str) -> None:
    env = {**os.environ, "KUBECONFIG": str(kube_cluster.kubeconfig)}
    done = subprocess.run([sys.executable, "-m", "kit", "doctor", "--runtime", "kubernetes", "--namespace", namespace,
                           "--image", real_node.worker_image, *SELECT, "--mem-limit", "512Mi", "--workers", "1",
                           "--pending-timeout", "120"], capture_output=True, text=True, env=env, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    said = " ".join(done.stdout.split())     # the lines as doctor wraps them, unwrapped
    assert f"ok image {real_node.worker_image} pulled and started by a node" in said, done.stdout
    assert f": 1 of 4 ({NODE_NAME})" in said, done.stdout
    eventually("the probe pod removed", lambda: not pods_in(kube_cluster, namespace))

