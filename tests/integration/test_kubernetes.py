"""The Kubernetes runtime against a real kube-apiserver, etcd, Job controller, garbage collector and
scheduler, with kwok in place of the kubelets (tests/kube/): every API call the runtime makes is real
(create the Job, watch its pod, follow its log stream, read the container status, delete with
foreground propagation), and the namespaces enforce the restricted Pod Security Standard, so the API
server's admission checks the runtime's pod spec. What kwok fakes: no container runs; each pod's fate
(Succeeded, OOMKilled) is a kwok stage chosen by the runtime's own labels, and its log lines (the
worker's JSON progress lines) are served by kwok from a file the test writes (`pod_logs`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kit.plan.config import build
from kit.results.observer import RunObserver
from kit.results.records import RunResults
from kit.run.choose import select_runtime
from kit.run.runner import Runner
from kit.worker.protocol import DoneEvent, ItemEvent, SampleEvent, StartEvent, format_event
from tests.kube.waiting import eventually

pytestmark = pytest.mark.kube

MIB = 2**20
ITEMS = 3


def worker_lines(items: int = ITEMS, working_set: int = 123 * MIB) -> list[str]:
    """What a worker prints: start, a sample of its own cgroup, one line per item, done."""
    lines = [format_event(StartEvent(pid=1, workers=1, concurrency={"language": "python", "workers": 1}))]
    lines.append(format_event(SampleEvent(t_seconds=0.2, usage_bytes=working_set + 10 * MIB,
                                          working_set_bytes=working_set, peak_usage_bytes=working_set + 20 * MIB,
                                          cpu_seconds=0.4, throttled_seconds=0.0, throttled_periods=0,
                                          oom_kills=0)))
    lines += [format_event(ItemEvent(index=i, name=f"item-{i}", ok=True, start=0.1 + i, end=0.5 + i))
              for i in range(items)]
    lines.append("a line on stderr: the log stream carries both")
    lines.append(format_event(DoneEvent(items_ok=items, items_failed=0)))
    return lines


@pytest.fixture()
def namespace(kube_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh namespace enforcing the restricted Pod Security Standard, and the kit pointed at the cluster."""
    monkeypatch.setenv("KUBECONFIG", str(kube_cluster.kubeconfig))
    return str(kube_cluster.namespace())


def jobs_in(kube_cluster: Any, namespace: str) -> list[Any]:
    from kubernetes import client

    return list(client.BatchV1Api(kube_cluster.api).list_namespaced_job(namespace).items)


def pods_in(kube_cluster: Any, namespace: str) -> list[Any]:
    from kubernetes import client

    return list(client.CoreV1Api(kube_cluster.api).list_namespaced_pod(namespace).items)


def run(tmp_path: Path, namespace: str, **options: Any) -> RunResults:
    config = build(runtime="kubernetes", namespace=namespace, items=ITEMS, resolution="64x48", pool_size=1,
                   out=tmp_path / "reports", cache_dir=tmp_path / "cache", metrics_port=0, **options)
    runtime, _ = select_runtime("kubernetes", config)
    try:
        return Runner(config, runtime, RunObserver()).run()
    finally:
        runtime.cleanup()


def start_kit_run(tmp_path: Path, namespace: str, *args: str, kubeconfig: Path) -> subprocess.Popen[str]:
    """`kit run --runtime kubernetes` as a user starts it, in its own process (so it can get SIGINT)."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KIT_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.Popen([sys.executable, "-m", "kit", "run", "--runtime", "kubernetes", "--namespace", namespace,
                             "-s", "python-sequential", "--images", str(ITEMS), "--resolution", "64x48",
                             "--distinct-images", "1", "--metrics-port", "0", "--out", str(tmp_path / "reports"),
                             *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def act_when(kit: subprocess.Popen[str], what: str, ready: Callable[[], Any], act: Callable[[], None]) -> str:
    """Once `ready()` holds (and a second more, so the controller is following it), `act()`; then wait for
    the kit to end and return its stderr. The kit is killed if it outlives the test."""
    try:
        eventually(what, ready, timeout=120)
        time.sleep(1.0)
        act()
        _, err = kit.communicate(timeout=180)
        return err
    finally:
        if kit.poll() is None:
            kit.kill()


def saved_records(tmp_path: Path) -> list[dict[str, Any]]:
    """The records of the one run's results.json under tmp_path/reports."""
    (results,) = (tmp_path / "reports").glob("*/results.json")
    records: list[dict[str, Any]] = json.loads(results.read_text())["results"]
    return records


def test_oom_killed_and_succeeded_pods_give_oom_killed_and_ok_records(kube_cluster: Any, namespace: str,
                                                                       tmp_path: Path) -> None:
    stages = kube_cluster.stages
    kube_cluster.pod_logs(namespace, worker_lines())
    kube_cluster.pod_fate({"kit.dev/strategy": "python-threads"}, stages.OOM_KILLED, run_for=1.0, namespace=namespace)
    kube_cluster.pod_fate({"kit.dev/strategy": "python-sequential"}, stages.SUCCEED, run_for=1.0,
                          namespace=namespace)
    results = run(tmp_path, namespace, strategies=["python-threads", "python-sequential"], mem_limit="512Mi",
                  workers=2)
    by_strategy = {record.strategy: record for record in results.records}
    oom, ok = by_strategy["python-threads"], by_strategy["python-sequential"]
    assert oom.status == "oom_killed" and oom.exit_code == 137 and oom.oom_kills == 1
    assert oom.oom_events[0].victim == "main"
    assert ok.status == "ok" and ok.exit_code == 0 and ok.items_ok == ITEMS and ok.oom_kills == 0, ok.message
    # figures from inside the sandbox: the worker's own sample, not this machine's cgroups
    assert ok.peak_memory_bytes == 123 * MIB and ok.inside is not None and ok.inside["samples"] == 1
    assert ok.peak_pss_bytes is None and ok.peak_rss_sum_bytes is None
    # outputs stay in the pod: unverified, and the record says why
    assert ok.verified is None and "emptyDir" in str(ok.verification.get("unverified"))
    assert ok.contended is None    # this machine's CPU counters say nothing of a remote node
    sandbox = ok.environment["sandbox"]
    assert sandbox["node"].startswith("kwok-") or sandbox["node"]
    assert sandbox["node_kernel"].startswith("kwok") and sandbox["kubelet_version"].startswith("kwok")
    assert sandbox["node_cpus"] == "2" and sandbox["restart_count"] == "0" and sandbox["namespace"] == namespace
    assert results.environment["runtime"] == "kubernetes"
    assert results.environment["kubernetes"]["server_version"].startswith("v1.")
    assert results.environment["kubernetes"]["namespace"] == namespace
    saved = json.loads((tmp_path / "reports" / results.run_id / "results.json").read_text())
    assert {r["strategy"]: r["status"] for r in saved["results"]} == {"python-threads": "oom_killed",
                                                                     "python-sequential": "ok"}
    eventually("no Job left", lambda: not jobs_in(kube_cluster, namespace))
    eventually("no pod left", lambda: not pods_in(kube_cluster, namespace))


def test_a_pod_no_node_fits_becomes_a_failed_record_with_the_schedulers_reason(kube_cluster: Any, namespace: str,
                                                                              tmp_path: Path) -> None:
    # the kwok nodes have 8 GiB each: a 16 GiB Guaranteed pod fits none of them
    started = time.monotonic()
    results = run(tmp_path, namespace, strategies=["python-sequential"], mem_limit="16Gi", pending_timeout=4.0)
    (record,) = results.records
    assert record.status == "failed" and record.exit_code is None and record.items_ok == 0
    assert record.message is not None and "never started" in record.message
    assert "Insufficient memory" in record.message and "--pending-timeout" in record.message
    assert time.monotonic() - started < 120    # the timeout ended it, not a hang
    eventually("no Job left", lambda: not jobs_in(kube_cluster, namespace))


def test_ctrl_c_leaves_no_job_and_keeps_the_interrupted_record(kube_cluster: Any, namespace: str,
                                                              tmp_path: Path) -> None:
    kube_cluster.pod_logs(namespace, worker_lines()[:2])   # started, never done
    kube_cluster.pod_fate({"kit.dev/strategy": "python-sequential"}, kube_cluster.stages.NEVER, namespace=namespace)
    kit = start_kit_run(tmp_path, namespace, "--repeat", "2", kubeconfig=kube_cluster.kubeconfig)

    def running() -> bool:
        return any(pod.status.phase == "Running" for pod in pods_in(kube_cluster, namespace))

    err = act_when(kit, "the worker's pod running", running, lambda: kit.send_signal(signal.SIGINT))
    assert kit.returncode == 130, err
    assert "Traceback" not in err
    eventually("no Job left after Ctrl-C", lambda: not jobs_in(kube_cluster, namespace))
    eventually("no pod left after Ctrl-C", lambda: not pods_in(kube_cluster, namespace))
    records = saved_records(tmp_path)
    assert [r["status"] for r in records] == ["interrupted"]   # the second repetition never started


def test_sweep_parallel_puts_concurrent_cells_on_different_nodes(kube_cluster: Any, namespace: str,
                                                                tmp_path: Path) -> None:
    kube_cluster.pod_logs(namespace, worker_lines())
    # each pod runs 3 s: with --parallel 2 the two cells overlap, so anti-affinity must split them
    kube_cluster.pod_fate({"kit.dev/strategy": "python-threads"}, kube_cluster.stages.SUCCEED, run_for=3.0,
                          namespace=namespace)
    env = {**os.environ, "KUBECONFIG": str(kube_cluster.kubeconfig), "KIT_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "kit", "sweep", "--runtime", "kubernetes", "--namespace", namespace,
                           "-s", "python-threads", "--workers", "1,2", "--mem-limit", "256m,512m",
                           "--parallel", "2", "--images", str(ITEMS), "--resolution", "64x48",
                           "--distinct-images", "1", "--metrics-port", "0", "--out", str(tmp_path / "reports")],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    (results,) = (tmp_path / "reports").glob("*/results.json")
    records = json.loads(results.read_text())["results"]
    assert len(records) == 4 and all(r["status"] == "ok" for r in records), [r["message"] for r in records]
    assert {(r["workers"], r["memory_limit_bytes"]) for r in records} == {(w, m * MIB) for w in (1, 2)
                                                                          for m in (256, 512)}
    # cells that overlapped in time never shared a node (the kwok nodes are the cluster's three)
    spans = []
    for record in records:
        sandbox = record["environment"]["sandbox"]
        spans.append((sandbox["node"], float(sandbox["started_epoch"]), float(sandbox["ended_epoch"])))
    overlapping = [(a, b) for i, a in enumerate(spans) for b in spans[i + 1:] if a[1] < b[2] and b[1] < a[2]]
    assert overlapping, "with --parallel 2 and 3 s pods some cells ran at the same time"
    assert all(a[0] != b[0] for a, b in overlapping)
    eventually("no Job left", lambda: not jobs_in(kube_cluster, namespace))


def test_other_runtimes_refuse_parallel_cells(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "kit", "sweep", "--runtime", "cgroup", "--parallel", "2",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--parallel 2" in done.stderr


def kit_doctor(kube_cluster: Any, *args: str, kubeconfig: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig or kube_cluster.kubeconfig)}
    return subprocess.run([sys.executable, "-m", "kit", "doctor", "--runtime", "kubernetes", *args],
                          capture_output=True, text=True, env=env, timeout=180, check=False)


def test_doctor_checks_the_cluster_rbac_nodes_and_image(kube_cluster: Any, namespace: str) -> None:
    """The admin user may do everything; 3 kwok nodes of 8 GiB fit a 1 GiB sandbox; the probe pod
    (kwok runs no container: it only shows the pod was created, scheduled and reported as done) is removed."""
    done = kit_doctor(kube_cluster, "--namespace", namespace, "--mem-limit", "1Gi", "--workers", "2",
                      "--pending-timeout", "30")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout
    assert "ok  Kubernetes API server v1." in lines and f"RBAC in namespace {namespace}" in lines
    assert "nodes that fit a sandbox (1024 MiB, 2 CPU): 3 of 3" in lines
    assert "ok  image kit-worker:0.1.0 pulled and started" in lines
    eventually("the probe pod removed", lambda: not pods_in(kube_cluster, namespace))


def test_doctor_says_when_no_node_fits_and_when_the_cluster_is_unreachable(kube_cluster: Any, namespace: str,
                                                                          tmp_path: Path) -> None:
    done = kit_doctor(kube_cluster, "--namespace", namespace, "--mem-limit", "16Gi", "--no-image-check")
    assert done.returncode == 1
    assert "FAIL nodes that fit a sandbox" in done.stdout and "8Gi allocatable memory" in done.stdout
    assert "warn image kit-worker:0.1.0" in done.stdout and "not checked" in done.stdout
    gone = tmp_path / "kubeconfig"
    gone.write_text(kube_cluster.kubeconfig.read_text().replace(kube_cluster.server, "https://127.0.0.1:1"))
    done = kit_doctor(kube_cluster, "--namespace", namespace, kubeconfig=gone)
    assert done.returncode == 1 and "FAIL Kubernetes API server reachable" in done.stdout
    assert "Traceback" not in done.stderr


def test_kit_manifests_apply_to_a_restricted_namespace(kube_cluster: Any, namespace: str, tmp_path: Path) -> None:
    """`kit manifests | kubectl apply -f -`, with the client in kubectl's place: the API server's
    validation and the restricted Pod Security admission accept every Job, and its pods are created."""
    import yaml
    from kubernetes import client

    env = {**os.environ, "KIT_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "kit", "manifests", "-s", "python-processes", "-s", "go-gocv",
                           "--mem-limit", "1Gi", "--workers", "2", "--namespace", namespace, "--images", "4"],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    batch = client.BatchV1Api(kube_cluster.api)
    names = []
    for document in yaml.safe_load_all(done.stdout):
        batch.create_namespaced_job(namespace, document)   # the server validates; PodSecurity enforces restricted
        names.append(document["metadata"]["name"])
    assert len(names) == 2
    eventually("a pod for each Job", lambda: len(pods_in(kube_cluster, namespace)) >= 2)
    for name in names:
        batch.delete_namespaced_job(name, namespace, propagation_policy="Foreground")
    eventually("no Job left", lambda: not jobs_in(kube_cluster, namespace))


class Proxy:
    """A TCP forwarder to the API server that the test can cut: a lost connection, for real."""

    def __init__(self, target: tuple[str, int]) -> None:
        import socket
        import threading

        self.target, self.sockets, self.cut_ = target, [], False
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while not self.cut_:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: Any, sink: Any) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass

    def cut(self) -> None:
        import socket

        self.cut_ = True
        for sock in [self.listener, *self.sockets]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def test_a_lost_api_server_ends_the_run_with_a_message_and_keeps_finished_records(
        kube_cluster: Any, namespace: str, tmp_path: Path) -> None:
    from urllib.parse import urlsplit

    stages = kube_cluster.stages
    kube_cluster.pod_logs(namespace, worker_lines())
    kube_cluster.pod_fate({"kit.dev/repetition": "0"}, stages.SUCCEED, run_for=0.5, namespace=namespace)
    kube_cluster.pod_fate({"kit.dev/repetition": "1"}, stages.NEVER, namespace=namespace)
    server = urlsplit(kube_cluster.server)
    proxy = Proxy((server.hostname or "127.0.0.1", server.port or 443))
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(kube_cluster.kubeconfig.read_text().replace(kube_cluster.server,
                                                                      f"https://127.0.0.1:{proxy.port}"))
    kit = start_kit_run(tmp_path, namespace, "--repeat", "2", kubeconfig=kubeconfig)

    def second_running() -> bool:
        return any(pod.status.phase == "Running" and pod.metadata.labels.get("kit.dev/repetition") == "1"
                   for pod in pods_in(kube_cluster, namespace))

    err = act_when(kit, "the second repetition's pod running", second_running, proxy.cut)
    assert kit.returncode == 1, err
    assert "Traceback" not in err
    assert "lost the Kubernetes API server" in err                       # the cause, not a deletion's failure
    assert "kubectl delete job" in err                                    # the Job it could not delete, and how
    records = saved_records(tmp_path)
    assert [(r["repetition"], r["status"]) for r in records] == [(0, "ok")]   # the finished record is kept
    (left,) = jobs_in(kube_cluster, namespace)   # left for activeDeadlineSeconds, or the user's kubectl
    assert left.spec.active_deadline_seconds > 0


def test_ctrl_c_while_a_pod_waits_for_a_node_records_interrupted_and_leaves_no_job(
        kube_cluster: Any, namespace: str, tmp_path: Path) -> None:
    kit = start_kit_run(tmp_path, namespace, "--mem-limit", "16Gi", kubeconfig=kube_cluster.kubeconfig)
    err = act_when(kit, "the Job's pod, pending", lambda: pods_in(kube_cluster, namespace),
                   lambda: kit.send_signal(signal.SIGINT))
    assert kit.returncode == 130, err
    eventually("no Job left after Ctrl-C", lambda: not jobs_in(kube_cluster, namespace))
    (record,) = saved_records(tmp_path)
    assert record["status"] == "interrupted" and "never started" in record["message"]
