"""kwok Stage resources: how a pod on a fake node lives and ends, chosen by the pod's own labels and
annotations, so a test (or the Kubernetes runtime under test) decides each pod's fate up front.

- every pod scheduled to a kwok node starts Running at once (its containers `running`);
- label `kit.test/end: oom-killed`: the container ends terminated, reason OOMKilled, exit code 137,
  the pod Failed (what a kubelet reports when the cgroup's OOM killer ends the main process);
- label `kit.test/end: error`: terminated, reason Error, exit code from annotation `kit.test/exit-code`
  (default 1), the pod Failed;
- label `kit.test/end: never`: stays Running until deleted;
- anything else: terminated, reason Completed, exit code 0, the pod Succeeded;
- annotation `kit.test/run-for` (seconds, e.g. "2" or "0.5"): how long the pod runs before it ends
  (default: at once);
- a pod being deleted is removed (kwok plays the kubelet's part of a graceful deletion).

A pod that no node fits is never bound, so no stage touches it: it stays Pending with the scheduler's
FailedScheduling event and PodScheduled condition, as on a real cluster.
"""

from __future__ import annotations

from typing import Any

END_LABEL = "kit.test/end"
EXIT_CODE_ANNOTATION = "kit.test/exit-code"
RUN_FOR_ANNOTATION = "kit.test/run-for"
OOM_KILLED, ERROR, NEVER, SUCCEED = "oom-killed", "error", "never", "succeed"

_API = "kwok.x-k8s.io/v1alpha1"
_POD = {"apiGroup": "v1", "kind": "Pod"}
_NODE = {"apiGroup": "v1", "kind": "Node"}
_NOT_DELETING = {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"}
_END = f'.metadata.labels["{END_LABEL}"]'
# kwok parses a string delay with Go's time.ParseDuration, which wants a unit: seconds + "s"
_RUN_FOR = {"jq": {"expression": f'.metadata.annotations["{RUN_FOR_ANNOTATION}"] | select(. != null) | . + "s"'}}


def _stage(name: str, ref: dict[str, str], expressions: list[dict[str, Any]], next_: dict[str, Any],
           delay: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"resourceRef": ref, "selector": {"matchExpressions": expressions}, "next": next_}
    if delay:
        spec["delay"] = delay
    return {"apiVersion": _API, "kind": "Stage", "metadata": {"name": name}, "spec": spec}


def _phase(*phases: str) -> dict[str, Any]:
    return {"key": ".status.phase", "operator": "In", "values": list(phases)}


def _terminated(exit_code: str, reason: str, phase: str) -> str:
    """A status template ending every container with `exit_code` (a template expression, evaluated inside
    `range .spec.containers`: the pod is `$`) and `reason`."""
    return f"""
{{{{ $now := Now }}}}
{{{{ $started := or .status.startTime $now }}}}
conditions:
- lastTransitionTime: {{{{ $now | Quote }}}}
  status: "False"
  type: Ready
  reason: PodCompleted
- lastTransitionTime: {{{{ $now | Quote }}}}
  status: "False"
  type: ContainersReady
  reason: PodCompleted
containerStatuses:
{{{{ range .spec.containers }}}}
- image: {{{{ .image | Quote }}}}
  name: {{{{ .name | Quote }}}}
  ready: false
  restartCount: 0
  started: false
  state:
    terminated:
      exitCode: {exit_code}
      reason: {reason}
      startedAt: {{{{ $started | Quote }}}}
      finishedAt: {{{{ $now | Quote }}}}
{{{{ end }}}}
phase: {phase}
"""


_RUNNING = """
{{ $now := Now }}
conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: PodReadyToStartContainers
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Initialized
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Ready
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: ContainersReady
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  imageID: {{ printf "kwok://%s" .image | Quote }}
  containerID: {{ printf "kwok://%s" .name | Quote }}
  name: {{ .name | Quote }}
  ready: true
  restartCount: 0
  started: true
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
{{ $hostIPs := NodeIPsWith .spec.nodeName }}
{{ with $hostIPs }}
hostIP: {{ index . 0 | Quote }}
hostIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
{{ $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" )
     ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
{{ with $podIPs }}
podIP: {{ index . 0 | Quote }}
podIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
phase: Running
startTime: {{ $now | Quote }}
"""

_NODE_STATUS = """
{{ $now := Now }}
{{ $lastTransitionTime := or .metadata.creationTimestamp $now }}
conditions:
{{ range NodeConditions }}
- lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ $lastTransitionTime | Quote }}
  message: {{ .message | Quote }}
  reason: {{ .reason | Quote }}
  status: {{ .status | Quote }}
  type: {{ .type | Quote }}
{{ end }}
addresses:
{{ with NodeIP }}
- address: {{ . | Quote }}
  type: InternalIP
{{ end }}
{{ with NodeName }}
- address: {{ . | Quote }}
  type: Hostname
{{ end }}
{{ with NodePort }}
daemonEndpoints:
  kubeletEndpoint:
    Port: {{ . }}
{{ end }}
allocatable:
{{ YAML .status.allocatable 1 }}
capacity:
{{ YAML .status.capacity 1 }}
nodeInfo:
  architecture: amd64
  bootID: ""
  containerRuntimeVersion: {{ printf "kwok-%s" Version | Quote }}
  kernelVersion: {{ printf "kwok-%s" Version | Quote }}
  kubeProxyVersion: {{ printf "kwok-%s" Version | Quote }}
  kubeletVersion: {{ printf "kwok-%s" Version | Quote }}
  machineID: ""
  operatingSystem: linux
  osImage: kwok
  systemUUID: ""
phase: Running
"""


def node_stages() -> list[dict[str, Any]]:
    """A node becomes Ready (with the capacity it was created with) and keeps its heartbeat."""
    not_ready = {"key": '.status.conditions.[] | select( .type == "Ready" ) | .status',
                 "operator": "NotIn", "values": ["True"]}
    ready = {"key": '.status.conditions.[] | select( .type == "Ready" ) | .status',
             "operator": "In", "values": ["True"]}
    return [
        _stage("node-initialize", _NODE, [not_ready], {"statusTemplate": _NODE_STATUS}),
        _stage("node-heartbeat", _NODE, [_phase("Running"), ready], {"statusTemplate": _NODE_STATUS},
               delay={"durationMilliseconds": 20000, "jitterDurationMilliseconds": 25000}),
    ]


def pod_stages() -> list[dict[str, Any]]:
    """The pod lifecycles of the module docstring."""
    run_for = {"durationMilliseconds": 0, "durationFrom": _RUN_FOR}
    exit_code = (f'{{{{ with $.metadata.annotations }}}}{{{{ or (index . "{EXIT_CODE_ANNOTATION}") "1" }}}}'
                 '{{ else }}1{{ end }}')
    return [
        _stage("pod-running", _POD, [_NOT_DELETING, _phase("Pending"),
                                     {"key": '.status.conditions.[] | select( .type == "Ready" ) | .status',
                                      "operator": "NotIn", "values": ["True"]}],
               {"statusTemplate": _RUNNING}),
        _stage("pod-oom-killed", _POD, [_NOT_DELETING, _phase("Running"),
                                        {"key": _END, "operator": "In", "values": [OOM_KILLED]}],
               {"statusTemplate": _terminated("137", "OOMKilled", "Failed")}, delay=run_for),
        _stage("pod-error", _POD, [_NOT_DELETING, _phase("Running"),
                                   {"key": _END, "operator": "In", "values": [ERROR]}],
               {"statusTemplate": _terminated(exit_code, "Error", "Failed")}, delay=run_for),
        _stage("pod-succeed", _POD, [_NOT_DELETING, _phase("Running"),
                                     {"key": _END, "operator": "NotIn", "values": [OOM_KILLED, ERROR, NEVER]}],
               {"statusTemplate": _terminated("0", "Completed", "Succeeded")}, delay=run_for),
        _stage("pod-delete", _POD, [{"key": ".metadata.deletionTimestamp", "operator": "Exists"}],
               {"delete": True}),
    ]


def fate_stage(name: str, match_labels: dict[str, str], end: str, exit_code: int | None = None,
               run_for: float = 0.0, namespace: str | None = None) -> dict[str, Any]:
    """A stage ending Running pods that carry `match_labels` (in `namespace`, or any) as `end` says.
    Its weight 1 beats the label-driven stages (weight 0): kwok picks among matching stages by weight."""
    if end not in (OOM_KILLED, ERROR, NEVER, SUCCEED):
        raise ValueError(f"end must be one of {OOM_KILLED}, {ERROR}, {NEVER}, {SUCCEED}, not {end!r}")
    expressions: list[dict[str, Any]] = [_NOT_DELETING, _phase("Running")]
    if namespace:
        expressions.append({"key": ".metadata.namespace", "operator": "In", "values": [namespace]})
    template = {
        OOM_KILLED: lambda: _terminated("137", "OOMKilled", "Failed"),
        ERROR: lambda: _terminated(str(1 if exit_code is None else int(exit_code)), "Error", "Failed"),
        SUCCEED: lambda: _terminated("0", "Completed", "Succeeded"),
        NEVER: lambda: "phase: Running\n",
    }[end]()
    # "never": a stage that matches (so the default ones do not) and would fire only after a year
    delay_ms = 365 * 24 * 3600 * 1000 if end == NEVER else int(run_for * 1000)
    stage = _stage(name, _POD, expressions, {"statusTemplate": template}, delay={"durationMilliseconds": delay_ms})
    stage["spec"]["selector"]["matchLabels"] = dict(match_labels)
    stage["spec"]["weight"] = 1
    return stage


def all_stages() -> list[dict[str, Any]]:
    return node_stages() + pod_stages()
