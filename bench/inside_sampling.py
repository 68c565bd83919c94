"""What sampling the worker's own cgroup from inside the sandbox costs (issue 18).

The sampler runs inside the sandbox during the timed work, so its cost is the strategy's. Two
figures, both in CPU seconds (the kernel's, so a busy machine inflates them less than wall time):
- per sample: each record's `inside.sampler_cpu_seconds / inside.samples` (the sampler thread's or
  goroutine's own CPU, measured by the worker itself);
- per image, sampling on (`--sample-interval-ms 250`, the default) against off (`0`): the whole
  sandbox's CPU (`cpu_seconds`, read from outside) per image, in interleaved pairs whose order
  alternates, reported as median [min-max] of the on/off ratio.

    python bench/inside_sampling.py --pairs 5 --images 24

Run as root (the cgroup runtime). Say in the figures whether the machine was busy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import kit_run, spread  # noqa: E402

STRATEGIES = ("python-sequential", "python-threads", "go-native")


def run(strategies: list[str], interval_ms: int, images: int, resolution: str,
        workers: int) -> dict[str, dict[str, Any]]:
    records = kit_run([*[arg for name in strategies for arg in ("-s", name)], "--images", str(images),
                       "--distinct-images", "8", "--resolution", resolution, "--workers", str(workers),
                       "--sample-interval-ms", str(interval_ms)])
    return {r["strategy"]: r for r in records if not r["warmup"] and r["status"] == "ok"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--resolution", default="4k")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("-s", "--strategy", action="append", choices=STRATEGIES, help="default: all three")
    args = parser.parse_args()
    strategies = args.strategy or list(STRATEGIES)
    per_sample: dict[str, list[float]] = {name: [] for name in strategies}
    ratios: dict[str, list[float]] = {name: [] for name in strategies}
    cpu: dict[tuple[str, bool], list[float]] = {}
    for pair in range(args.pairs):
        order = (True, False) if pair % 2 == 0 else (False, True)
        results = {on: run(strategies, 250 if on else 0, args.images, args.resolution, args.workers)
                   for on in order}
        for name in strategies:
            on, off = results[True].get(name), results[False].get(name)
            if on is None or off is None:
                print(f"pair {pair + 1}: {name} did not finish in both runs; left out", file=sys.stderr)
                continue
            inside = on["inside"] or {}
            if inside.get("samples"):
                per_sample[name].append(inside["sampler_cpu_seconds"] / inside["samples"] * 1000)
            for state, record in ((True, on), (False, off)):
                cpu.setdefault((name, state), []).append(record["cpu_seconds"] / record["items_ok"])
            ratios[name].append((on["cpu_seconds"] / on["items_ok"]) / (off["cpu_seconds"] / off["items_ok"]))
            first = "on" if order[0] else "off"
            print(f"pair {pair + 1} ({first} first) {name}: on {on['cpu_seconds']:.3f} s, "
                  f"off {off['cpu_seconds']:.3f} s CPU, "
                  f"{inside.get('samples', 0)} samples", file=sys.stderr)
    print(f"{args.pairs} interleaved pairs, {args.images} {args.resolution} images, {args.workers} workers; "
          "CPU seconds from the kernel")
    for name in strategies:
        if not ratios[name]:
            continue
        print(f"{name}: {spread(per_sample[name]) if per_sample[name] else '-'} ms CPU per sample; "
              f"CPU per image on {statistics.median(cpu[(name, True)]) * 1000:.1f} ms, "
              f"off {statistics.median(cpu[(name, False)]) * 1000:.1f} ms; on/off {spread(ratios[name])}")


if __name__ == "__main__":
    main()
