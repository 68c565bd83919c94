"""Random Ctrl-C / SIGTERM campaign (issue 14): stop BASE at a random moment, many times, and count
what a hostile user would find afterwards.

    sudo .venv/bin/python bench/signal_campaign.py [--runs 20] [--signals INT,TERM] [--seed 14]

BASE = kit run --runtime cgroup -s python-threads -s python-processes -s python-pool-imap
       --images 24 --resolution 4k --workers 2 --mem-limit 512m --metrics-port 0 --out DIR

Each run gets the signal after a uniform random delay in [--min-delay, --max-delay] seconds
(0.5-15). Counted per signal: exit codes; corrupt results files (results.json or results.csv
that do not parse, or a results.json missing although the run directory exists); missing reports
(results.json without a complete report.html); leftover cgroups (groups of the run still under
the kit's parents); leftover processes (any process whose command line names the run directory);
temporary files left in the run directory. The goal is 0 of each problem.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from common import ROOT

from kit.runtimes.cgroupfs import CgroupHost
from kit.runtimes.owners import _parents

BASE = ["run", "--runtime", "cgroup", "-s", "python-threads", "-s", "python-processes", "-s", "python-pool-imap",
        "--images", "24", "--resolution", "4k", "--workers", "2", "--mem-limit", "512m", "--metrics-port", "0"]
EXPECTED = {"INT": 130, "TERM": 143, "HUP": 129}


def leftover_groups(run_id: str) -> list[Path]:
    host = CgroupHost()
    return [child for parent in _parents(host) if parent.is_dir() for child in parent.iterdir()
            if child.name.startswith(run_id)]


def leftover_processes(run_dir: Path) -> list[int]:
    needle = str(run_dir)
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if needle in " ".join(process.info["cmdline"] or []):
                found.append(process.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def one_run(signame: str, delay: float) -> dict[str, object]:
    """One BASE run stopped by `signame` after `delay` seconds; what was left behind."""
    with tempfile.TemporaryDirectory(prefix="kit-campaign-") as tmp:
        out = Path(tmp)
        process = subprocess.Popen([sys.executable, "-m", "kit", *BASE, "--out", str(out)], cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        sent = process.poll() is None
        if sent:
            process.send_signal(getattr(signal, f"SIG{signame}"))
        try:
            _, stderr = process.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
        time.sleep(0.5)  # a killed worker's last moments
        row: dict[str, object] = {"signal": signame, "delay": round(delay, 2), "sent": sent,
                                  "exit": process.returncode, "traceback": "Traceback" in stderr}
        runs = [d for d in out.iterdir() if d.is_dir()]
        if not runs:  # stopped before the run directory was made (image generation, say)
            row.update(records=0, corrupt=False, missing_report=False, groups=0, processes=0, temp_files=0)
            return row
        run_dir = runs[0]
        corrupt, records = False, 0
        try:
            records = len(json.loads((run_dir / "results.json").read_text())["results"])
            with (run_dir / "results.csv").open(newline="") as handle:
                list(csv.DictReader(handle))
        except (OSError, ValueError, KeyError):
            corrupt = True
        report = run_dir / "report.html"
        complete_report = report.is_file() and report.read_text().rstrip().endswith("</html>")
        row.update(records=records, corrupt=corrupt,
                   missing_report=(run_dir / "results.json").is_file() and not complete_report,
                   groups=len(leftover_groups(run_dir.name)), processes=len(leftover_processes(run_dir)),
                   temp_files=len([p for p in run_dir.rglob(".*") if p.name.endswith(".tmp")]))
        return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20, help="runs per signal")
    parser.add_argument("--signals", default="INT,TERM", help="comma-separated: INT, TERM, HUP")
    parser.add_argument("--min-delay", type=float, default=0.5)
    parser.add_argument("--max-delay", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    subprocess.run([sys.executable, "-m", "kit", "data", "--count", "16"], cwd=ROOT, check=True,
                   capture_output=True)  # the image pool exists before the first delay starts
    for signame in args.signals.split(","):
        rows = []
        for index in range(args.runs):
            row = one_run(signame, rng.uniform(args.min_delay, args.max_delay))
            rows.append(row)
            print(f"SIG{signame} run {index + 1:2d}: delay {row['delay']:5.2f} s, exit {row['exit']}, "
                  f"records {row['records']}, corrupt {row['corrupt']}, missing report {row['missing_report']}, "
                  f"cgroups {row['groups']}, processes {row['processes']}, temp files {row['temp_files']}, "
                  f"traceback {row['traceback']}", flush=True)
        codes = collections.Counter(int(str(r["exit"])) for r in rows)
        problems = {name: sum(1 for r in rows if r[key]) for name, key in
                    [("corrupt results", "corrupt"), ("missing reports", "missing_report"),
                     ("runs with leftover cgroups", "groups"), ("runs with leftover processes", "processes"),
                     ("runs with temp files", "temp_files"), ("tracebacks", "traceback")]}
        expected = sum(count for code, count in codes.items() if code in (EXPECTED[signame], 0))
        signalled = sum(1 for r in rows if r["sent"])
        print(f"SIG{signame}: {len(rows)} runs ({signalled} still running when signalled); exit codes "
              + ", ".join(f"{code} x{count}" for code, count in sorted(codes.items()))
              + f" ({expected} as expected: {EXPECTED[signame]}, or 0 when the run ended before the signal); "
              + ", ".join(f"{name} {count}" for name, count in problems.items()), flush=True)


if __name__ == "__main__":
    main()
