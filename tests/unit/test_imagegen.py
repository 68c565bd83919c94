"""The synthetic JPEG generator: deterministic, distinct, right-sized, and its pool is resumable."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from kit.worker.workloads.imagegen import GENERATOR_VERSION, generate_image, generate_pool

W, H = 640, 360


def decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_version_is_a_string() -> None:
    assert isinstance(GENERATOR_VERSION, str) and GENERATOR_VERSION


def test_same_arguments_give_same_bytes() -> None:
    assert generate_image(3, W, H) == generate_image(3, W, H)


def test_index_and_seed_change_the_image() -> None:
    base = generate_image(0, W, H)
    assert generate_image(1, W, H) != base
    assert generate_image(0, W, H, seed=1) != base


def test_decodes_to_the_requested_size() -> None:
    data = generate_image(0, W, H)
    assert data[:2] == b"\xff\xd8"
    assert decode(data).shape == (H, W, 3)
    assert decode(generate_image(0, 333, 97)).shape == (97, 333, 3)


def test_image_is_not_flat() -> None:
    image = decode(generate_image(0, W, H)).astype(np.float32)
    assert image.std() > 10  # texture and shapes, not a flat fill
    assert np.abs(np.diff(image, axis=1)).mean() > 2  # fine detail, as photos have


def test_quality_changes_size() -> None:
    assert len(generate_image(0, W, H, quality=95)) > len(generate_image(0, W, H, quality=60))


def test_pool_writes_ordered_paths(tmp_path: Path) -> None:
    paths = generate_pool(tmp_path / "pool", 3, W, H)
    assert [p.name for p in paths] == ["img-000.jpg", "img-001.jpg", "img-002.jpg"]
    for index, path in enumerate(paths):
        assert path.read_bytes() == generate_image(index, W, H)
    assert sorted(p.name for p in (tmp_path / "pool").iterdir()) == [p.name for p in paths]  # no temp files


def test_pool_skips_existing_files(tmp_path: Path) -> None:
    first = generate_pool(tmp_path, 2, W, H)
    first[0].write_bytes(b"sentinel")
    mtime = first[1].stat().st_mtime_ns
    os.utime(first[1], ns=(mtime - 10**9, mtime - 10**9))
    again = generate_pool(tmp_path, 3, W, H)
    assert again[:2] == first
    assert again[0].read_bytes() == b"sentinel"  # existing files are left alone
    assert again[1].stat().st_mtime_ns == mtime - 10**9
    assert again[2].read_bytes() == generate_image(2, W, H)
