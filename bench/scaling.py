"""Scaling of the three Python strategies over workers, with the memory figures side by side.

    .venv/bin/python bench/scaling.py [--images 200] [--workers 1,2,4,8,16] [--repeat 1]

Prints images/s, speedup over the same strategy at one worker, CPU cores busy, and the four
memory figures (working set, kernel peak, PSS sum, RSS sum). On a 2-core machine anything past
2 workers shows memory, not speed.
"""

from __future__ import annotations

import argparse
import statistics

from common import kit_run, mib

STRATEGIES = ("python-sequential", "python-threads", "python-processes")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--workers", default="1,2,4,8,16")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--resolution", default="4k")
    args = parser.parse_args()
    rows: dict[tuple[str, int], list[dict[str, object]]] = {}
    for workers in [int(w) for w in args.workers.split(",")]:
        strategies = STRATEGIES if workers == 1 else STRATEGIES[1:]
        for record in kit_run([*(x for s in strategies for x in ("-s", s)), "--workers", str(workers),
                               "--images", str(args.images), "--repeat", str(args.repeat),
                               "--resolution", args.resolution]):
            rows.setdefault((str(record["strategy"]), workers), []).append(record)
    base: dict[str, float] = {}
    print(f"{'strategy':<20}{'W':>4}{'img/s':>9}{'speedup':>9}{'cores':>7}{'WS MiB':>8}{'peak':>7}"
          f"{'PSS':>7}{'RSS':>7}  status")
    for (strategy, workers), records in sorted(rows.items()):
        ips = statistics.median(float(r["throughput_items_per_second"] or 0) for r in records)  # type: ignore[arg-type]
        if workers == 1 or strategy == "python-sequential":
            base.setdefault(strategy, ips)
        speedup = ips / base[strategy] if base.get(strategy) else float("nan")
        r = records[len(records) // 2]
        print(f"{strategy:<20}{workers:>4}{ips:>9.2f}{speedup:>9.2f}{float(r['cpu_utilization']):>7.2f}"  # type: ignore[arg-type]
              f"{mib(r['peak_memory_bytes']):>8}{mib(r['peak_usage_bytes']):>7}{mib(r['peak_pss_bytes']):>7}"  # type: ignore[arg-type]
              f"{mib(r['peak_rss_sum_bytes']):>7}  {r['status']}")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
