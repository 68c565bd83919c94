"""Signal campaign (issues 14 and 25): stop BASE at random or chosen moments, many times, and count
what a hostile user would find afterwards.

    sudo .venv/bin/python bench/signal_campaign.py [--runs 20] [--signals INT,TERM,HUP] [--seed 14]
    sudo .venv/bin/python bench/signal_campaign.py --mode windows [--moments sandbox,table] [--runtime docker]
    sudo .venv/bin/python bench/signal_campaign.py --mode bursts --runs 5
    sudo .venv/bin/python bench/signal_campaign.py --mode pipe --runs 3

BASE = kit run --runtime RUNTIME -s python-threads -s python-processes -s python-pool-imap
       --images 24 --resolution 4k --workers 2 --mem-limit 512m --metrics-port 0 --out DIR

Modes:
- random (issue 14): the signal after a uniform random delay in [--min-delay, --max-delay] s.
- windows: each failpoint moment of kit/core/signals.py MOMENTS (setup, sandbox, item, verify, table,
  report, cleanup, exit) with each signal, sent by the controller itself when it gets there
  (KIT_TEST_SIGNALS), --runs times each.
- bursts: 2 to 4 signals 2-200 ms apart, the first at a random moment of the windows' and the
  rest from a thread of the controller (KIT_TEST_SIGNALS "item:INT+TERM+HUP/50"), --runs per signal.
- pipe: stdout closed after three lines (`kit run ... | head -3`), --runs times.
`--runtime docker` runs any mode on the Docker runtime (the worker image must be current).

Counted per run: the exit code against the first signal's (130, 143, 129; 0 when the run had ended
before it; 0 expected in pipe mode); corrupt results files; a run directory without results.json or
without a complete report.html; strategies the console said were started without a record;
leftover cgroups (groups of the run under any hierarchy's kit/ parents), owner markers, containers
and processes (command lines naming the run directory); temporary files; tracebacks. The goal is 0
of each problem. This is a benchmark, not CI: 60 runs on two runtimes take over 40 minutes.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from common import ROOT

from kit.core.signals import MOMENTS
from kit.runtimes.cgroupfs import CgroupHost
from kit.runtimes.markers import state_dir
from kit.runtimes.owners import _parents

STRATEGIES = ["-s", "python-threads", "-s", "python-processes", "-s", "python-pool-imap"]
SIZES = ["--images", "24", "--resolution", "4k", "--workers", "2", "--mem-limit", "512m", "--metrics-port", "0"]
EXPECTED = {"INT": 130, "TERM": 143, "HUP": 129}


def base(runtime: str) -> list[str]:
    return ["run", "--runtime", runtime, *STRATEGIES, *SIZES]


def leftover_groups(run_id: str) -> list[Path]:
    host = CgroupHost()
    return [child for parent in _parents(host) if parent.is_dir() for child in parent.iterdir()
            if child.name.startswith(run_id)]


def leftover_markers(run_id: str) -> list[Path]:
    return sorted((state_dir() / "sandboxes").glob(f"{run_id}*.json"))


def leftover_containers(run_id: str) -> list[str]:
    try:
        from kit.runtimes.docker import leftover_containers as containers
        from kit.runtimes.engine import connect

        client = connect()
    except Exception:
        return []   # no engine: no container can be left
    try:
        return containers(client, run_id)
    finally:
        client.close()


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


def started(stdout: str) -> set[str]:
    """Strategies the console said were started (`<label>: started, N items`)."""
    return {line.split(":")[0].split()[0] for line in stdout.splitlines() if ": started, " in line}


def default_signals() -> None:
    """The kit under test starts with the default dispositions, however the campaign was started
    (`nohup` ignores SIGHUP, a script's background job SIGINT, and children inherit both)."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def one_run(runtime: str, first: str | None, delay: float | None = None, failpoints: str = "",
            close_stdout_after: int = 0) -> dict[str, object]:
    """One BASE run, stopped by `first` after `delay` seconds or at `failpoints` (KIT_TEST_SIGNALS),
    or with stdout closed after `close_stdout_after` lines; what was left behind."""
    with tempfile.TemporaryDirectory(prefix="kit-campaign-") as tmp:
        out = Path(tmp) / "out"
        env = {**os.environ, **({"KIT_TEST_SIGNALS": failpoints} if failpoints else {})}
        process = subprocess.Popen([sys.executable, "-m", "kit", *base(runtime), "--out", str(out)], cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                   preexec_fn=default_signals)
        sent = False
        stdout = ""
        if close_stdout_after:
            assert process.stdout is not None
            stdout = "".join(process.stdout.readline() for _ in range(close_stdout_after))
            process.stdout.close()
        elif delay is not None and first is not None:
            time.sleep(delay)
            sent = process.poll() is None
            if sent:
                process.send_signal(getattr(signal, f"SIG{first}"))
        try:
            more, stderr = process.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            process.kill()
            more, stderr = process.communicate()
        stdout += more or ""
        time.sleep(0.5)  # a killed worker's last moments
        expected = 0 if first is None else EXPECTED[first]
        row: dict[str, object] = {"first": first or "-", "delay": round(delay, 2) if delay is not None else None,
                                  "failpoints": failpoints, "sent": sent or bool(failpoints),
                                  "exit": process.returncode, "traceback": "Traceback" in stderr}
        runs = [d for d in out.iterdir() if d.is_dir()] if out.is_dir() else []
        if not runs:  # stopped before the run directory was made (image generation, say)
            row.update(records=0, corrupt=False, missing_results=False, missing_report=False, unrecorded=0,
                       groups=0, markers=0, containers=0, processes=0, temp_files=0,
                       wrong_exit=process.returncode not in (expected, 0))
            return row
        run_dir = runs[0]
        corrupt, records, recorded = False, 0, set()
        try:
            results = json.loads((run_dir / "results.json").read_text())["results"]
            records, recorded = len(results), {record["strategy"] for record in results}
            with (run_dir / "results.csv").open(newline="") as handle:
                list(csv.DictReader(handle))
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError):
            corrupt = True
        report = run_dir / "report.html"
        complete_report = report.is_file() and report.read_text().rstrip().endswith("</html>")
        # a signal that arrives after the process ended cannot change its code: 0 is right then
        ended_first = process.returncode == 0 and not sent
        row.update(records=records, corrupt=corrupt, missing_results=not (run_dir / "results.json").is_file(),
                   missing_report=not complete_report, unrecorded=len(started(stdout) - recorded),
                   groups=len(leftover_groups(run_dir.name)), markers=len(leftover_markers(run_dir.name)),
                   containers=len(leftover_containers(run_dir.name)) if runtime == "docker" else 0,
                   processes=len(leftover_processes(run_dir)),
                   temp_files=len([p for p in run_dir.rglob(".*") if p.name.endswith(".tmp")]),
                   wrong_exit=process.returncode != expected and not ended_first)
        return row


PROBLEMS = [("wrong exit codes", "wrong_exit"), ("corrupt results", "corrupt"),
            ("run dirs without results.json", "missing_results"), ("missing reports", "missing_report"),
            ("started strategies without a record", "unrecorded"), ("runs with leftover cgroups", "groups"),
            ("runs with leftover markers", "markers"), ("runs with leftover containers", "containers"),
            ("runs with leftover processes", "processes"), ("runs with temp files", "temp_files"),
            ("tracebacks", "traceback")]


def summary(label: str, rows: list[dict[str, object]]) -> str:
    codes = collections.Counter(int(str(r["exit"])) for r in rows)
    problems = {name: sum(1 for r in rows if r[key]) for name, key in PROBLEMS}
    return (f"{label}: {len(rows)} runs; exit codes "
            + ", ".join(f"{code} x{count}" for code, count in sorted(codes.items())) + "; "
            + ", ".join(f"{name} {count}" for name, count in problems.items()))


def show(index: int, row: dict[str, object]) -> None:
    what = row["failpoints"] or (f"SIG{row['first']} after {row['delay']} s" if row["delay"] is not None
                                 else "stdout closed")
    flagged = [key for _, key in PROBLEMS if row.get(key)]
    print(f"run {index + 1:3d}: {what}: exit {row['exit']}, records {row['records']}"
          + (f", PROBLEMS {', '.join(flagged)}" if flagged else ""), flush=True)


def cases(mode: str, names: list[str], runs: int, rng: random.Random, args: argparse.Namespace,
          ) -> list[tuple[str, dict[str, object]]]:
    """(label, one_run keyword arguments) for every run of the mode."""
    if mode == "random":
        return [(f"SIG{name}", {"first": name, "delay": rng.uniform(args.min_delay, args.max_delay)})
                for name in names for _ in range(runs)]
    moments = args.moments.split(",") if args.moments else list(MOMENTS)
    if mode == "windows":
        return [(f"{moment}:{name}", {"first": name, "failpoints": f"{moment}:{name}"})
                for moment in moments for name in names for _ in range(runs)]
    if mode == "bursts":
        found = []
        for name in names:
            for _ in range(runs):
                burst = [name, *rng.choices(list(EXPECTED), k=rng.randint(1, 3))]
                moment = rng.choice([m for m in moments if m != "exit"])
                found.append((f"bursts from SIG{name}",
                              {"first": name, "failpoints": f"{moment}:{'+'.join(burst)}/{rng.randint(2, 200)}"}))
        return found
    return [("stdout closed after 3 lines", {"first": None, "close_stdout_after": 3}) for _ in range(runs)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("random", "windows", "bursts", "pipe"), default="random")
    parser.add_argument("--runtime", choices=("cgroup", "docker"), default="cgroup")
    parser.add_argument("--runs", type=int, default=None,
                        help="runs per signal (random, bursts: 20), per moment and signal (windows: 1), or in all "
                             "(pipe: 3)")
    parser.add_argument("--signals", default="INT,TERM", help="comma-separated: INT, TERM, HUP")
    parser.add_argument("--moments", default="", help="windows, bursts: only these failpoints (comma-separated; "
                                                      f"default all: {', '.join(MOMENTS)})")
    parser.add_argument("--min-delay", type=float, default=0.5)
    parser.add_argument("--max-delay", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    runs = args.runs if args.runs is not None else {"random": 20, "bursts": 20, "windows": 1, "pipe": 3}[args.mode]
    rng = random.Random(args.seed)
    subprocess.run([sys.executable, "-m", "kit", "data", "--count", "16"], cwd=ROOT, check=True,
                   capture_output=True)  # the image pool exists before the first delay starts
    by_label: dict[str, list[dict[str, object]]] = collections.defaultdict(list)
    planned = cases(args.mode, args.signals.split(","), runs, rng, args)
    for index, (label, kwargs) in enumerate(planned):
        row = one_run(args.runtime, **kwargs)  # type: ignore[arg-type]
        show(index, row)
        by_label[label].append(row)
    for label, rows in by_label.items():
        print(summary(f"{args.runtime} {args.mode} {label}", rows), flush=True)
    print(summary(f"{args.runtime} {args.mode} all", [row for rows in by_label.values() for row in rows]),
          flush=True)


if __name__ == "__main__":
    main()
