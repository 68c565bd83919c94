"""The kit's own CPU cost, and what --cpuset auto does to run-to-run spread.

1. Cost: the controller's CPU seconds during each sandbox (sampler, progress parsing, metrics)
   as a fraction of the sandbox's own CPU seconds, over a default-style images run at 1 and at 2
   workers (every record carries both; the goal is under 1%).
2. Spread: python-sequential and python-threads at 1 worker, --repeat 5, with and without
   `--cpuset auto`, the two runs interleaved `--rounds` times; the coefficient of variation of
   throughput over the 5 repetitions of each run, median over the rounds. (On a 2-core machine
   auto can isolate only one worker: the kit takes one core, the sandbox the other.)

    python bench/isolation.py --images 40 --rounds 3

Run it on a quiet machine (nothing else running): a busy one is what it measures against.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import kit_run  # noqa: E402


def cv(values: list[float]) -> float:
    return statistics.stdev(values) / statistics.mean(values) if len(values) > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--resolution", default="4k")
    args = parser.parse_args()
    base = ["--images", str(args.images), "--resolution", args.resolution, "--mem-limit", "1g"]

    print("1. the kit's own CPU cost (controller CPU / sandbox CPU), per record")
    for workers in (1, 2):
        records = kit_run(["-s", "python-sequential", "-s", "python-threads", "-s", "python-processes",
                           "-s", "go-gocv", "--workers", str(workers), *base])
        for r in records:
            share = r["controller_cpu_seconds"] / r["cpu_seconds"] if r["cpu_seconds"] else float("nan")
            print(f"  x{workers} {r['strategy']:<20} controller {r['controller_cpu_seconds']:.3f} s / workers "
                  f"{r['cpu_seconds']:.2f} s = {share:.2%}{'  (contended)' if r['contended'] else ''}")
        total = sum(r["controller_cpu_seconds"] for r in records) / sum(r["cpu_seconds"] for r in records)
        print(f"  x{workers} all records: {total:.2%}")

    print("\n2. run-to-run spread: CV of throughput over 5 repetitions, 1 worker")
    spreads: dict[str, dict[str, list[float]]] = {"off": {}, "auto": {}}
    for round_index in range(args.rounds):
        order = ["off", "auto"] if round_index % 2 == 0 else ["auto", "off"]
        for mode in order:
            extra = ["--cpuset", "auto"] if mode == "auto" else []
            records = kit_run(["-s", "python-sequential", "-s", "python-threads", "--workers", "1", "--repeat", "5",
                               *base, *extra])
            for strategy in ("python-sequential", "python-threads"):
                rates = [r["throughput_items_per_second"] for r in records
                         if r["strategy"] == strategy and not r["superseded"] and r["throughput_items_per_second"]]
                spreads[mode].setdefault(strategy, []).append(cv(rates))
                print(f"  round {round_index + 1} cpuset {mode:<4} {strategy:<18} CV {cv(rates):.2%}", flush=True)
    for strategy in ("python-sequential", "python-threads"):
        off, auto = spreads["off"][strategy], spreads["auto"][strategy]
        print(f"  {strategy:<18} CV without {statistics.median(off):.2%} [{min(off):.2%}-{max(off):.2%}], "
              f"with --cpuset auto {statistics.median(auto):.2%} [{min(auto):.2%}-{max(auto):.2%}]")


if __name__ == "__main__":
    main()
