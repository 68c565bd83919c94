"""Decompression bombs and bad files are judged by the controller from their bytes and headers,
outside timing: they become failed items with reasons, are never decoded (the reference maker
skips them), and the controller stays small while preparing (measured in a child process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from jpeg_samples import bad_batch

MiB = 2**20

PREPARE = """
import json, sys
from pathlib import Path
from kit.plan import config
from kit.plan.inputs import prepare
from kit.results.verify import make_reference
plan = config.build(source=Path(sys.argv[1]), cache_dir=Path(sys.argv[2]))
batch = prepare(plan)
reference = make_reference(batch, Path(sys.argv[2]) / "reference")
peak = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"problems": reference.problems, "digests": reference.digests, "peak_rss_bytes": peak,
                  "manifest": {e.name: e.problem for e in batch.entries}, "inputs": batch.description}))
"""


def test_the_controller_judges_bad_files_and_bombs_without_decoding_them(tmp_path: Path) -> None:
    expected = bad_batch(tmp_path / "src")
    done = subprocess.run([sys.executable, "-c", PREPARE, str(tmp_path / "src"), str(tmp_path / "cache")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    found = json.loads(done.stdout)
    for name, reason in expected.items():
        verdict = found["manifest"][name]
        if reason is None:
            assert verdict is None and found["digests"][name] is not None, name
        else:
            assert verdict is not None and verdict.startswith(reason), (name, verdict)
            assert found["digests"][name] is None, name     # no reference output: the item must fail
    assert found["inputs"]["inputs_rejected"] == 5 and found["inputs"]["max_pixels"] == 100_000_000
    assert not (tmp_path / "cache" / "reference" / "f-bomb-30000.jpg").exists()   # never decoded


def test_the_controller_stays_small_while_preparing_a_batch_of_bombs(tmp_path: Path) -> None:
    """A 30000x30000 frame decodes into 2.6 GiB (5.2 GiB peak in OpenCV here); the controller's
    peak RSS while reading, judging and making the reference stays under 300 MiB (the preparing
    process's own VmHWM: ru_maxrss would also count the pre-exec copy of the test process)."""
    bad_batch(tmp_path / "src")
    done = subprocess.run([sys.executable, "-c", PREPARE, str(tmp_path / "src"), str(tmp_path / "cache")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    peak_bytes = json.loads(done.stdout)["peak_rss_bytes"]
    assert 20 * MiB < peak_bytes < 300 * MiB, f"peak RSS {peak_bytes / MiB:.0f} MiB while preparing"
