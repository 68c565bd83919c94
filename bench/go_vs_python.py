"""The study's headline, measured here: go-gocv against the best Python at the same worker count.

    .venv/bin/python bench/go_vs_python.py [--images 40] [--resolution 4k] [--repeat 5]
                                           [--mem-limit 2g] [--cpus N]

Every repetition runs the four strategies side by side (same batch, caps and runtime) at 1, 2 and
all CPUs' workers, the strategy order rotated between repetitions, so drift over the run favours
none. Prints images/s (median over repetitions) and peak working set per strategy and worker
count, then the ratio go-gocv / best Python (python-threads or python-processes, whichever is
faster in that same run) as median [min-max] over the repetitions; the study claims 3.7.
Needs the Go workers: `kit build --target host`. Tiny check: --images 4 --resolution 720p.
"""

from __future__ import annotations

import argparse
import os
import statistics

from common import kit_run, mib, spread

STRATEGIES = ("go-native", "go-gocv", "python-threads", "python-processes")
PYTHON = ("python-threads", "python-processes")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--resolution", default="4k")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--mem-limit", default=None)
    parser.add_argument("--cpus", default=None)
    parser.add_argument("--runtime", default="cgroup")
    args = parser.parse_args()
    counts = sorted({1, 2, os.cpu_count() or 1})
    caps = [*(["--mem-limit", args.mem_limit] if args.mem_limit else []),
            *(["--cpus", args.cpus] if args.cpus else [])]
    ips: dict[tuple[str, int], list[float]] = {}
    peaks: dict[tuple[str, int], list[float]] = {}
    ratios: dict[int, list[float]] = {}
    for repetition in range(args.repeat):
        for workers in counts:
            shift = (repetition + workers) % len(STRATEGIES)
            order = STRATEGIES[shift:] + STRATEGIES[:shift]
            records = kit_run([*(x for s in order for x in ("-s", s)), "--workers", str(workers),
                               "--images", str(args.images), "--resolution", args.resolution,
                               "--runtime", args.runtime, *caps])
            rate = {}
            for record in records:
                key = (str(record["strategy"]), workers)
                rate[key[0]] = float(record["throughput_items_per_second"] or 0.0) if record["status"] == "ok" else 0.0
                ips.setdefault(key, []).append(rate[key[0]])
                peaks.setdefault(key, []).append(float(record["peak_memory_bytes"] or 0))
            best_python = max(rate.get(s, 0.0) for s in PYTHON)
            if best_python > 0:
                ratios.setdefault(workers, []).append(rate.get("go-gocv", 0.0) / best_python)
            print(f"repetition {repetition + 1}/{args.repeat}, {workers} workers: "
                  + ", ".join(f"{s} {rate.get(s, 0.0):.2f}" for s in STRATEGIES), flush=True)
    print(f"\n{args.images} images at {args.resolution}, {args.repeat} repetitions, runtime {args.runtime}"
          + (f", caps {' '.join(caps)}" if caps else ""))
    print(f"{'strategy':<18}{'W':>4}{'img/s':>9}{'min':>8}{'max':>8}{'WS MiB':>8}")
    for (strategy, workers), values in sorted(ips.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(f"{strategy:<18}{workers:>4}{statistics.median(values):>9.2f}{min(values):>8.2f}"
              f"{max(values):>8.2f}{mib(statistics.median(peaks[(strategy, workers)])):>8}")
    print("\ngo-gocv / best Python at the same workers, median [min-max] (the study: 3.7)")
    for workers, values in sorted(ratios.items()):
        print(f"  {workers} workers: {spread(values)}  (n={len(values)})")


if __name__ == "__main__":
    main()
