"""A pod's status (as the API serves it) -> what the record says: status, exit code, OOM kill,
restarts, and why a pod never ran. Plain dicts shaped like the API's JSON; the same mapping runs
against a real API server in tests/integration/test_kubernetes.py."""

from __future__ import annotations

from typing import Any

from kit.kube.status import never_ran, node_notes, pending_reason, worker_state


def pod(phase: str, worker: dict[str, Any] | None = None, init: dict[str, Any] | None = None,
        conditions: list[dict[str, Any]] | None = None, node: str | None = "node-a", restarts: int = 0,
        last: dict[str, Any] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "conditions": conditions or []}
    if worker is not None:
        status["containerStatuses"] = [{"name": "worker", "state": worker, "restartCount": restarts,
                                        **({"lastState": last} if last else {})}]
    if init is not None:
        status["initContainerStatuses"] = [{"name": "inputs", "state": init}]
    return {"metadata": {"name": "p"}, "spec": {"nodeName": node} if node else {}, "status": status}


def test_oom_killed_is_an_oom_kill_of_the_main_process() -> None:
    state = worker_state(pod("Failed", {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}))
    assert state.oom_killed and state.exit_code == 137 and state.started and state.restart_count == 0


def test_completed_and_error_carry_the_exit_code_and_message() -> None:
    done = worker_state(pod("Succeeded", {"terminated": {"exitCode": 0, "reason": "Completed"}}))
    assert done.exit_code == 0 and not done.oom_killed and done.reason == "Completed"
    error = worker_state(pod("Failed", {"terminated": {"exitCode": 3, "reason": "Error",
                                                       "message": "Traceback...\nValueError: bad"}}))
    assert error.exit_code == 3 and error.message and error.message.endswith("bad")


def test_running_and_waiting_have_no_exit_code_yet() -> None:
    running = worker_state(pod("Running", {"running": {"startedAt": "now"}}))
    assert running.started and running.exit_code is None
    waiting = worker_state(pod("Pending", {"waiting": {"reason": "ContainerCreating"}}))
    assert not waiting.started and waiting.exit_code is None


def test_a_restarted_container_reports_its_last_end_and_the_count() -> None:
    state = worker_state(pod("Running", {"waiting": {"reason": "CrashLoopBackOff"}}, restarts=2,
                             last={"terminated": {"exitCode": 137, "reason": "OOMKilled"}}))
    assert state.restart_count == 2 and state.oom_killed and state.exit_code == 137


def test_pending_reasons_are_the_schedulers_or_the_kubelets_words() -> None:
    unschedulable = pod("Pending", node=None, conditions=[{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 Insufficient memory."}])
    assert pending_reason(unschedulable) == ("not scheduled: Unschedulable: 0/3 nodes are available: "
                                             "3 Insufficient memory.")
    pulling = pod("Pending", {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "x"'}},
                  init={"waiting": {"reason": "ErrImagePull", "message": "not found"}})
    assert pending_reason(pulling) == "container inputs waiting: ErrImagePull: not found"
    assert "Job controller made no pod" in pending_reason(None)
    assert "kube-scheduler" in pending_reason(pod("Pending", node=None))


def test_a_pod_whose_init_container_failed_never_ran_its_worker() -> None:
    failed = pod("Failed", {"waiting": {"reason": "PodInitializing"}},
                 init={"terminated": {"exitCode": 1, "reason": "Error",
                                      "message": "kit inputs: img-000.jpg differs from the controller's"}})
    why = never_ran(failed)
    assert why is not None and "init container" in why and "img-000.jpg differs" in why
    assert never_ran(pod("Running", {"running": {}})) is None
    assert never_ran(pod("Pending", None)) is None
    assert never_ran(pod("Failed", {"terminated": {"exitCode": 137, "reason": "OOMKilled"}})) is None


def test_node_notes_keep_kernel_kubelet_and_cpus() -> None:
    node = {"metadata": {"name": "n1", "labels": {"feature.node.kubernetes.io/cpu-model.family": "6"}},
            "status": {"capacity": {"cpu": "16", "memory": "64Gi"},
                       "nodeInfo": {"kernelVersion": "6.8.0", "kubeletVersion": "v1.31.4", "osImage": "Ubuntu",
                                    "architecture": "amd64", "containerRuntimeVersion": "containerd://1.7"}}}
    notes = node_notes(node)
    assert notes["node"] == "n1" and notes["node_kernel"] == "6.8.0" and notes["kubelet_version"] == "v1.31.4"
    assert notes["node_cpus"] == "16" and notes["node_cpu_model"] == "family=6"
