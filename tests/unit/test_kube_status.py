"""A pod's status (as the API serves it) -> what the record says: status, exit code, OOM kill,
restarts, and why a pod never ran. Plain dicts shaped like the API's JSON; the same mapping runs
against a real API server in tests/integration/test_kubernetes.py."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from kit.measure.inside import InsideTracker
from kit.run.supervisor import Limits, supervise
from kit.runtimes import kubernetes
from kit.runtimes.kube.manifests import Cluster
from kit.runtimes.kube.status import never_ran, node_notes, pending_reason, worker_state
from kit.worker.protocol import DoneEvent, ItemEvent, SampleEvent, StartEvent, format_event


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


# --- a pod's life -> the supervisor's outcome, through the runtime's sandbox ----------------------
# Why a fake API here: it serves a scripted pod status and log, so each mapping (OOMKilled, Completed,
# Error, a pod deleted under the run) is pinned exactly; the real API server runs the same code in
# tests/integration/test_kubernetes.py.


class ApiError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"{status}")
        self.status, self.reason, self.body = status, "Not Found" if status == 404 else "Error", None


class Log(io.BytesIO):
    def stream(self, amount: int) -> Any:
        while chunk := self.read(amount):
            yield chunk

    def shutdown(self) -> None:
        pass


class FakeApi:
    """read_namespaced_pod, read_namespaced_pod_log, delete_namespaced_job, as the client answers."""

    def __init__(self, pods: list[dict[str, Any] | None], log: list[str]) -> None:
        self.pods, self.log, self.deleted = list(pods), log, []
        self.core, self.batch, self.client = self, self, self

    def read_namespaced_pod(self, name: str, namespace: str, **kwargs: Any) -> dict[str, Any]:
        found = self.pods.pop(0) if len(self.pods) > 1 else self.pods[0]
        if found is None:
            raise ApiError(404)
        return found

    def read_namespaced_pod_log(self, name: str, namespace: str, **kwargs: Any) -> Log:
        return Log("".join(f"{line}\n" for line in self.log).encode())

    def delete_namespaced_job(self, name: str, namespace: str, **kwargs: Any) -> None:
        self.deleted.append(name)

    def sanitize_for_serialization(self, value: Any) -> Any:
        return value


def lines(done: bool = True) -> list[str]:
    out = [format_event(StartEvent(pid=1, workers=1, concurrency={})),
           format_event(SampleEvent(t_seconds=0.1, usage_bytes=90 * 2**20, working_set_bytes=80 * 2**20,
                                    peak_usage_bytes=95 * 2**20, cpu_seconds=0.3, throttled_seconds=0.0,
                                    throttled_periods=0, oom_kills=0)),
           format_event(ItemEvent(index=0, name="a", ok=True, start=0.1, end=0.2)),
           "Traceback (most recent call last):", "ValueError: the worker's last words"]
    return out + ([format_event(DoneEvent(items_ok=1, items_failed=0))] if done else [])


def supervised(tmp_path: Path, final: dict[str, Any] | None, log: list[str],
               monkeypatch: pytest.MonkeyPatch) -> tuple[Any, FakeApi]:
    monkeypatch.setattr(kubernetes, "POLL_SECONDS", 0.0)
    monkeypatch.setattr(kubernetes, "LOG_DRAIN_SECONDS", 2.0)
    running = pod("Running", {"running": {}})
    api = FakeApi([running, running, final], log)
    runtime = kubernetes.KubernetesRuntime(Cluster(namespace="ns"), api=api, inside=InsideTracker)  # type: ignore[arg-type]
    runtime.jobs.add("job")
    sandbox = kubernetes.KubeSandbox(runtime, "job", "pod", tmp_path / "worker.stderr", {}, worker_state(running),
                                     inside=InsideTracker())
    try:
        outcome = supervise(sandbox, Limits(timeout_seconds=30, stall_seconds=30))
    finally:
        sandbox.close()
    return outcome, api


def test_a_completed_pod_that_printed_done_is_ok_with_inside_figures(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    outcome, api = supervised(tmp_path, pod("Succeeded", {"terminated": {"exitCode": 0, "reason": "Completed"}}),
                              lines(), monkeypatch)
    assert outcome.status == "ok" and outcome.exit_code == 0 and outcome.items_ok == 1
    assert outcome.peaks.working_set_bytes == 80 * 2**20 and outcome.inside is not None
    assert api.deleted == ["job"]    # the cell's Job goes with its end


def test_oom_killed_pod_is_oom_killed_main_victim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outcome, _ = supervised(tmp_path, pod("Failed", {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}),
                            lines(done=False), monkeypatch)
    assert outcome.status == "oom_killed" and outcome.exit_code == 137
    assert [event.victim for event in outcome.oom_events] == ["main"]


def test_an_error_exit_is_failed_with_the_workers_last_stderr_line(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    outcome, _ = supervised(tmp_path, pod("Failed", {"terminated": {"exitCode": 3, "reason": "Error"}}),
                            lines(done=False), monkeypatch)
    assert outcome.status == "failed" and outcome.exit_code == 3
    assert outcome.message == "ValueError: the worker's last words"
    assert (tmp_path / "worker.stderr").read_text().splitlines()[-1] == "ValueError: the worker's last words"


def test_a_pod_deleted_under_the_run_is_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outcome, _ = supervised(tmp_path, None, lines(done=False), monkeypatch)
    assert outcome.status == "failed" and outcome.exit_code == -1
