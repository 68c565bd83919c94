"""Seeds 001-002 side by side: pi, payload, io (and count) at 1, 2 and 4 workers on every Python
strategy, with the ratios the seeds published next to ours.

    .venv/bin/python bench/workloads.py --tiny                 # seconds: checks the script works
    .venv/bin/python bench/workloads.py [--workloads pi,payload,io,count] [--workers 1,2,4] [--repeat 5] [--items 50]

Without --tiny the seeds' sizes are used: pi calibrated to ~0.5 s a task, payload 10^8 characters,
50 tasks each (payload needs ~1 GiB of memory at 4 workers). Ratios are medians over the
repetitions, paired by repetition (kit interleaves the strategies within each), [min-max] beside.
The Go side of seed 001 (Python and Go tie on pi; payload shared by goroutines) is bench/go_tasks.py.
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from typing import Any

from common import kit_run, mib, spread

STRATEGIES = ("python-sequential", "python-threads", "python-processes", "python-pool-imap",
              "python-pool-imap-unordered", "python-asyncio")
TINY = {"pi": ["--iterations", "200000", "--items", "8"], "payload": ["--payload-size", "4m", "--items", "8"],
        "io": ["--io-delay", "0.02", "--items", "16"], "count": ["--count-to", "1000000", "--items", "8"]}
# The seeds' figures: (what, ours as strategy / baseline at `workers`, published ratio, source).
SEED_RATIOS: dict[str, list[tuple[str, str, str, int, float, str]]] = {
    "pi": [("processes at 2 vs 1 process (time)", "python-asyncio", "python-asyncio@1", 2, 51.44 / 100.77,
            "seed 001: 51.44 s vs 100.77 s"),
           ("processes at 4 vs 1 process (time)", "python-asyncio", "python-asyncio@1", 4, 27.02 / 100.77,
            "seed 001: 27.02 s vs 100.77 s")],
    # seed 001's "task time" excludes building the string, as our work time does (its totals,
    # 85.98 s vs 0.88 s, include 0.8 s of building it).
    "payload": [("processes vs one process (task time)", "python-asyncio", "python-sequential", 0,
                 85.1837 / 0.0784755, "seed 001: 85.18 s vs 0.078 s task time; 85.98 s vs 0.88 s total")],
    "count": [("threads vs sequential (time)", "python-threads", "python-sequential", 4, 4.36 / 2.21,
               "seed 002: 4.36 s vs 2.21 s"),
              ("processes vs sequential (time)", "python-pool-imap", "python-sequential", 4, 1.23 / 2.21,
               "seed 002: 1.23 s vs 2.21 s")],
    "io": [("threads vs sequential (time)", "python-threads", "python-sequential", 4, 0.62 / 1.89,
            "seed 002: 0.62 s vs 1.89 s (5 sites)"),
           ("processes vs sequential (time)", "python-pool-imap", "python-sequential", 4, 3.09 / 1.89,
            "seed 002: 3.09 s vs 1.89 s")],
}

Records = dict[tuple[str, int], list[dict[str, Any]]]


def measure(workload: str, workers: list[int], repeat: int, tiny: bool, items: int | None) -> Records:
    rows: Records = defaultdict(list)
    for count in workers:
        chosen = STRATEGIES if count == min(workers) else STRATEGIES[1:]   # sequential ignores --workers
        args = [*(x for s in chosen for x in ("-s", s)), "--workload", workload, "--workers", str(count),
                "--repeat", str(repeat), *(TINY[workload] if tiny else []),
                *(["--items", str(items)] if items else [])]
        for record in kit_run(args):
            rows[(record["strategy"], count)].append(record)
    return rows


def _work(record: dict[str, Any]) -> float | None:
    return record["work_seconds"] if record["status"] == "ok" else None


def table(workload: str, rows: Records) -> list[str]:
    base = statistics.median(w for r in rows[("python-sequential", min(c for _, c in rows))] if (w := _work(r)))
    lines = [f"\n== {workload} ==",
             f"{'strategy':<28}{'W':>3}{'work s':>9}{'wall s':>9}{'tasks/s':>9}{'t/t_seq':>8}{'cores':>7}"
             f"{'peak MiB':>10}{'moved/task':>12}  status"]
    for (strategy, count), records in sorted(rows.items(), key=lambda kv: (STRATEGIES.index(kv[0][0]), kv[0][1])):
        works = [w for r in records if (w := _work(r)) is not None]
        work = statistics.median(works) if works else None
        r = records[len(records) // 2]
        moved = r.get("bytes_moved_per_task")
        lines.append(
            f"{strategy:<28}{count:>3}{_f(work, 3):>9}{_f(statistics.median(x['wall_seconds'] for x in records), 2):>9}"
            f"{_f(r['throughput_items_per_second'], 2):>9}{_f(work / base if work else None, 2):>8}"
            f"{r['cpu_utilization']:>7.2f}{mib(r['peak_memory_bytes']):>10}"
            f"{'-' if moved is None else mib(moved) + ' MiB':>12}  {','.join(sorted({x['status'] for x in records}))}")
    return lines


def _f(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def ratios(workload: str, rows: Records, workers: list[int]) -> list[str]:
    lines = []
    # at 0: at every worker count (seed 001: payload time "is not affected by" the process count)
    cases = [(what, strategy, baseline, count, published, source)
             for what, strategy, baseline, at, published, source in SEED_RATIOS.get(workload, [])
             for count in (workers if at == 0 else [at] if at in workers else [])]
    for what, strategy, baseline, count, published, source in cases:
        base_name, _, base_at = baseline.partition("@")
        base_count = int(base_at) if base_at else min(workers)
        mine, theirs = rows.get((strategy, count), []), rows.get((base_name, base_count), [])
        pairs = [a / b for x, y in zip(mine, theirs, strict=False)
                 if (a := _work(x)) is not None and (b := _work(y))]
        walls = [x["wall_seconds"] / y["wall_seconds"] for x, y in zip(mine, theirs, strict=False)
                 if _work(x) is not None and _work(y) is not None]
        ours = (f"{spread(pairs)} over {len(pairs)} pairs (whole sandbox: {spread(walls)})" if pairs
                else "not measured (a run did not finish)")
        lines.append(f"  {what}: ours {strategy} x{count} / {base_name} x{base_count} = {ours}; "
                     f"published {published:.3f} ({source})")
    if workload == "payload":   # the report's verdict for payload: time per MiB moved
        base = [w for r in rows.get(("python-sequential", min(workers)), []) if (w := _work(r)) is not None]
        for (strategy, count), records in sorted(rows.items()):
            costs = [(w - statistics.median(base)) * 1000 / (r["items_total"] * r["bytes_moved_per_task"] / 2**20)
                     for r in records if (w := _work(r)) is not None and r.get("bytes_moved_per_task") and base]
            if costs:
                lines.append(f"  {strategy} x{count}: {spread(costs)} ms per MiB moved (work time over the "
                             f"sequential loop's, per task)")
    if workload == "pi":
        lines.append("  Python vs Go at every process count (seed 001: a tie): bench/go_tasks.py")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workloads", default="pi,payload,io,count")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tiny", action="store_true", help="small sizes: checks the script, proves nothing")
    parser.add_argument("--items", type=int, help="tasks per run [default: 50, the seeds' N]")
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    for workload in args.workloads.split(","):
        rows = measure(workload, workers, args.repeat, args.tiny, args.items)
        print("\n".join(table(workload, rows)))
        sizes = "TINY sizes: not comparable" if args.tiny else "seed sizes"
        print(f"seed ratios (work time, paired by repetition; {sizes}):")
        print("\n".join(ratios(workload, rows, workers)), flush=True)


if __name__ == "__main__":
    main()
