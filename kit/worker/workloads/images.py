"""The study's workload: decode a JPEG, resize to fit 1920x1080 with INTER_AREA, encode at q85.

Per good item the timed work is exactly: read the file, decode, resize, encode, write. Inputs were
judged by the controller before timing (kit/plan/input_check.py); an item it found bad arrives with its
verdict and is failed without being read. A file that changed since then is still caught here, as
an undecodable item, and never ends the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager

import cv2
import numpy as np

from kit.worker.workloads.base import Item, ItemFailed, Session, Stages, no_session
from kit.worker.workloads.geometry import (
    MAX_HEIGHT,
    MAX_WIDTH,
    OUTPUT_QUALITY,
    read_input,
    staged_pipeline,
    target_size,
)
from kit.worker.workloads.libjpeg import jpeg_line, opencv_jpeg

# EXIF orientation is ignored everywhere, so every strategy (Go too) sees the same pixels.
DECODE_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION


def decode(data: bytes) -> np.ndarray:
    """JPEG bytes -> BGR pixels, EXIF orientation ignored."""
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), DECODE_FLAGS)
    except cv2.error as exc:
        raise ItemFailed(f"OpenCV error: {_first_line(exc)}") from exc
    if image is None:
        raise ItemFailed("undecodable JPEG")
    return image


def resize(image: np.ndarray) -> np.ndarray:
    """To fit MAX_WIDTH x MAX_HEIGHT with INTER_AREA; never upscaled (then the same array)."""
    height, width = image.shape[:2]
    size = target_size(width, height)
    if size == (width, height):
        return image
    try:
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    except cv2.error as exc:
        raise ItemFailed(f"OpenCV error: {_first_line(exc)}") from exc


def encode(image: np.ndarray) -> bytes:
    """Pixels -> JPEG at OUTPUT_QUALITY."""
    try:
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, OUTPUT_QUALITY])
    except cv2.error as exc:
        raise ItemFailed(f"OpenCV error: {_first_line(exc)}") from exc
    if not ok:
        raise ItemFailed("JPEG encoding failed")
    return encoded.tobytes()


def transform(data: bytes) -> bytes:
    """The pipeline on bytes in memory, used by workers and for the reference outputs alike. Any
    OpenCV error (a file replaced by garbage, an allocation the cap refuses) fails this item only."""
    return encode(resize(decode(data)))


def _first_line(exc: Exception) -> str:
    """OpenCV's message without its file:line banner: the last non-empty line says what failed."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1][:200] if lines else type(exc).__name__


class ImagesWorkload:
    """Read the file, transform, write the output into the strategy's own directory."""

    name = "images"
    library = "opencv"

    def setup(self) -> None:
        # One OpenCV thread per worker: otherwise workers x OpenCV threads oversubscribe the CPU.
        cv2.setNumThreads(1)

    def process(self, item: Item) -> Stages:
        """The item's five stages, each timed on this thread (geometry.staged_pipeline)."""
        return staged_pipeline(item, decode, resize, encode)

    def session(self, items: Sequence[Item]) -> AbstractContextManager[Session]:
        return no_session(items)


__all__ = ["MAX_HEIGHT", "MAX_WIDTH", "OUTPUT_QUALITY", "ImagesWorkload", "opencv_info", "read_input",
           "target_size", "transform"]


def opencv_info() -> dict[str, str | None]:
    """OpenCV and its JPEG library versions: they decide output bytes and speed. `libjpeg` is the
    build information's JPEG line as OpenCV says it; `jpeg_library` the release it runs,
    "libjpeg-turbo X.Y.Z" (kit/worker/workloads/libjpeg.py), None when nothing says which."""
    build = cv2.getBuildInformation()
    return {"opencv": cv2.__version__, "libjpeg": jpeg_line(build) or "unknown", "jpeg_library": opencv_jpeg(build)}
