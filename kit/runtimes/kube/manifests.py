"""One sandbox -> one Job manifest, as plain dicts: what `kit run --runtime kubernetes` creates and
`kit manifests` prints.

The pod mirrors the local sandboxes: the worker's container has `resources.limits` equal to its
`requests` (the Guaranteed QoS class once memory is capped, so it is not the first evicted), the
restricted Pod Security Standard's securityContext, no service-account token, and a Job that never
retries (`backoffLimit: 0`, `restartPolicy: Never`): an OOM kill is an outcome, not a reason to run
again. The controller's files cannot be mounted on a remote node, so an init container makes the
inputs in the pod from the recipe the caller passes (the kit's own image generator, same seed, so
the bytes are the local runtimes' bytes; kit/worker/podinit.py checks their digests).

Pure functions of their arguments; no import of the `kubernetes` package.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kit.runtimes.base import SandboxPaths, SandboxSpec

API_VERSION = "batch/v1"
CONTAINER = "worker"
INIT_CONTAINER = "inputs"
# Where the worker sees its files: the same paths as in the Docker runtime.
WORK_DIR = Path("/kit")
INPUT_ROOT = WORK_DIR / "input"
OUTPUT_DIR = WORK_DIR / "output"
MANIFEST = WORK_DIR / "manifest.json"
PYTHON = "/opt/venv/bin/python"
GENERATOR_PATH = "/opt/kit/generator"   # the image's copy of the lock's OpenCV and NumPy (kit/container/Dockerfile)
UID = 65532                       # the worker image's numeric non-root user (kit/container/Dockerfile)
# /tmp is an emptyDir of medium Memory: its pages are charged to the writer's memory cgroup, so
# scratch counts against the cap as on the local runtimes' tmpfs; its size is bounded by this.
SCRATCH_BYTES = 64 * 2**20
# The init container makes the inputs with its own limits (equal requests, so the pod stays
# Guaranteed); the caller sizes its memory (rendering a 4K frame peaks near 300 MB).
INIT_CPUS = 1.0
TTL_SECONDS = 3600                # a finished Job (one the controller could not delete) goes after an hour
DEADLINE_SLACK_SECONDS = 120      # activeDeadlineSeconds = the run's timeout + pending timeout + this
# Every kit sandbox carries this label; pod anti-affinity on it keeps two sandboxes off one node.
SANDBOX_LABEL = ("app.kubernetes.io/name", "kit-worker")
MANAGED_BY = ("app.kubernetes.io/managed-by", "kit")
NAME_LIMIT = 63                   # a Job's name is a pod label value (job-name): DNS-1123, 63 characters
MAX_RECIPE_BYTES = 256 * 1024     # the inputs' recipe travels in the pod spec; etcd objects stay small


@dataclass(frozen=True, slots=True)
class Cluster:
    """Where and how Jobs are made: what `--namespace`, `--image`, `--node-selector` say."""

    namespace: str = "default"
    image: str = "kit-worker:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    node_selector: tuple[tuple[str, str], ...] = ()
    ttl_seconds: int = TTL_SECONDS
    pending_timeout_seconds: float = 300.0     # a pod not running after this is a failed record
    run_timeout_seconds: float = 900.0         # --timeout: the worker's own limit

    @property
    def deadline_seconds(self) -> int:
        """activeDeadlineSeconds: the Job ends on its own even if the kit dies before deleting it."""
        return math.ceil(self.run_timeout_seconds + self.pending_timeout_seconds) + DEADLINE_SLACK_SECONDS


@dataclass(frozen=True, slots=True)
class JobRequest:
    """One sandbox as the Job needs it; `command` and `init_command` are argv inside the pod."""

    name: str                                  # the sandbox's name (kit/run/runner.py); made DNS-safe here
    command: Sequence[str]
    init_command: Sequence[str]
    recipe_env: Mapping[str, str]              # the init container's environment: how to make the inputs
    memory_limit_bytes: int | None
    cpus: float                                # limits = requests; Guaranteed QoS once memory is capped too
    init_memory_bytes: int = 256 * 2**20       # the init container's cap (and request)
    labels: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)   # the worker's own (the Python allocator settings)


def job_name(sandbox: str) -> str:
    """A DNS-1123 name of at most 63 characters; a long one keeps its start and a short digest."""
    name = re.sub(r"[^a-z0-9-]+", "-", f"kit-{sandbox}".lower()).strip("-")
    if len(name) <= NAME_LIMIT:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:NAME_LIMIT - 9].rstrip('-')}-{digest}"


def label_value(text: str) -> str:
    """A label value: at most 63 of [A-Za-z0-9_.-], starting and ending alphanumeric."""
    value = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:NAME_LIMIT]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", value)


def memory_quantity(size_bytes: int) -> str:
    """Bytes as a Kubernetes quantity: Gi or Mi when exact, plain bytes otherwise (never rounded)."""
    for suffix, unit in (("Gi", 2**30), ("Mi", 2**20)):
        if size_bytes % unit == 0:
            return f"{size_bytes // unit}{suffix}"
    return str(size_bytes)


def cpu_quantity(cpus: float) -> str:
    """Cores as whole cores or millicores (the API's own precision); at least 1m."""
    millis = max(1, math.ceil(round(cpus * 1000, 6)))
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def resources(memory_bytes: int | None, cpus: float) -> dict[str, dict[str, str]]:
    """limits = requests: the scheduler reserves what the sandbox may use, and no more."""
    amounts = {"cpu": cpu_quantity(cpus)}
    if memory_bytes is not None:
        amounts["memory"] = memory_quantity(memory_bytes)
    return {"limits": dict(amounts), "requests": dict(amounts)}


def container_security() -> dict[str, Any]:
    """The restricted Pod Security Standard, for every container."""
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
            "runAsUser": UID, "runAsGroup": UID, "privileged": False,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


def scratch_bytes(memory_limit_bytes: int | None) -> int:
    """/tmp's size: SCRATCH_BYTES, never more than the cap (its pages count against it)."""
    return SCRATCH_BYTES if memory_limit_bytes is None else min(SCRATCH_BYTES, memory_limit_bytes)


def job_manifest(request: JobRequest, cluster: Cluster) -> dict[str, Any]:
    """The Job for one sandbox (batch/v1), ready for the API or `kubectl apply -f -`."""
    name = job_name(request.name)
    labels = {SANDBOX_LABEL[0]: SANDBOX_LABEL[1], MANAGED_BY[0]: MANAGED_BY[1],
              "app.kubernetes.io/component": "sandbox",
              **{key: label_value(value) for key, value in request.labels.items()}}
    mounts = [{"name": "work", "mountPath": str(WORK_DIR)}, {"name": "scratch", "mountPath": "/tmp"}]
    env = [{"name": "HOME", "value": "/tmp"}, {"name": "TMPDIR", "value": "/tmp"}]
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 5,
        "securityContext": {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID, "fsGroup": UID,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": [{
            "name": INIT_CONTAINER, "image": cluster.image, "imagePullPolicy": cluster.image_pull_policy,
            "command": list(request.init_command),
            "env": env + [{"name": key, "value": value} for key, value in sorted(request.recipe_env.items())],
            "resources": resources(request.init_memory_bytes, INIT_CPUS),
            "securityContext": container_security(), "volumeMounts": mounts,
        }],
        "containers": [{
            "name": CONTAINER, "image": cluster.image, "imagePullPolicy": cluster.image_pull_policy,
            "command": list(request.command),
            "env": env + [{"name": key, "value": value} for key, value in sorted(request.env.items())],
            "resources": resources(request.memory_limit_bytes, request.cpus),
            "securityContext": container_security(), "volumeMounts": mounts,
            # the last stderr line is the pod's termination message: why a worker failed
            "terminationMessagePolicy": "FallbackToLogsOnError",
        }],
        "volumes": [
            {"name": "work", "emptyDir": {}},   # inputs and outputs on the node's disk, as locally
            {"name": "scratch", "emptyDir": {"medium": "Memory",
                                             "sizeLimit": memory_quantity(scratch_bytes(request.memory_limit_bytes))}},
        ],
        # cells never share a node: a neighbour would disturb the figures
        "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": {SANDBOX_LABEL[0]: SANDBOX_LABEL[1]}},
            "topologyKey": "kubernetes.io/hostname"}]}},
    }
    if cluster.node_selector:
        pod_spec["nodeSelector"] = dict(cluster.node_selector)
    return {
        "apiVersion": API_VERSION, "kind": "Job",
        "metadata": {"name": name, "namespace": cluster.namespace, "labels": labels},
        "spec": {
            "backoffLimit": 0, "completions": 1, "parallelism": 1,
            "ttlSecondsAfterFinished": cluster.ttl_seconds,
            "activeDeadlineSeconds": cluster.deadline_seconds,
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def request_for(spec: SandboxSpec, bin_dir: Path | None = None) -> JobRequest:
    """The Job's view of a sandbox: the worker's command with the pod's paths, its limits (the CPU
    request is the cap, else one core per worker), labels and the inputs' recipe."""
    paths = SandboxPaths(python=PYTHON, input_root=INPUT_ROOT, output_dir=OUTPUT_DIR, manifest=MANIFEST,
                         bin_dir=bin_dir)
    # The generator runs the lock's OpenCV and NumPy (the controller's), which the image keeps apart
    # from the workers' Debian build: the inputs are then the controller's bytes (kit/worker/podinit.py).
    init = ["env", f"PYTHONPATH={GENERATOR_PATH}", PYTHON, "-m", "kit.worker.podinit", "--manifest", str(MANIFEST),
            "--input-root", str(INPUT_ROOT), "--output-dir", str(OUTPUT_DIR)]
    return JobRequest(name=spec.name, command=spec.command(paths), init_command=init, recipe_env=spec.remote_inputs,
                      memory_limit_bytes=spec.memory_limit_bytes, cpus=spec.cpus or float(spec.workers),
                      labels=spec.labels, init_memory_bytes=spec.remote_inputs_memory_bytes, env=spec.env)


def recipe_size(recipe_env: Mapping[str, str]) -> int:
    return sum(len(key) + len(value) for key, value in recipe_env.items())


def check_recipe(recipe_env: Mapping[str, str]) -> str | None:
    """Why the inputs' recipe is too large to travel in a pod spec (None when it fits)."""
    size = recipe_size(recipe_env)
    if size > MAX_RECIPE_BYTES:
        return (f"the batch's manifest takes {size // 1024} KiB in the pod spec, more than "
                f"{MAX_RECIPE_BYTES // 1024} KiB; run fewer --images per run")
    return None
