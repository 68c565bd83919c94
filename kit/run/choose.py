"""Which runtime and which strategies: `--runtime` made into a runtime, and what it can run here.

The runtimes know nothing of builds or plans, so the runtime gets the worker image, its freshness
check and the plan's cluster settings from here; whether a strategy can run is asked of the
runtime's capabilities (kit/runtimes/base.py), never of its name.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kit.core.errors import ConfigError
from kit.plan.cells import Cell
from kit.plan.config import RunConfig
from kit.runtimes.base import Capabilities, Runtime
from kit.worker.programs import NAMES, program

if TYPE_CHECKING:
    from kit.runtimes.kube.manifests import Cluster


def select_runtime(name: str, config: RunConfig | None = None) -> tuple[Runtime, str | None]:
    """`--runtime NAME` -> the runtime, with the worker image of this kit and its freshness check
    (the runtimes themselves know nothing of builds); a runtime that sends sandboxes to a cluster
    makes the plan's cluster settings when it needs them."""
    from kit import runtimes
    from kit.build.image import BIN_DIR, image_problem, image_tag
    from kit.measure.inside import InsideTracker

    return runtimes.select(name, image_tag(), image_problem, BIN_DIR,
                           cluster=lambda: cluster_settings(config or RunConfig(runtime=name)), inside=InsideTracker)


def cluster_settings(config: RunConfig) -> Cluster:
    """Where Jobs go and what they run: --namespace, --image (default this kit's worker image),
    --node-selector, --pending-timeout and --timeout."""
    from kit.build.image import image_tag
    from kit.runtimes.kube.manifests import Cluster

    return Cluster(namespace=config.namespace, image=config.image or image_tag(),
                   node_selector=config.node_selector, pending_timeout_seconds=config.pending_timeout_seconds,
                   run_timeout_seconds=config.timeout_seconds)


def unavailable_reason(strategy: str, runtime: str | Capabilities = "cgroup",
                       cache_dir: Path | None = None) -> str | None:
    """Why a contract strategy cannot run on `runtime` (a name or its capabilities) here, and how to
    get it (None when it can)."""
    from kit.build.availability import unavailable_reason as reason
    from kit.plan.config import default_cache_dir

    return reason(strategy, runtime, cache_dir or default_cache_dir())


def strategy_problem(name: str, runtime: str | Capabilities, cache_dir: Path | None, workload: str = "images",
                     library: str = "opencv") -> str | None:
    """Why strategy `name` cannot run here: a workload (or image library) it does not run, else what it
    lacks on `runtime` and how to get it. None when it can."""
    return program(name).workload_problem(workload, library) or unavailable_reason(name, runtime, cache_dir)


def choose_strategies(config: RunConfig, runtime: str | Capabilities = "cgroup") -> tuple[list[str], dict[str, str]]:
    """The strategies to run (asked for, or every available one) and why the others are skipped."""
    skipped = {name: reason for name in NAMES
               if (reason := strategy_problem(name, runtime, config.cache_dir, config.workload, config.library))}
    if config.strategies:
        for name in config.strategies:
            if name in skipped:
                raise ConfigError(f"strategy {name} is not available: {skipped[name]}")
        return list(config.strategies), {}
    return [name for name in NAMES if name not in skipped], skipped


def given_strategies(cells: Sequence[Cell], config: RunConfig, runtime: Capabilities) -> list[str]:
    """A given grid's strategies, in order; every one must be available (ConfigError says which is not)."""
    strategies = list(dict.fromkeys(cell.strategy for cell in cells))
    for name in strategies:
        if reason := strategy_problem(name, runtime, config.cache_dir, config.workload, config.library):
            raise ConfigError(f"strategy {name} is not available: {reason}")
    return strategies


def availability_lines(runtime: str, cache_dir: Path, workload: str = "images", library: str = "opencv",
                       asked: Sequence[str] | None = None) -> list[str]:
    """What `kit run` says first: the strategies this runtime can run, and one line per other strategy
    with the gist of why and how to get it. Nothing when the user named the strategies (-s): the
    others are none of their business."""
    if asked:
        return []
    reasons = {name: strategy_problem(name, runtime, cache_dir, workload, library) for name in NAMES}
    lines = [f"strategies available on {runtime}: "
             + (", ".join(name for name, reason in reasons.items() if reason is None) or "none")]
    return lines + [f"  {name} not available: {gist(reason)}" for name, reason in reasons.items() if reason]


def gist(reason: str) -> str:
    """A reason as its one line before a run: whole when it names the command that fixes it, else its
    first clause ('no free-threaded (cp313t) OpenCV wheel exists: PyPI's ...' -> the part before the
    colon); the results file and the report keep it whole."""
    head = reason.split(": ", 1)[0]
    return reason if "`" in reason or len(head) < 20 else head
