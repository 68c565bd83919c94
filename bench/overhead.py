"""The kit's own cost: `kit run -s python-threads` against the bare pipeline, interleaved pairs.

    .venv/bin/python bench/overhead.py [--pairs 5] [--images 120] [--workers 2]

Both sides run the same transform with the same thread pool inside a cgroup-free process tree
vs the kit's capped sandbox; the kit side adds its progress lines and the 0.1 s sampler. Prints
each pair and the median ratio kit/bare with its min-max (the goal: >= 0.98).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, kit_run, spread


def bare(input_dir: Path, images: int, workers: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run([sys.executable, str(ROOT / "bench" / "bare_pipeline.py"), "--input-dir",
                               str(input_dir), "--output-dir", out, "--images", str(images),
                               "--workers", str(workers)], capture_output=True, text=True, check=True, cwd=ROOT)
    return float(json.loads(done.stdout)["items_per_second"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    common = ["-s", "python-threads", "--workers", str(args.workers), "--images", str(args.images)]
    kit_run(common)  # warm-up; also generates the image pool
    from kit.plan.config import build
    from kit.plan.inputs import pool_directory

    input_dir = pool_directory(build(items=args.images))
    ratios = []
    for pair in range(args.pairs):
        # Alternate which side goes first so that drift does not favour one.
        if pair % 2 == 0:
            kit_ips = float(kit_run(common)[0]["throughput_items_per_second"])
            bare_ips = bare(input_dir, args.images, args.workers)
        else:
            bare_ips = bare(input_dir, args.images, args.workers)
            kit_ips = float(kit_run(common)[0]["throughput_items_per_second"])
        ratios.append(kit_ips / bare_ips)
        print(f"pair {pair + 1}: kit {kit_ips:.2f} img/s, bare {bare_ips:.2f} img/s, ratio {ratios[-1]:.3f}")
    print(f"kit/bare throughput: median [min-max] = {spread(ratios)} over {args.pairs} pairs")


if __name__ == "__main__":
    main()
