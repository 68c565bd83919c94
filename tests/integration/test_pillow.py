"""--library pillow through the real CLI on the real cgroup runtime: every Python strategy runs the
Pillow pipeline, its outputs verify by PSNR against the OpenCV reference, and each record names its
library and version; a Go strategy in the same run keeps its own pipeline; misuse is one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.kitrun import kit

pytestmark = [pytest.mark.cgroup, pytest.mark.usefixtures("cgroups")]


def test_python_strategies_run_pillow_and_verify_by_psnr(tmp_path: Path, cache_dir: Path) -> None:
    strategies = ["python-sequential", "python-threads", "python-processes"]
    run = kit(["run", "--library", "pillow", "--images", "4", "--resolution", "2000x1500", "--workers", "2",
               "--metrics-linger", "0", *(arg for name in strategies for arg in ("-s", name))],
              tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    results = run.results
    assert results["workload"]["library"] == "pillow" and results["config"]["library"] == "pillow"
    for name in strategies:
        record = run.record(name)
        assert record["status"] == "ok" and record["verified"] is True, (name, record["message"])
        assert record["library"] == "pillow" and record["library_version"][0].isdigit()
        assert record["verification"]["method"] == "psnr"
        assert record["verification"]["psnr_min_db"] >= record["verification"]["threshold_db"]
        assert results["concurrency"]["workers"][name]["library"] == "pillow"
    assert "gil_probe" in results["concurrency"]   # the probe measured the Pillow pipeline
    assert "4 items (pillow)" in run.stdout


def test_library_misuse_is_one_line_and_exit_2(tmp_path: Path, cache_dir: Path) -> None:
    run = kit(["run", "--library", "pil"], tmp_path / "a", cache_dir)
    assert run.returncode == 2 and "unknown library 'pil'" in run.stderr and "Traceback" not in run.stderr
    run = kit(["run", "--workload", "pi", "--library", "pillow"], tmp_path / "b", cache_dir)
    assert run.returncode == 2 and "only the images workload" in run.stderr and "Traceback" not in run.stderr
