"""config.build(): defaults resolved in one place, every invalid option refused with a ConfigError
(exit 2, one line) before anything runs."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest

from kit.core.errors import ConfigError
from kit.plan import config
from kit.plan.config import MIN_MEMORY_LIMIT, RunConfig, build
from kit.worker.programs import START_METHODS


def test_defaults_are_resolved(tmp_path: Path) -> None:
    plan = build(cache_dir=tmp_path)
    assert plan.strategies == ()                      # every available strategy
    assert plan.items == 200
    assert (plan.width, plan.height) == (3840, 2160)  # 4k
    assert plan.memory_limit_bytes is None            # no cap unless asked
    assert plan.cpus is None
    assert plan.workers == max(1, math.floor(config.allowed_cpus()))
    assert plan.workers >= 1
    assert plan.start_method == "fork"                # fork on Linux whatever Python's default
    assert plan.runtime == "auto"
    assert (plan.repeat, plan.warmup) == (1, 0)
    assert plan.timeout_seconds == 900 and plan.stall_seconds == 120
    assert plan.metrics_port == 9464
    assert plan.out_dir == Path("reports")
    assert plan.cache_dir == tmp_path


def test_defaults_match_the_dataclass() -> None:
    """Defaults live in one place: build() with nothing agrees with RunConfig's own defaults."""
    plan, fields = build(), RunConfig()
    for name in ("strategies", "workload", "items", "width", "height", "runtime", "start_method", "repeat",
                 "warmup", "timeout_seconds", "stall_seconds", "metrics_port", "pool_size"):
        assert getattr(plan, name) == getattr(fields, name), name


def test_values_are_resolved(tmp_path: Path) -> None:
    plan = build(strategies=["python-threads", "python-sequential", "python-threads"], items=8,
                 resolution="1080p", mem_limit="512Mi", cpus=1.0, workers=12, start_method="spawn")
    assert plan.strategies == ("python-threads", "python-sequential")  # order kept, duplicates dropped
    assert (plan.items, plan.width, plan.height) == (8, 1920, 1080)
    assert plan.memory_limit_bytes == 512 * 2**20
    assert (plan.cpus, plan.workers, plan.start_method) == (1.0, 12, "spawn")
    assert build(resolution="640X480").width == 640
    assert build(mem_limit="none").memory_limit_bytes is None


def test_workers_default_to_the_cpu_cap() -> None:
    assert build(cpus=1.0).workers == 1
    assert build(cpus=0.5).workers == 1              # at least one


def test_source_takes_every_file_and_is_resolved(tmp_path: Path) -> None:
    plan = build(source=tmp_path / ".")
    assert plan.source == tmp_path.resolve()
    assert plan.items is None                        # every file in the directory
    assert build(source=tmp_path, items=3).items == 3


def test_smallest_cap_is_accepted() -> None:
    assert build(mem_limit=str(MIN_MEMORY_LIMIT)).memory_limit_bytes == MIN_MEMORY_LIMIT
    assert build(mem_limit="6m").memory_limit_bytes == 6 * 2**20


def test_config_records_as_json(tmp_path: Path) -> None:
    recorded = build(cache_dir=tmp_path, mem_limit="1g").to_json()
    assert recorded["memory_limit_bytes"] == 2**30
    assert recorded["cache_dir"] == str(tmp_path)    # paths as strings
    assert set(recorded) == set(RunConfig.__dataclass_fields__)


INVALID: list[tuple[dict[str, Any], str]] = [
    ({"mem_limit": "abc"}, "abc"),
    ({"mem_limit": "0"}, "--mem-limit 0"),
    ({"mem_limit": "-1g"}, "-1g"),
    ({"mem_limit": "3x"}, "3x"),
    ({"mem_limit": "1.5b"}, "1.5b"),
    ({"mem_limit": "5m"}, "--mem-limit 5m"),                       # below the 6 MiB floor
    ({"mem_limit": str(MIN_MEMORY_LIMIT - 1)}, "--mem-limit"),
    ({"workers": 0}, "--workers 0"),
    ({"workers": -1}, "--workers -1"),
    ({"workers": 100_000}, "--workers 100000"),
    ({"items": -5}, "--images -5"),
    ({"items": 0}, "--images 0"),
    ({"strategies": ["python-fibers"]}, "python-fibers"),
    ({"strategies": ["python-threads", ""]}, "unknown strategy"),
    ({"workload": "fibonacci"}, "fibonacci"),
    ({"source": Path("/nonexistent/kit-source")}, "/nonexistent/kit-source"),
    ({"resolution": "huge"}, "huge"),
    ({"resolution": "1920x"}, "1920x"),
    ({"resolution": "8x8"}, "8x8"),                                # too small
    ({"resolution": "70000x100"}, "70000x100"),                    # JPEG's limit
    ({"resolution": "-1920x1080"}, "-1920x1080"),
    ({"cpus": 0.0}, "--cpus"),
    ({"cpus": -1.0}, "--cpus"),
    ({"cpus": float("nan")}, "--cpus"),
    ({"cpus": float("inf")}, "--cpus"),
    ({"cpus": float((os.cpu_count() or 1) + 1)}, "--cpus"),
    ({"start_method": "vfork"}, "vfork"),
    ({"runtime": "podman"}, "podman"),
    ({"repeat": 0}, "--repeat 0"),
    ({"warmup": -1}, "--warmup -1"),
    ({"timeout": 0.0}, "--timeout"),
    ({"timeout": -5.0}, "--timeout"),
    ({"metrics_port": 70000}, "--metrics-port 70000"),
    ({"pool_size": 0}, "0"),
    # issue 14: absurd values
    ({"items": 10**20}, "--images 100000000000000000000"),
    ({"items": config.MAX_ITEMS + 1}, "--images"),
    ({"mem_limit": ""}, "empty size"),
    ({"mem_limit": "   "}, "empty size"),
    ({"mem_limit": "99999999999g"}, "kernel"),
    ({"mem_limit": str(config.MAX_MEMORY_LIMIT + 1)}, "kernel"),
    ({"timeout": float("inf")}, "--timeout inf"),
    ({"timeout": float("nan")}, "--timeout"),
    ({"timeout": 1e12}, "--timeout"),
    ({"stall": float("inf")}, "--stall-timeout"),
]


@pytest.mark.parametrize(("options", "named"), INVALID, ids=[repr(o) for o, _ in INVALID])
def test_invalid_options_are_refused(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError) as info:
        build(**options)
    message = str(info.value)
    assert named in message                           # says which value is wrong
    assert "\n" not in message                        # one line
    assert info.value.exit_code == 2


def test_start_methods_are_the_multiprocessing_ones() -> None:
    import multiprocessing

    assert set(START_METHODS) <= set(multiprocessing.get_all_start_methods())
    for method in START_METHODS:
        assert build(start_method=method).start_method == method


def test_a_file_is_not_a_source(tmp_path: Path) -> None:
    single = tmp_path / "one.jpg"
    single.write_bytes(b"\xff\xd8")
    with pytest.raises(ConfigError, match="not a directory"):
        build(source=single)


def test_the_largest_storable_cap_is_accepted_and_one_beyond_the_machine_warns() -> None:
    import psutil

    assert build(mem_limit=str(config.MAX_MEMORY_LIMIT)).memory_limit_bytes == config.MAX_MEMORY_LIMIT
    plan = build(mem_limit="99999999g")
    [warning] = config.plan_warnings(plan)
    assert "more than this machine's" in warning
    assert config.plan_warnings(build(mem_limit=str(psutil.virtual_memory().total // 2))) == []
    assert build(items=config.MAX_ITEMS).items == config.MAX_ITEMS


def test_out_and_output_dir_must_be_writable_directories(tmp_path: Path) -> None:
    """Issue 14: a file (or a path below one) is a usage error naming it; a new directory is fine."""
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    for options in ({"out": a_file}, {"out": a_file / "run"}, {"output_dir": a_file},
                    {"output_dir": a_file / "thumbs"}):
        with pytest.raises(ConfigError) as info:
            build(**options)  # type: ignore[arg-type]
        assert str(a_file) in str(info.value) and "\n" not in str(info.value)
    reports = tmp_path / "new" / "reports"
    assert build(out=reports, output_dir=tmp_path / "thumbs").out_dir == reports
    assert not (tmp_path / "new").exists()            # checked, not made
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o555)
    if os.geteuid() != 0:  # root writes anywhere the filesystem allows
        with pytest.raises(ConfigError, match="not writable"):
            build(out=read_only / "reports")
