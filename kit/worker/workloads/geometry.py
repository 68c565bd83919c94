"""The images workload's contract without any image library: the output geometry, the JPEG
quality and how an input is read. Both pipelines (OpenCV and Pillow) import it, so the Pillow path
never loads cv2 or NumPy (a free-threaded interpreter has no wheel of either to load)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

from kit.worker.workloads.base import Item, ItemFailed, StageClock, Stages, write_output

Pixels = TypeVar("Pixels")   # a library's decoded image: a NumPy array (OpenCV), a PIL Image (Pillow)

MAX_WIDTH, MAX_HEIGHT = 1920, 1080
OUTPUT_QUALITY = 85
LIBRARIES: tuple[str, ...] = ("opencv", "pillow")   # --library
DEFAULT_LIBRARY = LIBRARIES[0]


def target_size(width: int, height: int) -> tuple[int, int]:
    """scale = min(1920/w, 1080/h, 1), both sides rounded half up; never upscaled."""
    scale = min(MAX_WIDTH / width, MAX_HEIGHT / height, 1.0)
    return max(1, math.floor(width * scale + 0.5)), max(1, math.floor(height * scale + 0.5))


def read_input(path: str) -> bytes:
    """Read one input file; unreadable files are failed items, not crashes."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise ItemFailed(f"unreadable: {exc.strerror or exc}") from exc


def staged_pipeline(item: Item, decode: Callable[[bytes], Pixels], resize: Callable[[Pixels], Pixels],
                    encode: Callable[[Pixels], bytes]) -> Stages:
    """One image through read, decode, resize, encode and write, each stage's CPU timed on this
    thread (StageClock): the same per-item path for both image libraries."""
    if item.problem is not None:   # the controller's verdict (the worker skips these before a pool)
        raise ItemFailed(item.problem)
    clock = StageClock()
    data = read_input(item.input_path)
    clock.lap("read")
    image = decode(data)
    clock.lap("decode")
    image = resize(image)
    clock.lap("resize")
    encoded = encode(image)
    clock.lap("encode")
    write_output(item.output_path, encoded)
    clock.lap("write")
    return clock.seconds
