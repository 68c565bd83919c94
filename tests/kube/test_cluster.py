"""The test control plane itself: a real kube-apiserver, etcd, Job controller, garbage collector and
scheduler, with kwok playing the kubelet (no real kubelet can run here). These are the behaviours the
Kubernetes runtime relies on: a Job runs to Succeeded, an OOMKilled or failing container reports what a
kubelet reports, a pod no node fits stays Pending with the scheduler's reason, logs are served, a
foreground deletion removes the pods, and nothing is left running after teardown."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.kube import stages
from tests.kube.cluster import NODE_LABELS, Binaries, Cluster, ClusterError
from tests.kube.waiting import eventually

pytestmark = pytest.mark.kube

IMAGE = "kit-worker:0.1.0"      # never pulled: kwok runs no container


def job(name: str, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
        memory: str = "512Mi") -> dict[str, Any]:
    """A Job shaped like the runtime's: backoffLimit 0, restartPolicy Never, Guaranteed QoS, the restricted
    Pod Security Standard (the namespaces enforce it, so the real apiserver checks it)."""
    resources = {"cpu": "1", "memory": memory}
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": {
            "metadata": {"labels": labels or {}, "annotations": annotations or {}},
            "spec": {
                "restartPolicy": "Never", "automountServiceAccountToken": False,
                "nodeSelector": {"kit.test/pool": NODE_LABELS["kit.test/pool"]},
                "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "worker", "image": IMAGE, "resources": {"limits": resources, "requests": resources},
                    "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                        "capabilities": {"drop": ["ALL"]}},
                }],
            }}},
    }


@pytest.fixture()
def kube(kube_cluster: Cluster) -> Any:
    """CoreV1Api, BatchV1Api and a fresh namespace enforcing the restricted Pod Security Standard."""
    from kubernetes import client

    class Kube:
        core = client.CoreV1Api(kube_cluster.api)
        batch = client.BatchV1Api(kube_cluster.api)
        namespace = kube_cluster.namespace()

        def pod_of(self, job_name: str) -> Any:
            pods = self.core.list_namespaced_pod(self.namespace, label_selector=f"job-name={job_name}").items
            return pods[0] if pods else None

        def terminated(self, job_name: str) -> Any:
            pod = self.pod_of(job_name)
            statuses = (pod and pod.status.container_statuses) or []
            return statuses and statuses[0].state.terminated and (pod, statuses[0].state.terminated)

    return Kube()


def test_a_job_runs_to_succeeded_on_a_kwok_node(kube: Any, kube_cluster: Cluster) -> None:
    kube.batch.create_namespaced_job(kube.namespace, job("ok", annotations={stages.RUN_FOR_ANNOTATION: "1"}))
    done = eventually("job ok Complete", lambda: next(
        (c for c in kube.batch.read_namespaced_job_status("ok", kube.namespace).status.conditions or ()
         if c.type == "Complete" and c.status == "True"), None))
    assert done.reason == "CompletionsReached"
    pod, terminated = kube.terminated("ok")
    assert pod.status.phase == "Succeeded"
    assert pod.spec.node_name in kube_cluster.node_names
    assert (terminated.reason, terminated.exit_code) == ("Completed", 0)
    # run-for: the container ran about as long as asked (whole seconds in the API's timestamps)
    assert (terminated.finished_at - terminated.started_at).total_seconds() >= 1
    node = kube.core.read_node(pod.spec.node_name)
    assert node.status.allocatable["memory"] == "8Gi" and node.status.allocatable["cpu"] == "2"
    assert node.status.node_info.kubelet_version.startswith("kwok-")


def test_oom_killed_stage_gives_the_kubelets_container_status(kube: Any) -> None:
    kube.batch.create_namespaced_job(kube.namespace, job("oom", labels={stages.END_LABEL: stages.OOM_KILLED}))
    pod, terminated = eventually("the oom pod's container terminated", lambda: kube.terminated("oom"))
    assert pod.status.phase == "Failed"
    assert (terminated.reason, terminated.exit_code) == ("OOMKilled", 137)
    assert pod.status.container_statuses[0].restart_count == 0
    failed = eventually("job oom Failed", lambda: next(
        (c for c in kube.batch.read_namespaced_job_status("oom", kube.namespace).status.conditions or ()
         if c.type == "Failed" and c.status == "True"), None))
    assert failed.reason == "BackoffLimitExceeded"


def test_error_stage_ends_with_the_annotated_exit_code(kube: Any) -> None:
    kube.batch.create_namespaced_job(kube.namespace, job("err", labels={stages.END_LABEL: stages.ERROR},
                                                          annotations={stages.EXIT_CODE_ANNOTATION: "3"}))
    pod, terminated = eventually("the err pod's container terminated", lambda: kube.terminated("err"))
    assert pod.status.phase == "Failed"
    assert (terminated.reason, terminated.exit_code) == ("Error", 3)


def test_pod_fate_by_the_runtimes_own_labels(kube: Any, kube_cluster: Cluster) -> None:
    """A runtime under test labels its pods its own way: pod_fate decides their end by those labels."""
    kube_cluster.pod_fate({"kit.test/strategy": "python-processes"}, stages.OOM_KILLED, namespace=kube.namespace)
    kube_cluster.pod_fate({"kit.test/strategy": "go-native"}, stages.ERROR, exit_code=2, namespace=kube.namespace)
    kube.batch.create_namespaced_job(kube.namespace, job("procs", labels={"kit.test/strategy": "python-processes"}))
    kube.batch.create_namespaced_job(kube.namespace, job("go", labels={"kit.test/strategy": "go-native"}))
    kube.batch.create_namespaced_job(kube.namespace, job("plain"))
    _, procs = eventually("procs terminated", lambda: kube.terminated("procs"))
    _, go = eventually("go terminated", lambda: kube.terminated("go"))
    _, plain = eventually("plain terminated", lambda: kube.terminated("plain"))
    assert (procs.reason, procs.exit_code) == ("OOMKilled", 137)
    assert (go.reason, go.exit_code) == ("Error", 2)
    assert (plain.reason, plain.exit_code) == ("Completed", 0)


def test_a_pod_no_node_fits_stays_pending_with_the_schedulers_reason(kube: Any) -> None:
    kube.batch.create_namespaced_job(kube.namespace, job("big", memory="9Gi"))     # nodes have 8Gi
    condition = eventually("big's PodScheduled=False", lambda: next(
        (c for c in (kube.pod_of("big") and kube.pod_of("big").status.conditions) or ()
         if c.type == "PodScheduled" and c.status == "False"), None))
    assert condition.reason == "Unschedulable"
    assert "Insufficient memory" in condition.message
    event = eventually("a FailedScheduling event", lambda: kube.core.list_namespaced_event(
        kube.namespace, field_selector="reason=FailedScheduling").items)[0]
    assert "Insufficient memory" in event.message
    time.sleep(2)   # still Pending a while later: nothing else moves it
    pod = kube.pod_of("big")
    assert pod.status.phase == "Pending" and not pod.spec.node_name


def test_logs_are_served_for_one_pod_and_for_a_namespace(kube: Any, kube_cluster: Cluster) -> None:
    lines = ['{"event": "start", "strategy": "python-threads"}', '{"event": "progress", "done": 3}']
    kube_cluster.pod_logs(kube.namespace, lines)
    kube.batch.create_namespaced_job(kube.namespace, job("talk", labels={stages.END_LABEL: stages.NEVER}))
    kube.batch.create_namespaced_job(kube.namespace, job("own", labels={stages.END_LABEL: stages.NEVER}))
    own = eventually("own's pod", lambda: kube.pod_of("own")).metadata.name
    kube_cluster.pod_logs(kube.namespace, ["only mine"], pod=own)
    talk = eventually("talk running", lambda: (p := kube.pod_of("talk")) and p.status.phase == "Running" and p)
    eventually("own running", lambda: kube.pod_of("own").status.phase == "Running")
    text = eventually("talk's log", lambda: kube.core.read_namespaced_pod_log(talk.metadata.name, kube.namespace,
                                                                          container="worker"))
    assert text.splitlines() == lines
    assert eventually("own's log", lambda: kube.core.read_namespaced_pod_log(
        own, kube.namespace, container="worker")).splitlines() == ["only mine"]
    # a followed stream delivers the lines as they are (the runtime's reader); kwok never ends it itself
    response = kube.core.read_namespaced_pod_log(talk.metadata.name, kube.namespace, container="worker",
                                                 follow=True, _preload_content=False)
    try:
        got = b""
        for chunk in response.stream(amt=16, decode_content=True):
            got += chunk
            if b"\n" in got:
                break
        assert got.split(b"\n")[0] == lines[0].encode()
    finally:
        response.release_conn()
        response.close()


def test_foreground_deletion_removes_the_jobs_pods(kube: Any) -> None:
    kube.batch.create_namespaced_job(kube.namespace, job("long", labels={stages.END_LABEL: stages.NEVER}))
    eventually("long running", lambda: (p := kube.pod_of("long")) and p.status.phase == "Running")
    kube.batch.delete_namespaced_job("long", kube.namespace, propagation_policy="Foreground")

    def gone() -> bool:
        jobs = [j for j in kube.batch.list_namespaced_job(kube.namespace).items if j.metadata.name == "long"]
        return not jobs and kube.pod_of("long") is None
    eventually("job long and its pod gone", gone)


def test_teardown_leaves_no_process(tmp_path: Path) -> None:
    """A second, short-lived cluster: stop() ends all five processes (the session's keeps running)."""
    cluster = Cluster(Binaries.from_cache(), tmp_path / "kube", nodes=1)
    try:
        cluster.start()
    except ClusterError as e:
        pytest.fail(f"{e}\n{cluster.log_tail()}")
    pids = cluster.pids()
    assert sorted(pids) == ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]
    cluster.stop()
    for name, pid in pids.items():
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"{name} (pid {pid}) still runs"
    assert cluster.pids() == {}


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def test_binaries_are_the_versions_of_versions_env() -> None:
    from tests.kube.cluster import versions

    v = versions()
    binaries = Binaries.from_cache()
    assert binaries.problem() is None

    def version(path: Path) -> str:
        return subprocess.run([str(path), "--version"], capture_output=True, text=True, check=True).stdout

    for path in (binaries.kube_apiserver, binaries.kube_controller_manager, binaries.kube_scheduler):
        assert version(path).strip() == f"Kubernetes {v['K8S_VERSION']}"
    assert version(binaries.kwok).startswith(f"kwok version {v['KWOK_VERSION']} ")
    assert f"etcd Version: {v['ETCD_VERSION'].lstrip('v')}" in version(binaries.etcd)
