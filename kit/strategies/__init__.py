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


def workload_problem(strategy: str, workload: str) -> str | None:
    """Why `strategy` cannot run `workload` (None when it can): the Go programs do images only."""
    if strategy in GO_STRATEGIES and workload != "images":
        return f"the Go workers do the images workload only, not {workload}"
    return None


def effective_workers(strategy: str, workers: int) -> int:
    """python-sequential has one worker by definition, whatever --workers says."""
    return 1 if strategy == "python-sequential" else workers


def output_check(strategy: str) -> str:
    """How outputs are verified: byte-identical for the Python pipeline (the reference's own
    code), PSNR plus exact dimensions for Go (another decoder, resizer or OpenCV build)."""
    return "psnr" if strategy in GO_STRATEGIES else "sha256"
