"""A pod's status, as the API serves it (camelCase JSON), read into what the kit records.

Pure functions over plain dicts (the client's `sanitize_for_serialization` of a V1Pod), so the
mapping from a container's status to a record's status, exit code and message is tested without a
cluster. Kubernetes says an OOM kill in `state.terminated.reason: OOMKilled` (exit code 137), how
often the kubelet restarted the container in `restartCount` (0 with `restartPolicy: Never`), and
why a pod waits in its `PodScheduled` condition (the scheduler) or its containers' `waiting` state
(the kubelet: image pulls).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kit.runtimes.kube.manifests import CONTAINER, INIT_CONTAINER

Pod = dict[str, Any]


@dataclass(frozen=True, slots=True)
class WorkerState:
    """The worker container as the kubelet last reported it."""

    phase: str                   # the pod's: Pending, Running, Succeeded, Failed, Unknown
    started: bool                # the worker container has run (running or terminated)
    exit_code: int | None        # set once it terminated
    reason: str | None           # terminated: OOMKilled, Error, Completed, DeadlineExceeded...
    message: str | None          # terminated: the termination message (the last log lines on error)
    restart_count: int
    oom_killed: bool


def _status(pod: Pod, name: str, key: str = "containerStatuses") -> dict[str, Any]:
    for status in (pod.get("status") or {}).get(key) or []:
        if status.get("name") == name:
            return dict(status)
    return {}


def worker_state(pod: Pod) -> WorkerState:
    status = _status(pod, CONTAINER)
    state = status.get("state") or {}
    terminated = state.get("terminated")
    if terminated is None:   # a kubelet that restarted it (never, with restartPolicy Never) keeps the last end
        terminated = (status.get("lastState") or {}).get("terminated") if status.get("restartCount") else None
    phase = str((pod.get("status") or {}).get("phase") or "Pending")
    reason = terminated.get("reason") if terminated else None
    return WorkerState(
        phase=phase, started=bool(state.get("running") or terminated),
        exit_code=int(terminated["exitCode"]) if terminated and terminated.get("exitCode") is not None else None,
        reason=reason, message=(terminated.get("message") or None) if terminated else None,
        restart_count=int(status.get("restartCount") or 0), oom_killed=reason == "OOMKilled")


def never_ran(pod: Pod) -> str | None:
    """Why a pod ended before its worker ran (its init container failed, the deadline passed, the
    node evicted it), or None while it may still run."""
    state = worker_state(pod)
    if state.started or state.phase not in ("Failed", "Succeeded"):
        return None
    init = (_status(pod, INIT_CONTAINER, "initContainerStatuses").get("state") or {}).get("terminated") or {}
    if init and init.get("exitCode"):
        why = (init.get("message") or "").strip().splitlines()
        return (f"the init container that makes the inputs failed (exit {init['exitCode']}, {init.get('reason')})"
                + (f": {why[-1]}" if why else ""))
    status = pod.get("status") or {}
    why = f"{status.get('reason') or ''} {status.get('message') or ''}".strip()
    return f"the pod {state.phase.lower()} before its worker ran: {why or 'no reason given'}"


def pending_reason(pod: Pod | None) -> str:
    """Why a pod is not running yet, in the scheduler's or the kubelet's words."""
    if pod is None:
        return "the Job controller made no pod (is kube-controller-manager running?)"
    status = pod.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            reason = condition.get("reason") or "Unschedulable"
            return f"not scheduled: {reason}: {condition.get('message') or ''}".strip(" :")
    for key, name in (("initContainerStatuses", INIT_CONTAINER), ("containerStatuses", CONTAINER)):
        waiting = (_status(pod, name, key).get("state") or {}).get("waiting") or {}
        if waiting.get("reason") and waiting.get("reason") not in ("PodInitializing", "ContainerCreating"):
            return f"container {name} waiting: {waiting['reason']}: {waiting.get('message') or ''}".strip()
    if not pod.get("spec", {}).get("nodeName"):
        return "not scheduled yet (no PodScheduled condition from the scheduler: is kube-scheduler running?)"
    return f"{status.get('phase', 'Pending')} on node {pod['spec']['nodeName']} (containers not started)"


def node_notes(node: dict[str, Any]) -> dict[str, str]:
    """What a record keeps of the node its pod ran on: kernel, kubelet, CPUs, memory, OS."""
    status = node.get("status") or {}
    info = status.get("nodeInfo") or {}
    capacity = status.get("capacity") or {}
    labels = (node.get("metadata") or {}).get("labels") or {}
    notes = {"node": str((node.get("metadata") or {}).get("name", "")),
             "node_kernel": str(info.get("kernelVersion", "")), "kubelet_version": str(info.get("kubeletVersion", "")),
             "node_os": str(info.get("osImage", "")), "node_architecture": str(info.get("architecture", "")),
             "container_runtime": str(info.get("containerRuntimeVersion", "")),
             "node_cpus": str(capacity.get("cpu", "")), "node_memory": str(capacity.get("memory", ""))}
    model = next((key.split("cpu-model.", 1)[1] + "=" + str(value) for key, value in labels.items()
                  if "cpu-model." in key), None)   # node-feature-discovery's labels, where the cluster has them
    if model:
        notes["node_cpu_model"] = model
    return {key: value for key, value in notes.items() if value}
