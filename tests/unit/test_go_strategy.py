"""The Go strategy layer without Go: command line, binary location, availability reasons, and
the PSNR verification that Go outputs get instead of byte equality."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from kit.build import go
from kit.build.availability import unavailable_reason
from kit.build.image import BIN_DIR
from kit.plan.inputs import Batch
from kit.results.verify import PSNR_IDENTICAL_DB, PSNR_THRESHOLD_DB, Reference, psnr_db, verify_outputs
from kit.runtimes.base import SandboxPaths
from kit.worker.programs import names, program
from kit.worker.protocol import ManifestEntry

GO_STRATEGIES, PYTHON_STRATEGIES = names("go"), names("python")
PATHS = SandboxPaths(python="/venv/bin/python", input_root=Path("/in"), output_dir=Path("/out"),
                     manifest=Path("/run/manifest.json"))


def test_go_command_has_the_python_workers_arguments() -> None:
    argv = program("go-gocv").command("images", 4, "fork", host_bin_dir=Path("/cache/go-bin/abc"))(PATHS)
    python = program("python-threads").command("images", 4, "fork")(PATHS)
    assert argv[0] == "/cache/go-bin/abc/go-gocv"
    assert argv[1::2] == python[3::2]                     # the same options, in the same order
    assert dict(zip(argv[1::2], argv[2::2], strict=True))["--workers"] == "4"


def test_go_command_in_a_container_uses_the_images_bin_dir() -> None:
    paths = SandboxPaths(python="python", input_root=Path("/in"), output_dir=Path("/out"),
                         manifest=Path("/m.json"), bin_dir=BIN_DIR)
    argv = program("go-native").command("images", 2, "fork", host_bin_dir=Path("/host/bin"))(paths)
    assert argv[0] == "/opt/kit/bin/go-native"


def test_binaries_are_keyed_by_the_go_sources(tmp_path: Path) -> None:
    root = go.source_dir()
    assert root is not None, "the checkout's go/ module"
    copy = tmp_path / "go"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns(".*"))
    before = go.source_digest(copy)
    assert before == go.source_digest(root)
    (copy / "internal" / "geometry" / "geometry.go").write_text("package geometry\n")
    assert go.source_digest(copy) != before
    (copy / "notes.txt").write_text("not a source")      # only Go sources count
    assert go.bin_dir(tmp_path, copy) == tmp_path / "go-bin" / go.source_digest(copy)


def test_unbuilt_go_strategies_say_the_exact_command_that_gets_them(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    native = unavailable_reason("go-native", "cgroup", tmp_path)
    assert native and "kit setup" in native and "kit build --target host" in native
    monkeypatch.setattr(go, "opencv_dev_files", lambda: False)
    gocv = unavailable_reason("go-gocv", "cgroup", tmp_path)
    assert gocv and "sudo .venv/bin/kit setup --with-deps" in gocv and "OpenCV" in gocv
    monkeypatch.setattr(go, "opencv_dev_files", lambda: True)
    assert "kit setup" in (unavailable_reason("go-gocv", "cgroup", tmp_path) or "")


def test_a_failed_host_build_is_the_reason(tmp_path: Path) -> None:
    directory = go.bin_dir(tmp_path)
    assert directory is not None
    directory.mkdir(parents=True)
    (directory / "go-native").write_bytes(b"binary")
    (directory / "go-gocv.unavailable").write_text("opencv2/core.hpp: No such file\n")
    assert unavailable_reason("go-native", "cgroup", tmp_path) is None
    assert "opencv2/core.hpp" in (unavailable_reason("go-gocv", "cgroup", tmp_path) or "")


def test_go_outputs_are_checked_by_psnr_python_outputs_by_bytes() -> None:
    assert {program(s).output_check() for s in GO_STRATEGIES} == {"psnr"}
    assert {program(s).output_check() for s in PYTHON_STRATEGIES} == {"sha256"}
    # --library pillow: another decoder and encoder than the reference's, so PSNR for every strategy
    assert {program(s).output_check("pillow") for s in GO_STRATEGIES + PYTHON_STRATEGIES} == {"psnr"}


def test_gocv_build_links_only_opencv_modules_gocv_binds() -> None:
    env = go.build_env("go-gocv")
    assert "-lopencv_core" in env["CGO_LDFLAGS"] and "-I/usr/include/opencv4" in env["CGO_CPPFLAGS"]
    assert go.build_env("go-native")["CGO_ENABLED"] == "0"     # pure Go, static
    assert "customenv" in go.build_argv("go", "go-gocv", Path("/o"))


def test_psnr() -> None:
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    assert psnr_db(a, b) == PSNR_IDENTICAL_DB
    b[0, 0, 0] = 255                                   # MSE = 255^2 / 48
    assert psnr_db(a, b) == pytest.approx(10 * np.log10(48))


def _photo(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.resize(rng.integers(0, 255, (9, 16, 3), dtype=np.uint8), (width, height))


def _write(path: Path, image: np.ndarray, quality: int = 85) -> None:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    path.write_bytes(data.tobytes())


@pytest.fixture()
def setup(tmp_path: Path) -> tuple[Batch, Reference, Path, np.ndarray]:
    reference_dir, output_dir = tmp_path / "ref", tmp_path / "out"
    reference_dir.mkdir()
    output_dir.mkdir()
    image = _photo(320, 180, 1)
    _write(reference_dir / "a.jpg", image)
    entries = [ManifestEntry("a.jpg", "a.jpg", "a.jpg"), ManifestEntry("bad.jpg", "bad.jpg", "bad.jpg")]
    batch = Batch(input_root=tmp_path, entries=entries, digests={"a.jpg": "x", "bad.jpg": "y"}, description={})
    return batch, Reference(reference_dir, {"a.jpg": "digest", "bad.jpg": None}), output_dir, image


Setup = tuple[Batch, Reference, Path, np.ndarray]


def test_another_encoders_output_passes_with_its_psnr_recorded(setup: Setup) -> None:
    batch, reference, output_dir, image = setup
    _write(output_dir / "a.jpg", image, quality=80)      # other bytes, the same picture
    verified, detail = verify_outputs(batch, reference, output_dir, "psnr")
    assert verified, detail
    assert detail["method"] == "psnr" and detail["threshold_db"] == PSNR_THRESHOLD_DB
    assert PSNR_THRESHOLD_DB < detail["psnr_min_db"] == detail["psnr_mean_db"] < PSNR_IDENTICAL_DB
    assert verify_outputs(batch, reference, output_dir)[0] is False   # bytes differ


@pytest.mark.parametrize("fault", ["swapped-channels", "other-size", "missing", "unexpected", "grey"])
def test_wrong_outputs_fail(setup: Setup, fault: str) -> None:
    batch, reference, output_dir, image = setup
    if fault == "swapped-channels":
        _write(output_dir / "a.jpg", image[:, :, ::-1])
    elif fault == "other-size":
        _write(output_dir / "a.jpg", cv2.resize(image, (321, 180)))
    elif fault == "grey":
        grey = image.copy()
        grey[90:] = 128                                  # what a decoder makes of a truncated file
        _write(output_dir / "a.jpg", grey)
    elif fault == "unexpected":
        _write(output_dir / "a.jpg", image)
        _write(output_dir / "bad.jpg", image)          # the reference failed this item
    verified, detail = verify_outputs(batch, reference, output_dir, "psnr")
    assert verified is False
    key = {"swapped-channels": "below_threshold", "other-size": "dimensions", "missing": "missing",
           "unexpected": "unexpected", "grey": "below_threshold"}[fault]
    assert detail[key] == 1, detail


def test_build_target_is_image_or_host() -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "kit", "build", "--target", "laptop"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: --target 'laptop': choose image or host"]


def test_run_lists_what_each_runtime_can_run(tmp_path: Path) -> None:
    from kit.run.choose import availability_lines

    lines = availability_lines("cgroup", tmp_path)
    assert lines[0].startswith("strategies available on cgroup: python-sequential")
    assert "go-native" not in lines[0]
    missing = {line.split()[0]: line for line in lines[1:]}
    # python-threads-ft (issue 16) is refused on images with OpenCV whatever is built
    assert set(missing) == {*GO_STRATEGIES, "python-threads-ft"}
    assert all("kit build --target host" in missing[name] for name in GO_STRATEGIES)
    assert "no free-threaded (cp313t) OpenCV wheel" in missing["python-threads-ft"]
    pi = availability_lines("cgroup", tmp_path, "pi")
    assert any(line.startswith("  go-gocv") and "runs on go-native" in line for line in pi[1:])
    io = availability_lines("cgroup", tmp_path, "io")
    assert any(line.startswith("  go-native") and "not io" in line for line in io[1:])
