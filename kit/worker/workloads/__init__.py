"""Workloads: WHAT is computed per item."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kit.worker.workloads.base import Item, ItemFailed, Session, Workload
from kit.worker.workloads.geometry import LIBRARIES

WORKLOAD_NAMES: tuple[str, ...] = ("images", "pi", "count", "payload", "io")
# Task workloads have no input files: the manifest carries each task's parameters instead.
TASK_WORKLOADS: tuple[str, ...] = ("pi", "count", "payload", "io")
# What the kit says each item is, and how each workload's tasks are verified (recorded in results).
VERIFICATION: dict[str, str] = {
    "images": ("output bytes equal the sequential pipeline's where the worker ran the reference's OpenCV "
               "build (version and JPEG library); PSNR for Go, Pillow and other OpenCV builds"),
    "pi": "|result - math.pi| <= pi * 4^-iterations + 1e-12 (Viete's truncation bound)",
    "count": "result equals count_to exactly",
    "payload": "result equals the payload's length in characters and the sha256 of every 4096th character",
    "io": "body equals the server's answer to the task's own path",
}


def unit(name: str) -> str:
    """The plural noun a throughput is counted in: images/s or tasks/s."""
    return "tasks" if name in TASK_WORKLOADS else "images"


def workload_for(name: str, library: str = "opencv") -> Workload:
    """The workload object for a name (images: through `library`); imported lazily so a worker
    loads only what it runs (the Pillow pipeline never loads cv2 or NumPy)."""
    if name == "images" and library == "pillow":
        from kit.worker.workloads.images_pillow import PillowImagesWorkload

        return PillowImagesWorkload()
    if name == "images":
        if library != "opencv":
            raise ValueError(f"unknown image library {library!r}")
        from kit.worker.workloads.images import ImagesWorkload

        return ImagesWorkload()
    if name == "pi":
        from kit.worker.workloads.pi import PiWorkload

        return PiWorkload()
    if name == "count":
        from kit.worker.workloads.count import CountWorkload

        return CountWorkload()
    if name == "payload":
        from kit.worker.workloads.payload import PayloadWorkload

        return PayloadWorkload()
    if name == "io":
        from kit.worker.workloads.io import IoWorkload

        return IoWorkload()
    raise ValueError(f"unknown workload {name!r}")


def library_info(library: str) -> dict[str, str | None]:
    """The image library's name and version, and its JPEG library's, as a worker records them:
    `libjpeg` as the library describes it, `jpeg_library` the release ("libjpeg-turbo 2.1.5", None
    when unknown) that claim 3 compares with go-gocv's."""
    if library == "pillow":
        from kit.worker.workloads.images_pillow import pillow_info

        info = pillow_info()
        known = None if info["libjpeg"].endswith("unknown") else info["libjpeg"]
        return {"library": "pillow", "library_version": info["pillow"], "libjpeg": info["libjpeg"],
                "jpeg_library": known}
    from kit.worker.workloads.images import opencv_info

    found = opencv_info()
    return {"library": "opencv", "library_version": found["opencv"], "libjpeg": found["libjpeg"],
            "jpeg_library": found["jpeg_library"]}


def task_check(name: str) -> Callable[[Mapping[str, Any], str, str], str | None]:
    """`check(task, item name, output text) -> problem or None` of a task workload."""
    from kit.worker.workloads import count, io, payload, pi

    return {"pi": pi.check, "count": count.check, "payload": payload.check, "io": io.check}[name]


__all__ = ["Item", "ItemFailed", "LIBRARIES", "Session", "TASK_WORKLOADS", "VERIFICATION", "Workload", "WORKLOAD_NAMES",
           "library_info", "task_check", "unit", "workload_for"]
