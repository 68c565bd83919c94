"""The Job manifests of the Kubernetes runtime and `kit manifests`, checked offline.

Every Job the tests generate is validated against the official OpenAPI schema of Kubernetes
(kubernetes-validate's newest supported version) in strict mode, which rejects any field the API
does not know; quantities are read back with the official client's own parser. No cluster here:
tests/integration/test_kubernetes.py sends the same manifests to a real kube-apiserver.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import kubernetes_validate.utils
import pytest
import yaml
from kubernetes.utils import parse_quantity

from kit.core.errors import ConfigError
from kit.plan.config import build
from kit.plan.inputs import planned_entries, pod_recipe
from kit.run.manifests import job_manifests, yaml_stream
from kit.runtimes.kube.manifests import (
    CONTAINER,
    INIT_CONTAINER,
    MANIFEST,
    SANDBOX_LABEL,
    Cluster,
    JobRequest,
    check_recipe,
    cpu_quantity,
    job_manifest,
    job_name,
    memory_quantity,
)
from kit.worker.podinit import make_inputs
from kit.worker.programs import NAMES, PYTHON_ALLOCATOR_ENV, program
from kit.worker.protocol import manifest_json, unpack

K8S_VERSION = kubernetes_validate.latest_version()   # the newest schema the package ships (1.37 today)
BIN_DIR = Path("/opt/kit/bin")
CAPS = [None, "64m", "512Mi", "1Gi", "300000001"]    # none, Docker and Kubernetes units, bytes that are no Mi
WORKERS = [1, 4, 12]
MIB = 2**20


_shared: dict[str, Path] = {}


@pytest.fixture(scope="module", autouse=True)
def shared_cache_and_schemas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """What costs the quick tier and is the same for every test here, made once per module: the
    cache dir jobs_for plans with (the host probe of the distribution's Python, a subprocess, is
    cached per cache dir), and the schema files kubernetes-validate reads and parses on every call
    (the same files, read once: every validation is still the package's own, strict)."""
    _shared["cache"] = tmp_path_factory.mktemp("kube-manifests-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kubernetes_validate.utils, "schema_contents",
                      functools.cache(kubernetes_validate.utils.schema_contents))
        yield


def jobs_for(tmp_path: Path, **options: Any) -> list[dict[str, Any]]:
    config = build(runtime="kubernetes", out=tmp_path, cache_dir=_shared["cache"], check_paths=False, **options)
    return job_manifests(config, "20261203-031843-ab12", BIN_DIR)


def validate(job: dict[str, Any]) -> None:
    """Strict: an unknown or misspelt field fails, as `kubectl apply --validate=strict` would."""
    kubernetes_validate.validate(job, K8S_VERSION, strict=True)


def pod_spec(job: dict[str, Any]) -> dict[str, Any]:
    return dict(job["spec"]["template"]["spec"])


def worker(job: dict[str, Any]) -> dict[str, Any]:
    (container,) = pod_spec(job)["containers"]
    assert container["name"] == CONTAINER
    return dict(container)


def assert_restricted(container: dict[str, Any]) -> None:
    """The restricted Pod Security Standard, field by field."""
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] > 0
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert security.get("privileged", False) is False


@pytest.mark.parametrize("cap", CAPS)
@pytest.mark.parametrize("workers", WORKERS)
def test_every_strategy_cap_and_worker_count_is_a_valid_restricted_job(tmp_path: Path, cap: str | None,
                                                                       workers: int) -> None:
    jobs = jobs_for(tmp_path, mem_limit=cap, workers=workers, items=20)
    # every strategy that runs images with OpenCV (python-threads-ft cannot: no free-threaded OpenCV)
    assert [job["metadata"]["labels"]["kit.dev/strategy"] for job in jobs] == [
        name for name in NAMES if program(name).workload_problem("images") is None]
    for job in jobs:
        validate(job)
        strategy = job["metadata"]["labels"]["kit.dev/strategy"]
        spec, container = pod_spec(job), worker(job)
        assert job["spec"]["backoffLimit"] == 0 and spec["restartPolicy"] == "Never"
        assert job["spec"]["ttlSecondsAfterFinished"] > 0 and job["spec"]["activeDeadlineSeconds"] > 0
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for each in [container, *spec["initContainers"]]:
            assert_restricted(each)
            # limits = requests for every container: with a memory cap the pod is Guaranteed QoS
            assert each["resources"]["limits"] == each["resources"]["requests"]
        limits = container["resources"]["limits"]
        expected_workers = program(strategy).effective_workers(workers)
        assert parse_quantity(limits["cpu"]) == expected_workers   # one core per worker without --cpus
        if cap is None:
            assert "memory" not in limits
        else:
            cap_bytes = build(mem_limit=cap, check_paths=False).memory_limit_bytes
            assert parse_quantity(limits["memory"]) == cap_bytes
        # /tmp: a memory-backed emptyDir, bounded, never larger than the cap it counts against
        (scratch,) = [v for v in spec["volumes"] if v["name"] == "scratch"]
        assert scratch["emptyDir"]["medium"] == "Memory"
        assert 0 < parse_quantity(scratch["emptyDir"]["sizeLimit"]) <= parse_quantity(limits.get("memory", "64Mi"))
        assert {"name": "scratch", "mountPath": "/tmp"} in container["volumeMounts"]
        labels = job["metadata"]["labels"]
        assert labels["kit.dev/workers"] == str(expected_workers) and labels["kit.dev/repetition"] == "0"
        assert labels["kit.dev/run"] == "20261203-031843-ab12"
        assert job["spec"]["template"]["metadata"]["labels"] == labels
        # cells never share a node
        (term,) = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term["topologyKey"] == "kubernetes.io/hostname"
        assert term["labelSelector"]["matchLabels"] == {SANDBOX_LABEL[0]: SANDBOX_LABEL[1]}
        assert labels[SANDBOX_LABEL[0]] == SANDBOX_LABEL[1]
        assert str(MANIFEST) in container["command"]
        if program(strategy).language == "go":
            assert container["command"][0] == str(BIN_DIR / strategy)
        # the Python workers' allocator settings reach the pod as they reach every other sandbox
        env = {e["name"]: e["value"] for e in container["env"]}
        assert {key: env[key] for key in PYTHON_ALLOCATOR_ENV if key in env} == program(strategy).env()


@pytest.mark.parametrize("workload,options", [("pi", {"iterations": 1000}), ("count", {}), ("payload", {}),
                                              ("io", {})])
def test_task_workloads_make_valid_jobs_without_input_files(tmp_path: Path, workload: str,
                                                            options: dict[str, Any]) -> None:
    jobs = jobs_for(tmp_path, workload=workload, mem_limit="512m", workers=2, repeat=2, **options)
    runs = [name for name in NAMES if program(name).workload_problem(workload) is None]
    assert len(jobs) == 2 * len(runs)
    for job in jobs:
        validate(job)
        env = {e["name"]: e["value"] for e in pod_spec(job)["initContainers"][0]["env"]}
        assert "KIT_INPUTS" not in env    # nothing to generate: the tasks are in the manifest
        items = json.loads(unpack(env["KIT_MANIFEST"]))["items"]
        assert len(items) == 50 and items[0]["input"] == "" and items[0]["task"]


def test_cpus_node_selector_namespace_and_image_reach_the_job(tmp_path: Path) -> None:
    (job,) = jobs_for(tmp_path, strategies=["python-threads"], mem_limit="1g", cpus=1.5, workers=3,
                      namespace="bench", image="registry.example/kit-worker:0.1.0",
                      node_selector=["kubernetes.io/arch=amd64", "pool=batch"])
    validate(job)
    container = worker(job)
    assert container["resources"]["limits"] == {"cpu": "1500m", "memory": "1Gi"}
    assert container["image"] == pod_spec(job)["initContainers"][0]["image"] == "registry.example/kit-worker:0.1.0"
    assert job["metadata"]["namespace"] == "bench"
    assert pod_spec(job)["nodeSelector"] == {"kubernetes.io/arch": "amd64", "pool": "batch"}


def test_quantities_round_trip_through_the_clients_parser() -> None:
    for size in (6 * MIB, 512 * MIB, 2**30, 300_000_001, 2**40 + 1):
        assert parse_quantity(memory_quantity(size)) == size
    for cpus, expected in ((1, "1"), (0.5, "500m"), (1.5, "1500m"), (0.0001, "1m"), (12, "12")):
        assert cpu_quantity(cpus) == expected
        assert parse_quantity(expected) >= min(cpus, parse_quantity(expected))


def test_job_names_are_dns_labels_of_at_most_63() -> None:
    long = "20261203-031843-ab12-python-pool-imap-unordered-x1024-m1048576-w12"
    name = job_name(long)
    assert len(name) <= 63 and name.startswith("kit-20261203") and name[-1].isalnum()
    assert job_name(long) == name and job_name(long + "3") != name    # stable, and distinct
    assert job_name("20261203-031843-ab12-python-threads-x4-r0") == "kit-20261203-031843-ab12-python-threads-x4-r0"


def test_the_recipe_makes_the_controllers_inputs_byte_for_byte(tmp_path: Path) -> None:
    """The init container's code, run here: the same manifest, and images whose sha256 is the
    controller's (the real generator at a small size)."""
    from kit.plan.inputs import generate

    config = build(runtime="kubernetes", items=5, resolution="64x48", pool_size=2, out=tmp_path,
                   cache_dir=tmp_path / "cache", check_paths=False)
    local = generate(config)
    digests = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in local}
    entries = planned_entries(config)
    env, init_memory = pod_recipe(config, entries, digests)
    assert init_memory >= 128 * MIB and init_memory % MIB == 0
    pod = tmp_path / "pod"
    assert make_inputs(pod / "manifest.json", pod / "input", pod / "output", env) is None
    assert (pod / "manifest.json").read_text() == manifest_json(entries)
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (pod / "input").iterdir()} == digests
    assert (pod / "output").is_dir()
    # an image built with another generator (or OpenCV) stops in the init container, before any timing
    wrong = dict(env, KIT_INPUTS=env["KIT_INPUTS"].replace(digests["img-000.jpg"], "0" * 64))
    problem = make_inputs(tmp_path / "pod2" / "manifest.json", tmp_path / "pod2" / "input",
                          tmp_path / "pod2" / "output", wrong)
    assert problem is not None and "img-000.jpg differs" in problem


def test_a_recipe_too_large_for_a_pod_spec_is_refused(tmp_path: Path) -> None:
    for items in (200, 10_000):
        config = build(runtime="kubernetes", items=items, out=tmp_path, check_paths=False)
        assert check_recipe(pod_recipe(config, planned_entries(config))[0]) is None, items
    with pytest.raises(ConfigError, match="more than 256 KiB"):   # 100,000 items: 662 KiB packed
        jobs_for(tmp_path, items=100_000)


def test_what_a_pod_cannot_do_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--source cannot be used with --runtime kubernetes"):
        build(runtime="kubernetes", source=tmp_path, out=tmp_path, check_paths=False)
    with pytest.raises(ConfigError, match="--parallel 2: only --runtime kubernetes"):
        build(runtime="cgroup", parallel=2, out=tmp_path, check_paths=False)
    with pytest.raises(ConfigError, match="--node-selector"):
        build(runtime="kubernetes", node_selector=["no-equals-sign"], check_paths=False)
    with pytest.raises(ConfigError, match="--namespace"):
        build(runtime="kubernetes", namespace="Not_A_Namespace", check_paths=False)
    with pytest.raises(ConfigError, match="--iterations"):
        jobs_for(tmp_path, workload="pi")


def test_a_manifest_alone_is_valid_for_any_cluster_settings() -> None:
    request = JobRequest(name="r-s-x1-r0", command=["true"], init_command=["true"], recipe_env={"KIT_MANIFEST": "x"},
                         memory_limit_bytes=None, cpus=0.25)
    job = job_manifest(request, Cluster(namespace="ns", image="img:1", image_pull_policy="Always",
                                        node_selector=(("a", "b"),), ttl_seconds=60))
    validate(job)
    assert pod_spec(job)["initContainers"][0]["name"] == INIT_CONTAINER
    assert worker(job)["imagePullPolicy"] == "Always"


# --- kit manifests ---------------------------------------------------------------------------------

def kit_manifests(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`kit manifests` in a fresh interpreter, with no kubeconfig anywhere and no cluster; it reports on
    stderr whether the kubernetes package was loaded."""
    env = {**os.environ, "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "no-such-kubeconfig"),
           "KIT_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    script = ("import sys\nfrom kit.cli.exits import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as done:\n"
              "    print('loaded kubernetes:', 'kubernetes' in sys.modules, file=sys.stderr)\n    raise\n")
    return subprocess.run([sys.executable, "-c", script, "manifests", *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120, check=False)


def test_kit_manifests_prints_one_job_per_strategy_and_repetition_as_yaml(tmp_path: Path) -> None:
    done = kit_manifests(tmp_path, "-s", "python-threads", "-s", "go-native", "--mem-limit", "512Mi",
                         "--workers", "4", "--repeat", "3", "--images", "10")
    assert done.returncode == 0, done.stderr
    documents = list(yaml.safe_load_all(done.stdout))
    assert len(documents) == 6 and done.stdout.startswith("---\n")
    assert sorted((d["metadata"]["labels"]["kit.dev/strategy"], d["metadata"]["labels"]["kit.dev/repetition"])
                  for d in documents) == sorted((s, str(r)) for s in ("python-threads", "go-native") for r in range(3))
    for document in documents:
        validate(document)
        assert document["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
        assert worker(document)["image"] == "kit-worker:0.1.0"   # the default: this kit's image
    assert len({d["metadata"]["name"] for d in documents}) == 6
    assert "&id" not in done.stdout and "*id" not in done.stdout    # self-contained documents, no YAML aliases
    assert "6 Jobs" in done.stderr and "loaded kubernetes: False" in done.stderr
    assert not (tmp_path / "reports").exists()   # nothing written, nothing generated
    assert not (tmp_path / "cache" / "images").exists()


def test_kit_manifests_without_strategies_prints_every_program_of_the_workload(tmp_path: Path) -> None:
    done = kit_manifests(tmp_path, "--workload", "count", "--images", "3")
    assert done.returncode == 0, done.stderr
    strategies = [d["metadata"]["labels"]["kit.dev/strategy"] for d in yaml.safe_load_all(done.stdout)]
    assert strategies == [name for name in NAMES if program(name).workload_problem("count") is None]


@pytest.mark.parametrize("args,message", [
    (["--runtime", "docker"], "kit manifests prints Kubernetes Jobs"),
    (["--node-selector", "bad"], "--node-selector"),
    (["-s", "go-gocv", "--workload", "pi", "--iterations", "5"], "go-gocv"),
])
def test_kit_manifests_usage_errors_are_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    done = kit_manifests(tmp_path, *args)
    assert done.returncode == 2 and done.stdout == ""
    errors = [line for line in done.stderr.splitlines() if not line.startswith("loaded kubernetes")]
    assert len(errors) == 1 and errors[0].startswith("error: ") and message in errors[0]


def test_yaml_stream_round_trips() -> None:
    documents = [{"a": 1, "b": {"c": [1, 2]}}, {"a": 2}]
    shared = {"x": "y"}
    text = yaml_stream([{"one": shared, "two": shared}])
    assert list(yaml.safe_load_all(yaml_stream(documents))) == documents
    assert "&" not in text and list(yaml.safe_load_all(text)) == [{"one": shared, "two": shared}]


# --- kit run --runtime kubernetes without what it needs: one line, exit 1 ---------------------------

def kit_run_kubernetes(tmp_path: Path, hide_client: bool) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "no-such-kubeconfig"),
           "KIT_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    # sys.modules[name] = None makes `import kubernetes` fail as if the extra were not installed
    script = ("import sys\n" + ("sys.modules['kubernetes'] = None\n" if hide_client else "")
              + "from kit.cli.exits import main\nmain(sys.argv[1:])\n")
    return subprocess.run([sys.executable, "-c", script, "run", "--runtime", "kubernetes", "--metrics-port", "0",
                           "--out", str(tmp_path / "reports")], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120, check=False)


def test_without_the_client_kit_run_says_how_to_install_it(tmp_path: Path) -> None:
    done = kit_run_kubernetes(tmp_path, hide_client=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: --runtime kubernetes needs the kubernetes client")
    assert "pip install 'kit[k8s]'" in done.stderr


def test_without_a_kubeconfig_kit_run_says_where_it_looked(tmp_path: Path) -> None:
    done = kit_run_kubernetes(tmp_path, hide_client=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "error: no cluster to talk to" in done.stderr and "KUBECONFIG" in done.stderr


def test_the_free_threaded_row_runs_the_image_copy_of_its_interpreter(tmp_path: Path) -> None:
    """python-threads-ft's Job runs the worker image's free-threaded copy (/opt/python-ft), on the
    task workloads and on images with Pillow; with OpenCV it is refused before any manifest."""
    from kit.build.freethreaded import FREE_THREADED_PYTHON
    from kit.core.errors import ConfigError

    for options in ({"workload": "pi", "iterations": 1000}, {"library": "pillow"}):
        (job,) = jobs_for(tmp_path, strategies=["python-threads-ft"], workers=2, items=4, **options)
        validate(job)
        assert str(FREE_THREADED_PYTHON) in worker(job)["command"]
        assert "kit.worker" in worker(job)["command"]
    with pytest.raises(ConfigError, match="python-threads-ft is not available"):
        jobs_for(tmp_path, strategies=["python-threads-ft"], workers=2, items=4)
    assert [job["metadata"]["labels"]["kit.dev/strategy"] for job in jobs_for(tmp_path, library="pillow", items=4)
            ].count("python-threads-ft") == 1


def test_the_init_container_generates_with_the_locks_opencv_kept_in_the_image(tmp_path: Path) -> None:
    """The workers run Debian's OpenCV; the inputs must be the controller's bytes, made with the lock's
    OpenCV and NumPy: the init container puts the image's copy of those (and only it) first on its path."""
    from kit.runtimes.kube.manifests import GENERATOR_PATH, PYTHON

    (job,) = jobs_for(tmp_path, strategies=["python-threads"])
    init = pod_spec(job)["initContainers"][0]["command"]
    assert init[:5] == ["env", f"PYTHONPATH={GENERATOR_PATH}", PYTHON, "-m", "kit.worker.podinit"]
    dockerfile = (Path(__file__).resolve().parents[2] / "kit" / "container" / "Dockerfile").read_text()
    assert f"--target {GENERATOR_PATH} -r /opt/kit-build/generator.lock" in dockerfile
    assert "lockfile.py --only /opt/kit-build/requirements.lock numpy \\\n        opencv-python-headless" in dockerfile
