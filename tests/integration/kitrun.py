"""Run the real CLI in a subprocess, as a user would, and read what it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class KitRun:
    returncode: int
    stdout: str
    stderr: str
    out: Path

    @property
    def run_dir(self) -> Path:
        dirs = [d for d in self.out.iterdir() if d.is_dir()]
        assert len(dirs) == 1, f"expected one run directory in {self.out}: {dirs}"
        return dirs[0]

    @property
    def results(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.run_dir / "results.json").read_text())
        return data

    def record(self, strategy: str) -> dict[str, Any]:
        found = [r for r in self.results["results"] if r["strategy"] == strategy]
        assert len(found) == 1, f"{strategy}: {len(found)} records"
        return found[0]


def kit_env(cache_dir: Path) -> dict[str, str]:
    return {**os.environ, "KIT_CACHE_DIR": str(cache_dir), "COLUMNS": "160"}


def kit(args: list[str], out: Path, cache_dir: Path, timeout: float = 600) -> KitRun:
    """`kit ARGS --out OUT --metrics-port 0` with its own image cache."""
    argv = [sys.executable, "-m", "kit", *args, "--out", str(out)]
    if args and args[0] in ("run", "sweep", "floor") and "--metrics-port" not in args:
        argv += ["--metrics-port", "0"]
    if args and args[0] in ("run", "sweep", "floor") and "--runtime" not in args:
        # Tests name their runtime: `auto` would pick docker wherever a current image exists (CI).
        argv += ["--runtime", "cgroup"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=kit_env(cache_dir))
    return KitRun(done.returncode, done.stdout, done.stderr, out)
