"""Deterministic, photo-like synthetic JPEGs.

The study needs inputs whose JPEG size and decode cost resemble camera photos, but it cannot ship
gigabytes of photographs. Flat colours or white noise would be unfair (too cheap or far too costly
to decode), so each image layers what photographs have: smooth lighting gradients, soft-edged
objects, 1/f-like multi-scale texture whose strength varies across the frame (in-focus detail next
to smooth bokeh and sky), crisp text and sensor grain. ``bench/photo_cost.py`` checks the pipeline
cost against real photographs.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

GENERATOR_VERSION: str = "1"  # bump when output bytes change

_F32 = np.float32
# Tuned with bench/photo_cost.py: 3840x2160 at q90 gives 2.5-3.4 MB, decode cost close to real photos.
DETAIL = 0.6  # texture contrast (log-brightness units)
COARSE = 0.5  # weight of the large-scale texture: mostly looks, few bytes
FINE = 1.0  # weight of the 2-px texture: most of the bytes
RIDGE = 1.0  # weight of line-like ridges
FOCUS = 0.6  # mean of the in-focus map (1 = sharp everywhere)
GRAIN = 0.025  # sensor noise (log-brightness units)


def _field(
    rng: np.random.Generator,
    cells_x: int,
    cells_y: int,
    size: tuple[int, int],
    channels: int = 1,
    interpolation: int = cv2.INTER_CUBIC,
) -> np.ndarray:
    """A cheap smooth random field: a tiny grid of normals upscaled by cv2 (no per-pixel Python)."""
    small = rng.standard_normal((max(2, cells_y), max(2, cells_x), channels), dtype=_F32)
    return cv2.resize(small if channels > 1 else small[..., 0], size, interpolation=interpolation)


def _texture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Multi-scale luminance texture: 1/f-like noise plus ridges, as on rock, bark and foliage."""
    tex = np.zeros((height, width), _F32)
    # (cell size in pixels, amplitude, ridged): |noise| has sharp V-shaped creases, the line-like
    # edges that band-limited noise lacks. The 2-px scale stands for in-focus fine detail (foliage,
    # gravel, fabric), which carries most of a photo's JPEG bytes.
    for cell, amp, ridged in (
        (256, COARSE, False),
        (64, 0.7 * COARSE, False),
        (24, -0.6 * RIDGE, True),
        (16, 0.5, False),
        (7, -RIDGE, True),
        (5, 0.5, False),
        (2, FINE, False),
    ):
        interp = cv2.INTER_CUBIC if cell > 4 else cv2.INTER_LINEAR
        field = _field(rng, -(-width // cell) + 1, -(-height // cell) + 1, (width, height), 1, interp)
        if ridged:  # centred so that ridges do not darken the image on average
            field = np.abs(field, out=field)
            field -= _F32(0.69)
        cv2.scaleAdd(field, amp, tex, tex)
    return tex


def _scene(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Low-frequency colour layout at quarter size: lighting gradient and soft-edged objects."""
    size = (max(8, width // 4), max(8, height // 4))
    img = _field(rng, 3, 3, size, 3) * _F32(0.18) + rng.uniform(0.3, 0.7, 3).astype(_F32)
    for _ in range(int(rng.integers(3, 7))):
        layer = np.zeros(size[::-1], np.uint8)
        cx, cy = int(rng.integers(0, size[0])), int(rng.integers(0, size[1]))
        if rng.random() < 0.5:
            axes = (
                int(rng.integers(size[0] // 16, size[0] // 4)),
                int(rng.integers(size[1] // 16, size[1] // 3)),
            )
            cv2.ellipse(layer, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, 255, -1, cv2.LINE_AA)
        else:
            n = int(rng.integers(3, 7))
            r = rng.uniform(size[1] / 12, size[1] / 3, n)
            a = np.sort(rng.uniform(0, 2 * np.pi, n))
            pts = np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], axis=1).astype(np.int32)
            cv2.fillPoly(layer, [pts], 255, cv2.LINE_AA)
        k = 2 * int(rng.integers(0, 6)) + 1  # some objects sharp, some out of focus
        alpha = cv2.GaussianBlur(layer, (k, k), 0).astype(_F32) * _F32(rng.uniform(0.6, 1.0) / 255)
        img += alpha[..., None] * (rng.uniform(0.05, 0.95, 3).astype(_F32) - img)
    return np.clip(img, 0, 1, out=img)


def _render(index: int, width: int, height: int, seed: int) -> np.ndarray:
    """The image as uint8 BGR. Big arrays are few and updated in place: allocation dominates."""
    rng = np.random.default_rng(seed * 100003 + index)
    img = cv2.resize(_scene(rng, width, height), (width, height), interpolation=cv2.INTER_LINEAR)
    # One luminance multiplier: 255 * exp(texture * focus + grain); detail varies per image.
    focus = _field(rng, 4, 3, (width, height))
    focus *= _F32(0.6)
    focus += _F32(FOCUS)
    np.clip(focus, 0.05, 1.0, out=focus)
    mult = _texture(rng, width, height)
    mult *= focus
    mult *= _F32(DETAIL * rng.uniform(0.75, 1.25) / 2)
    grain = rng.standard_normal((height, width), dtype=_F32)
    cv2.scaleAdd(grain, GRAIN * rng.uniform(0.75, 1.25), mult, mult)
    cv2.exp(mult, mult)  # log-domain, like reflectance: strong texture without clipping to black
    mult *= _F32(255)
    img *= mult[..., None]
    out = cv2.convertScaleAbs(img)  # values are >= 0, so this is a saturating cast to uint8
    # Crisp text: signs, captions and labels are common in photos and have sharp edges.
    for _ in range(int(rng.integers(1, 4))):
        scale = float(rng.uniform(1.0, 4.0)) * height / 1080
        org = (int(rng.integers(0, max(1, width * 3 // 4))), int(rng.integers(height // 10, height)))
        text = "".join(chr(c) for c in rng.integers(65, 91, int(rng.integers(4, 12))))
        shade = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.putText(
            out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, shade, max(1, int(scale * 2)), cv2.LINE_AA
        )
    return out


# The float32 layers of `_render` take about 29 bytes a pixel: a 100-megapixel frame (what
# --max-pixels allows by default) would take the controller 3 GiB. A larger frame is rendered at
# this many pixels and scaled up (its texture is coarser; the bytes of every frame up to this size,
# 4K included, are unchanged), so the controller stays under 1 GiB for any size it accepts.
RENDER_MAX_PIXELS = 2 * 3840 * 2160


def _render_bounded(index: int, width: int, height: int, seed: int) -> np.ndarray:
    if width * height <= RENDER_MAX_PIXELS:
        return _render(index, width, height, seed)
    scale = (RENDER_MAX_PIXELS / (width * height)) ** 0.5
    small = _render(index, max(16, int(width * scale)), max(16, int(height * scale)), seed)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def generate_image(index: int, width: int, height: int, quality: int = 90, seed: int = 0) -> bytes:
    """JPEG bytes for image ``index``: same arguments give the same bytes on the same OpenCV build."""
    if width < 1 or height < 1:
        raise ValueError(f"bad size {width}x{height}")
    ok, buf = cv2.imencode(".jpg", _render_bounded(index, width, height, seed), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def pool_name(index: int) -> str:
    """The file name of the pool's image `index` (the manifest names inputs by it)."""
    return f"img-{index:03d}.jpg"


def generate_pool(
    directory: Path, count: int, width: int, height: int, quality: int = 90, seed: int = 0
) -> list[Path]:
    """Write img-000.jpg.. into directory (atomically: temp file + os.replace), skipping files that
    already exist; return paths in order. Atomic, so an interrupted run never leaves a truncated
    JPEG that a later run would take as done."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = directory / pool_name(index)
        if not path.exists():
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".img-", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(generate_image(index, width, height, quality, seed))
                # mkstemp makes 0600; a container's unprivileged worker must read the pool too.
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        paths.append(path)
    return paths
