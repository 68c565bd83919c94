"""The batch: generated images (cached) or the user's --source files, read once before timing.

Reading every input here, outside any sandbox, puts it in the page cache so that no strategy
pays for a cold disk, and judges it (kit/input_check.py): the manifest carries each bad input's
reason, so workers fail it at no cost and only read, decode, resize, encode and write the others.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kit.config import RunConfig
from kit.errors import ConfigError
from kit.input_check import judge_file
from kit.protocol import ManifestEntry


@dataclass(frozen=True, slots=True)
class Batch:
    """The items every strategy processes, and where they live on the host."""

    input_root: Path
    entries: list[ManifestEntry]
    digests: dict[str, str]     # input (relative path) -> sha256 of its bytes, or "unreadable: ..."
    description: dict[str, Any]  # recorded as `inputs` in results.json
    workload: str = "images"     # a task workload's entries have no input files (kit/protocol.py)
    problems: dict[str, str] = field(default_factory=dict)   # input -> why it fails (the verdicts)

    @property
    def distinct_inputs(self) -> list[str]:
        return list(dict.fromkeys(entry.input for entry in self.entries))


def pool_directory(config: RunConfig) -> Path:
    from kit.workloads.imagegen import GENERATOR_VERSION

    return config.cache_dir / "images" / f"gen{GENERATOR_VERSION}-{config.width}x{config.height}-q{config.quality}"


def generate(config: RunConfig, count: int | None = None) -> list[Path]:
    """Make (or find in the cache) the pool of distinct generated images."""
    from kit.workloads.imagegen import generate_pool

    size = count if count is not None else min(config.pool_size, config.items or config.pool_size)
    return generate_pool(pool_directory(config), size, config.width, config.height, config.quality)


def source_files(directory: Path) -> list[str]:
    """Every regular, non-hidden file directly in `directory`, in name order."""
    return sorted(path.name for path in directory.iterdir()
                  if not path.name.startswith(".") and path.is_file())


def batch_digest(entries: list[ManifestEntry], digests: dict[str, str]) -> str:
    """One digest for the whole batch: item order, names and contents."""
    hasher = hashlib.sha256()
    for entry in entries:
        hasher.update(f"{entry.name}\0{digests[entry.input]}\n".encode())
    return hasher.hexdigest()


def task_parameters(config: RunConfig, phase: Callable[[str], None] = lambda text: None) -> dict[str, Any]:
    """Every task's parameters for a task workload (the same for each task of a batch)."""
    if config.workload == "pi":
        if config.iterations is not None:
            return {"iterations": config.iterations}
        from kit.workloads.pi import calibrated

        phase("calibrating pi's iterations to ~0.5 s a task (once per machine, cached)")
        return {"iterations": calibrated(config.cache_dir)["iterations"]}
    if config.workload == "count":
        return {"count_to": config.count_to}
    if config.workload == "payload":
        return {"size_bytes": config.payload_size_bytes}
    if config.workload == "io":
        return {"delay_seconds": config.io_delay_seconds}
    raise ValueError(f"{config.workload} is not a task workload")


def prepare_tasks(config: RunConfig, phase: Callable[[str], None] = lambda text: None) -> Batch:
    """A task workload's batch: `items` tasks with their parameters in the manifest, no input files."""
    params = task_parameters(config, phase)
    total = config.items or 1
    entries = [ManifestEntry(name=f"task-{index:06d}", input="", output=f"task-{index:06d}.txt", task=dict(params))
               for index in range(total)]
    root = config.cache_dir / "tasks"   # nothing to read, but every sandbox mounts an input root
    root.mkdir(parents=True, exist_ok=True)
    hasher = hashlib.sha256()
    for entry in entries:
        hasher.update(f"{entry.name}\0{sorted((entry.task or {}).items())}\n".encode())
    described: dict[str, Any] = {"source_dir": None, "generator_version": None, "workload": config.workload,
                                 "task": params, "batch_digest": hasher.hexdigest(), "item_count": total,
                                 "distinct_inputs": 0, "input_bytes_mean": 0}
    if config.workload == "pi" and config.iterations is None:
        from kit.workloads.pi import calibrated

        described["calibration"] = calibrated(config.cache_dir)
    return Batch(input_root=root, entries=entries, digests={}, description=described, workload=config.workload)


def prepare(config: RunConfig, phase: Callable[[str], None] = lambda text: None) -> Batch:
    """Build the batch and read every input once (the page-cache warm-up)."""
    if config.workload != "images":
        return prepare_tasks(config, phase)
    if config.source is not None:
        names = source_files(config.source)
        if config.items is not None:
            names = names[:config.items]
        if not names:
            raise ConfigError(f"--source {config.source}: no files to process")
        root = config.source
        entries = [ManifestEntry(name=name, input=name, output=name) for name in names]
        described: dict[str, Any] = {"source_dir": str(root), "generator_version": None}
    else:
        phase("generating test images (cached for next time)")
        pool = generate(config)
        from kit.workloads.imagegen import GENERATOR_VERSION

        root = pool[0].parent
        total = config.items or len(pool)
        entries = []
        for index in range(total):
            image = pool[index % len(pool)]
            name = f"{index:06d}-{image.name}"
            entries.append(ManifestEntry(name=name, input=image.name, output=name))
        described = {"source_dir": None, "generator_version": GENERATOR_VERSION,
                     "generated_dir": str(root), "distinct_images": len(pool),
                     "resolution": f"{config.width}x{config.height}", "quality": config.quality}
    phase("reading and checking inputs once (page cache; outside timing)")
    verdicts = {name: judge_file(root / name, config.max_pixels) for name in dict.fromkeys(e.input for e in entries)}
    digests = {name: verdict.digest for name, verdict in verdicts.items()}
    problems = {name: verdict.problem for name, verdict in verdicts.items() if verdict.problem is not None}
    sizes = [(root / name).stat().st_size for name in digests if not digests[name].startswith("unreadable")]
    described.update({
        "batch_digest": batch_digest(entries, digests),
        "item_count": len(entries),
        "distinct_inputs": len(digests),
        "input_bytes_mean": round(sum(sizes) / len(sizes)) if sizes else 0,
        "max_pixels": config.max_pixels,
        "inputs_rejected": len(problems),
    })
    return Batch(input_root=root, entries=with_problems(entries, problems), digests=digests,
                 description=described, problems=problems)


def with_problems(entries: list[ManifestEntry], problems: dict[str, str]) -> list[ManifestEntry]:
    """The manifest entries with each bad input's verdict, which the worker reports at no cost."""
    return [replace(entry, problem=problems.get(entry.input)) for entry in entries]
