"""Deterministic, photo-like synthetic JPEGs.

The study needs inputs whose JPEG size and decode cost resemble camera photos, but it cannot ship
gigabytes of photographs. Flat colours or white noise would be unfair (too cheap or far too costly
to decode), so each image layers what photographs have: smooth lighting gradients, 1/f-like
multi-scale texture whose strength varies across the frame (in-focus detail next to smooth bokeh
and sky), a few soft-edged objects, crisp text, and fine sensor grain. ``bench/photo_cost.py``
measures the pipeline cost against real photographs.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

GENERATOR_VERSION: str = "1"  # bump when output bytes change

_F32 = np.float32
import os as _o
DETAIL=float(_o.environ.get("DETAIL","1"))
RIDGE=float(_o.environ.get("RIDGE","1"))
FOCUS=float(_o.environ.get("FOCUS","0.45"))
GRAIN=float(_o.environ.get("GRAIN","2"))


def _field(rng: np.random.Generator, cells_x: int, cells_y: int, width: int, height: int,
           channels: int = 1, interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
    """A cheap smooth random field: a tiny grid of normals upscaled to full size by cv2."""
    small = rng.standard_normal((max(2, cells_y), max(2, cells_x), channels), dtype=_F32)
    big = cv2.resize(small, (width, height), interpolation=interpolation)
    return big if channels > 1 else big.reshape(height, width)


def _texture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Multi-scale luminance texture, amplitude ~ 1/f like natural scenes, in [-1, 1]-ish units."""
    tex = np.zeros((height, width), _F32)
    # Cell sizes in pixels, coarse to fine; finer scales weigh less, as in natural images.
    for cell, amp in ((256, 1.0), (64, 0.6), (16, 0.45), (5, 0.4), (2, 0.5)):
        cells_x, cells_y = -(-width // cell) + 1, -(-height // cell) + 1
        interp = cv2.INTER_CUBIC if cell > 4 else cv2.INTER_LINEAR
        cv2.scaleAdd(_field(rng, cells_x, cells_y, width, height, interpolation=interp), amp, tex, tex)
    for cell in (24, 7):
        cells_x, cells_y = -(-width // cell) + 1, -(-height // cell) + 1
        cv2.scaleAdd(np.abs(_field(rng, cells_x, cells_y, width, height)), -RIDGE, tex, tex)
    return tex


def _shapes(rng: np.random.Generator, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A few soft-edged filled objects: returns (alpha mask HxW, colour image HxWx3) in [0, 1]."""
    # Drawn at quarter size and blurred there: soft edges cost little and upscale smoothly.
    sw, sh = max(8, width // 4), max(8, height // 4)
    mask = np.zeros((sh, sw), _F32)
    colour = np.zeros((sh, sw, 3), _F32)
    for _ in range(int(rng.integers(3, 7))):
        layer = np.zeros((sh, sw), np.uint8)
        cx, cy = int(rng.integers(0, sw)), int(rng.integers(0, sh))
        if rng.random() < 0.5:
            axes = (int(rng.integers(sw // 16, sw // 4)), int(rng.integers(sh // 16, sh // 3)))
            cv2.ellipse(layer, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, 255, -1, cv2.LINE_AA)
        else:
            n = int(rng.integers(3, 7))
            r = rng.uniform(sh / 12, sh / 3, n)
            a = np.sort(rng.uniform(0, 2 * np.pi, n))
            pts = np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], axis=1).astype(np.int32)
            cv2.fillPoly(layer, [pts], 255, cv2.LINE_AA)
        k = 2 * int(rng.integers(1, 6)) + 1  # some objects sharp, some out of focus
        alpha = cv2.GaussianBlur(layer, (k, k), 0).astype(_F32) * _F32(1 / 255)
        alpha *= _F32(rng.uniform(0.6, 1.0))
        col = rng.uniform(0.05, 0.95, 3).astype(_F32)
        # "Over" compositing with premultiplied colour, un-premultiplied below (no dark fringes).
        colour += alpha[..., None] * (col - colour)
        mask += alpha * (1 - mask)
    colour /= np.maximum(mask, _F32(1e-3))[..., None]
    size = (width, height)
    return (cv2.resize(mask, size, interpolation=cv2.INTER_LINEAR),
            cv2.resize(colour, size, interpolation=cv2.INTER_LINEAR))


def _render(index: int, width: int, height: int, seed: int) -> np.ndarray:
    """The image as uint8 BGR."""
    rng = np.random.default_rng(seed * 100003 + index)
    # Lighting: a smooth colour gradient across the frame (sky, walls, vignetting).
    img = _field(rng, 3, 3, width, height, channels=3) * _F32(0.18)
    img += rng.uniform(0.3, 0.7, 3).astype(_F32)
    # Shapes blend over the background, then everything is textured, as real surfaces are.
    mask, colour = _shapes(rng, width, height)
    img += mask[..., None] * (colour - img)
    # Detail strength varies: sharp, busy regions next to smooth ones (depth of field, sky).
    focus = _field(rng, 4, 3, width, height)
    np.clip(focus * _F32(0.6) + _F32(FOCUS), 0.05, 1.0, out=focus)
    tex = _texture(rng, width, height)
    tex *= focus
    tex *= _F32(0.09 * DETAIL)
    img *= (tex + _F32(1.0))[..., None]
    img *= _F32(255)
    # Fine grain (sensor noise), mostly luminance as after a camera's chroma noise reduction.
    grain = rng.standard_normal((height, width), dtype=_F32)
    img += (grain * _F32(GRAIN))[..., None]
    out = np.clip(img, 0, 255).astype(np.uint8)
    # Crisp text: signs, captions and labels are common in photos and have sharp edges.
    for _ in range(int(rng.integers(1, 4))):
        scale = float(rng.uniform(1.0, 4.0)) * height / 1080
        org = (int(rng.integers(0, max(1, width * 3 // 4))), int(rng.integers(height // 10, height)))
        text = "".join(chr(c) for c in rng.integers(65, 91, int(rng.integers(4, 12))))
        shade = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, shade,
                    max(1, int(scale * 2)), cv2.LINE_AA)
    return out


def generate_image(index: int, width: int, height: int, quality: int = 90, seed: int = 0) -> bytes:
    """JPEG bytes for image ``index``: same arguments give the same bytes on the same OpenCV build."""
    if width < 1 or height < 1:
        raise ValueError(f"bad size {width}x{height}")
    ok, buf = cv2.imencode(".jpg", _render(index, width, height, seed), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def generate_pool(directory: Path, count: int, width: int, height: int, quality: int = 90,
                  seed: int = 0) -> list[Path]:
    """Write img-000.jpg.. into directory (atomically: temp file + os.replace), skipping files that
    already exist; return paths in order. Atomic writes mean an interrupted run never leaves a
    truncated JPEG that a later run would take as done."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    digits = max(3, len(str(count - 1)))
    paths = []
    for index in range(count):
        path = directory / f"img-{index:0{digits}d}.jpg"
        if not path.exists():
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".jpg")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(generate_image(index, width, height, quality, seed))
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        paths.append(path)
    return paths
