"""Workloads: WHAT is computed per item."""

from __future__ import annotations

from kit.workloads.base import Item, ItemFailed, Workload

WORKLOAD_NAMES: tuple[str, ...] = ("images",)


def workload_for(name: str) -> Workload:
    """The workload object for a name; imported lazily so a worker loads only what it runs."""
    if name == "images":
        from kit.workloads.images import ImagesWorkload

        return ImagesWorkload()
    raise ValueError(f"unknown workload {name!r}")


__all__ = ["Item", "ItemFailed", "Workload", "WORKLOAD_NAMES", "workload_for"]
