"""The pipeline without the kit: same transform, same pool, no progress lines, no sampler.

Used by bench/overhead.py as the baseline; prints items/s measured from first item start to last
item end, the way the kit measures work time.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2

from kit.worker.workloads.images import read_input, transform


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input-dir", type=Path, required=True)
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--images", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    pool = sorted(args.input_dir.glob("img-*.jpg"))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    spans: list[tuple[float, float]] = []

    def one(index: int) -> None:
        start = time.monotonic()
        data = transform(read_input(str(pool[index % len(pool)])))
        (args.output_dir / f"{index:06d}.jpg").write_bytes(data)
        spans.append((start, time.monotonic()))

    with ThreadPoolExecutor(args.workers) as executor:
        list(executor.map(one, range(args.images)))
    work = max(e for _, e in spans) - min(s for s, _ in spans)
    print(json.dumps({"items_per_second": args.images / work}))


if __name__ == "__main__":
    main()
