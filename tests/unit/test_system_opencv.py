"""The distribution's OpenCV for the Python strategies on the host (kit/build/system_opencv.py): when
it is chosen (its cv2 is the OpenCV go-gocv links here), what the worker's command then is (on the
host and in the image), and why not otherwise. The choice itself is pure (`judge`); the probe runs
on a stand-in interpreter (a script printing what a real one would) and, where this machine has
python3-opencv, on the real /usr/bin/python3."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from kit.build import system_opencv as so
from kit.run.sandboxes import worker_command
from kit.runtimes.base import SandboxPaths
from kit.worker.programs import Interpreter, WorkerCommand, program
from tests.conftest import need

DEBIAN = {"opencv": "4.6.0", "libjpeg": "/usr/lib/x86_64-linux-gnu/libjpeg.so (ver 62)",
          "jpeg_library": "libjpeg-turbo 2.1.5", "numpy": "1.24.2",
          "core_library": "/usr/lib/x86_64-linux-gnu/libopencv_core.so.4.6.0"}
CORE_406 = "/usr/lib/x86_64-linux-gnu/libopencv_core.so.4.6.0"
LDD = """\tlinux-vdso.so.1 (0x00007ffd1c1e4000)
\tlibopencv_stitching.so.406 => /lib/x86_64-linux-gnu/libopencv_stitching.so.406 (0x00007f6303c00000)
\tlibopencv_core.so.406 => /lib/x86_64-linux-gnu/libopencv_core.so.406 (0x00007f6303800000)
\tlibjpeg.so.62 => /lib/x86_64-linux-gnu/libjpeg.so.62 (0x00007f6301513000)
"""


def test_the_version_comes_from_the_core_librarys_file_name() -> None:
    assert so.core_version(CORE_406) == "4.6.0"
    assert so.core_version("/usr/local/lib/libopencv_core.so.4.10.0") == "4.10.0"
    assert so.core_version("/usr/lib/libopencv_core.so.406") is None        # a soname, not a release
    assert so.core_version(None) is None
    assert so.linked_core(LDD) == "/lib/x86_64-linux-gnu/libopencv_core.so.406"
    assert so.linked_core("\tnot a dynamic executable\n") is None


def test_the_same_version_on_both_sides_chooses_the_distributions_opencv() -> None:
    chosen = so.judge(Path("/usr/bin/python3"), DEBIAN, "", CORE_406, "ldd go-gocv")
    assert chosen.problem is None
    assert (chosen.opencv, chosen.gocv_opencv, chosen.jpeg_library) == ("4.6.0", "4.6.0", "libjpeg-turbo 2.1.5")


def test_otherwise_it_says_why_in_one_line() -> None:
    python = Path("/usr/bin/python3")
    other = so.judge(python, {**DEBIAN, "opencv": "4.10.0"}, "", CORE_406, "ldd go-gocv")
    assert other.problem == (f"/usr/bin/python3's cv2 is OpenCV 4.10.0, while go-gocv links OpenCV 4.6.0 ({CORE_406})")
    missing = so.judge(python, None, "/usr/bin/python3 cannot load the images pipeline (ModuleNotFoundError: "
                       "No module named 'cv2')", CORE_406, "dev files")
    assert missing.problem is not None and missing.problem.endswith(
        "run `sudo .venv/bin/kit setup --with-deps` (it installs python3-opencv and python3-numpy)")
    unknown = so.judge(python, DEBIAN, "", None, None)
    assert unknown.problem is not None and "go-gocv's OpenCV is unknown here" in unknown.problem
    for problem in (other.problem, missing.problem, unknown.problem):
        assert "\n" not in problem


def _stand_in(tmp_path: Path, printed: dict[str, str]) -> Path:
    """An interpreter that prints what the probe's code prints on Debian 12, and records its environment."""
    script = tmp_path / "python3"
    script.write_text(f"#!/bin/sh\nenv > {tmp_path}/env\necho '{json.dumps(printed)}'\n")
    script.chmod(0o755)
    return script


def test_the_probe_runs_the_interpreter_with_only_the_kit_on_its_path(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", "/somewhere/site-packages")
    found, why = so.probe_python(_stand_in(tmp_path, DEBIAN), tmp_path / "cache")
    assert found == DEBIAN and why == ""
    seen = dict(line.split("=", 1) for line in (tmp_path / "env").read_text().splitlines() if "=" in line)
    kit_dir = Path(seen["PYTHONPATH"])
    assert [p.name for p in kit_dir.iterdir()] == ["kit"] and str(kit_dir).startswith(str(tmp_path / "cache"))


def test_a_failing_interpreter_is_a_reason(tmp_path: Path) -> None:
    script = tmp_path / "python3"
    script.write_text("#!/bin/sh\necho 'Traceback (most recent call last):' >&2\n"
                      "echo \"ModuleNotFoundError: No module named 'cv2'\" >&2\nexit 1\n")
    script.chmod(0o755)
    found, why = so.probe_python(script, tmp_path / "cache")
    assert found is None
    assert why == f"{script} cannot load the images pipeline (ModuleNotFoundError: No module named 'cv2')"


def test_the_linker_path_is_the_dev_files_when_no_go_gocv_is_built(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "libopencv_core.so.4.6.0").write_bytes(b"")
    os.symlink("libopencv_core.so.4.6.0", lib / "libopencv_core.so.406")
    os.symlink("libopencv_core.so.406", lib / "libopencv_core.so")
    path, source = so.gocv_core(tmp_path / "cache", (str(tmp_path / "none"), str(lib)))
    assert path == str(lib / "libopencv_core.so.4.6.0") and source is not None and "dev files" in source
    assert so.gocv_core(tmp_path / "cache", (str(tmp_path / "none"),)) == (None, None)


def test_the_python_strategies_run_on_it_on_the_host_and_on_the_images_own_python_in_containers(
        tmp_path: Path) -> None:
    chosen = Interpreter(host_python="/usr/bin/python3", host_kit_path="/cache/python-ft/kit-path/abc")
    command = program("python-processes").command("images", 2, "spawn", interpreter=chosen)
    assert isinstance(command, WorkerCommand)
    host = command(SandboxPaths(python=sys.executable, input_root=tmp_path, output_dir=tmp_path / "o",
                                manifest=tmp_path / "m.json"))
    assert host[:6] == ["env", "PYTHONPATH=/cache/python-ft/kit-path/abc", "/usr/bin/python3", "-s", "-m",
                        "kit.worker"]
    image = command(SandboxPaths(python="/opt/venv/bin/python", input_root=Path("/in"), output_dir=Path("/out"),
                                 manifest=Path("/m.json"), bin_dir=Path("/opt/kit/bin")))
    assert image[:3] == ["/opt/venv/bin/python", "-m", "kit.worker"]


def test_only_the_opencv_images_pipeline_of_the_gil_build_asks_for_it(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from kit.plan.cells import Cell
    from kit.plan.config import RunConfig

    asked: list[Path] = []
    chosen = Interpreter(host_python="/usr/bin/python3", host_kit_path="/k")
    monkeypatch.setattr(so, "interpreter", lambda cache_dir: asked.append(cache_dir) or chosen)
    paths = SandboxPaths(python=sys.executable, input_root=tmp_path, output_dir=tmp_path, manifest=tmp_path / "m")
    cell = Cell("python-threads", 0, 2, None, None)
    config = RunConfig(cache_dir=tmp_path)
    assert worker_command(cell, config)(paths)[2] == "/usr/bin/python3"
    for other in (RunConfig(cache_dir=tmp_path, library="pillow"), RunConfig(cache_dir=tmp_path, workload="pi")):
        assert worker_command(cell, other)(paths)[:3] == [sys.executable, "-m", "kit.worker"]
    go_cell = Cell("go-gocv", 0, 2, None, None)
    assert "kit.worker" not in worker_command(go_cell, config)(paths)
    assert asked == [tmp_path]


def test_on_this_machine_debians_opencv_is_chosen_when_it_matches_go_gocv() -> None:
    """Debian 12 with python3-opencv and OpenCV's dev files (`kit setup --with-deps`): 4.6.0 both sides."""
    from kit.plan.config import default_cache_dir

    if not Path("/usr/lib/python3/dist-packages/cv2.cpython-311-x86_64-linux-gnu.so").exists():
        need("Debian's python3-opencv is not installed: run `sudo .venv/bin/kit setup --with-deps`")
    found = so.probe(default_cache_dir())
    assert found.opencv == "4.6.0" and found.jpeg_library == "libjpeg-turbo 2.1.5", found
    if found.gocv_opencv is None:
        need("no go-gocv build nor OpenCV dev files here")
    assert found.problem is None and found.gocv_opencv == "4.6.0"
    chosen = so.interpreter(default_cache_dir())
    assert chosen is not None and chosen.host_python == "/usr/bin/python3"
    assert so.probe(default_cache_dir()) is found        # probed once per process


def test_kit_setup_says_which_opencv_the_python_strategies_run_in_one_line() -> None:
    chosen = so.judge(Path("/usr/bin/python3"), DEBIAN, "", CORE_406, "ldd go-gocv")
    assert so.summary(chosen) == ("Python strategies' OpenCV here: /usr/bin/python3's cv2 4.6.0 with libjpeg-turbo "
                                  "2.1.5, the build go-gocv links (like for like on claim 3)")
    other = so.judge(Path("/usr/bin/python3"), {**DEBIAN, "opencv": "4.10.0"}, "", CORE_406, "ldd go-gocv")
    assert so.summary(other) == f"Python strategies' OpenCV here: the venv's, not the distribution's: {other.problem}"


def test_the_gil_probe_and_benches_can_start_the_same_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = Interpreter(host_python="/usr/bin/python3", host_kit_path="/cache/kit-path/abc")
    monkeypatch.setattr(so, "interpreter", lambda cache_dir: chosen)
    assert so.python_argv(tmp_path) == ["env", "PYTHONPATH=/cache/kit-path/abc", "/usr/bin/python3", "-s"]
    monkeypatch.setattr(so, "interpreter", lambda cache_dir: None)
    assert so.python_argv(tmp_path) == [sys.executable]
