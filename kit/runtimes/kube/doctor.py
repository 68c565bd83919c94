"""`kit doctor --runtime kubernetes`: can this kubeconfig run the kit's Jobs, and where.

Each check is (what, problem or None): the cluster answers (its version); RBAC allows what the
runtime does in the namespace (SelfSubjectAccessReview for each verb and resource); which nodes fit
a sandbox's requests (allocatable memory and CPU, the node selector); and the worker image, checked
for real by a tiny pod with the image and the configured `imagePullPolicy` that imports the worker
and exits (`--no-image-check` skips it, and says so).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kit.core.errors import RuntimeUnavailable
from kit.runtimes.kube import client as kube
from kit.runtimes.kube.manifests import PYTHON, UID, Cluster, container_security, resources

Check = tuple[str, "str | None"]

# (API group, resource, verb): what the runtime calls, in the namespace
NEEDED: tuple[tuple[str, str, str], ...] = (
    ("batch", "jobs", "create"), ("batch", "jobs", "get"), ("batch", "jobs", "watch"),
    ("batch", "jobs", "delete"), ("", "pods", "get"), ("", "pods", "list"), ("", "pods", "watch"),
    ("", "pods/log", "get"),
)
OPTIONAL: tuple[tuple[str, str, str], ...] = (("", "nodes", "get"), ("", "nodes", "list"))


@dataclass(frozen=True, slots=True)
class Sandbox:
    """What one sandbox asks of a node: the plan's largest cap and CPU request."""

    memory_bytes: int | None
    cpus: float


def allowed(api: kube.Api, namespace: str | None, group: str, resource: str, verb: str) -> str | None:
    """None when the API server says this user may; otherwise its reason."""
    resource, _, subresource = resource.partition("/")
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": {"namespace": namespace, "group": group, "resource": resource,
                                              "subresource": subresource or None, "verb": verb}}}
    answer = api.authz.create_self_subject_access_review(review, _request_timeout=kube.REQUEST_TIMEOUT)
    if answer.status.allowed:
        return None
    return answer.status.reason or "denied"


def rbac_checks(api: kube.Api, namespace: str) -> list[Check]:
    denied = []
    for group, resource, verb in NEEDED:
        if (why := allowed(api, namespace, group, resource, verb)) is not None:
            denied.append(f"{verb} {resource}{' (' + group + ')' if group else ''}: {why}")
    problem = "; ".join(denied) + " (ask for a Role with these verbs)" if denied else None
    checks: list[Check] = [(f"RBAC in namespace {namespace}: create/get/watch/delete jobs, get/list/watch pods, "
                            "get pods/log", problem)]
    missing = [f"{verb} {resource}" for group, resource, verb in OPTIONAL
               if allowed(api, None, group, resource, verb) is not None]
    checks.append(("RBAC (optional): get/list nodes, for each record's node kernel and kubelet and this check's fit",
                   ", ".join(missing) + " denied: records say `node_details: unreadable`" if missing else None))
    return checks


def fitting_nodes(nodes: list[dict[str, Any]], sandbox: Sandbox,
                  selector: dict[str, str]) -> tuple[list[str], list[str]]:
    """(nodes that fit, why each other does not): labels, allocatable memory and CPU."""
    parse_quantity: Callable[[str], Any] = kube.module().utils.parse_quantity

    fit, not_fit = [], []
    for node in nodes:
        name = node["metadata"]["name"]
        labels = node["metadata"].get("labels") or {}
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        if any(labels.get(key) != value for key, value in selector.items()):
            not_fit.append(f"{name}: labels do not match the node selector")
            continue
        if (node.get("spec") or {}).get("unschedulable"):
            not_fit.append(f"{name}: cordoned")
            continue
        memory = parse_quantity(allocatable.get("memory", "0"))
        cpu = parse_quantity(allocatable.get("cpu", "0"))
        if sandbox.memory_bytes is not None and memory < sandbox.memory_bytes:
            not_fit.append(f"{name}: {allocatable.get('memory')} allocatable memory")
        elif cpu < sandbox.cpus:
            not_fit.append(f"{name}: {allocatable.get('cpu')} allocatable CPU")
        else:
            fit.append(name)
    return fit, not_fit


def node_check(api: kube.Api, cluster: Cluster, sandbox: Sandbox) -> Check:
    want = (f"{sandbox.memory_bytes // 2**20} MiB, " if sandbox.memory_bytes else "") + f"{sandbox.cpus:g} CPU"
    what = f"nodes that fit a sandbox ({want}" + (f", selector {dict(cluster.node_selector)}" if cluster.node_selector
                                                 else "") + ")"
    try:
        listed = api.core.list_node(_request_timeout=kube.REQUEST_TIMEOUT)
    except Exception as exc:
        return what, f"cannot list nodes ({kube.short(exc)}): not checked"
    nodes = [dict(api.client.sanitize_for_serialization(node)) for node in listed.items]
    fit, not_fit = fitting_nodes(nodes, sandbox, dict(cluster.node_selector))
    if not fit:
        return what, "none of the nodes fits: " + "; ".join(not_fit or ["the cluster has no nodes"])
    return f"{what}: {len(fit)} of {len(nodes)} ({', '.join(fit[:8])}{', ...' if len(fit) > 8 else ''})", None


def image_check(api: kube.Api, cluster: Cluster, timeout_seconds: float,
                clock: Callable[[], float] = time.monotonic) -> Check:
    """A pod with the image (pull policy as configured) that imports the worker and exits 0."""
    from kit.runtimes.kube.status import pending_reason, worker_state

    what = f"image {cluster.image} pulled and started by a node (pull policy {cluster.image_pull_policy})"
    name = f"kit-doctor-{uuid.uuid4().hex[:8]}"
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "kit",
                                                 "app.kubernetes.io/component": "doctor"}},
           "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": UID,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "nodeSelector": dict(cluster.node_selector) or None,
                    "containers": [{"name": "worker", "image": cluster.image,
                                    "imagePullPolicy": cluster.image_pull_policy,
                                    "command": [PYTHON, "-c", "import kit.worker.main"],
                                    "resources": resources(128 * 2**20, 0.1),
                                    "securityContext": container_security()}]}}
    try:
        api.core.create_namespaced_pod(cluster.namespace, pod, _request_timeout=kube.REQUEST_TIMEOUT)
    except Exception as exc:
        return what, f"could not create a probe pod ({kube.short(exc)}): not checked"
    try:
        deadline = clock() + timeout_seconds
        seen: dict[str, Any] | None = None
        while clock() < deadline:
            found = api.core.read_namespaced_pod(name, cluster.namespace, _request_timeout=kube.REQUEST_TIMEOUT)
            seen = dict(api.client.sanitize_for_serialization(found))
            state = worker_state(seen)
            if state.exit_code == 0 or state.phase == "Succeeded":
                return what, None
            if state.exit_code is not None:
                return what, (f"the image started but `python -c 'import kit.worker.main'` exited {state.exit_code}: "
                              "is it the kit's worker image (kit build)?")
            time.sleep(1.0)
        return what, f"{pending_reason(seen)} after {timeout_seconds:g} s: push the image where the nodes pull from"
    finally:
        try:
            api.core.delete_namespaced_pod(name, cluster.namespace, grace_period_seconds=0,
                                           _request_timeout=kube.REQUEST_TIMEOUT)
        except Exception:
            pass


def checks(cluster: Cluster, sandbox: Sandbox, image: bool = True, api: kube.Api | None = None) -> list[Check]:
    """Every check, in order; one that cannot run says why."""
    try:
        api = api or kube.connect()
        version = kube.server_version(api)
    except RuntimeUnavailable as exc:
        return [("Kubernetes API server reachable", str(exc))]
    found: list[Check] = [(f"Kubernetes API server {version} at {kube.host(api)}", None)]
    try:
        found += rbac_checks(api, cluster.namespace)
    except Exception as exc:
        found.append(("RBAC (SelfSubjectAccessReview)", f"could not ask ({kube.short(exc)})"))
    found.append(node_check(api, cluster, sandbox))
    if image:
        found.append(image_check(api, cluster, cluster.pending_timeout_seconds))
    else:
        found.append((f"image {cluster.image}", "not checked (--no-image-check): a node pulls it at the first run"))
    return found
