"""The kit's hot-path cost in a real sandbox: `kit run` (python-sequential, cgroup runtime, its
default sampler) against the bare file-to-file loop, marginal CPU per item.

Each side runs at two batch sizes (default 16 and 112 4K images, the kit's generated pool cycled
in the kit's own order); its marginal CPU per item is (CPU of the large batch - CPU of the small)
/ the difference in items, so start-up, imports and the kit's one-off work cancel. The kit's CPU
is its record's `cpu_seconds` (the sandbox's cgroup, sampler included); the bare loop's is its
process's user + system time from the kernel (wait4). Pairs are interleaved, their order
alternating. The bare loop makes the worker's own calls: read the bytes with open().read(),
cv2.imdecode, cv2.resize INTER_AREA to fit 1920x1080, cv2.imencode q85, write the file; OpenCV
threads 1. It runs twice per pair:
- in a plain environment (no glibc malloc settings): the loop a user would write and time, and the
  headline ratio;
- with the Python sandboxes' allocator settings (kit.worker.programs.PYTHON_ALLOCATOR_ENV): like for like,
  the kit's own overhead on the same pipeline.
The bare loop keeps each item's arrays (the decoded frame too) until the next item replaces them,
as a plain loop does: of the loop shapes tried, the one glibc's default thresholds favour most
(~940 faults per 4K item; a loop that frees the frame within the item faults ~6,800, as the kit's
worker did before it got the settings). Its page faults per item (ru_minflt) are printed, since
they are what the allocator settings change.

    sudo .venv/bin/python bench/hot_path.py --pairs 5

Needs the cgroup runtime (root, or a delegated cgroup v2 scope). Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import kit_results, spread  # noqa: E402

BARE = r"""
import sys
from pathlib import Path
import cv2, numpy as np
cv2.setNumThreads(1)
root, out, names = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
for index, name in enumerate(names):
    with open(root / name, "rb") as handle:
        data = handle.read()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    height, width = image.shape[:2]
    scale = min(1920 / width, 1080 / height, 1.0)
    size = (max(1, int(width * scale + 0.5)), max(1, int(height * scale + 0.5)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if size != (width, height) else image
    ok, encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])
    with open(out / f"{index:06d}.jpg", "wb") as handle:
        handle.write(encoded.tobytes())
"""

ALLOCATOR_PREFIXES = ("MALLOC_", "GLIBC_TUNABLES")


def bare(python: list[str], root: Path, out: Path, names: list[str], env: dict[str, str]) -> tuple[float, int]:
    """CPU seconds (user + system) and minor page faults of one bare loop, from the kernel, on the
    Python (and so the OpenCV build) the kit's Python workers run here."""
    child = subprocess.Popen([*python, "-c", BARE, str(root), str(out), *names], env=env, cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bare loop failed: {child.stderr.read().decode() if child.stderr else ''}")
    return usage.ru_utime + usage.ru_stime, usage.ru_minflt


def kit(items: int, resolution: str) -> float:
    """The python-sequential record's CPU seconds: its sandbox's cgroup, as `kit run` measures it."""
    results = kit_results(["-s", "python-sequential", "--images", str(items), "--resolution", resolution])
    (record,) = results["results"]
    if record["status"] != "ok" or not record["verified"]:
        raise SystemExit(f"kit run: {record['status']}, verified {record['verified']}: {record.get('message')}")
    return float(record["cpu_seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--sizes", default="16,112", help="the two batch sizes, SMALL,LARGE")
    parser.add_argument("--resolution", default="4k")
    args = parser.parse_args()
    if args.pairs < 5:
        raise SystemExit("--pairs: at least 5 (a ratio rests on at least 5 interleaved pairs)")
    small, large = (int(size) for size in args.sizes.split(","))
    if not 0 < small < large:
        raise SystemExit("--sizes SMALL,LARGE with 0 < SMALL < LARGE")
    from kit.build.system_opencv import python_argv
    from kit.plan import config
    from kit.plan.inputs import generate, generated_entries
    from kit.runtimes.cgroup import CgroupRuntime
    from kit.worker.programs import PYTHON_ALLOCATOR_ENV

    if problem := CgroupRuntime().available():
        raise SystemExit(f"the cgroup runtime is not available: {problem}")
    batches: dict[int, tuple[Path, list[str]]] = {}
    for size in (small, large):
        plan = config.build(resolution=args.resolution, items=size)
        pool = generate(plan)
        batches[size] = (pool[0].parent, [entry.input for entry in generated_entries(plan, [p.name for p in pool])])
    python = python_argv(config.default_cache_dir())   # the distribution's OpenCV when the workers run it
    print(f"bare loop on: {' '.join(python)}", flush=True)
    plain = {key: value for key, value in os.environ.items() if not key.startswith(ALLOCATOR_PREFIXES)}
    envs = {"bare": plain, "bare+alloc": {**plain, **PYTHON_ALLOCATOR_ENV}}
    items = large - small
    ratios: dict[str, list[float]] = {"bare": [], "bare+alloc": []}
    with tempfile.TemporaryDirectory(prefix="kit-hot-path-") as scratch:
        out = Path(scratch)
        for pair in range(args.pairs):
            order = ["bare", "kit", "bare+alloc"] if pair % 2 == 0 else ["bare+alloc", "kit", "bare"]
            marginal: dict[str, float] = {}
            faults: dict[str, float] = {}
            for side in order:
                if side == "kit":
                    marginal[side] = (kit(large, args.resolution) - kit(small, args.resolution)) / items
                    continue
                (cpu_small, faults_small), (cpu_large, faults_large) = (
                    bare(python, batches[size][0], out, batches[size][1], envs[side]) for size in (small, large))
                marginal[side] = (cpu_large - cpu_small) / items
                faults[side] = (faults_large - faults_small) / items
            for side in ratios:
                ratios[side].append(marginal["kit"] / marginal[side])
            print(f"pair {pair + 1}: marginal CPU ms per item: kit {marginal['kit'] * 1000:.1f}, bare "
                  f"{marginal['bare'] * 1000:.1f} ({faults['bare']:.0f} faults/item), bare with the kit's allocator "
                  f"settings {marginal['bare+alloc'] * 1000:.1f} ({faults['bare+alloc']:.0f} faults/item)", flush=True)
    print(f"\n{small} and {large} {args.resolution} images, {args.pairs} interleaved pairs; kit: `kit run` "
          "python-sequential sandboxes (cgroup runtime, default sampler)")
    print(f"marginal CPU per item kit/bare: {spread(ratios['bare'])}"
          "   (bare loop in a plain environment; goal <= 1.05)")
    print(f"marginal CPU per item kit/bare, bare with the kit's allocator settings: {spread(ratios['bare+alloc'])}"
          "   (the kit's own overhead)")


if __name__ == "__main__":
    main()
