"""Inside-sandbox samples (issue 18): the readers (kit/measure/cgroupstat.py), the worker's sampler
(kit/worker/sampler.py), the sample event (kit/worker/protocol.py), the controller's tracker (kit/measure/inside.py),
the supervisor's wiring and the option that reaches the worker's command line.

The readers run against fixture trees (tests/data/cgroup/: v2 cannot run on this v1 machine, and
/proc/self/mountinfo of a container is written out as text); that real cgroups agree inside and
outside is tests/integration/test_inside_samples.py's.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from kit.core.errors import ConfigError
from kit.measure.cgroupstat import CgroupStats, OwnGroup, find_own_group, read_v1, read_v2
from kit.measure.inside import InsideTracker, tracker_of
from kit.plan import config
from kit.run import supervisor
from kit.runtimes.base import SandboxPaths
from kit.worker.programs import program
from kit.worker.protocol import DoneEvent, SampleEvent, format_event, parse_event
from kit.worker.sampler import DEFAULT_SAMPLE_INTERVAL_MS, Sampler, start_sampler
from tests.unit.test_supervisor import START, FakeClock, FakeSandbox, Tick, item

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "cgroup"
MIB = 2**20


# --- kit/measure/cgroupstat.py: the kernel's files -------------------------------------------------------

def v1_dirs() -> dict[str, Path]:
    root = FIXTURES / "v1" / "oom-stats" / "sys-fs-cgroup"
    return {c: root / c / "kit" / "sandbox" for c in ("memory", "cpuacct", "cpu")}


def test_v1_figures() -> None:
    stats = read_v1(v1_dirs())
    assert (stats.usage_bytes, stats.working_set_bytes, stats.peak_usage_bytes) == (200 * MIB, 180 * MIB, 256 * MIB)
    assert stats.cpu_seconds == pytest.approx(12.5) and stats.throttled_seconds == pytest.approx(2.75)
    assert (stats.throttled_periods, stats.oom_kills) == (498, 1)


def test_v2_figures() -> None:
    stats = read_v2(FIXTURES / "v2" / "oom-stats" / "sandbox")
    assert (stats.usage_bytes, stats.working_set_bytes, stats.peak_usage_bytes) == (200 * MIB, 180 * MIB,
                                                                                     256 * MIB - 4096)
    assert stats.cpu_seconds == pytest.approx(12.5) and stats.throttled_seconds == pytest.approx(2.75)
    assert (stats.throttled_periods, stats.oom_kills) == (498, 2)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_own_group_v1_host_namespace(tmp_path: Path) -> None:
    """The cgroup runtime: the worker's group is below the mount, at its path in /proc/self/cgroup."""
    memory, cpu = tmp_path / "memory", tmp_path / "cpu,cpuacct"
    write(memory / "user.slice" / "kit" / "sb" / "memory.usage_in_bytes", "5\n")
    (cpu / "user.slice" / "kit" / "sb").mkdir(parents=True)
    proc = write(tmp_path / "cgroup",
                 "12:memory:/user.slice/kit/sb\n4:cpu,cpuacct:/user.slice/kit/sb\n1:name=systemd:/x\n")
    info = write(tmp_path / "mountinfo",
                 f"35 31 0:32 / {memory} rw,relatime - cgroup cgroup rw,memory\n"
                 f"32 31 0:29 / {cpu} rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
                 "22 1 0:21 / /proc rw - proc proc rw\n")
    group = find_own_group(proc, info)
    assert group is not None and group.version == 1
    assert group.dirs == {"memory": memory / "user.slice/kit/sb", "cpuacct": cpu / "user.slice/kit/sb",
                          "cpu": cpu / "user.slice/kit/sb"}
    assert group.stats().usage_bytes == 5


def test_own_group_v1_docker_host_namespace(tmp_path: Path) -> None:
    """Docker on v1 (host cgroup namespace): /proc/self/cgroup names the host's path, and Docker
    mounts exactly that group at /sys/fs/cgroup/memory (mountinfo's root field says which)."""
    memory = tmp_path / "memory"
    write(memory / "memory.usage_in_bytes", "7\n")
    proc = write(tmp_path / "cgroup", "12:memory:/kit/run-1/0123abcd\n")
    info = write(tmp_path / "mountinfo",
                 f"900 890 0:32 /kit/run-1/0123abcd {memory} ro,nosuid - cgroup cgroup rw,memory\n")
    group = find_own_group(proc, info)
    assert group is not None and group.dirs["memory"] == memory and group.stats().usage_bytes == 7


def test_own_group_v2_private_namespace(tmp_path: Path) -> None:
    """cgroup v2 with a private namespace (Docker's default there, a pod's): our group is "/"."""
    mount = tmp_path / "sys fs cgroup"     # a space, escaped as \040 in mountinfo
    write(mount / "memory.current", "9\n")
    write(mount / "memory.peak", "11\n")
    proc = write(tmp_path / "cgroup", "0::/\n")
    info = write(tmp_path / "mountinfo", f"30 23 0:26 / {tmp_path}/sys\\040fs\\040cgroup rw - cgroup2 cgroup2 rw\n")
    group = find_own_group(proc, info)
    assert group == OwnGroup(version=2, dirs={"unified": mount})
    assert (group.stats().usage_bytes, group.stats().peak_usage_bytes) == (9, 11)


def test_own_group_v2_nested(tmp_path: Path) -> None:
    mount = tmp_path / "cg"
    write(mount / "kit.slice" / "sb" / "memory.current", "3\n")
    proc = write(tmp_path / "cgroup", "0::/kit.slice/sb\n")
    info = write(tmp_path / "mountinfo", f"30 23 0:26 / {mount} rw - cgroup2 cgroup2 rw\n")
    group = find_own_group(proc, info)
    assert group is not None and group.dirs["unified"] == mount / "kit.slice" / "sb"


def test_no_cgroup_visible(tmp_path: Path) -> None:
    proc = write(tmp_path / "cgroup", "0::/\n")
    info = write(tmp_path / "mountinfo", "22 1 0:21 / /proc rw - proc proc rw\n")
    assert find_own_group(proc, info) is None
    assert find_own_group(tmp_path / "absent", info) is None


# --- kit/worker/protocol.py: the sample event -----------------------------------------------------------

SAMPLE = SampleEvent(t_seconds=0.75, usage_bytes=100 * MIB, working_set_bytes=90 * MIB,
                     peak_usage_bytes=120 * MIB, cpu_seconds=1.25, throttled_seconds=0.5, throttled_periods=7,
                     oom_kills=0, sampler_cpu_seconds=0.002)


def test_sample_event_round_trip_and_wire_format() -> None:
    line = format_event(SAMPLE)
    assert "\n" not in line and parse_event(line) == SAMPLE
    assert json.loads(line) == {"event": "sample", "t_seconds": 0.75, "usage_bytes": 100 * MIB,
                                "working_set_bytes": 90 * MIB, "peak_usage_bytes": 120 * MIB, "cpu_seconds": 1.25,
                                "throttled_seconds": 0.5, "throttled_periods": 7, "oom_kills": 0,
                                "sampler_cpu_seconds": 0.002}


def test_go_style_sample_parses() -> None:
    """As the Go worker writes it: integers for floats, a null watermark (v2 before 5.19)."""
    line = ('{"event":"sample","t_seconds":1,"usage_bytes":5,"working_set_bytes":4,"peak_usage_bytes":null,'
            '"cpu_seconds":0,"throttled_seconds":0,"throttled_periods":0,"oom_kills":1,"sampler_cpu_seconds":0}')
    event = parse_event(line)
    assert isinstance(event, SampleEvent) and event.peak_usage_bytes is None and event.oom_kills == 1
    assert parse_event('{"event":"sample","t_seconds":1}') is None   # a truncated sample is no sample


# --- kit/measure/inside.py: the tracker -----------------------------------------------------------------

def sample(t: float, usage: int, ws: int, peak: int | None, cpu: float, kills: int = 0) -> SampleEvent:
    return SampleEvent(t_seconds=t, usage_bytes=usage, working_set_bytes=ws, peak_usage_bytes=peak,
                       cpu_seconds=cpu, throttled_seconds=cpu / 10, throttled_periods=int(t * 10), oom_kills=kills,
                       sampler_cpu_seconds=t / 1000)


def test_tracker_figures() -> None:
    tracker = InsideTracker()
    assert tracker.figures() is None                                       # nothing arrived: no figures
    assert tracker.stats() == CgroupStats(0, 0, None, 0.0, 0.0, 0)
    assert tracker.feed(sample(0.25, 50 * MIB, 40 * MIB, 60 * MIB, 0.2))
    assert tracker.feed(format_event(sample(0.5, 90 * MIB, 85 * MIB, 150 * MIB, 0.9)))   # a raw line too
    assert tracker.feed(sample(0.75, 30 * MIB, 20 * MIB, 150 * MIB, 1.4, kills=1))
    assert not tracker.feed(DoneEvent(items_ok=1, items_failed=0))          # not a sample: ignored
    assert not tracker.feed("hello from a library")
    figures = tracker.figures()
    assert figures is not None
    assert figures.samples == 3 and figures.last_t_seconds == 0.75
    assert figures.peak_usage_bytes == 150 * MIB and figures.watermark      # the kernel's watermark
    assert figures.working_set_max_bytes == 85 * MIB                       # the largest sampled
    assert figures.cpu_seconds == pytest.approx(1.4) and figures.oom_kills == 1
    assert figures.cpu_throttled_seconds == pytest.approx(0.14) and figures.cpu_throttled_periods == 7
    assert figures.sampler_cpu_seconds == pytest.approx(0.00075)
    stats = tracker.stats()                                                # the runtimes' shape
    assert (stats.usage_bytes, stats.working_set_bytes, stats.peak_usage_bytes) == (30 * MIB, 20 * MIB, 150 * MIB)
    assert (stats.cpu_seconds, stats.oom_kills, stats.throttled_periods) == (1.4, 1, 7)
    assert json.loads(json.dumps(figures.to_json()))["working_set_max_bytes"] == 85 * MIB


def test_tracker_without_a_watermark_takes_the_largest_usage() -> None:
    tracker = InsideTracker()
    for event in (sample(0.1, 70 * MIB, 60 * MIB, None, 0.1), sample(0.2, 50 * MIB, 45 * MIB, None, 0.2)):
        tracker.feed(event)
    figures = tracker.figures()
    assert figures is not None and figures.peak_usage_bytes == 70 * MIB and not figures.watermark


def test_tracker_keeps_the_latest_sample_whatever_the_arrival_order() -> None:
    tracker = InsideTracker()
    tracker.feed(sample(0.5, 10, 10, 10, 2.0))
    tracker.feed(sample(0.25, 20, 20, 20, 1.0))
    assert tracker.stats().cpu_seconds == 2.0 and tracker.stats().peak_usage_bytes == 20


# --- kit/worker/sampler.py: the worker's thread ---------------------------------------------------------

def test_sampler_emits_until_stopped_then_a_last_sample() -> None:
    events: list[SampleEvent] = []
    lock = threading.Lock()

    def emit(event: SampleEvent) -> None:
        with lock:
            events.append(event)

    origin = time.monotonic()
    group = OwnGroup(version=1, dirs=v1_dirs())
    sampler = Sampler(group, 10, origin, emit)
    sampler.start()
    deadline = time.monotonic() + 10
    while len(events) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    sampler.stop()
    count = len(events)
    time.sleep(0.05)
    assert len(events) == count >= 4                          # three from the thread, one from stop(); then none
    assert all(e.usage_bytes == 200 * MIB and e.peak_usage_bytes == 256 * MIB for e in events)
    assert [e.t_seconds for e in events] == sorted(e.t_seconds for e in events)
    assert events[-1].sampler_cpu_seconds >= events[0].sampler_cpu_seconds >= 0   # its cost, cumulative


def test_sampling_off_or_no_cgroup_starts_nothing() -> None:
    group = OwnGroup(version=1, dirs=v1_dirs())
    assert start_sampler(0, 0.0, lambda e: None, find=lambda: group) is None
    assert start_sampler(250, 0.0, lambda e: None, find=lambda: None) is None


def test_an_unreadable_group_is_no_sample(tmp_path: Path) -> None:
    emitted: list[SampleEvent] = []
    sampler = Sampler(OwnGroup(version=2, dirs={"unified": tmp_path / "gone"}), 250, 0.0, emitted.append)
    event = sampler.sample()   # absent files read as zeros: the group vanished, the worker goes on
    assert event is not None and event.usage_bytes == 0


# --- the supervisor: inside figures beside the outside ones --------------------------------------

def test_supervisor_records_inside_figures() -> None:
    sandbox = FakeSandbox([
        Tick([START, sample(0.0, 10 * MIB, 9 * MIB, 10 * MIB, 0.05)], usage=20 * MIB, cpu=0.1),
        Tick([item(0, 1.0, 1.5), sample(0.25, 70 * MIB, 60 * MIB, 75 * MIB, 0.4)], usage=80 * MIB, cpu=0.5),
        Tick([sample(0.5, 40 * MIB, 30 * MIB, 75 * MIB, 0.6), DoneEvent(items_ok=1, items_failed=0)], exit_code=0,
             usage=30 * MIB, cpu=0.7),
    ])
    outcome = supervisor.supervise(sandbox, supervisor.Limits(900, 120), clock=FakeClock())
    assert outcome.status == "ok" and outcome.items_ok == 1
    assert outcome.inside is not None and outcome.inside.samples == 3
    assert outcome.inside.peak_usage_bytes == 75 * MIB and outcome.inside.working_set_max_bytes == 60 * MIB
    assert outcome.inside.cpu_seconds == pytest.approx(0.6)
    assert outcome.stats is not None and outcome.stats.cpu_seconds == pytest.approx(0.7)   # outside, unchanged


def test_no_samples_no_inside_figures() -> None:
    sandbox = FakeSandbox([Tick([START, item(0, 1.0, 1.5), DoneEvent(items_ok=1, items_failed=0)], exit_code=0)])
    outcome = supervisor.supervise(sandbox, supervisor.Limits(900, 120), clock=FakeClock())
    assert outcome.status == "ok" and outcome.inside is None


class InsideOnlySandbox(FakeSandbox):
    """A runtime that cannot read the sandbox's cgroup (Kubernetes): stats() from the inside tracker."""

    def __init__(self, ticks: list[Tick]) -> None:
        super().__init__(ticks)
        self.inside = InsideTracker()

    def stats(self) -> CgroupStats:
        super().stats()        # advances the script
        return self.inside.stats()


def test_a_runtime_without_an_outside_view_measures_from_inside() -> None:
    sandbox = InsideOnlySandbox([
        Tick([START, sample(0.0, 10 * MIB, 9 * MIB, 12 * MIB, 0.05)]),
        Tick([item(0, 1.0, 1.5), sample(0.25, 70 * MIB, 60 * MIB, 80 * MIB, 0.4)]),
        Tick([sample(0.5, 40 * MIB, 30 * MIB, 80 * MIB, 0.9, kills=0), DoneEvent(items_ok=1, items_failed=0)],
             exit_code=0),
    ])
    assert tracker_of(sandbox) is sandbox.inside and tracker_of(object()) is None
    outcome = supervisor.supervise(sandbox, supervisor.Limits(900, 120), clock=FakeClock())
    assert outcome.status == "ok"
    assert outcome.stats is not None and outcome.stats.cpu_seconds == pytest.approx(0.9)   # the last inside sample
    assert outcome.peaks.usage_bytes == 80 * MIB and outcome.peaks.working_set_bytes >= 30 * MIB
    assert outcome.inside is not None and outcome.inside.samples == 3


def test_an_inside_oom_kill_ends_the_sandbox_as_oom_killed() -> None:
    """Inside figures carry the OOM counter: a runtime measured from inside still sees a kill."""
    sandbox = InsideOnlySandbox([
        Tick([START, sample(0.0, 10 * MIB, 9 * MIB, 12 * MIB, 0.05)]),
        Tick([sample(0.25, 100 * MIB, 99 * MIB, 100 * MIB, 0.4, kills=1)]),
        Tick([], exit_code=0),
    ])
    outcome = supervisor.supervise(sandbox, supervisor.Limits(900, 120), clock=FakeClock())
    assert outcome.status == "oom_killed" and len(outcome.oom_events) == 1


# --- the option: config, registry, command line --------------------------------------------------

def paths() -> SandboxPaths:
    return SandboxPaths(python="/venv/bin/python", input_root=Path("/in"), output_dir=Path("/out"),
                        manifest=Path("/m.json"), bin_dir=Path("/bin"))


@pytest.mark.parametrize("name", ["python-processes", "go-native"])
def test_the_interval_reaches_the_worker_only_when_not_the_default(name: str) -> None:
    default = program(name).command("images", 2, "fork")(paths())
    assert "--sample-interval-ms" not in default
    argv = program(name).command("images", 2, "fork", sample_interval_ms=0)(paths())
    assert argv[argv.index("--sample-interval-ms") + 1] == "0"


def test_config_default_and_bounds(tmp_path: Path) -> None:
    assert config.build(out=tmp_path).sample_interval_ms == DEFAULT_SAMPLE_INTERVAL_MS == 250
    assert config.build(out=tmp_path, sample_interval_ms=0).sample_interval_ms == 0
    assert config.build(out=tmp_path).to_json()["sample_interval_ms"] == 250
    for bad in (-1, 5, 60_001):
        with pytest.raises(ConfigError, match="--sample-interval-ms"):
            config.build(out=tmp_path, sample_interval_ms=bad)


def test_worker_refuses_a_bad_interval(capsys: pytest.CaptureFixture[str]) -> None:
    from kit.worker.main import main

    with pytest.raises(SystemExit) as info:
        main(["--strategy", "python-sequential", "--manifest", "m", "--input-root", "i", "--output-dir", "o",
              "--sample-interval-ms", "-5"])
    assert info.value.code == 2 and "--sample-interval-ms" in capsys.readouterr().err


# --- the report: inside beside outside -----------------------------------------------------------

def test_the_report_shows_inside_figures_beside_the_outside_ones() -> None:
    import re

    from kit.report import render_html

    data = json.loads((FIXTURES.parent / "results" / "real_oom_repeats.json").read_text())
    for record in data["results"]:
        record["inside"] = {"samples": 9, "last_t_seconds": 2.0, "peak_usage_bytes": 300 * MIB,
                            "working_set_max_bytes": 250 * MIB, "cpu_seconds": 1.5, "oom_kills": 0,
                            "cpu_throttled_seconds": 0.0, "cpu_throttled_periods": 0,
                            "sampler_cpu_seconds": 0.002, "watermark": True}
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", render_html(data)))
    assert "From inside: working set / peak · CPU" in text
    assert "250 MiB / 300 MiB · 1.50 s CPU (outside" in text
    del data["results"][0]["inside"]     # an older results.json, or sampling off: no inside field
    assert "From inside" in render_html(data)
