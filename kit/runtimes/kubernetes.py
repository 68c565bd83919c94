"""The kubernetes runtime: each sandbox a Job on the user's cluster, followed through the API.

`start` creates the Job (kit/runtimes/kube/manifests.py) and watches its pod until the worker runs; a pod
still pending after `--pending-timeout` (no node fits, the image cannot be pulled) is deleted and
the cell becomes a failed record with the scheduler's or kubelet's words. While it runs, the pod's
log stream is the worker's stdout (the JSON progress lines the supervisor reads for every runtime),
and the container status says how it ended: exit code, `OOMKilled`, `restartCount`.

The controller cannot read a remote node's cgroup: memory and CPU figures come from inside the
sandbox (the worker's own samples in its progress stream, when it sends them); outputs stay in the
pod, so records are unverified (kit/run/runner.py says why). Every Job the run created is deleted with
foreground propagation (its pod first) when its cell ends, on Ctrl-C, and when an API call fails.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from kit.core import signals
from kit.core.errors import RuntimeUnavailable
from kit.measure.cgroupstat import CgroupStats
from kit.runtimes.base import Capabilities, InsideView, NotStarted, SandboxSpec, Setup
from kit.runtimes.kube import client as kube
from kit.runtimes.kube.manifests import CONTAINER, Cluster, check_recipe, job_manifest, request_for
from kit.runtimes.kube.status import Pod, WorkerState, never_ran, node_notes, pending_reason, worker_state

POLL_SECONDS = 1.0            # the pod's status is read at most this often while it runs
LOG_DRAIN_SECONDS = 5.0       # after the container ended, how long its last log lines may take
API_GRACE_SECONDS = 15.0      # failing API calls for this long: the connection is lost
DELETE_RETRY_SECONDS = 10.0   # a Job's deletion is retried this long over a dropped connection
WATCH_SECONDS = 10            # one watch request's server-side timeout while waiting for the pod


class KubeSandbox:
    """One running pod: stdout is its log stream (through a pipe), poll() its container status."""

    def __init__(self, runtime: KubernetesRuntime, job: str, pod: str, stderr_path: Path,
                 notes: dict[str, str], first: WorkerState, clock: Callable[[], float] = time.monotonic,
                 inside: InsideView | None = None) -> None:
        self.runtime, self.job, self.pod, self.stderr_path = runtime, job, pod, stderr_path
        self.notes = notes
        self.inside = inside     # the supervisor feeds it the worker's sample events (kit/measure/inside.py)
        self._clock = clock
        self._state = first
        self._next_poll = 0.0
        self._failing_since: float | None = None
        self._closed = False
        self._deleted = False
        self._stderr_lines: list[str] = []
        read_fd, self._write_fd = os.pipe()
        self.stdout: IO[str] = os.fdopen(read_fd, "r", encoding="utf-8", errors="replace")
        self._stream: Any = None
        self._pump = threading.Thread(target=self._follow_logs, daemon=True)
        self._pump.start()

    def _follow_logs(self) -> None:
        """Copy the worker's log stream into the pipe; lines that are not JSON are its stderr."""
        pending = b""
        try:
            self._stream = self.runtime.api.core.read_namespaced_pod_log(
                self.pod, self.runtime.cluster.namespace, container=CONTAINER, follow=True,
                # the read timeout outlasts the run's own (--timeout): the supervisor ends the sandbox first
                _preload_content=False,
                _request_timeout=(kube.REQUEST_TIMEOUT[0], self.runtime.cluster.run_timeout_seconds + 60))
            for chunk in self._stream.stream(4096):
                os.write(self._write_fd, chunk)
                pending += chunk
                *lines, pending = pending.split(b"\n")
                self._keep_stderr(lines)
        except Exception as exc:  # the stream ends with the container, or breaks with the connection
            self.notes.setdefault("log_stream", f"ended early: {kube.short(exc)}")
        finally:
            self._keep_stderr([pending])
            os.close(self._write_fd)

    def _keep_stderr(self, lines: list[bytes]) -> None:
        for raw in lines:
            line = raw.decode("utf-8", "replace").strip()
            if line and not line.startswith("{"):
                self._stderr_lines = (self._stderr_lines + [line])[-200:]

    def _refresh(self) -> None:
        if self._clock() < self._next_poll:
            return
        self._next_poll = self._clock() + POLL_SECONDS
        try:
            pod = self.runtime.read_pod(self.pod)
        except Exception as exc:
            if kube.status_of(exc) == 404:   # deleted behind the kit's back (kubectl delete, a node drain)
                code = -1 if self._state.exit_code is None else self._state.exit_code
                self._state = WorkerState("Failed", True, code, "Deleted", "the pod was deleted while it ran",
                                          self._state.restart_count, self._state.oom_killed)
                return
            self._failing_since = self._failing_since or self._clock()
            if kube.status_of(exc) in (401, 403):   # refused, not lost: no use waiting
                raise RuntimeUnavailable(f"the API server refused to read pod {self.pod} ({kube.short(exc)}); "
                                         "`kit doctor --runtime kubernetes` checks access") from exc
            if self._clock() - self._failing_since > API_GRACE_SECONDS:
                raise RuntimeUnavailable(f"lost the Kubernetes API server while {self.job} ran ({kube.short(exc)}); "
                                         "the run's Jobs are being deleted, finished results are kept") from exc
            return
        self._failing_since = None
        self._state = worker_state(pod)

    def poll(self) -> int | None:
        self._refresh()
        if self._state.exit_code is None:
            if self._state.phase in ("Failed", "Succeeded"):   # ended without a container status (evicted)
                self._pump.join(LOG_DRAIN_SECONDS)
                return -1
            return None
        self._pump.join(LOG_DRAIN_SECONDS)   # the last progress lines before the exit status
        self.notes["restart_count"] = str(self._state.restart_count)
        if self._state.reason:
            self.notes["termination_reason"] = self._state.reason
        return self._state.exit_code

    def stats(self) -> CgroupStats:
        """No remote cgroup to read: the worker's own samples (zeros until one arrives), and an OOM
        kill from the container status too (the kubelet's `OOMKilled`), which outlives the worker."""
        stats = (self.inside.stats() if self.inside is not None else
                 CgroupStats(usage_bytes=0, working_set_bytes=0, peak_usage_bytes=None, cpu_seconds=0.0,
                             throttled_seconds=0.0, oom_kills=0))
        return dataclasses.replace(stats, oom_kills=max(stats.oom_kills, 1 if self._state.oom_killed else 0))

    def pids(self) -> list[int]:
        return []   # processes on another machine: no PSS or RSS from here

    def stop(self) -> None:
        """Delete the Job (its pod first) if the worker still runs; the kubelet kills it."""
        self.notes.setdefault("ended_epoch", f"{time.time():.3f}")   # with started_epoch: which cells overlapped
        if self._state.exit_code is None:
            self._delete()
        self._save_stderr()

    def _delete(self) -> None:
        """Delete the Job; if the API server cannot be reached, the Job stays in the runtime's list
        and `cleanup()` tries again and says how to delete it: the first failure's cause stays the
        run's error."""
        if self._deleted or "delete_failed" in self.notes:   # one try here; cleanup() tries again
            return
        try:
            self.runtime.delete_job(self.job)
            self._deleted = True
        except RuntimeUnavailable as exc:
            self.notes["delete_failed"] = str(exc)

    def _save_stderr(self) -> None:
        with contextlib.suppress(OSError):
            self.stderr_path.write_text("\n".join(self._stderr_lines) + ("\n" if self._stderr_lines else ""))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with signals.deferred():
            try:
                self._delete()
            finally:
                # Unblock the pump's read from this thread (a stream that has not ended: the API server
                # lost, or kwok, whose streams outlive the container); its end closes the pipe, which
                # ends the supervisor's reader, and only then may stdout be closed (closing a file
                # another thread reads from blocks on that thread).
                with contextlib.suppress(Exception):
                    if self._stream is not None:
                        self._stream.shutdown()
                self._pump.join(2.0)
                self._save_stderr()
                if not self._pump.is_alive():
                    self.stdout.close()

    def stderr_tail(self) -> str:
        if self._stderr_lines:
            return self._stderr_lines[-1]
        if self._state.message:
            return self._state.message.strip().splitlines()[-1]
        return f"worker container ended: {self._state.reason}" if self._state.reason else ""


class KubernetesRuntime:
    name = "kubernetes"
    # Another node: no shared files (inputs from the recipe, outputs in the pod's emptyDir), figures
    # from the worker's own samples; a registry's image; cells at once, each on a node of its own.
    capabilities = Capabilities(local=False, shares_files=False, figures_inside=True, image=True,
                                parallel_cells=True)

    def __init__(self, cluster: Cluster, bin_dir: Path | None = None, api: kube.Api | None = None,
                 clock: Callable[[], float] = time.monotonic, inside: Callable[[], InsideView] | None = None) -> None:
        self.cluster, self.bin_dir, self._api, self._clock = cluster, bin_dir, api, clock
        self.inside = inside              # makes each sandbox's tracker of the worker's own samples
        self.jobs: set[str] = set()       # created and not yet deleted: cleanup() deletes what is left
        self._lock = threading.Lock()     # --parallel: cells start and end in several threads
        self._stopping = False            # cleanup() ran: a pod still waiting for a node will not start
        self._server_version: str | None = None

    @classmethod
    def create(cls, setup: Setup) -> KubernetesRuntime:
        cluster = setup.cluster() if setup.cluster is not None else Cluster(image=setup.image)
        return cls(cluster, setup.image_bin_dir, inside=setup.inside)

    @property
    def api(self) -> kube.Api:
        if self._api is None:
            self._api = kube.connect()
        return self._api

    def available(self) -> str | None:
        try:
            self._server_version = kube.server_version(self.api)
        except RuntimeUnavailable as exc:
            return str(exc)
        return None

    def read_pod(self, name: str) -> Pod:
        pod = self.api.core.read_namespaced_pod(name, self.cluster.namespace, _request_timeout=kube.REQUEST_TIMEOUT)
        return dict(self.api.client.sanitize_for_serialization(pod))

    def delete_job(self, name: str) -> None:
        """Delete a Job and, first, its pod (foreground propagation); gone already is fine. A dropped
        connection is retried for a while; what still fails says how to delete it by hand (its
        activeDeadlineSeconds ends it anyway)."""
        with signals.hold():
            first_failure: float | None = None
            while True:
                try:
                    self.api.batch.delete_namespaced_job(name, self.cluster.namespace,
                                                         propagation_policy="Foreground", grace_period_seconds=0,
                                                         _request_timeout=kube.REQUEST_TIMEOUT)
                    break
                except Exception as exc:
                    status = kube.status_of(exc)
                    if status == 404:
                        break
                    first_failure = first_failure or self._clock()
                    if status is not None or self._clock() - first_failure > DELETE_RETRY_SECONDS:
                        raise RuntimeUnavailable(
                            f"could not delete Job {name} in namespace {self.cluster.namespace} ({kube.short(exc)}): "
                            f"delete it with kubectl delete job -n {self.cluster.namespace} {name}") from exc
                    time.sleep(1.0)
            with self._lock:
                self.jobs.discard(name)

    def cleanup(self) -> list[str]:
        """Delete every Job this runtime created and has not deleted yet (Ctrl-C, a failed call);
        returns what could not be deleted."""
        self._stopping = True
        failed = []
        with self._lock:
            created = sorted(self.jobs)
        for name in created:
            try:
                self.delete_job(name)
            except RuntimeUnavailable as exc:
                failed.append(str(exc))
        return failed

    def leftovers(self) -> list[str]:
        return []   # a killed run's Jobs end at their activeDeadlineSeconds

    def recipe_problem(self, recipe: dict[str, str]) -> str | None:
        return check_recipe(recipe)

    def start(self, spec: SandboxSpec) -> KubeSandbox:
        manifest = job_manifest(request_for(spec, self.bin_dir), self.cluster)
        if problem := check_recipe(spec.remote_inputs):
            raise RuntimeUnavailable(problem)
        name = manifest["metadata"]["name"]
        spec.log_dir.mkdir(parents=True, exist_ok=True)
        started = self._clock()
        with signals.hold():   # a Job created is a Job the kit knows to delete
            try:
                self.api.batch.create_namespaced_job(self.cluster.namespace, manifest,
                                                     _request_timeout=kube.REQUEST_TIMEOUT)
            except Exception as exc:
                raise RuntimeUnavailable(f"the API server refused Job {name} in namespace {self.cluster.namespace} "
                                         f"({kube.short(exc)}); `kit doctor --runtime kubernetes` checks access"
                                         ) from exc
            with self._lock:
                self.jobs.add(name)
        try:
            pod, state = self._wait_running(name, started)
        except BaseException:
            with contextlib.suppress(RuntimeUnavailable):   # still listed: cleanup() tries again and says so
                self.delete_job(name)
            raise
        notes = {"job": name, "namespace": self.cluster.namespace, "pod": pod["metadata"]["name"],
                 "image": self.cluster.image,
                 "scheduled_after_seconds": f"{self._clock() - started:.1f}", "started_epoch": f"{time.time():.3f}"}
        notes.update(self._node(pod))
        return KubeSandbox(self, name, pod["metadata"]["name"], spec.log_dir / f"{spec.name}.stderr", notes, state,
                           self._clock, self.inside() if self.inside is not None else None)

    def _node(self, pod: Pod) -> dict[str, str]:
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            return {}
        try:
            found = self.api.core.read_node(node, _request_timeout=kube.REQUEST_TIMEOUT)
        except Exception as exc:   # reading nodes needs a cluster-wide permission the user may lack
            return {"node": node, "node_details": f"unreadable ({kube.short(exc)})"}
        return node_notes(dict(self.api.client.sanitize_for_serialization(found)))

    def _wait_running(self, job: str, started: float) -> tuple[Pod, WorkerState]:
        """Watch the Job's pod until its worker runs or ended; NotStarted after the pending timeout."""
        watch: Any = kube.module().watch

        pod: Pod | None = None
        deadline = started + self.cluster.pending_timeout_seconds
        failing_since: float | None = None
        while True:
            if self._stopping:
                raise NotStarted("the run stopped before a node took the pod", self._clock() - started, {"job": job})
            remaining = deadline - self._clock()
            if remaining <= 0:
                reason = pending_reason(pod)
                self.delete_job(job)
                raise NotStarted(f"{reason} (still pending after {self.cluster.pending_timeout_seconds:g} s, "
                                 "--pending-timeout)", self._clock() - started, {"job": job})
            watcher = watch.Watch()
            try:
                for event in watcher.stream(self.api.core.list_namespaced_pod, self.cluster.namespace,
                                            label_selector=f"job-name={job}",
                                            timeout_seconds=max(1, min(WATCH_SECONDS, int(remaining) + 1)),
                                            _request_timeout=(kube.REQUEST_TIMEOUT[0], WATCH_SECONDS + 10)):
                    failing_since = None
                    if event["type"] == "DELETED" or self._stopping:
                        break
                    pod = dict(self.api.client.sanitize_for_serialization(event["object"]))
                    state = worker_state(pod)
                    if why := never_ran(pod):
                        self.delete_job(job)
                        raise NotStarted(why, self._clock() - started, {"job": job})
                    if state.started:
                        return pod, state
                    if self._clock() >= deadline:
                        break
            except NotStarted:
                raise
            except Exception as exc:   # a refusal (403...) at once; a dropped connection after a grace
                failing_since = failing_since or self._clock()
                if kube.status_of(exc) is not None or self._clock() - failing_since > API_GRACE_SECONDS:
                    raise RuntimeUnavailable(f"watching the pod of Job {job} failed ({kube.short(exc)}); "
                                             "the run's Jobs are being deleted, finished results are kept") from exc
                time.sleep(1.0)
            finally:
                watcher.stop()

    def describe(self) -> dict[str, Any]:
        version = self._server_version or kube.server_version(self.api)
        return {"runtime": self.name, "cgroup_version": None, "engine_version": version, "image": self.cluster.image,
                "image_digest": None, "kernel": None, "pid": os.getpid(),
                "kubernetes": {"server_version": version, "api_server": kube.host(self.api),
                               "namespace": self.cluster.namespace, "image": self.cluster.image,
                               "image_pull_policy": self.cluster.image_pull_policy,
                               "node_selector": dict(self.cluster.node_selector),
                               "pending_timeout_seconds": self.cluster.pending_timeout_seconds}}
