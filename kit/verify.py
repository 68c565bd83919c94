"""Reference outputs and the check of every strategy's outputs against them.

The controller always makes the reference with the sequential Python pipeline, outside any
timing, so any subset of strategies can be verified. Same OpenCV build -> identical bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit.inputs import Batch
from kit.results import atomic_write


@dataclass(frozen=True, slots=True)
class Reference:
    """input (relative path) -> sha256 of the expected output, or None when the item must fail."""

    directory: Path
    digests: dict[str, str | None]


def _reference_one(source: Path, target: Path) -> str | None:
    from kit.workloads.base import ItemFailed
    from kit.workloads.images import read_input, transform

    try:
        output = transform(read_input(str(source)))
    except ItemFailed:
        return None
    target.write_bytes(output)
    return hashlib.sha256(output).hexdigest()


def make_reference(batch: Batch, directory: Path) -> Reference:
    """Run the pipeline once per distinct input into `directory`; reuse a complete earlier one."""
    import cv2

    from kit.workloads.images import opencv_info

    index_path = directory / "reference.json"
    key = {"inputs": batch.digests, "opencv": opencv_info()}
    if index_path.exists():
        saved = json.loads(index_path.read_text())
        if saved.get("key") == key:
            return Reference(directory, saved["digests"])
    directory.mkdir(parents=True, exist_ok=True)
    cv2.setNumThreads(1)  # the same as in every worker
    names = batch.distinct_inputs
    # OpenCV releases the GIL, so threads make the reference faster without changing its bytes.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = list(pool.map(lambda n: _reference_one(batch.input_root / n, directory / _safe(n)), names))
    digests = dict(zip(names, results, strict=True))
    atomic_write(index_path, json.dumps({"key": key, "digests": digests}))
    return Reference(directory, digests)


def _safe(name: str) -> str:
    return name.replace("/", "_")


def reference_file(reference: Reference, input_name: str) -> Path:
    return reference.directory / _safe(input_name)


def verify_outputs(batch: Batch, reference: Reference, output_dir: Path) -> tuple[bool, dict[str, Any]]:
    """Every item's output must equal the reference's, and items the reference fails must fail."""
    mismatched: list[str] = []
    missing: list[str] = []
    unexpected: list[str] = []
    for entry in batch.entries:
        expected = reference.digests.get(entry.input)
        path = output_dir / entry.output
        if expected is None:
            if path.exists():
                unexpected.append(entry.name)
            continue
        try:
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            missing.append(entry.name)
            continue
        if actual != expected:
            mismatched.append(entry.name)
    detail: dict[str, Any] = {"method": "sha256", "items_checked": len(batch.entries),
                              "mismatched": len(mismatched), "missing": len(missing),
                              "unexpected": len(unexpected),
                              "examples": (mismatched + missing + unexpected)[:5]}
    return not (mismatched or missing or unexpected), detail
