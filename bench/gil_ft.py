"""Issue 16's benchmark: the GIL question and seed 001 on this machine.

pi and count at 1 and 2 workers for python-threads (GIL), python-threads-ft (free-threaded, when
this kit and machine have it), python-processes and go-native: speedup over one worker, cores busy
(the sandbox's cgroup CPU seconds / its wall time) and the free-threaded build's single-thread cost
(its one-worker throughput against python-threads' one worker); payload at 2 workers: ms per MiB
handed to a task, python-processes against go-native. Seed 001's published figures beside ours.

    .venv/bin/python bench/gil_ft.py --tiny       # a smoke run with tiny sizes: checks the script, proves nothing
    .venv/bin/python bench/gil_ft.py [--repeat 5] [--pi-items 8] [--count-items 50] [--payload-items 12]

Interleaved: each repetition runs every cell (workload x workers) once before the next repetition,
and every `kit run` rotates its strategies, so drift over the minutes hits all alike. Ratios are
paired by repetition and reported as median [min-max]. pi's iterations are calibrated per language
(~0.5 CPU seconds a task each, as seed 001 gave each language its own count); count uses one count_to for all.
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from typing import Any

from common import kit_results, spread
from go_tasks import SEED_MS_PER_MIB, SEED_PI

GIL, FT, PROCESSES, GO = "python-threads", "python-threads-ft", "python-processes", "go-native"
MIB = 2**20
TINY = {"pi": ["--iterations", "200000"], "count": ["--count-to", "200000"]}
SEED_PAYLOAD_BYTES, TINY_PAYLOAD_BYTES = 10**8, 8 * MIB

Cells = dict[tuple[str, str, int], list[dict[str, Any]]]   # (workload, strategy, workers) -> a record per rep


def free_threaded_reason() -> str | None:
    """Why python-threads-ft cannot run here (None when it can): this kit may not have it yet."""
    from kit.build.availability import unavailable_reason
    from kit.plan.config import default_cache_dir
    from kit.worker.programs import NAMES

    if FT not in NAMES:
        return "this kit has no python-threads-ft strategy"
    return unavailable_reason(FT, "cgroup", default_cache_dir())


def measure(strategies: list[str], repeat: int, tiny: bool, items: dict[str, int], payload_bytes: int,
            versions: dict[str, str]) -> Cells:
    cells: Cells = defaultdict(list)
    plan = [("pi", 1), ("pi", 2), ("count", 1), ("count", 2), ("payload", 2)]
    for rep in range(repeat):
        for workload, workers in plan:
            chosen = [PROCESSES, GO] if workload == "payload" else strategies
            args = [*(x for s in chosen for x in ("-s", s)), "--workload", workload, "--workers", str(workers),
                    "--items", str(items[workload]), "--metrics-linger", "0",
                    *(TINY.get(workload, []) if tiny else []),
                    *(["--payload-size", str(payload_bytes), "--start-method", "fork"]
                      if workload == "payload" else [])]
            results = kit_results(args)
            for record in results["results"]:
                cells[(workload, record["strategy"], workers)].append(record)
            for name, info in (results.get("concurrency", {}).get("workers") or {}).items():
                gil = info.get("gil_enabled")
                versions[name] = f"{info.get('language')} {info.get('python') or info.get('go')}" + (
                    "" if gil is None else f", GIL {'on' if gil else 'off'}")
            print(f"  rep {rep + 1}/{repeat}: {workload} x{workers} done", flush=True)
    return cells


def _ok(record: dict[str, Any]) -> bool:
    return bool(record["status"] == "ok" and record["verified"] and record["throughput_items_per_second"])


def _paired(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[float]:
    """b's throughput / a's, repetition by repetition (both completed and verified)."""
    return [y["throughput_items_per_second"] / x["throughput_items_per_second"]
            for x, y in zip(a, b, strict=False) if _ok(x) and _ok(y)]


def _median(records: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in records if r.get(key) is not None]
    return statistics.median(values) if values else float("nan")


def scaling(workload: str, strategies: list[str], cells: Cells) -> list[str]:
    lines = [f"\n== {workload}: speedup over one worker (throughput x2 / x1, paired by repetition) =="]
    speedups: dict[str, list[float]] = {}
    for strategy in strategies:
        one, two = cells[(workload, strategy, 1)], cells[(workload, strategy, 2)]
        speedups[strategy] = pairs = _paired(one, two)
        seed = ""
        if workload == "pi" and strategy in SEED_PI and pairs:
            t1, t2 = SEED_PI[strategy]
            seed = f"; seed 001 {t1 / t2:.2f}x (ours / seed {statistics.median(pairs) / (t1 / t2):.2f})"
        verified = sum(1 for r in one + two if r["verified"])
        lines.append(f"  {strategy:<17} x1 {_median(one, 'throughput_items_per_second'):8.2f} tasks/s "
                     f"(cores busy {_median(one, 'cpu_utilization'):.2f}), x2 "
                     f"{_median(two, 'throughput_items_per_second'):8.2f} tasks/s (cores busy "
                     f"{_median(two, 'cpu_utilization'):.2f}): speedup "
                     f"{spread(pairs) if pairs else 'not measured'}{seed}; verified {verified}/{len(one + two)}")
    if speedups.get(PROCESSES) and speedups.get(GO):
        ratio = [a / b for a, b in zip(speedups[PROCESSES], speedups[GO], strict=False)]
        (p1, p2), (g1, g2) = SEED_PI[PROCESSES], SEED_PI[GO]
        seed = f" (seed 001: {(p1 / p2) / (g1 / g2):.3f})" if workload == "pi" else ""
        lines.append(f"  python-processes speedup / go-native speedup: {spread(ratio)}{seed}")
    if speedups.get(FT) and speedups.get(GIL):
        ratio = [a / b for a, b in zip(speedups[FT], speedups[GIL], strict=False)]
        lines.append(f"  python-threads-ft speedup / python-threads speedup: {spread(ratio)}")
    cost = _paired(cells[(workload, GIL, 1)], cells[(workload, FT, 1)])
    if cost:
        lines.append(f"  free-threaded single-thread throughput / GIL build's (1 worker each): {spread(cost)} "
                     f"(cost {1 - statistics.median(cost):.0%})")
    return lines


def payload(cells: Cells, payload_bytes: int) -> list[str]:
    lines = ["\n== payload x2: work ms per MiB handed to a task (work / (tasks ok x payload MiB)) =="]
    costs: dict[str, list[float]] = {}
    for strategy in (PROCESSES, GO):
        records = cells[("payload", strategy, 2)]
        costs[strategy] = [r["work_seconds"] * 1000 / (r["items_ok"] * payload_bytes / MIB)
                           for r in records if _ok(r)]
        if not costs[strategy]:
            lines.append(f"  {strategy}: not measured")
            continue
        moved = records[0]["bytes_moved_per_task"]
        lines.append(f"  {strategy:<17} {spread(costs[strategy])} ms/MiB (moved per task {moved or 0} B; seed 001 "
                     f"{SEED_MS_PER_MIB[strategy]:.4f}, ours / seed "
                     f"{statistics.median(costs[strategy]) / SEED_MS_PER_MIB[strategy]:.2f})")
    if costs[PROCESSES] and costs[GO]:
        ratio = [a / b for a, b in zip(costs[PROCESSES], costs[GO], strict=False)]
        lines.append(f"  python-processes / go-native: {spread(ratio)} "
                     f"(seed 001: {SEED_MS_PER_MIB[PROCESSES] / SEED_MS_PER_MIB[GO]:.0f})")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: checks the script, proves nothing")
    parser.add_argument("--pi-items", type=int, default=8)
    parser.add_argument("--count-items", type=int, default=50)
    parser.add_argument("--payload-items", type=int, default=12)
    args = parser.parse_args()
    strategies = [GIL, FT, PROCESSES, GO]
    if reason := free_threaded_reason():
        print(f"python-threads-ft left out: {reason}", flush=True)
        strategies.remove(FT)
    payload_bytes = TINY_PAYLOAD_BYTES if args.tiny else SEED_PAYLOAD_BYTES
    items = {"pi": args.pi_items, "count": args.count_items, "payload": args.payload_items}
    versions: dict[str, str] = {}
    cells = measure(strategies, args.repeat, args.tiny, items, payload_bytes, versions)
    print("\ninterpreters: " + "; ".join(f"{name} {text}" for name, text in sorted(versions.items())))
    for workload in ("pi", "count"):
        print("\n".join(scaling(workload, strategies, cells)))
    print("\n".join(payload(cells, payload_bytes)), flush=True)


if __name__ == "__main__":
    main()
