"""Strategy catalogue: how items are spread over workers.

The names are the product contract (product.md section 4). A strategy either runs inside the
Python worker (`kit worker`) or is a separate program speaking the same worker contract (Go).
"""

from __future__ import annotations

PYTHON_STRATEGIES: tuple[str, ...] = ("python-sequential", "python-threads", "python-processes",
                                      "python-pool-imap", "python-pool-imap-unordered", "python-asyncio")
# Strategies whose workers are processes: they take --start-method, and their tasks' arguments
# are pickled across a process boundary (what the payload workload measures).
PROCESS_STRATEGIES: tuple[str, ...] = ("python-processes", "python-pool-imap", "python-pool-imap-unordered",
                                       "python-asyncio")
POOL_STRATEGIES: tuple[str, ...] = ("python-pool-imap", "python-pool-imap-unordered")   # take --chunksize
GO_STRATEGIES: tuple[str, ...] = ("go-native", "go-gocv")
ALL_STRATEGIES: tuple[str, ...] = PYTHON_STRATEGIES + GO_STRATEGIES

START_METHODS: tuple[str, ...] = ("fork", "spawn", "forkserver")


def uses_start_method(strategy: str) -> bool:
    """Only process pools care how their workers are started."""
    return strategy in PROCESS_STRATEGIES


# The task workloads go-native runs too (kit/go/internal/tasks), under the same contract and checks.
GO_TASK_WORKLOADS: tuple[str, ...] = ("pi", "count", "payload")


def language(strategy: str) -> str:
    """"go" or "python": pi's iterations are calibrated per language (seed 001)."""
    return "go" if strategy in GO_STRATEGIES else "python"


def workload_problem(strategy: str, workload: str) -> str | None:
    """Why `strategy` cannot run `workload` (None when it can). go-gocv is go-native's pool with
    OpenCV as its image pipeline: on a task workload it would run go-native's very Go code, only
    with OpenCV's libraries mapped into its memory, so it is left to go-native."""
    if strategy == "go-gocv" and workload != "images":
        return (f"go-gocv differs from go-native only in its OpenCV image pipeline; the {workload} "
                "workload uses none, so it runs on go-native (-s go-native)")
    if strategy == "go-native" and workload not in ("images", *GO_TASK_WORKLOADS):
        return f"the Go workers run images, {', '.join(GO_TASK_WORKLOADS)}, not {workload}"
    return None


def effective_workers(strategy: str, workers: int) -> int:
    """python-sequential has one worker by definition, whatever --workers says."""
    return 1 if strategy == "python-sequential" else workers


def output_check(strategy: str) -> str:
    """How outputs are verified: byte-identical for the Python pipeline (the reference's own
    code), PSNR plus exact dimensions for Go (another decoder, resizer or OpenCV build)."""
    return "psnr" if strategy in GO_STRATEGIES else "sha256"
