"""Strategy catalogue: how items are spread over workers.

The names are the product contract (product.md section 4). A strategy either runs inside the
Python worker (`kit worker`) or is a separate program speaking the same worker contract (Go).
"""

from __future__ import annotations

PYTHON_STRATEGIES: tuple[str, ...] = ("python-sequential", "python-threads", "python-processes")
GO_STRATEGIES: tuple[str, ...] = ("go-native", "go-gocv")
ALL_STRATEGIES: tuple[str, ...] = PYTHON_STRATEGIES + GO_STRATEGIES

START_METHODS: tuple[str, ...] = ("fork", "spawn", "forkserver")


def uses_start_method(strategy: str) -> bool:
    """Only process pools care how their workers are started."""
    return strategy == "python-processes"


def effective_workers(strategy: str, workers: int) -> int:
    """python-sequential has one worker by definition, whatever --workers says."""
    return 1 if strategy == "python-sequential" else workers
