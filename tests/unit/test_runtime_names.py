"""Runtimes are known by capability, never by name, outside kit/runtimes/ (issue 24, part 3).

The AST of every kit/**/*.py outside kit/runtimes/ (and kit/runtimes/kube/) holds no `==`, `!=`,
`in` or `not in` comparison, and no `match` case, against a runtime's name as a string literal; the
names are the registry's (kit/runtimes/__init__.py). What differs between runtimes is asked of
their `capabilities` (kit/runtimes/base.py). A fake runtime registered in the registry runs a plan
through the runner on the protocol alone.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import pytest

import kit
from kit import runtimes
from kit.measure.cgroupstat import CgroupStats
from kit.plan import config
from kit.results.observer import RunObserver
from kit.run.record import REMOTE_UNVERIFIED
from kit.run.runner import Runner
from kit.runtimes.base import Capabilities, SandboxPaths, SandboxSpec, Setup, last_line, worker_env

KIT = Path(kit.__file__).parent
NAMES = frozenset(runtimes.REGISTRY)
COMPARISONS = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)


def _named(node: ast.AST) -> bool:
    """A runtime name as a literal, or a tuple, list or set of literals holding one."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value in NAMES
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_named(element) for element in node.elts)
    return False


def _pattern_named(pattern: ast.pattern) -> bool:
    if isinstance(pattern, ast.MatchValue):
        return _named(pattern.value)
    if isinstance(pattern, ast.MatchOr):
        return any(_pattern_named(p) for p in pattern.patterns)
    if isinstance(pattern, ast.MatchAs) and pattern.pattern is not None:
        return _pattern_named(pattern.pattern)
    return False


def name_comparisons(source: str) -> list[int]:
    """The lines of `source` that compare something with a runtime name, or match a case on one."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(isinstance(op, COMPARISONS) for op in node.ops):
            if any(_named(operand) for operand in (node.left, *node.comparators)):
                lines.append(node.lineno)
        elif isinstance(node, ast.match_case) and _pattern_named(node.pattern):
            lines.append(node.pattern.lineno)
    return sorted(set(lines))


def _room(path: Path) -> str:
    return path.relative_to(KIT).parts[0] if len(path.relative_to(KIT).parts) > 1 else ""


def findings(rooms: tuple[str, ...] | None, leave_out: tuple[str, ...]) -> list[str]:
    """file:line of every runtime-name comparison in kit/'s rooms (None: every room but `leave_out`)."""
    found = []
    for path in sorted(KIT.rglob("*.py")):
        room = _room(path)
        if room == "runtimes" or (rooms is not None and room not in rooms) or room in leave_out:
            continue
        found += [f"{path.relative_to(KIT.parent)}:{line}" for line in name_comparisons(path.read_text())]
    return found


def test_the_check_sees_every_kind_of_name_comparison() -> None:
    source = ('a == "docker"\nif "kubernetes" != b: pass\nc in ("cgroup", "x")\nd not in ["process"]\n'
              'match e:\n    case "docker" | "y":\n        pass\n'
              'ok = f == "cgroup2"\ng = "docker"\nh(runtime="cgroup")\ni == "auto"\n')
    assert name_comparisons(source) == [1, 2, 3, 4, 6]


def test_no_code_outside_the_runtimes_compares_a_runtime_name() -> None:
    assert findings(None, ()) == []


def test_every_registered_runtime_says_its_capabilities_and_is_made_by_the_registry() -> None:
    for name in runtimes.names():
        cls = runtimes.runtime_class(name)
        assert cls.name == name and isinstance(cls.capabilities, Capabilities)
        for member in ("create", "available", "start", "describe", "cleanup", "leftovers", "recipe_problem"):
            assert callable(getattr(cls, member)), (name, member)
    assert "process" not in runtimes.names(offered=True)   # for tests only: no caps, no OOM kills
    with pytest.raises(ValueError, match="unknown runtime"):
        runtimes.capabilities("nowhere")


def test_what_auto_may_become_is_decided_by_every_candidate() -> None:
    auto = runtimes.candidates(runtimes.AUTO)
    assert len(auto) == 2 and all(c.local and c.shares_files and not c.parallel_cells for c in auto)
    assert runtimes.candidates("cgroup") == (runtimes.capabilities("cgroup"),)


def test_a_registry_image_is_trusted_a_local_one_inspected_and_the_host_build_checked(tmp_path: Path) -> None:
    from kit.build.availability import unavailable_reason

    remote_image = Capabilities(local=False, shares_files=False, image=True)
    assert unavailable_reason("go-native", remote_image, tmp_path) is None   # the Dockerfile builds every program
    assert unavailable_reason("go-native", Capabilities(), tmp_path) is not None   # no host build in tmp_path
    assert unavailable_reason("python-threads", Capabilities(), tmp_path) is None


# A runtime that exists nowhere but here: a plain subprocess whose files it pretends not to share,
# on another machine, so that every capability the runner asks is the opposite of the process runtime's.
class FakeSandbox:
    def __init__(self, process: subprocess.Popen[str], stderr: Path) -> None:
        assert process.stdout is not None
        self.process, self.stderr = process, stderr
        self.stdout: IO[str] = process.stdout
        self.notes: dict[str, str] = {"where": "a fake node"}

    def poll(self) -> int | None:
        return self.process.poll()

    def stats(self) -> CgroupStats:
        return CgroupStats(usage_bytes=0, working_set_bytes=0, peak_usage_bytes=None, cpu_seconds=0.0,
                           throttled_seconds=0.0, oom_kills=0)

    def pids(self) -> list[int]:
        return [self.process.pid]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def close(self) -> None:
        self.stop()
        self.stdout.close()

    def stderr_tail(self) -> str:
        return last_line(self.stderr)


class FakeRuntime:
    name = "fake"
    capabilities = Capabilities(local=False, shares_files=False, figures_inside=True, offered=False)
    recipes: list[dict[str, str]] = []

    @classmethod
    def create(cls, setup: Setup) -> FakeRuntime:
        return cls()

    def available(self) -> str | None:
        return None

    def start(self, spec: SandboxSpec) -> FakeSandbox:
        self.recipes.append(dict(spec.remote_inputs))
        paths = SandboxPaths(python=sys.executable, input_root=spec.input_root, output_dir=spec.output_dir,
                             manifest=spec.manifest)
        spec.log_dir.mkdir(parents=True, exist_ok=True)
        stderr = spec.log_dir / f"{spec.name}.stderr"
        with open(stderr, "w") as err:
            process = subprocess.Popen(spec.command(paths), stdout=subprocess.PIPE, stderr=err, text=True,
                                       stdin=subprocess.DEVNULL, env=worker_env(spec.env))
        return FakeSandbox(process, stderr)

    def describe(self) -> dict[str, Any]:
        return {"runtime": self.name, "fake": {"nodes": 1}}

    def cleanup(self) -> list[str]:
        return []

    def leftovers(self) -> list[str]:
        return []

    def recipe_problem(self, recipe: dict[str, str]) -> str | None:
        return None if "KIT_MANIFEST" in recipe else "no manifest in the recipe"


def test_a_runtime_added_to_the_registry_alone_runs_a_plan_through_the_runner(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(runtimes.REGISTRY, "fake", f"{__name__}:FakeRuntime")
    runtime, note = runtimes.select("fake", "no-image", lambda client, image: None)
    assert isinstance(runtime, FakeRuntime) and note is None
    plan = config.build(strategies=["python-sequential"], workload="count", items=3, count_to=1000,
                        out=tmp_path / "out", cache_dir=tmp_path / "cache", metrics_port=0)
    results = Runner(plan, runtime, RunObserver()).run()
    (record,) = results.records
    assert record.status == "ok" and record.items_ok == 3
    # not on this machine: no contention figures; its files are not shared: unverified, inputs from the recipe
    assert record.contended is None and record.verified is None
    assert record.verification == {"unverified": REMOTE_UNVERIFIED}
    assert FakeRuntime.recipes and "KIT_MANIFEST" in FakeRuntime.recipes[-1]
    saved = json.loads((tmp_path / "out" / results.run_id / "results.json").read_text())
    assert saved["environment"]["runtime"] == "fake" and saved["environment"]["fake"] == {"nodes": 1}
