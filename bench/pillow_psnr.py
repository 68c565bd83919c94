"""How close the Pillow pipeline's outputs are to OpenCV's (the reference), in PSNR, on the kit's
generated photos at several sizes: the figures behind kit/results/verify.py's PILLOW_PSNR_THRESHOLD_DB.

    .venv/bin/python bench/pillow_psnr.py [--images 16]

Pure measurement of pixels (no timing), so it may run on a busy machine. Each size: min, median
and max PSNR over the images, plus how many outputs are byte-identical to OpenCV's.
"""

from __future__ import annotations

import argparse
import statistics

import cv2
import numpy as np

from kit.results.verify import psnr_db
from kit.worker.workloads import images, images_pillow
from kit.worker.workloads.imagegen import generate_image

# (label, width, height): the kit's 4K default (an exact 2x downscale), 1080p (decode and encode
# only: no resize), a 4:3 photo (non-integer factor 2.78) and a portrait one.
SIZES = [("4k", 3840, 2160), ("1080p", 1920, 1080), ("4000x3000", 4000, 3000), ("3024x4032", 3024, 4032)]


def decoded(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    assert image is not None
    return image


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=16)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    for label, width, height in SIZES:
        values, identical = [], 0
        for index in range(args.images):
            source = generate_image(index, width, height)
            reference, pillow = images.transform(source), images_pillow.transform(source)
            identical += reference == pillow
            expected, actual = decoded(reference), decoded(pillow)
            assert expected.shape == actual.shape, (label, expected.shape, actual.shape)
            values.append(psnr_db(expected, actual))
        print(f"{label:>10}: PSNR min {min(values):.2f} dB, median {statistics.median(values):.2f}, "
              f"max {max(values):.2f} over {len(values)} images; byte-identical {identical}", flush=True)


if __name__ == "__main__":
    main()
