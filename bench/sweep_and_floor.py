"""Issue 7's benchmark: a workers sweep with scaling figures, then every strategy's memory floor.

    .venv/bin/python bench/sweep_and_floor.py                # 1,2,4,8,12 workers; floors at 12 on 4K
    .venv/bin/python bench/sweep_and_floor.py --tiny         # the same steps in about a minute

Step 1 runs `kit sweep` over --workers for every available strategy (no cap) and prints, per
strategy and worker count: images/s (median and min-max over --repeat), the ideal linear figure
from the one-worker point, speedup, parallel efficiency (speedup / workers), CPU cores busy and
peak working set. Step 2 runs `kit floor` at --floor-workers on --floor-resolution images and
prints each strategy's floor. Both run directories (results.json, report.html) are kept under
--out. On a 2-core machine anything past 2 workers shows memory, not speed. The full run takes
about an hour on two cores with six Python strategies (a sweep cell of 60 4K images is ~10-20 s;
a floor is ~11 probes, the passing ones run 3 times).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import ROOT

from kit.results.summary import Summary, parse_records, summarize


def kit_cli(args: list[str], out: Path) -> Path:
    """Run the kit CLI (output streamed to the terminal) and return the run directory it made."""
    before = set(out.iterdir()) if out.is_dir() else set()
    argv = [sys.executable, "-m", "kit", *args, "--out", str(out), "--metrics-port", "0"]
    print("$ " + " ".join(argv[2:]), flush=True)
    done = subprocess.run(argv, cwd=ROOT, env={**os.environ, "COLUMNS": os.environ.get("COLUMNS", "160")})
    made = sorted(set(out.iterdir()) - before) if out.is_dir() else []
    if done.returncode != 0 or not made:
        raise SystemExit(f"kit {args[0]} failed (exit {done.returncode})")
    return made[-1]


def load(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "results.json").read_text())
    return data


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def scaling_lines(summaries: list[Summary]) -> list[str]:
    """images/s against workers per strategy, with the linear ideal from the one-worker point."""
    lines = [f"{'strategy':<28}{'W':>4}{'img/s':>9}{'min-max':>15}{'ideal':>9}{'speedup':>9}{'effic.':>8}"
             f"{'cores':>7}{'peak MiB':>10}{'CV':>6}  outcome"]
    base: dict[str, float] = {}
    for s in summaries:
        ips = s.throughput.median if s.throughput else None
        if s.workers == 1 and ips:
            base[s.strategy] = ips
        one = base.get(s.strategy)
        speedup = ips / one if ips and one else None
        spread = f"{s.throughput.low:.2f}-{s.throughput.high:.2f}" if s.throughput else "-"
        lines.append(
            f"{s.strategy:<28}{s.workers:>4}{fmt(ips):>9}{spread:>15}{fmt(one * s.workers if one else None):>9}"
            f"{fmt(speedup):>9}{fmt(speedup / s.workers if speedup else None):>8}"
            f"{fmt(s.cpu_utilization.median if s.cpu_utilization else None):>7}"
            f"{fmt(s.peak_memory_bytes.median / 2**20 if s.peak_memory_bytes else None, 0):>10}"
            f"{(f'{s.throughput.cv:.0%}' if s.throughput and s.throughput.cv is not None else '-'):>6}  {s.outcome}")
    return lines


def mib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**20:.0f}"


def floor_lines(floors: list[dict[str, Any]]) -> list[str]:
    lines = [f"{'strategy':<28}{'W':>4}{'floor MiB':>11}{'fails at':>10}{'peak at floor':>15}{'probes':>8}"
             f"{'runs':>6}  page cache (OpenCV libs cached)"]
    for f in floors:
        at_floor = next((p for p in f["probes"] if p["memory_limit_bytes"] == f["floor_bytes"]), None)
        resident = [p["library_resident_fraction"] for p in f["probes"] if p["library_resident_fraction"] is not None]
        cached = f" ({min(resident):.0%}-{max(resident):.0%})" if resident else ""
        lines.append(f"{f['strategy']:<28}{f['workers']:>4}{mib(f['floor_bytes']):>11}"
                     f"{mib(f['highest_failing_bytes']):>10}{mib(at_floor and at_floor['peak_memory_bytes']):>15}"
                     f"{len(f['probes']):>8}{sum(len(p['statuses']) for p in f['probes']):>6}  "
                     f"{f['page_cache']}{cached}   {f['note']}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="smoke-test preset: 1,2 workers, 720p, a few images")
    parser.add_argument("--workers", default="1,2,4,8,12")
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--resolution", default="4k")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--floor-workers", type=int, default=12)
    parser.add_argument("--floor-images", type=int, default=36)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run before it is stopped")
    parser.add_argument("--floor-resolution", default="4k")
    parser.add_argument("--low", default="32m")
    parser.add_argument("--high", default="4g")
    parser.add_argument("--step", default="8m")
    parser.add_argument("--confirmations", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="drop the page cache before every floor run (root)")
    parser.add_argument("--strategy", "-s", action="append", default=[], help="default: every available one")
    parser.add_argument("--skip-floor", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench-sweep-and-floor")
    args = parser.parse_args()
    if args.tiny:
        args.workers, args.images, args.resolution, args.repeat = "1,2", 6, "720p", 1
        args.floor_workers, args.floor_images, args.floor_resolution = 2, 4, "720p"
        args.low, args.high, args.step, args.confirmations = "16m", "256m", "16m", 2
    args.out.mkdir(parents=True, exist_ok=True)
    chosen = [x for s in args.strategy for x in ("-s", s)]

    sweep_dir = kit_cli(["sweep", *chosen, "--workers", args.workers, "--images", str(args.images),
                         "--resolution", args.resolution, "--repeat", str(args.repeat),
                         "--timeout", str(args.timeout)], args.out)
    sweep = load(sweep_dir)
    env = sweep["environment"]
    print(f"\n== scaling: {args.images} x {args.resolution} images, {args.repeat} repetition(s), "
          f"{env.get('cpu_model')} ({env.get('cpus_allowed')} CPUs allowed)")
    print("\n".join(scaling_lines(summarize(parse_records(sweep)))))
    for warning in sweep.get("warnings", []):
        print(f"warning: {warning}")
    print(f"sweep results: {sweep_dir / 'results.json'}")
    if args.skip_floor:
        return

    floor_dir = kit_cli(["floor", *chosen, "--workers", str(args.floor_workers), "--images",
                         str(args.floor_images), "--resolution", args.floor_resolution, "--low", args.low,
                         "--high", args.high, "--step", args.step, "--confirmations", str(args.confirmations),
                         "--timeout", str(args.timeout),
                         *(["--cold"] if args.cold else [])], args.out)
    floors = load(floor_dir).get("floors", [])
    print(f"\n== memory floors: {args.floor_workers} workers, {args.floor_images} x {args.floor_resolution} "
          f"images, {args.step} steps, {args.confirmations} runs must all complete")
    print("\n".join(floor_lines(floors)))
    print(f"floor results: {floor_dir / 'results.json'}")


if __name__ == "__main__":
    main()
