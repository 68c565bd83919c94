"""Issue 14 for real: full disks (small tmpfs mounts), incomplete outputs and --skip-current,
hostile paths and absurd values. Real `kit` processes, real cgroups."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kit.plan.input_check import jpeg_problem
from tests.integration.kitrun import kit

pytestmark = [pytest.mark.cgroup, pytest.mark.usefixtures("cgroups")]

# Generated 4K images fitted to 1920x1080 make outputs of about 0.7 MB each.
FOUR_K = ["--resolution", "4k", "--distinct-images", "2"]


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs: room for four outputs."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert "Traceback" not in stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def test_a_full_out_disk_is_one_line_exit_1_and_finished_records_stay(small_disk: Path, cache_dir: Path) -> None:
    """Defect 5: the first strategy's three outputs fit, the second's do not."""
    run = kit(["run", "-s", "python-sequential", "-s", "python-threads", "--images", "3", *FOUR_K], small_disk,
              cache_dir)
    assert run.returncode == 1, run.stderr
    line = _one_error_line(run.stderr)
    assert str(small_disk) in line and ("No space left" in line or "no space left" in line)
    records = {r["strategy"]: r for r in run.results["results"]}
    assert records["python-sequential"]["status"] == "ok" and records["python-sequential"]["verified"] is True
    if "python-threads" in records:  # its record fitted too
        assert records["python-threads"]["status"] == "failed"


def test_a_full_output_dir_stops_the_run_and_leaves_no_partial_output(small_disk: Path, tmp_path: Path,
                                                                       cache_dir: Path) -> None:
    """Defect 6: not a silent exit 0 with every item failed, and no 0-byte or truncated JPEG."""
    run = kit(["run", "-s", "python-sequential", "--images", "8", *FOUR_K, "--output-dir", str(small_disk)],
              tmp_path / "out", cache_dir)
    assert run.returncode == 1, run.stderr
    line = _one_error_line(run.stderr)
    assert str(small_disk) in line
    [record] = run.results["results"]
    assert record["status"] == "failed" and "No space left on device" in record["message"]
    files = list((small_disk / "python-sequential").iterdir())
    assert files and len(files) < 8
    for path in files:
        assert not path.name.startswith("."), f"temporary file left: {path.name}"
        assert jpeg_problem(path.read_bytes()) is None, f"incomplete output: {path.name}"


def test_skip_current_makes_a_truncated_output_again(tmp_path: Path, cache_dir: Path) -> None:
    """Defect 6: an output cut short after it was written is not current, and the rerun repairs it."""
    outputs = tmp_path / "thumbs"
    args = ["run", "-s", "python-sequential", "--images", "3", "--distinct-images", "3", "--resolution", "720p",
            "--output-dir", str(outputs), "--skip-current"]
    first = kit(args, tmp_path / "out1", cache_dir)
    assert first.returncode == 0, first.stderr
    victim = sorted((outputs / "python-sequential").iterdir())[1]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 3])   # newer than its source, but incomplete
    second = kit(args, tmp_path / "out2", cache_dir)
    assert second.returncode == 0, second.stderr
    record = second.record("python-sequential")
    assert record["items_skipped"] == 2 and record["items_ok"] == 1 and record["verified"] is True
    assert victim.read_bytes() == data


def test_path_errors_are_one_line_and_exit_2(tmp_path: Path, cache_dir: Path) -> None:
    """Defect 7: a file where a directory is wanted, for --out and for --output-dir."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    for args, out in [([], a_file), ([], a_file / "below"), (["--output-dir", str(a_file)], tmp_path / "out"),
                      (["--output-dir", str(a_file / "below")], tmp_path / "out")]:
        run = kit(["run", "-s", "python-sequential", "--images", "1", *args], out, cache_dir)
        assert run.returncode == 2, (args, out, run.stderr)
        line = _one_error_line(run.stderr)
        assert str(a_file) in line, line
    assert not (tmp_path / "out").exists()


def test_absurd_values_are_one_line_and_exit_2(tmp_path: Path, cache_dir: Path) -> None:
    """Defect 8: an unbounded batch, a cap beyond what the kernel stores, an empty size, an
    infinite or absurd timeout."""
    cases = [["--images", "99999999999999999999"], ["--images", "100001"], ["--mem-limit", "99999999999g"],
             ["--mem-limit", ""], ["--mem-limit", " "], ["--timeout", "inf"], ["--timeout", "nan"],
             ["--timeout", "1e12"]]
    for args in cases:
        run = kit(["run", "-s", "python-sequential", *args], tmp_path / "out", cache_dir, timeout=60)
        assert run.returncode == 2, (args, run.stderr)
        _one_error_line(run.stderr)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_cap_beyond_the_machines_memory_runs_with_a_warning(tmp_path: Path, cache_dir: Path) -> None:
    run = kit(["run", "-s", "python-sequential", "--images", "1", "--distinct-images", "1", "--resolution", "720p",
               "--mem-limit", "99999999g"], tmp_path / "out", cache_dir)
    assert run.returncode == 0, run.stderr
    assert "more than this machine's" in run.stderr
    assert any("more than this machine's" in w for w in run.results["warnings"])
    assert json.loads((run.run_dir / "results.json").read_text())["results"][0]["status"] == "ok"


def test_skip_current_remakes_another_images_output_under_the_right_name(tmp_path: Path, cache_dir: Path) -> None:
    """Issue 25 defect 11: an output that fails verification is not current, whatever its date and
    however complete a JPEG it is: the rerun remakes it and the record is verified."""
    outputs = tmp_path / "thumbs"
    args = ["run", "-s", "python-sequential", "--images", "4", "--distinct-images", "4", "--resolution", "720p",
            "--output-dir", str(outputs)]
    first = kit(args, tmp_path / "out1", cache_dir)
    assert first.returncode == 0, first.stderr
    made = sorted((outputs / "python-sequential").iterdir())
    good = made[1].read_bytes()
    made[1].write_bytes(made[2].read_bytes())   # another image's output, newer than the source
    second = kit([*args, "--skip-current"], tmp_path / "out2", cache_dir)
    assert second.returncode == 0, second.stderr
    record = second.record("python-sequential")
    assert record["items_skipped"] == 3 and record["items_ok"] == 1 and record["verified"] is True
    assert made[1].read_bytes() == good


def test_an_out_on_a_read_only_mount_is_refused_before_any_work(tmp_path: Path, cache_dir: Path) -> None:
    """Issue 25 defect 8: root passes os.access everywhere; a read-only mount and /proc are usage
    errors (exit 2, one line) before any work, not exit 1 minutes later."""
    mount = tmp_path / "ro"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        for out in (mount / "reports", Path("/proc")):
            run = kit(["run", "-s", "python-sequential", "--images", "1"], out, cache_dir, timeout=60)
            assert run.returncode == 2, (out, run.stderr)
            assert str(out.parent if out.parent == mount else out) in _one_error_line(run.stderr)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_the_largest_generated_frame_keeps_the_controller_under_1_gib(tmp_path: Path) -> None:
    """Issue 25 defect 7: 10000x10000 (100 Mpx, the most --max-pixels accepts by default) was 3 GiB
    of float layers; rendered smaller and scaled up it stays under 1 GiB."""
    import os
    import sys

    process = subprocess.Popen([sys.executable, "-m", "kit", "data", "--count", "1", "--resolution", "10000x10000"],
                               stdout=subprocess.DEVNULL, env={**os.environ, "KIT_CACHE_DIR": str(tmp_path / "cache")})
    _, status, usage = os.wait4(process.pid, 0)   # this process's own peak, not the session's children's
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0
    peak_bytes = usage.ru_maxrss * 1024
    assert peak_bytes < 2**30, f"peak RSS {peak_bytes / 2**20:.0f} MiB"
    [image] = (tmp_path / "cache" / "images").glob("*/img-000.jpg")
    assert jpeg_problem(image.read_bytes()) is None
