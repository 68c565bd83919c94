"""python-threads-ft for real (issue 16): the free-threaded CPython that `kit setup --free-threaded`
built on this machine (CI's "free-threaded CPython" stage; cached), in real cgroups and in the
worker image. Without the GIL two threads keep two cores busy on pi where the GIL build's keep one;
OpenCV images are refused with the reason, Pillow images run and verify; an interpreter whose GIL
was turned back on (PYTHON_GIL=1) is refused before any task runs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kit.build import freethreaded as ft
from kit.plan.config import default_cache_dir
from kit.worker.protocol import ManifestEntry, write_manifest
from tests.conftest import need
from tests.integration.kitrun import kit, kit_env

pytestmark = [pytest.mark.cgroup, pytest.mark.usefixtures("cgroups")]

FT, GIL = "python-threads-ft", "python-threads"
# 12 pi tasks of 4e6 iterations: ~0.2 s each on the GIL build, ~0.5 s free-threaded (no
# specializing interpreter in 3.13t), so the two workers' busy time dwarfs the interpreter's start.
PI = ["--workload", "pi", "--workers", "2", "--items", "12", "--iterations", "4000000", "--metrics-linger", "0"]


@pytest.fixture(scope="module")
def ft_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache dir of the tests' own that holds the machine's build (a symlink: nothing is copied)."""
    build = ft.installed(default_cache_dir())
    need(None if build else f"no free-threaded CPython in {default_cache_dir()}: run `kit setup --free-threaded`")
    assert build is not None
    cache = tmp_path_factory.mktemp("kit-cache-ft")
    ft.root(cache).mkdir()
    (ft.root(cache) / build.prefix.name).symlink_to(build.prefix, target_is_directory=True)
    return cache


def cores_busy(record: dict[str, Any]) -> float:
    """The sandbox's cgroup CPU seconds over its wall time."""
    return float(record["cpu_seconds"]) / float(record["wall_seconds"])


def kept(run: Any, strategy: str) -> dict[str, Any]:
    """The attempt --retry-contended kept (the least disturbed by the machine's other work)."""
    found = [r for r in run.results["results"] if r["strategy"] == strategy and not r["superseded"]]
    assert len(found) == 1, found
    return found[0]


def test_without_the_gil_two_threads_keep_two_cores_busy(tmp_path: Path, ft_cache: Path) -> None:
    run = kit(["run", *PI, "-s", FT, "-s", GIL, "--retry-contended", "3"], tmp_path / "out", ft_cache)
    assert run.returncode == 0, run.stderr
    free, held = kept(run, FT), kept(run, GIL)
    for record in (free, held):
        assert record["status"] == "ok" and record["verified"] is True and record["items_ok"] == 12
    workers = run.results["concurrency"]["workers"]
    assert workers[FT]["gil_enabled"] is False and workers[GIL]["gil_enabled"] is True
    assert workers[FT]["python"].startswith("3.13.") and workers[FT]["python_build"]["gil_disabled_build"] is True
    assert "'--disable-gil'" in workers[FT]["python_build"]["configure_args"]
    assert workers[GIL]["python_build"]["gil_disabled_build"] is False
    assert run.results["environment"]["python_free_threaded"]["configure_flags"] == list(ft.CONFIGURE_FLAGS)
    # On a busy machine the kit flags the record `contended` (others' CPU seconds during it): the
    # message says so, since there two cores were not there to be taken.
    figures = {r["strategy"]: (round(cores_busy(r), 2), r["contended"], r["other_cpu_seconds"]) for r in (free, held)}
    assert cores_busy(free) > 1.5, f"cores busy, contended, others' CPU s: {figures}"
    assert cores_busy(held) < 1.2, f"cores busy, contended, others' CPU s: {figures}"


TASKS = {"count": ["--count-to", "200000"], "io": ["--io-delay", "0.01"],
         "payload": ["--payload-size", "1m", "--mem-limit", "256m"]}


@pytest.mark.parametrize("workload", sorted(TASKS))
def test_the_other_task_workloads_run_and_verify_without_the_gil(workload: str, tmp_path: Path,
                                                                 ft_cache: Path) -> None:
    run = kit(["run", "--workload", workload, "-s", FT, "--workers", "2", "--items", "4", "--metrics-linger", "0",
               *TASKS[workload]], tmp_path / "out", ft_cache)
    assert run.returncode == 0, run.stderr
    record = run.record(FT)
    assert record["status"] == "ok" and record["verified"] is True and record["items_ok"] == 4
    assert run.results["concurrency"]["workers"][FT]["gil_enabled"] is False


def test_images_with_opencv_are_refused_with_the_reason(tmp_path: Path, ft_cache: Path) -> None:
    run = kit(["run", "--workload", "images", "-s", FT, "--images", "2"], tmp_path / "out", ft_cache)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines()[-1].startswith(
        "error: strategy python-threads-ft is not available: no free-threaded (cp313t) OpenCV wheel exists")
    assert "Traceback" not in run.stderr


def test_images_with_pillow_run_and_verify(tmp_path: Path, ft_cache: Path) -> None:
    run = kit(["run", "--workload", "images", "--library", "pillow", "-s", FT, "--workers", "2", "--images", "4",
               "--resolution", "4k", "--metrics-linger", "0"], tmp_path / "out", ft_cache)
    assert run.returncode == 0, run.stderr
    record = run.record(FT)
    assert record["status"] == "ok" and record["verified"] is True and record["items_ok"] == 4
    assert record["library"] == "pillow" and record["verification"]["method"] == "psnr"
    assert record["gil_free_fraction"] is None   # the probe measures the GIL build: not this interpreter's figure
    info = run.results["concurrency"]["workers"][FT]
    assert info["gil_enabled"] is False and info["library_version"] == "12.2.0"   # Pillow kept the GIL off


def test_an_interpreter_with_the_gil_turned_back_on_is_refused_before_running(tmp_path: Path,
                                                                              ft_cache: Path) -> None:
    env = {**kit_env(ft_cache), "PYTHON_GIL": "1"}
    import sys

    done = subprocess.run([sys.executable, "-m", "kit", "run", *PI, "-s", FT, "--runtime", "cgroup",
                           "--metrics-port", "0", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "error: strategy python-threads-ft is not available: the free-threaded interpreter reports the GIL "
        "enabled (PYTHON_GIL=1 in the environment?): unset PYTHON_GIL")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("results.json"))


def test_the_worker_itself_refuses_with_the_gil_on_and_reports_it_off_otherwise(tmp_path: Path,
                                                                                 ft_cache: Path) -> None:
    """The worker on the free-threaded interpreter, as the sandbox runs it (command from the registry)."""
    from kit.runtimes.base import SandboxPaths
    from kit.worker.programs import program

    manifest = tmp_path / "manifest.json"
    write_manifest(manifest, [ManifestEntry(name=f"task-{i}", input="", output=f"task-{i}.json",
                                            task={"count_to": 1000}) for i in range(3)])
    command = program(FT).command("count", 2, "fork", interpreter=ft.interpreter(ft_cache))
    argv = command(SandboxPaths(python="unused", input_root=tmp_path, output_dir=tmp_path / "out",
                                manifest=manifest))
    clean = {key: value for key, value in os.environ.items() if key not in ("PYTHON_GIL", "PYTHONPATH")}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=clean)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    start = next(e for e in events if e.get("event") == "start")
    assert start["concurrency"]["gil_enabled"] is False
    assert sum(1 for e in events if e.get("event") == "item" and e.get("ok")) == 3
    refused = subprocess.run(argv, capture_output=True, text=True, timeout=120, env={**clean, "PYTHON_GIL": "1"})
    assert refused.returncode == 2 and refused.stdout == ""
    assert "the free-threaded interpreter runs with the GIL enabled" in refused.stderr


@pytest.mark.docker
def test_in_the_worker_image_too(tmp_path: Path, ft_cache: Path, docker_engine: Any) -> None:
    """The docker runtime with the image's copy (/opt/python-ft); the image is rebuilt with it when
    it lacks it (minutes, cached layers after)."""
    from kit.build.image import FREE_THREADED_LABEL, BuildOptions, build, default_ca_bundle, image_problem, image_tag

    client = docker_engine
    labels = client.images.get(image_tag()).labels or {} if not image_problem(client) else {}
    if not labels.get(FREE_THREADED_LABEL):
        tags = {tag for image in client.images.list(name="kit-base/*") for tag in image.tags}
        build(BuildOptions(
            python_image="kit-base/python:offline" if "kit-base/python:offline" in tags else None,
            go_image="kit-base/go:offline" if "kit-base/go:offline" in tags else None,
            ca_bundle=default_ca_bundle(), free_threaded=ft.installed_prefix(ft_cache)), client=client)
    run = kit(["run", *PI, "-s", FT, "--runtime", "docker"], tmp_path / "out", ft_cache)
    assert run.returncode == 0, run.stderr
    record = run.record(FT)
    assert record["status"] == "ok" and record["verified"] is True
    info = run.results["concurrency"]["workers"][FT]
    assert info["gil_enabled"] is False and info["python_build"]["gil_disabled_build"] is True
    assert "--prefix=" in info["python_build"]["configure_args"]
