"""A real Kubernetes control plane on loopback for the tests: etcd, kube-apiserver, kube-controller-manager
(the Job, garbage-collector, service-account, namespace, TTL, pod-GC and root-CA-publisher controllers),
kube-scheduler, and kwok playing the kubelets of a few fake nodes. One real kubelet can join them
(node.py, the `real_node` fixture) for the tests that need containers to run. The binaries come from the
CI cache that `.ci/k8s-control-plane` fills (versions in versions.env beside this file); every process is
a child of the test process, killed with it (PR_SET_PDEATHSIG) if it dies, and stopped by `Cluster.stop()`.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.kube import stages
from tests.kube.pki import Pki, make_pki

VERSIONS_FILE = Path(__file__).with_name("versions.env")
SCRIPT_HINT = ("run .ci/k8s-control-plane (builds etcd, kube-apiserver, controller-manager, scheduler, kubelet and "
               "kwok once)")

# Three fake nodes like a small cluster's workers: 2 CPUs, 8 GiB each, with a label a kit run can select
NODE_COUNT = 3
NODE_CPU = "2"
NODE_MEMORY = "8Gi"
NODE_PODS = "110"
NODE_LABELS = {"kit.test/pool": "kwok", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
               "node.kubernetes.io/instance-type": "kwok-2cpu-8gi", "type": "kwok"}
KWOK_ANNOTATION = ("kwok.x-k8s.io/node", "fake")    # the nodes kwok manages
# root-ca-cert-publisher: the kube-root-ca.crt ConfigMap a real kubelet mounts with a service-account token
CONTROLLERS = "job,garbagecollector,serviceaccount,namespace,ttl-after-finished,podgc,root-ca-cert-publisher"
ADMISSION = "NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultTolerationSeconds,PodSecurity,ResourceQuota"
SERVICE_CIDR = "10.96.0.0/16"
KWOK_GROUP, KWOK_VERSION = "kwok.x-k8s.io", "v1alpha1"
KWOK_CRDS = (("Stage", "stages", "Cluster"), ("Logs", "logs", "Namespaced"), ("ClusterLogs", "clusterlogs", "Cluster"))


def logs_tail(what: str, log_dir: Path, lines: int = 30) -> str:
    """The last `lines` of every *.log in `log_dir`, each under its name: a failing test's report."""
    out = [f"{what} logs in {log_dir}"]
    for log in sorted(log_dir.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        out += [f"--- {log.name} (last {len(tail)} lines)", *tail]
    return "\n".join(out)


def versions() -> dict[str, str]:
    """versions.env as a dict (KEY=VALUE lines; # comments)."""
    out: dict[str, str] = {}
    for line in VERSIONS_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def cache_root() -> Path:
    """Where the binaries are cached: $KIT_K8S_CACHE, else versions.env's default."""
    return Path(os.environ.get("KIT_K8S_CACHE") or versions()["KIT_K8S_CACHE"])


@dataclass(frozen=True, slots=True)
class Binaries:
    """The five programs of the control plane, from the version-keyed cache directories."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kwok: Path

    @classmethod
    def from_cache(cls, root: Path | None = None) -> Binaries:
        v = versions()
        root = root or cache_root()
        k8s = root / f"{v['K8S_VERSION']}-kwok-{v['KWOK_VERSION']}" / "bin"
        etcd = root / f"etcd-{v['ETCD_VERSION']}" / "bin"
        return cls(etcd / "etcd", k8s / "kube-apiserver", k8s / "kube-controller-manager", k8s / "kube-scheduler",
                   k8s / "kwok")

    def all(self) -> tuple[Path, ...]:
        return (self.etcd, self.kube_apiserver, self.kube_controller_manager, self.kube_scheduler, self.kwok)

    def problem(self) -> str | None:
        """Why the cluster cannot start here (None when every binary is in a complete cache entry)."""
        for binary in self.all():
            if not (binary.parent.parent / ".complete").is_file() or not os.access(binary, os.X_OK):
                return f"{binary} is missing: {SCRIPT_HINT}"
        return None


def free_port() -> int:
    """A loopback port nobody listens on now (the component binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel kills it when the test process dies, however it dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)     # PR_SET_PDEATHSIG


def wait_for(what: str, check: Callable[[], bool], timeout: float, interval: float = 0.2,
             alive: Callable[[], str | None] = lambda: None) -> None:
    """Poll `check` until it is true; fail with `what` after `timeout`, or at once when `alive` says a
    component died."""
    deadline = time.monotonic() + timeout
    while True:
        died = alive()
        if died:
            raise ClusterError(f"{died} while waiting for {what}")
        try:
            if check():
                return
        except Exception:   # noqa: BLE001 - not up yet: connection refused, 404, 503...
            pass
        if time.monotonic() > deadline:
            raise ClusterError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class ClusterError(RuntimeError):
    """The control plane did not come up (the message names the step; the logs say why)."""


@dataclass
class Cluster:
    """One control plane in `workdir` (certificates, etcd data, kubeconfig, logs/, pod-logs/)."""

    binaries: Binaries
    workdir: Path
    nodes: int = NODE_COUNT
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    pki: Pki | None = None          # the CA a real node's certificates are signed with (node.py)
    _client: Any = None

    @property
    def log_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    @property
    def node_names(self) -> list[str]:
        return [f"kwok-node-{i}" for i in range(self.nodes)]

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self, timeout: float = 180.0) -> Cluster:
        """Start every component in order and return when nodes are Ready and pods can be admitted."""
        problem = self.binaries.problem()
        if problem:
            raise ClusterError(problem)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        pki = self.pki = make_pki(self.workdir / "pki")
        self.ports = {name: free_port() for name in ("etcd", "etcd-peer", "apiserver", "controller-manager",
                                                    "scheduler", "kwok")}
        try:
            self._start_etcd(timeout)
            self._start_apiserver(pki, timeout)
            self._write_kubeconfig(pki)
            self._install_kwok_crds(timeout)
            self._start_controllers(timeout)
            self._start_kwok(pki)
            self._create_nodes(timeout)
            wait_for("the default namespace's service account (controller-manager)",
                     lambda: self._core().read_namespaced_service_account("default", "default") is not None,
                     timeout, alive=self._died)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, grace: float = 10.0) -> None:
        """Stop kwok, the scheduler, the controller-manager, the apiserver and etcd (that order); SIGKILL
        whatever has not exited after `grace` seconds. Leaves no process behind."""
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None
        for name in reversed(list(self.processes)):
            proc = self.processes[name]
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(grace)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.processes.clear()

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.processes.items()}

    def _died(self) -> str | None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                return f"{name} exited with {proc.returncode} (log: {self.log_dir / (name + '.log')})"
        return None

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.log_dir / f"{name}.log").open("ab")
        with log:
            self.processes[name] = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                                    stderr=subprocess.STDOUT, cwd=self.workdir,
                                                    preexec_fn=_die_with_parent)

    # --- components --------------------------------------------------------------------------------------

    def _start_etcd(self, timeout: float) -> None:
        client, peer = f"http://127.0.0.1:{self.ports['etcd']}", f"http://127.0.0.1:{self.ports['etcd-peer']}"
        self._spawn("etcd", [
            str(self.binaries.etcd), "--name=kit-test", f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=kit-test={peer}", "--unsafe-no-fsync", "--log-level=warn",
        ])

        def healthy() -> bool:
            with urllib.request.urlopen(f"{client}/health", timeout=2) as r:
                return bool(json.load(r).get("health") == "true")
        wait_for("etcd /health", healthy, timeout, alive=self._died)

    def _start_apiserver(self, pki: Pki, timeout: float) -> None:
        self._spawn("kube-apiserver", [
            str(self.binaries.kube_apiserver),
            f"--etcd-servers=http://127.0.0.1:{self.ports['etcd']}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={self.ports['apiserver']}",
            f"--tls-cert-file={pki.apiserver_cert}", f"--tls-private-key-file={pki.apiserver_key}",
            f"--client-ca-file={pki.ca_cert}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki.sa_pub}", f"--service-account-signing-key-file={pki.sa_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC", f"--enable-admission-plugins={ADMISSION}",
            # a new node's not-ready taint is lifted by the node-lifecycle controller, which would also
            # evict pods from nodes whose (fake) heartbeats lag on a busy machine: neither is wanted here
            "--disable-admission-plugins=TaintNodesByCondition",
            # pod logs: the apiserver calls kwok's kubelet endpoint on the node's InternalIP, verifying its cert
            "--kubelet-preferred-address-types=InternalIP",
            f"--kubelet-certificate-authority={pki.ca_cert}",
            f"--kubelet-client-certificate={pki.apiserver_cert}", f"--kubelet-client-key={pki.apiserver_key}",
            # loopback is no address for the kubernetes Service endpoints: nothing reconciles them
            "--endpoint-reconciler-type=none",
            "--profiling=false", "--enable-priority-and-fairness=false",
        ])
        context = ssl.create_default_context(cafile=str(pki.ca_cert))
        context.load_cert_chain(str(pki.admin_cert), str(pki.admin_key))

        def ready() -> bool:
            with urllib.request.urlopen(f"{self.server}/readyz", timeout=5, context=context) as r:
                return bool(r.status == 200)
        wait_for("kube-apiserver /readyz", ready, timeout, interval=0.5, alive=self._died)

    def _write_kubeconfig(self, pki: Pki) -> None:
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "kit-test", "preferences": {},
            "clusters": [{"name": "kit-test", "cluster": {"server": self.server,
                                                          "certificate-authority": str(pki.ca_cert)}}],
            "users": [{"name": "kit-test-admin", "user": {"client-certificate": str(pki.admin_cert),
                                                          "client-key": str(pki.admin_key)}}],
            "contexts": [{"name": "kit-test", "context": {"cluster": "kit-test", "user": "kit-test-admin",
                                                          "namespace": "default"}}],
        }
        self.kubeconfig.write_text(json.dumps(config, indent=2))   # JSON is YAML: every client reads it

    def _start_controllers(self, timeout: float) -> None:
        common = [f"--kubeconfig={self.kubeconfig}", "--leader-elect=false", "--bind-address=127.0.0.1",
                  f"--authentication-kubeconfig={self.kubeconfig}", f"--authorization-kubeconfig={self.kubeconfig}"]
        self._spawn("kube-controller-manager", [
            str(self.binaries.kube_controller_manager), *common,
            f"--secure-port={self.ports['controller-manager']}", f"--controllers={CONTROLLERS}",
            "--use-service-account-credentials=false", f"--root-ca-file={self.workdir / 'pki' / 'ca.crt'}",
            "--concurrent-gc-syncs=5",
        ])
        self._spawn("kube-scheduler", [str(self.binaries.kube_scheduler), *common,
                                       f"--secure-port={self.ports['scheduler']}"])
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE      # their self-signed serving certs; only /healthz is asked

        for name in ("controller-manager", "scheduler"):
            def healthy(port: int = self.ports[name]) -> bool:
                with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", timeout=2, context=insecure) as r:
                    return bool(r.status == 200)
            wait_for(f"kube-{name} /healthz", healthy, timeout, alive=self._died)

    def _install_kwok_crds(self, timeout: float) -> None:
        """kwok's Stage, Logs and ClusterLogs kinds (open schemas: kwok alone reads them), then the
        default stages of stages.py, so tests can add pod fates and log lines while the cluster runs."""
        from kubernetes import client

        ext = client.ApiextensionsV1Api(self.api_client())
        for kind, plural, scope in KWOK_CRDS:
            ext.create_custom_resource_definition({
                "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": f"{plural}.{KWOK_GROUP}"},
                "spec": {"group": KWOK_GROUP, "scope": scope,
                         "names": {"kind": kind, "plural": plural, "singular": kind.lower(),
                                   "listKind": f"{kind}List"},
                         "versions": [{"name": KWOK_VERSION, "served": True, "storage": True,
                                       "subresources": {"status": {}},
                                       "schema": {"openAPIV3Schema": {
                                           "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]},
            })

        def established() -> bool:
            for _, plural, _ in KWOK_CRDS:
                crd = ext.read_custom_resource_definition(f"{plural}.{KWOK_GROUP}")
                if not any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or ()):
                    return False
            return True
        wait_for("kwok's Stage, Logs and ClusterLogs CRDs", established, timeout, alive=self._died)
        for stage in stages.all_stages():
            self._create_stage(stage, timeout)

    def _create_stage(self, stage: dict[str, Any], timeout: float = 30.0) -> None:
        from kubernetes import client

        custom = client.CustomObjectsApi(self.api_client())
        # a CRD just Established may still answer 404 for a moment
        wait_for(f"stage {stage['metadata']['name']}",
                 lambda: custom.create_cluster_custom_object(KWOK_GROUP, KWOK_VERSION, "stages", stage) is not None,
                 timeout)

    def pod_fate(self, match_labels: dict[str, str], end: str = stages.SUCCEED, exit_code: int | None = None,
                 run_for: float = 0.0, namespace: str | None = None) -> str:
        """Decide how pods with `match_labels` (in `namespace`, or any) end, without touching their spec:
        for a runtime under test whose pods carry its own labels (strategy, run id). `end` is one of
        stages.OOM_KILLED, ERROR (with `exit_code`, default 1), NEVER or SUCCEED, after `run_for` seconds
        of Running. Takes precedence over the label-driven stages; returns the Stage's name."""
        stage = stages.fate_stage(f"kit-fate-{uuid.uuid4().hex[:8]}", match_labels, end, exit_code, run_for,
                                  namespace)
        self._create_stage(stage)
        return str(stage["metadata"]["name"])

    def _start_kwok(self, pki: Pki) -> None:
        port = self.ports["kwok"]
        (self.workdir / "kwok.yaml").write_text("# kwok's defaults: its stages and logs are API objects here\n")
        self._spawn("kwok", [
            str(self.binaries.kwok), f"--kubeconfig={self.kubeconfig}",
            f"--config={self.workdir / 'kwok.yaml'}",       # not ~/.kwok
            f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION[0]}={KWOK_ANNOTATION[1]}",
            "--node-ip=127.0.0.1", f"--node-port={port}", f"--server-address=127.0.0.1:{port}",
            f"--tls-cert-file={pki.kubelet_cert}", f"--tls-private-key-file={pki.kubelet_key}",
            # stages and logs as API objects: a test adds a pod fate or a pod's log lines while kwok runs
            f"--enable-crds={','.join(kind for kind, _, _ in KWOK_CRDS)}", "--cidr=10.244.0.0/16",
        ])

    def _create_nodes(self, timeout: float) -> None:
        core = self._core()
        resources = {"cpu": NODE_CPU, "memory": NODE_MEMORY, "pods": NODE_PODS}
        for name in self.node_names:
            core.create_node({
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "annotations": {KWOK_ANNOTATION[0]: KWOK_ANNOTATION[1],
                                                           "node.alpha.kubernetes.io/ttl": "0"},
                             "labels": {**NODE_LABELS, "kubernetes.io/hostname": name}},
                "status": {"capacity": resources, "allocatable": resources},
            })

        def ready() -> bool:
            nodes = core.list_node(label_selector="kit.test/pool=kwok").items
            return len(nodes) == self.nodes and all(
                any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or ()) for n in nodes)
        wait_for(f"{self.nodes} kwok nodes Ready", ready, timeout, alive=self._died)

    # --- for tests ---------------------------------------------------------------------------------------

    @property
    def api(self) -> Any:
        """The ready admin `kubernetes.client.ApiClient` (api_client())."""
        return self.api_client()

    @property
    def stages(self) -> Any:
        """The stages module: END_LABEL, OOM_KILLED, ERROR, NEVER, SUCCEED, the annotations, fate_stage."""
        return stages

    def api_client(self) -> Any:
        """One `kubernetes.client.ApiClient` for the admin user, made on first use and closed by stop()."""
        if self._client is None:
            from kubernetes import config

            self._client = config.new_client_from_config(config_file=str(self.kubeconfig))
        return self._client

    def _core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api_client())

    def namespace(self, prefix: str = "kit-test", restricted: bool = True, timeout: float = 30.0) -> str:
        """A fresh namespace, ready for pods (its `default` service account exists). `restricted`
        labels it to enforce the restricted Pod Security Standard, so the real apiserver rejects any
        pod spec that breaks it."""
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        labels = {"kit.test/namespace": "true"}
        if restricted:
            labels |= {"pod-security.kubernetes.io/enforce": "restricted",
                       "pod-security.kubernetes.io/enforce-version": "latest"}
        core = self._core()
        core.create_namespace({"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": name, "labels": labels}})
        wait_for(f"service account default in {name}",
                 lambda: core.read_namespaced_service_account("default", name) is not None, timeout)
        return name

    def pod_logs(self, namespace: str, lines: Iterable[str], pod: str | None = None,
                 container: str | None = None) -> Path:
        """Give a pod (`pod`) or every pod of `namespace` (pod=None) the stdout lines its container
        "prints": kwok serves them as the container log (`read_namespaced_pod_log`, with or without
        follow). A later call for the same target replaces the lines. Returns the log file.

        Unlike a kubelet, kwok cannot tell when a container has exited, so a followed stream does not
        end when the pod ends: a client ends it on the pod's terminal status."""
        from kubernetes import client

        target = pod or "all-pods"
        path = self.workdir / "pod-logs" / namespace / f"{target}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        start = datetime.datetime.now(datetime.UTC)
        # the CRI log format a kubelet reads: RFC 3339 time, stream, F(ull line) or P(artial), text
        text = "".join(f"{(start + datetime.timedelta(microseconds=i)).isoformat().replace('+00:00', 'Z')}"
                       f" stdout F {line}\n" for i, line in enumerate(lines))
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
        log: dict[str, Any] = {"logsFile": str(path), "follow": True}
        if container:
            log["containers"] = [container]
        custom = client.CustomObjectsApi(self.api_client())
        if pod:
            body = {"apiVersion": f"{KWOK_GROUP}/{KWOK_VERSION}", "kind": "Logs",
                    "metadata": {"name": pod, "namespace": namespace}, "spec": {"logs": [log]}}
            with contextlib.suppress(client.ApiException):
                custom.delete_namespaced_custom_object(KWOK_GROUP, KWOK_VERSION, namespace, "logs", pod)
            custom.create_namespaced_custom_object(KWOK_GROUP, KWOK_VERSION, namespace, "logs", body)
        else:
            name = f"kit-test-{namespace}"
            body = {"apiVersion": f"{KWOK_GROUP}/{KWOK_VERSION}", "kind": "ClusterLogs",
                    "metadata": {"name": name},
                    "spec": {"selector": {"matchNamespaces": [namespace]}, "logs": [log]}}
            with contextlib.suppress(client.ApiException):
                custom.delete_cluster_custom_object(KWOK_GROUP, KWOK_VERSION, "clusterlogs", name)
            custom.create_cluster_custom_object(KWOK_GROUP, KWOK_VERSION, "clusterlogs", body)
        return path

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of every component's log, for a failing test's report."""
        return logs_tail("control-plane", self.log_dir, lines)


@contextlib.contextmanager
def running_cluster(workdir: Path, binaries: Binaries | None = None, nodes: int = NODE_COUNT) -> Iterator[Cluster]:
    """A started cluster, stopped on exit whatever happens."""
    cluster = Cluster(binaries or Binaries.from_cache(), workdir, nodes)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
