"""The worker image's recipe and identity, without an engine: context, digest, Dockerfile, lock."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import kit
from kit.build.image import assemble_context, image_tag, package_root, source_digest, source_files
from kit.run.choose import select_runtime as select
from kit.runtimes.docker import container_name

CONTAINER = package_root() / "container"


def test_the_source_digest_follows_content_and_names_not_caches(tmp_path: Path) -> None:
    tree = tmp_path / "kit"  # the package alone (its Go sources, kit/go/, included)
    shutil.copytree(package_root(), tree, ignore=shutil.ignore_patterns("__pycache__"))
    before = source_digest(tree)
    (tree / "__pycache__").mkdir(exist_ok=True)
    (tree / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"compiled")
    (tree / ".hidden").write_text("editor state")
    assert source_digest(tree) == before
    (tree / "worker" / "main.py").write_text((tree / "worker" / "main.py").read_text() + "\n")
    changed = source_digest(tree)
    assert changed != before and changed.startswith("sha256:")
    (tree / "worker" / "main.py").rename(tree / "worker" / "main2.py")
    assert source_digest(tree) != changed


def test_the_context_has_the_checkouts_layout(tmp_path: Path) -> None:
    bundle = tmp_path / "proxy-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    context = tmp_path / "context"
    context.mkdir()
    assemble_context(context, ca_bundle=bundle)
    assert (context / "Dockerfile").read_text() == (CONTAINER / "Dockerfile").read_text()
    assert (context / "kit" / "container" / "requirements.lock").is_file()
    assert (context / "ca-bundle.crt").read_text() == bundle.read_text()
    copied = sorted(p.relative_to(context / "kit") for p in (context / "kit").rglob("*") if p.is_file())
    assert copied == source_files()
    assert not list(context.rglob("__pycache__"))
    assert source_digest(context / "kit") == source_digest()
    assert (context / "kit" / "go" / "go.mod").is_file()     # the Go workers' sources are package data


def test_the_lock_holds_every_dependency_the_worker_imports() -> None:
    """requirements.in mirrors pyproject's dependencies, minus the controller-only ones it names."""
    import tomllib

    project = tomllib.loads((package_root().parent / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=!~ ;\[]", dep, maxsplit=1)[0].lower() for dep in project["dependencies"]}
    lock = (CONTAINER / "requirements.lock").read_text().lower()
    listed = (CONTAINER / "requirements.in").read_text()
    controller_only = set(re.findall(r"^# controller-only: (\S+)", listed, re.M))
    assert {name for name in names if f"\n{name}==" not in lock} == controller_only


def test_the_dockerfile_suits_the_legacy_builder_and_pins_its_bases() -> None:
    text = (CONTAINER / "Dockerfile").read_text()
    instructions = [line for line in text.splitlines() if not line.startswith("#")]
    assert not [line for line in instructions if "--mount" in line or "<<" in line]  # BuildKit-only
    defaults = dict(re.findall(r"^ARG (PYTHON_IMAGE|GO_IMAGE)=(\S+)$", text, re.M))
    assert set(defaults) == {"PYTHON_IMAGE", "GO_IMAGE"}
    for image in defaults.values():
        assert re.fullmatch(r"[a-z0-9.-]+:[\w.-]+@sha256:[0-9a-f]{64}", image), image
    assert "--require-hashes" in text and "USER 65532:65532" in text
    root = package_root().parent / "Dockerfile"
    if root.exists():  # a checkout: plain `docker build .` uses the same file
        assert root.read_text() == text


def test_every_locked_package_is_pinned_with_hashes() -> None:
    lock = (CONTAINER / "requirements.lock").read_text()
    blocks = re.split(r"\n(?=[a-z0-9])", lock.split("\n\n", 1)[1].strip())
    assert len(blocks) >= 10
    for block in blocks:
        assert re.match(r"[a-z0-9._-]+==[\w.]+ \\", block), block[:80]
        assert "--hash=sha256:" in block, block[:80]
    assert "opencv-python-headless==" in lock and "numpy==" in lock


def test_image_and_container_names() -> None:
    assert image_tag() == f"kit-worker:{kit.__version__}"
    assert container_name("20261123-1200-ab12-python-threads-x2-r0") == "kit-20261123-1200-ab12-python-threads-x2-r0"
    assert container_name("a/b c") == "kit-a-b-c"


def test_docker_without_an_engine_says_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from kit.core.errors import RuntimeUnavailable

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(RuntimeUnavailable, match="--runtime cgroup"):
        select("docker")


def _kit(args: list[str], docker_host: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": docker_host, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "kit", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_kit_build_without_an_engine_is_one_line_and_exit_1(tmp_path: Path) -> None:
    done = _kit(["build"], f"unix://{tmp_path}/no-engine.sock")
    assert done.returncode == 1
    assert done.stderr.startswith("error: no Docker engine answers at unix://")
    assert len(done.stderr.strip().splitlines()) == 1 and "--runtime cgroup" in done.stderr


def test_doctor_warns_about_the_engine_and_the_image_without_failing_for_them(tmp_path: Path) -> None:
    done = _kit(["doctor", "--metrics-port", "0"], f"unix://{tmp_path}/no-engine.sock")
    lines = done.stdout.splitlines()
    # optional extras (issue 26): listed apart from what runs need, not set up rather than wrong
    extras = lines.index(next(line for line in lines if line.startswith("optional extras")))
    assert all(not line.startswith(" -- ") for line in lines[:extras]), done.stdout
    assert any(line.startswith(" --  Docker engine at unix://") for line in lines), done.stdout
    assert any(line.startswith(f" --  worker image {image_tag()} current") for line in lines), done.stdout
    assert not any(line.startswith("warn") and ("Docker" in line or "free-threaded" in line) for line in lines)
    assert "Traceback" not in done.stderr


# ---- the image's Python side: Debian's OpenCV, the lock's other wheels (issue 23) ---------------


def test_the_image_lock_is_the_worker_lock_without_numpy_and_opencv() -> None:
    from kit.build.lockfile import pins, without

    lock = (CONTAINER / "requirements.lock").read_text()
    filtered = without(lock, ["numpy", "OpenCV_Python.Headless"])          # names compare as pip's do
    kept = [pin for pin in pins(lock) if not pin.startswith(("numpy==", "opencv-python-headless=="))]
    assert pins(filtered) == kept and len(kept) == len(pins(lock)) - 2
    assert "numpy" not in filtered.split("# via", 1)[0] and "opencv" not in "".join(pins(filtered))
    for block in re.split(r"\n(?=[a-z0-9])", lock.split("\n\n", 1)[1].strip()):   # whole, hashes included
        dropped = block.startswith(("numpy==", "opencv-python-headless=="))
        assert (block in filtered) is not dropped and "--hash=sha256:" in block
    assert filtered.startswith(lock.split("\n\n", 1)[0])               # the header comment stays
    assert without(lock, []) == lock


def test_the_lock_filter_runs_alone_as_the_dockerfile_runs_it(tmp_path: Path) -> None:
    import subprocess
    import sys

    from kit.build import lockfile

    done = subprocess.run([sys.executable, "-I", lockfile.__file__, str(CONTAINER / "requirements.lock"), "numpy",
                           "opencv-python-headless"], capture_output=True, text=True, timeout=60, check=True,
                          cwd=tmp_path)
    assert done.stdout == lockfile.without((CONTAINER / "requirements.lock").read_text(),
                                           ["numpy", "opencv-python-headless"])


def test_the_images_python_strategies_run_debians_opencv_in_a_venv_of_debians_python() -> None:
    """The same build as go-gocv (bookworm's libopencv 4.6): python3-opencv in the final stage, a venv
    of /usr/bin/python3 (not the base image's own Python) with the system site-packages, and the
    lock minus the two pins Debian's packages replace."""
    text = (CONTAINER / "Dockerfile").read_text()
    final = text[text.rindex("\nFROM ${PYTHON_IMAGE}\n"):]
    assert re.search(r"apt-get install[^&]*python3-opencv python3-numpy", final)
    assert "/usr/bin/python3 -m venv --system-site-packages /opt/venv" in text
    assert "lockfile.py /opt/kit-build/requirements.lock numpy opencv-python-headless" in text
    assert "--require-hashes \\\n        -r /opt/kit-build/image.lock" in text
    assert "COPY --from=python-build /opt/venv /opt/venv" in final


def test_the_generator_lock_is_the_two_pins_the_venv_leaves_out() -> None:
    from kit.build.lockfile import only, pins, without

    lock = (CONTAINER / "requirements.lock").read_text()
    generator = only(lock, ["numpy", "opencv-python-headless"])
    assert [pin.split("==")[0] for pin in pins(generator)] == ["numpy", "opencv-python-headless"]
    assert sorted(pins(generator) + pins(without(lock, ["numpy", "opencv-python-headless"]))) == sorted(pins(lock))
    assert generator.count("--hash=sha256:") == sum(block.count("--hash=sha256:") for block in re.split(
        r"\n(?=[a-z0-9])", lock) if block.startswith(("numpy==", "opencv-python-headless==")))
