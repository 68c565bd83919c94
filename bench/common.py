"""Helpers for the bench scripts: run the real CLI, read records, summarise ratios."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def kit_run(args: list[str]) -> list[dict[str, Any]]:
    """Run `kit run ARGS` into a temporary directory and return its records."""
    records: list[dict[str, Any]] = kit_results(args)["results"]
    return records


def kit_results(args: list[str]) -> dict[str, Any]:
    """Run `kit run ARGS` into a temporary directory and return its whole results.json."""
    with tempfile.TemporaryDirectory(prefix="kit-bench-") as out:
        argv = [sys.executable, "-m", "kit", "run", *args, "--out", out]
        if "--metrics-port" not in args:
            argv += ["--metrics-port", "0"]
        if "--runtime" not in args:  # auto would pick containers whenever the image is current
            argv += ["--runtime", "cgroup"]
        done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "COLUMNS": "200"})
        if done.returncode != 0:
            raise SystemExit(f"kit run failed ({done.returncode}): {done.stderr.strip()}")
        run_dir = next(Path(out).iterdir())
        results: dict[str, Any] = json.loads((run_dir / "results.json").read_text())
        return results


def spread(values: list[float]) -> str:
    """median [min-max] of ratios, as docs/measurement.md reports them."""
    return f"{statistics.median(values):.3f} [{min(values):.3f}-{max(values):.3f}]"


def mib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**20:.0f}"
