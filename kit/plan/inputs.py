"""The batch: generated images (cached) or the user's --source files, read once before timing.

Reading every input here, outside any sandbox, puts it in the page cache so that no strategy
pays for a cold disk, and judges it (kit/plan/input_check.py): the manifest carries each bad input's
reason, so workers fail it at no cost and only read, decode, resize, encode and write the others.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kit.core.errors import ConfigError
from kit.plan.config import RunConfig
from kit.plan.input_check import judge_file
from kit.worker.protocol import ManifestEntry


@dataclass(frozen=True, slots=True)
class Batch:
    """The items every strategy processes, and where they live on the host."""

    input_root: Path
    entries: list[ManifestEntry]
    digests: dict[str, str]     # input (relative path) -> sha256 of its bytes, or "unreadable: ..."
    description: dict[str, Any]  # recorded as `inputs` in results.json
    workload: str = "images"     # a task workload's entries have no input files (kit/worker/protocol.py)
    problems: dict[str, str] = field(default_factory=dict)   # input -> why it fails (the verdicts)
    # language -> its own entries where its tasks' parameters differ (pi calibrated for Go)
    by_language: dict[str, list[ManifestEntry]] = field(default_factory=dict)

    @property
    def distinct_inputs(self) -> list[str]:
        return list(dict.fromkeys(entry.input for entry in self.entries))

    def for_language(self, language: str) -> Batch:
        """The batch a strategy of `language` runs and is verified against."""
        entries = self.by_language.get(language)
        return self if entries is None else replace(self, entries=entries, by_language={})


def pool_directory(config: RunConfig) -> Path:
    from kit.worker.workloads.imagegen import GENERATOR_VERSION

    return config.cache_dir / "images" / f"gen{GENERATOR_VERSION}-{config.width}x{config.height}-q{config.quality}"


def pool_count(config: RunConfig) -> int:
    """Distinct generated images a batch draws from."""
    return min(config.pool_size, config.items or config.pool_size)


def generate(config: RunConfig, count: int | None = None) -> list[Path]:
    """Make (or find in the cache) the pool of distinct generated images."""
    from kit.worker.workloads.imagegen import generate_pool

    size = count if count is not None else pool_count(config)
    return generate_pool(pool_directory(config), size, config.width, config.height, config.quality)


def generated_entries(config: RunConfig, pool: list[str]) -> list[ManifestEntry]:
    """The batch of a generated pool: `items` entries cycling through the pool's file names."""
    total = config.items or len(pool)
    return [ManifestEntry(name=f"{index:06d}-{pool[index % len(pool)]}", input=pool[index % len(pool)],
                          output=f"{index:06d}-{pool[index % len(pool)]}") for index in range(total)]


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


def task_parameters(config: RunConfig, iterations: int | None = None) -> dict[str, Any]:
    """Every task's parameters for a task workload (the same for each task of a batch); pi's
    `iterations` come from --iterations, else from the calibration of the strategy's language."""
    if config.workload == "pi":
        chosen = config.iterations if config.iterations is not None else iterations
        if chosen is None:
            raise ValueError("pi needs --iterations or a calibration")
        return {"iterations": chosen}
    if config.workload == "count":
        return {"count_to": config.count_to}
    if config.workload == "payload":
        return {"size_bytes": config.payload_size_bytes}
    if config.workload == "io":
        return {"delay_seconds": config.io_delay_seconds}
    raise ValueError(f"{config.workload} is not a task workload")


def pi_calibrations(config: RunConfig, languages: tuple[str, ...],
                    phase: Callable[[str], None] = lambda text: None) -> dict[str, Any]:
    """Seed 001 gave each language the iterations that take the same time per task: Python's
    measured by the controller, Go's by go-native itself; each cached once per machine. Returns
    results.json's `workload.calibration`: Python's fields at the top (as before Go ran pi), each
    language's under `languages`, and Go's speed per iteration over Python's."""
    from kit.worker.workloads.pi import CALIBRATION_TARGET_SECONDS, calibrated

    phase(f"calibrating pi's iterations to ~{CALIBRATION_TARGET_SECONDS} CPU seconds a task for "
          f"{' and '.join(languages)} (once per machine, cached)")
    python = calibrated(config.cache_dir)
    python.setdefault("seconds_per_iteration", python["probe_seconds"] / python["probe_iterations"])
    described: dict[str, Any] = {**python, "languages": {"python": python}}
    if "go" in languages:
        from kit.build.go import pi_calibration

        go = pi_calibration(config.cache_dir, CALIBRATION_TARGET_SECONDS, phase)
        described["languages"]["go"] = go
        described["go_speed_per_iteration"] = round(
            float(python["seconds_per_iteration"]) / float(go["seconds_per_iteration"]), 1)
    return described


def prepare_tasks(config: RunConfig, phase: Callable[[str], None] = lambda text: None,
                  languages: tuple[str, ...] = ("python",)) -> Batch:
    """A task workload's batch: `items` tasks with their parameters in the manifest, no input files.
    The manifest is per sandbox, so a language whose pi tasks were calibrated to other iterations
    gets its own entries (`by_language`), and its cells are verified against those."""
    calibration = (pi_calibrations(config, languages, phase)
                   if config.workload == "pi" and config.iterations is None else None)

    def entries_for(language: str) -> list[ManifestEntry]:
        own = calibration["languages"][language]["iterations"] if calibration else None
        params = task_parameters(config, own)
        return [ManifestEntry(name=f"task-{index:06d}", input="", output=f"task-{index:06d}.txt",
                              task=dict(params)) for index in range(config.items or 1)]

    entries = entries_for("python")
    params = dict(entries[0].task or {})
    by_language = {language: entries_for(language) for language in languages
                   if language != "python" and calibration and language in calibration["languages"]}
    total = len(entries)
    root = config.cache_dir / "tasks"   # nothing to read, but every sandbox mounts an input root
    root.mkdir(parents=True, exist_ok=True)
    hasher = hashlib.sha256()
    for entry in entries:
        hasher.update(f"{entry.name}\0{sorted((entry.task or {}).items())}\n".encode())
    described: dict[str, Any] = {"source_dir": None, "generator_version": None, "workload": config.workload,
                                 "task": params, "batch_digest": hasher.hexdigest(), "item_count": total,
                                 "distinct_inputs": 0, "input_bytes_mean": 0}
    if by_language:
        described["task_by_language"] = {"python": params, **{language: dict(own[0].task or {})
                                                              for language, own in by_language.items()}}
    if calibration is not None:
        described["calibration"] = calibration
    return Batch(input_root=root, entries=entries, digests={}, description=described, workload=config.workload,
                 by_language=by_language)


def prepare(config: RunConfig, phase: Callable[[str], None] = lambda text: None,
            languages: tuple[str, ...] = ("python",)) -> Batch:
    """Build the batch and read every input once (the page-cache warm-up)."""
    if config.workload != "images":
        return prepare_tasks(config, phase, languages)
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
        from kit.worker.workloads.imagegen import GENERATOR_VERSION

        root = pool[0].parent
        entries = generated_entries(config, [image.name for image in pool])
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


# The pod's init container renders one frame at a time: ~35 bytes a pixel at its peak, measured at
# 4K (351 MiB with OpenCV and NumPy loaded), plus the interpreter.
INIT_BYTES_PER_PIXEL = 48
INIT_BASE_BYTES = 128 * 2**20


def planned_entries(config: RunConfig, language: str = "python") -> list[ManifestEntry]:
    """The batch's manifest without making any input (`kit manifests`): generated images' names, or
    the tasks with their parameters (pi needs --iterations: calibration measures the machine that runs)."""
    if config.source is not None:
        raise ConfigError("--source: a pod cannot read this machine's files; its inputs are generated in the pod")
    if config.workload == "images":
        from kit.worker.workloads.imagegen import pool_name

        return generated_entries(config, [pool_name(i) for i in range(pool_count(config))])
    if config.workload == "pi" and config.iterations is None:
        raise ConfigError("--iterations: kit manifests needs pi's iterations per task (a run calibrates them on "
                          "the machine that measures; kit run --runtime kubernetes does it for you)")
    params = task_parameters(config)
    return [ManifestEntry(name=f"task-{index:06d}", input="", output=f"task-{index:06d}.txt", task=dict(params))
            for index in range(config.items or 1)]


def pod_recipe(config: RunConfig, entries: list[ManifestEntry], digests: dict[str, str] | None = None
               ) -> tuple[dict[str, str], int]:
    """How a pod makes its own inputs (kit/worker/podinit.py reads this environment): the manifest, and for
    generated images the generator's parameters and the digests the bytes must have; and the memory
    the init container needs for it."""
    import json

    from kit.worker.protocol import manifest_json, pack

    if config.source is not None:
        raise ConfigError("--source: a pod cannot read this machine's files; its inputs are generated in the pod")
    env = {"KIT_MANIFEST": pack(manifest_json(entries))}
    memory = INIT_BASE_BYTES
    if config.workload == "images":
        from kit.worker.workloads.imagegen import GENERATOR_VERSION

        env["KIT_INPUTS"] = json.dumps({"generator_version": GENERATOR_VERSION, "width": config.width,
                                        "height": config.height, "quality": config.quality, "seed": 0,
                                        "count": len(dict.fromkeys(entry.input for entry in entries)),
                                        "digests": dict(sorted((digests or {}).items()))},
                                       separators=(",", ":"))
        memory += INIT_BYTES_PER_PIXEL * config.width * config.height
    return env, -(-memory // 2**20) * 2**20
