"""Seed 001 on this machine: python-processes against go-native on pi and count at 1 and 2 workers
(speedup over one worker; cores busy = the sandbox's CPU seconds / its wall time), and on payload
(ms per MiB of payload handed to a task), with seed 001's published figures beside ours.

    .venv/bin/python bench/go_tasks.py --tiny          # a minute: checks the script, proves nothing
    .venv/bin/python bench/go_tasks.py [--repeat 5] [--pi-items 8] [--count-items 50] [--payload-items 12]

Each repetition runs every (workload, workers) cell once, in order, before the next repetition
starts (interleaved), so drift over the minutes hits every cell alike; each `kit run` rotates its
two strategies too. pi's iterations are calibrated per language (~0.5 CPU seconds a task each, as seed 001
gave each language its own count); count uses the same count_to for both. Speedups and ratios are
paired by repetition: median [min-max].
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from typing import Any

from common import kit_run, spread

STRATEGIES = ("python-processes", "go-native")
MIB = 2**20
# Seed 001 (Ryzen 5 3600, 6C/12T): 50 pi tasks, seconds at 1 and 2 workers; payload task seconds
# for 50 tasks of a 10^8-character string.
SEED_PI = {"python-processes": (100.77, 51.44), "go-native": (102.75, 51.85)}
SEED_MS_PER_MIB = {"python-processes": 85.1837e3 / (50 * 10**8 / MIB), "go-native": 0.104074e3 / (50 * 10**8 / MIB)}
TINY = {"pi": ["--iterations", "2000000"], "count": ["--count-to", "200000"]}
SEED_PAYLOAD_BYTES, TINY_PAYLOAD_BYTES = 10**8, 8 * MIB

Cells = dict[tuple[str, str, int], list[dict[str, Any]]]   # (workload, strategy, workers) -> one record per rep


def measure(repeat: int, tiny: bool, items: dict[str, int], payload_bytes: int) -> Cells:
    cells: Cells = defaultdict(list)
    plan = [("pi", 1), ("pi", 2), ("count", 1), ("count", 2), ("payload", 2)]
    for rep in range(repeat):
        for workload, workers in plan:
            args = [*(x for s in STRATEGIES for x in ("-s", s)), "--workload", workload, "--workers", str(workers),
                    "--items", str(items[workload]), "--metrics-linger", "0",
                    *(TINY.get(workload, []) if tiny else []),
                    *(["--payload-size", str(payload_bytes)] if workload == "payload" else [])]
            for record in kit_run(args):
                cells[(workload, record["strategy"], workers)].append(record)
            print(f"  rep {rep + 1}/{repeat}: {workload} x{workers} done", flush=True)
    return cells


def _ok(record: dict[str, Any]) -> bool:
    return bool(record["status"] == "ok" and record["verified"] and record["throughput_items_per_second"])


def scaling(workload: str, cells: Cells) -> list[str]:
    lines = [f"\n== {workload}: speedup over one worker (throughput x2 / x1, paired by repetition) =="]
    speedups: dict[str, list[float]] = {}
    for strategy in STRATEGIES:
        one, two = cells[(workload, strategy, 1)], cells[(workload, strategy, 2)]
        pairs = [b["throughput_items_per_second"] / a["throughput_items_per_second"]
                 for a, b in zip(one, two, strict=False) if _ok(a) and _ok(b)]
        speedups[strategy] = pairs
        busy1 = statistics.median(r["cpu_utilization"] for r in one)
        busy2 = statistics.median(r["cpu_utilization"] for r in two)
        work1 = statistics.median(r["work_seconds"] or 0 for r in one)
        tput1 = statistics.median(r["throughput_items_per_second"] or 0 for r in one)
        tput2 = statistics.median(r["throughput_items_per_second"] or 0 for r in two)
        seed = ""
        if workload == "pi":
            t1, t2 = SEED_PI[strategy]
            if pairs:
                seed = f"; seed 001 {t1 / t2:.2f}x (ours / seed {statistics.median(pairs) / (t1 / t2):.2f})"
        verified = sum(1 for r in one + two if r["verified"])
        lines.append(f"  {strategy:<17} x1 {tput1:8.2f} tasks/s (work {work1:.3f} s, cores busy {busy1:.2f}), "
                     f"x2 {tput2:8.2f} tasks/s (cores busy {busy2:.2f}): speedup "
                     f"{spread(pairs) if pairs else 'not measured'}{seed}; verified {verified}/{len(one + two)}")
    py, go = speedups["python-processes"], speedups["go-native"]
    if py and go:
        ratio = [a / b for a, b in zip(py, go, strict=False)]
        (p1, p2), (g1, g2) = SEED_PI["python-processes"], SEED_PI["go-native"]
        seed = f" (seed 001: {(p1 / p2) / (g1 / g2):.3f})" if workload == "pi" else ""
        lines.append(f"  python-processes speedup / go-native speedup: {spread(ratio)}{seed}")
    return lines


def payload(cells: Cells, payload_bytes: int) -> list[str]:
    lines = ["\n== payload x2: work ms per MiB handed to a task (work / (tasks ok x payload MiB)) =="]
    costs: dict[str, list[float]] = {}
    for strategy in STRATEGIES:
        records = cells[("payload", strategy, 2)]
        size = records[0]["bytes_moved_per_task"] if strategy == "python-processes" else None
        costs[strategy] = [r["work_seconds"] * 1000 / (r["items_ok"] * payload_bytes / MIB)
                           for r in records if _ok(r)]
        lines.append(f"  {strategy:<17} {spread(costs[strategy]) if costs[strategy] else 'not measured'} ms/MiB "
                     f"(moved per task {size if size is not None else 0} B; seed 001 "
                     f"{SEED_MS_PER_MIB[strategy]:.4f}, ours / seed "
                     f"{statistics.median(costs[strategy]) / SEED_MS_PER_MIB[strategy]:.2f})"
                     if costs[strategy] else f"  {strategy}: not measured")
    py, go = costs["python-processes"], costs["go-native"]
    if py and go:
        ratio = [a / b for a, b in zip(py, go, strict=False)]
        seed = SEED_MS_PER_MIB["python-processes"] / SEED_MS_PER_MIB["go-native"]
        lines.append(f"  python-processes / go-native: {spread(ratio)} (seed 001: {seed:.0f})")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tiny", action="store_true", help="small sizes: checks the script, proves nothing")
    parser.add_argument("--pi-items", type=int, default=8)
    parser.add_argument("--count-items", type=int, default=50)
    parser.add_argument("--payload-items", type=int, default=12)
    args = parser.parse_args()
    payload_bytes = TINY_PAYLOAD_BYTES if args.tiny else SEED_PAYLOAD_BYTES
    items = {"pi": args.pi_items, "count": args.count_items, "payload": args.payload_items}
    cells = measure(args.repeat, args.tiny, items, payload_bytes)
    for workload in ("pi", "count"):
        print("\n".join(scaling(workload, cells)))
    print("\n".join(payload(cells, payload_bytes)), flush=True)


if __name__ == "__main__":
    main()
