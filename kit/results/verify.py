"""Reference outputs and the check of every strategy's outputs against them.

The controller always makes the reference with the sequential Python pipeline, outside any
timing, so any subset of strategies can be verified. Same OpenCV build -> identical bytes: a Python
worker whose OpenCV version or JPEG library differs from the controller's (Debian's OpenCV beside
the lock's wheel, kit/build/system_opencv.py; the worker image's) is held to PSNR, as Go is.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kit.core.files import atomic_write
from kit.plan.inputs import Batch


@dataclass(frozen=True, slots=True)
class Reference:
    """input (relative path) -> sha256 of the expected output, or None when the item must fail;
    `problems` says why each failing input fails (the controller's verdicts and decode failures)."""

    directory: Path
    digests: dict[str, str | None]
    problems: dict[str, str] = field(default_factory=dict)
    # images: the build that made it, {"library", "library_version", "jpeg_library"} (the controller's cv2)
    build: dict[str, str | None] = field(default_factory=dict)


def _reference_one(source: Path, target: Path) -> str:
    """The expected output's sha256; raises ItemFailed when the pipeline fails this input."""
    from kit.worker.workloads.images import read_input, transform

    output = transform(read_input(str(source)))
    target.write_bytes(output)
    return hashlib.sha256(output).hexdigest()


def make_reference(batch: Batch, directory: Path) -> Reference:
    """Run the pipeline once per distinct good input into `directory`; reuse a complete earlier
    one. Inputs the controller judged bad are never read here (a decompression bomb is never
    decoded); an input the pipeline cannot decode becomes a problem like theirs."""
    if batch.workload != "images":
        return Reference(directory, {})   # tasks are checked against their expected values instead
    import cv2

    from kit.plan.input_check import CHECKER_VERSION
    from kit.worker.workloads.base import ItemFailed
    from kit.worker.workloads.images import opencv_info

    index_path = directory / "reference.json"
    info = opencv_info()
    build = {"library": "opencv", "library_version": info["opencv"], "jpeg_library": info["jpeg_library"]}
    key = {"inputs": batch.digests, "opencv": info, "checker": CHECKER_VERSION, "rejected": batch.problems}
    if index_path.exists():
        saved = json.loads(index_path.read_text())
        if saved.get("key") == key:
            return Reference(directory, saved["digests"], saved.get("problems", {}), build)
    directory.mkdir(parents=True, exist_ok=True)
    cv2.setNumThreads(1)  # the same as in every worker
    names = [name for name in batch.distinct_inputs if name not in batch.problems]

    def one(name: str) -> str | ItemFailed:
        try:
            return _reference_one(batch.input_root / name, directory / _safe(name))
        except ItemFailed as exc:
            return exc

    # OpenCV releases the GIL, so threads make the reference faster without changing its bytes.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = dict(zip(names, pool.map(one, names), strict=True))
    problems = dict(batch.problems)
    problems.update({name: str(result) for name, result in results.items() if isinstance(result, ItemFailed)})
    digests: dict[str, str | None] = {name: (None if name in problems else str(results[name]))
                                      for name in batch.distinct_inputs}
    atomic_write(index_path, json.dumps({"key": key, "digests": digests, "problems": problems}))
    return Reference(directory, digests, problems, build)


def _safe(name: str) -> str:
    return name.replace("/", "_")


def reference_file(reference: Reference, input_name: str) -> Path:
    return reference.directory / _safe(input_name)


def method_for_build(declared: str, reference: Reference,
                     worker: Mapping[str, object] | None) -> tuple[str, str | None]:
    """(method, why it is not the declared one): identical bytes are asked of a worker only when it
    ran the reference's very build, the same OpenCV version with the same JPEG library (its start
    event's `library_version` and `jpeg_library`); any other build is held to PSNR, as Go is."""
    if declared != "sha256" or not reference.build:
        return declared, None
    worker = worker or {}
    theirs = (worker.get("library_version"), worker.get("jpeg_library"))
    ours = (reference.build.get("library_version"), reference.build.get("jpeg_library"))
    if theirs == ours:
        return declared, None
    return "psnr", (f"the worker's build ({_build(*theirs)}) is not the reference's ({_build(*ours)}): "
                    "pixels compared by PSNR, not bytes")


def _build(version: object, jpeg: object) -> str:
    return f"OpenCV {version or 'unknown'}, {jpeg or 'JPEG library unknown'}"


def verify_record(batch: Batch, reference: Reference, output_dir: Path, declared: str,
                  worker: Mapping[str, object] | None) -> tuple[bool, dict[str, Any]]:
    """`verify_outputs` by the method the worker's build allows (`method_for_build`); the detail
    says when and why that is PSNR rather than the declared bytes."""
    method, reason = method_for_build(declared, reference, worker if batch.workload == "images" else None)
    verified, detail = verify_outputs(batch, reference, output_dir, method)
    return verified, ({**detail, "build_reason": reason} if reason else detail)


def verify_outputs(batch: Batch, reference: Reference, output_dir: Path,
                   method: str = "sha256") -> tuple[bool, dict[str, Any]]:
    """Every item's output must equal the reference's, and items the reference fails must fail.

    `method` "psnr" (the Go strategies: another decoder or OpenCV build) compares decoded pixels
    instead of bytes: exact dimensions and a PSNR of at least PSNR_THRESHOLD_DB.
    """
    if batch.workload != "images":
        return verify_tasks(batch, output_dir)
    if method == "psnr":
        return verify_by_psnr(batch, reference, output_dir)
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


def output_verified(reference: Reference, input_name: str, output: Path, method: str = "sha256") -> bool:
    """One existing output passes the check its strategy's record would apply (--skip-current:
    an output that fails it is not current, whatever its date)."""
    expected = reference.digests.get(input_name)
    if expected is None:
        return False   # the item must fail: an output for it is not one to keep
    if method != "psnr":
        try:
            if hashlib.sha256(output.read_bytes()).hexdigest() == expected:
                return True
        except OSError:
            return False
        if not reference.build:
            return False
        # the worker's build is known only once it runs (method_for_build): one unlike the
        # reference's is held to PSNR, so an output it made passes that and is kept
    verdict, value = _compare_pixels(reference_file(reference, input_name), output)
    return verdict == "ok" and value is not None and value >= PSNR_THRESHOLD_DB


# PSNR floor for outputs made by another decoder, resizer or encoder than the reference's
# (measured, kit 0.x: go-gocv decodes to the reference's very pixels; go-native, whose image/jpeg
# upsamples chroma without libjpeg's smoothing, reaches 45-47 dB on the generated photos and
# 29-35 dB on worst cases: pure noise and dense coloured text). Swapped channels measure 13-17 dB,
# a half grey-filled image fails too; another filter or a one-pixel shift measures 14-26 dB on
# detailed images but up to 41 on smooth ones, so the recorded mean, not the floor, shows filter
# drift. Exact dimensions are checked separately. The measured min and mean go into each record.
# The Pillow pipeline (--library pillow) is held to the same floor: its decoder is the same
# libjpeg-turbo (1080p inputs, not resized, give byte-identical outputs), its BOX resize differs by
# rounding at 2x and by edge weighting at other factors; on 8 generated photos (Pillow 12.2.0)
# it measures 40.5-43.3 dB at 4K, 33.1-37.6 dB at 4000x3000 and 3024x4032 (bench/pillow_psnr.py),
# on worst cases 27.5 dB (pure noise at 4000x3000) and 30.8 dB (dense text); swapped channels 12.7.
PSNR_THRESHOLD_DB = 25.0
PSNR_IDENTICAL_DB = 100.0   # what identical pixels count as (their PSNR is infinite)


def psnr_db(expected: Any, actual: Any) -> float:
    """Peak signal-to-noise ratio of two 8-bit images of the same shape, in dB."""
    import numpy as np

    mse = float(np.mean((expected.astype(np.float64) - actual.astype(np.float64)) ** 2))
    return PSNR_IDENTICAL_DB if mse == 0 else min(PSNR_IDENTICAL_DB, 10 * math.log10(255.0**2 / mse))


def _compare_pixels(expected_path: Path, actual_path: Path) -> tuple[str, float | None]:
    """("ok" | "missing" | "undecodable" | "dimensions", PSNR) for one item."""
    import cv2

    if not actual_path.is_file():
        return "missing", None
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    expected, actual = cv2.imread(str(expected_path), flags), cv2.imread(str(actual_path), flags)
    if actual is None:
        return "undecodable", None
    if expected is None or expected.shape != actual.shape:
        return "dimensions", None
    return "ok", psnr_db(expected, actual)


def verify_by_psnr(batch: Batch, reference: Reference, output_dir: Path) -> tuple[bool, dict[str, Any]]:
    """Exact dimensions and PSNR >= PSNR_THRESHOLD_DB against the reference outputs."""
    problems: dict[str, list[str]] = {key: [] for key in ("missing", "undecodable", "dimensions",
                                                          "below_threshold", "unexpected")}
    pairs = []
    for entry in batch.entries:
        path = output_dir / entry.output
        if reference.digests.get(entry.input) is None:
            if path.exists():
                problems["unexpected"].append(entry.name)
            continue
        pairs.append((entry.name, reference_file(reference, entry.input), path))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # cv2 releases the GIL
        compared = list(pool.map(lambda pair: _compare_pixels(pair[1], pair[2]), pairs))
    values: list[float] = []
    for (name, _, _), (verdict, value) in zip(pairs, compared, strict=True):
        if verdict != "ok" or value is None:
            problems[verdict].append(name)
            continue
        values.append(value)
        if value < PSNR_THRESHOLD_DB:
            problems["below_threshold"].append(name)
    detail: dict[str, Any] = {
        "method": "psnr", "items_checked": len(batch.entries), "threshold_db": PSNR_THRESHOLD_DB,
        "psnr_min_db": round(min(values), 2) if values else None,
        "psnr_mean_db": round(sum(values) / len(values), 2) if values else None,
        "identical_pixels": sum(1 for v in values if v >= PSNR_IDENTICAL_DB),
        **{key: len(names) for key, names in problems.items()},
        "examples": [name for names in problems.values() for name in names][:5],
    }
    return not any(problems.values()), detail


def verify_tasks(batch: Batch, output_dir: Path) -> tuple[bool, dict[str, Any]]:
    """Each task's result (its output file) equals the value the workload expects of its parameters."""
    from kit.worker.workloads import VERIFICATION, task_check

    check = task_check(batch.workload)
    wrong: list[str] = []
    missing: list[str] = []
    first_problem: str | None = None
    for entry in batch.entries:
        try:
            text = (output_dir / entry.output).read_text(encoding="utf-8").strip()
        except OSError:
            missing.append(entry.name)
            continue
        if problem := check(entry.task or {}, entry.name, text):
            wrong.append(entry.name)
            first_problem = first_problem or f"{entry.name}: {problem}"
    detail: dict[str, Any] = {"method": "task-result", "rule": VERIFICATION[batch.workload],
                              "items_checked": len(batch.entries), "mismatched": len(wrong),
                              "missing": len(missing), "examples": (wrong + missing)[:5],
                              "first_problem": first_problem,
                              "task": dict(batch.entries[0].task or {}) if batch.entries else {}}
    return not (wrong or missing), detail
