"""The images workload with Pillow instead of OpenCV (seeds 003 and 004 used PIL): decode, resize
to the same geometry, encode JPEG q85, under the same contract (kit/worker/workloads/geometry.py).

The filter is `Image.Resampling.BOX`, the one closest to OpenCV's INTER_AREA in kind: each output
pixel is the unweighted mean of the input pixels under it. For an integer factor (the default,
4K -> 1080p, is exactly 2x) both are the k x k block mean and differ only in rounding (at most 1
level per channel; 52 dB before encoding, measured). For a non-integer factor (a 4:3 photo,
4000x3000 -> 1440x1080, is 2.78x) Pillow counts an input pixel cut by the window's edge wholly in
or out (by its centre) where INTER_AREA weights it by the part covered, so the pixels drift
further (38.6 dB before encoding; Pillow's HAMMING happens to land closer there, 51 dB, but it is a
windowed-sinc filter, another operation, and further off at 2x). `Image.reduce(k)` is not used:
it takes integer factors only (a 4:3 photo would need a second resize with another filter), and
at 2x BOX already is a block mean (within 1 level of reduce's rounding). Neither is
`Image.draft()` (decoding at 1/2, 1/4 or 1/8 scale in the DCT domain): it would skip work the
other pipelines do and give other pixels. EXIF orientation is ignored, as everywhere: Pillow
applies it only when asked to (ImageOps.exif_transpose), which this pipeline never does.

Imports Pillow only: no cv2, no NumPy, so the free-threaded interpreter (which has Pillow's cp313t
wheels and no OpenCV) runs this pipeline too.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from contextlib import AbstractContextManager

from PIL import Image, features

from kit.worker.workloads.base import Item, ItemFailed, Session, Stages, no_session
from kit.worker.workloads.geometry import OUTPUT_QUALITY, staged_pipeline, target_size

RESAMPLING = Image.Resampling.BOX
# What Pillow raises on a file it cannot decode: a truncated or garbled stream (OSError, which
# UnidentifiedImageError is), a header it rejects (SyntaxError, ValueError), an allocation the
# memory cap refuses (MemoryError).
DECODE_ERRORS = (OSError, SyntaxError, ValueError, MemoryError, Image.DecompressionBombError)


def decode(data: bytes) -> Image.Image:
    """JPEG bytes -> an RGB image (3 channels, as OpenCV's IMREAD_COLOR gives for grey or CMYK too)."""
    try:
        with Image.open(io.BytesIO(data), formats=("JPEG",)) as opened:
            opened.load()
            return opened if opened.mode == "RGB" else opened.convert("RGB")
    except DECODE_ERRORS as exc:
        raise _failed(exc) from exc


def resize(image: Image.Image) -> Image.Image:
    """BOX to target_size; never upscaled (then the same image)."""
    size = target_size(*image.size)
    if size == image.size:
        return image
    try:
        return image.resize(size, RESAMPLING)
    except DECODE_ERRORS as exc:
        raise _failed(exc) from exc


def encode(image: Image.Image) -> bytes:
    """At OUTPUT_QUALITY; Pillow's defaults match OpenCV's: 4:2:0 chroma, no optimized Huffman tables."""
    out = io.BytesIO()
    try:
        image.save(out, "JPEG", quality=OUTPUT_QUALITY)
    except DECODE_ERRORS as exc:
        raise _failed(exc) from exc
    return out.getvalue()


def _failed(exc: BaseException) -> ItemFailed:
    return ItemFailed(f"Pillow error: {str(exc)[:200] or type(exc).__name__}")


def transform(data: bytes) -> bytes:
    """Decode, resize with BOX to target_size, encode at OUTPUT_QUALITY; a bad input fails this item."""
    return encode(resize(decode(data)))


class PillowImagesWorkload:
    """The images workload's items, through Pillow."""

    name = "images"
    library = "pillow"

    def setup(self) -> None:
        # The controller judged every input's declared size (--max-pixels) before the run; Pillow's
        # own bomb check (a warning from 89 Mpx) would only add a second, different rule.
        Image.MAX_IMAGE_PIXELS = None

    def process(self, item: Item) -> Stages:
        """The item's five stages, each timed on this thread (geometry.staged_pipeline)."""
        return staged_pipeline(item, decode, resize, encode)

    def session(self, items: Sequence[Item]) -> AbstractContextManager[Session]:
        return no_session(items)


def pillow_info() -> dict[str, str]:
    """Pillow's version and its JPEG library's: they decide output bytes and speed."""
    import PIL

    turbo = features.version("libjpeg_turbo")   # "jpg" alone is the API level libjpeg-turbo emulates (6.2)
    jpeg = f"libjpeg-turbo {turbo}" if turbo else f"libjpeg {features.version('jpg') or 'unknown'}"
    return {"pillow": PIL.__version__, "libjpeg": jpeg}
