"""Every Python worker runs with the same glibc malloc settings (issue 23, the hot path): the sandbox
sets them, the worker records them, Go's sandboxes get none, and with them a 4K item no longer hands
its heap back to the kernel only to fault it in again for the next item."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from kit.plan import config
from kit.plan.cells import Cell
from kit.run.sandboxes import sandbox_spec
from kit.runtimes.base import worker_env
from kit.worker.main import allocator_settings, concurrency_info
from kit.worker.programs import NAMES, PYTHON_ALLOCATOR_ENV, program
from kit.worker.protocol import ManifestEntry, write_manifest


def test_python_sandboxes_get_the_allocator_settings_and_go_sandboxes_none(tmp_path: Path) -> None:
    run_config = config.build(out=tmp_path, cache_dir=tmp_path / "cache", check_paths=False)
    for name in NAMES:
        spec = sandbox_spec("r", Cell(name, 0, 1, None, None), run_config, tmp_path / "m.json", tmp_path,
                            tmp_path / "out", tmp_path / "logs")
        assert spec.env == (PYTHON_ALLOCATOR_ENV if program(name).language == "python" else {}), name


def test_the_worker_records_the_settings_it_runs_with(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX", "GLIBC_TUNABLES"):
        monkeypatch.delenv(key, raising=False)
    assert allocator_settings() == {}
    for key, value in PYTHON_ALLOCATOR_ENV.items():
        monkeypatch.setenv(key, value)
    assert concurrency_info("python-sequential", 1, "fork", "count")["allocator"] == PYTHON_ALLOCATOR_ENV


def _minor_faults(argv: list[str], env: dict[str, str]) -> int:
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, child.stderr.read() if child.stderr else ""
    return usage.ru_minflt


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the settings are glibc malloc's")
def test_with_the_settings_a_4k_item_does_not_fault_its_frames_in_again(tmp_path: Path) -> None:
    """Minor page faults per item (the kernel's count, not a timing): 4K frames of 25 MB without
    the settings fault ~7,000 pages per item on glibc; with them the heap is kept (~0)."""
    root, out = tmp_path / "in", tmp_path / "out"
    root.mkdir()
    rng = np.random.default_rng(23)
    image = cv2.resize(rng.integers(0, 256, (270, 480, 3), dtype=np.uint8), (3840, 2160),
                       interpolation=cv2.INTER_LINEAR)
    (root / "a.jpg").write_bytes(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    faults = {}
    for count in (2, 6):
        manifest = tmp_path / f"manifest-{count}.json"
        write_manifest(manifest, [ManifestEntry(name=f"{i}", input="a.jpg", output=f"{i}.jpg") for i in range(count)])
        faults[count] = _minor_faults(
            [sys.executable, "-m", "kit.worker", "--strategy", "python-sequential", "--manifest", str(manifest),
             "--input-root", str(root), "--output-dir", str(out), "--sample-interval-ms", "0"],
            worker_env(program("python-sequential").env()))
    per_item = (faults[6] - faults[2]) / 4
    assert per_item < 1500, f"{per_item:.0f} minor faults per 4K item: the heap is handed back between items"
