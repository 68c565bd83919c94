"""Issue 25, without root: the narrow windows a signal, a closed pipe, another login's cgroup or a
hostile value could still slip through, each hit on purpose (kit/core/signals.py `hook` failpoints and
fixture cgroup trees). tests/integration/test_interruptions.py hits the same windows for real."""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kit.cli.exits import main
from kit.core import pipe, signals
from kit.core.files import atomic_write
from kit.plan.skip import split_current
from kit.runtimes import owners
from kit.runtimes.base import SandboxSpec
from kit.runtimes.cgroup import CgroupRuntime
from kit.runtimes.cgroupfs import V1_CONTROLLERS, CgroupHost
from kit.runtimes.docker import DockerRuntime
from kit.worker.protocol import ManifestEntry


@pytest.fixture()
def handled() -> Iterator[None]:
    """The controller's signal handling, as `kit` installs it, put back afterwards."""
    signals.reset()
    previous = signals.install()
    try:
        yield
    finally:
        signals.uninstall(previous)
        signals.reset()


@pytest.fixture()
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CgroupHost:
    """A cgroup v1 fixture tree (a hybrid host: with the cgroup2 `unified` mount) whose memory
    hierarchy puts this process in a login's group of its own."""
    monkeypatch.setenv("KIT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("KIT_CGROUP_PARENT", raising=False)
    monkeypatch.delenv("KIT_TEST_SIGNALS", raising=False)
    root = tmp_path / "sys-fs-cgroup"
    for controller in (*V1_CONTROLLERS, "unified"):
        (root / controller).mkdir(parents=True)
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text("4:memory:/login-a\n3:pids:/\n2:cpuacct:/\n1:cpu:/\n0::/\n")
    (root / "memory" / "login-a").mkdir()
    return CgroupHost(root=root, proc_self_cgroup=proc)


def _spec(tmp_path: Path, name: str = "20261206-060000-abcd-python-threads-x2-r0") -> SandboxSpec:
    return SandboxSpec(name=name, command=lambda paths: ["true"], input_root=tmp_path, output_dir=tmp_path / "o",
                       manifest=tmp_path / "m.json", log_dir=tmp_path / "logs")


def _group_dirs(host: CgroupHost) -> list[Path]:
    return [d for d in host.root.rglob("*") if d.is_dir() and d.parent.name == "kit"]


# --- bursts: only the first signal raises; the exit code is the first's ---------------------------

def test_a_burst_of_signals_raises_once_and_keeps_the_first_signals_code(handled: None,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # The later two in the order of their numbers: when this process is not scheduled between them
    # (a busy machine), both are pending at once and Python runs their handlers lowest number first.
    monkeypatch.setenv("KIT_TEST_SIGNALS", "item:INT+HUP+TERM/5")
    with pytest.raises(KeyboardInterrupt):
        signals.hook("item")
    deadline = time.monotonic() + 5
    while len(signals._received) < 3 and time.monotonic() < deadline:
        time.sleep(0.005)   # the later signals arrive here, and must not raise again
    assert signals._received == [signal.SIGINT, signal.SIGHUP, signal.SIGTERM]
    assert signals.exit_code() == 130 and signals.describe() == "interrupted"
    signals.hook("item")    # a failpoint fires once


def test_burst_specs_parse() -> None:
    assert signals.parse_burst("INT") == ([signal.SIGINT], signals.DEFAULT_BURST_GAP_MS)
    assert signals.parse_burst("term+hup/150") == ([signal.SIGTERM, signal.SIGHUP], 150.0)


def test_a_signal_during_the_last_moments_is_the_exit_code_and_never_kills() -> None:
    """`exit:TERM`: SIGTERM once the command is done and its exit code decided (0): exit 143, not
    death by SIGTERM (-15), nor 0 (the signal swallowed)."""
    done = subprocess.run([sys.executable, "-m", "kit", "report", "--help"], capture_output=True, text=True,
                          env={**os.environ, "KIT_TEST_SIGNALS": "exit:TERM+INT/1"}, timeout=60)
    assert done.returncode == 143, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr


def test_nohup_keeps_sighup_ignored_and_the_kit_handles_the_others() -> None:
    """`nohup kit run ...` asked for a run that outlives the terminal: a SIGHUP ignored at start
    stays ignored (the `exit` failpoint sends one once the command is done: exit 0, not 129).
    Without nohup the same SIGHUP is the exit code (129), and SIGTERM is handled either way."""
    def run(failpoint: str, ignore_hup: bool) -> subprocess.CompletedProcess[str]:
        ignored = (lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN)) if ignore_hup else None
        return subprocess.run([sys.executable, "-m", "kit", "report", "--help"], capture_output=True, text=True,
                              env={**os.environ, "KIT_TEST_SIGNALS": failpoint}, timeout=60, preexec_fn=ignored)

    assert run("exit:HUP", ignore_hup=True).returncode == 0
    assert run("exit:HUP", ignore_hup=False).returncode == 129
    assert run("exit:TERM", ignore_hup=True).returncode == 143


# --- defect 1: a signal while a sandbox is made leaves nothing --------------------------------------

def test_a_signal_while_the_cgroup_is_made_leaves_no_group_and_no_marker(
        host: CgroupHost, tmp_path: Path, handled: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIT_TEST_SIGNALS", "sandbox:INT")
    spec = _spec(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        CgroupRuntime(host).start(spec)
    assert _group_dirs(host) == []
    assert owners.read_marker(spec.name) is None


def test_a_signal_while_the_containers_parent_group_is_made_leaves_nothing(
        host: CgroupHost, tmp_path: Path, handled: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIT_TEST_SIGNALS", "sandbox:TERM")
    spec = _spec(tmp_path)
    runtime = DockerRuntime("kit-worker:test", host=host)
    runtime._client = object()   # never reached: the signal is delivered before any engine call
    with pytest.raises(KeyboardInterrupt):
        runtime.start(spec)
    assert _group_dirs(host) == []
    assert owners.read_marker(spec.name) is None


def test_a_signal_while_the_engine_makes_the_container_leaves_no_container(
        host: CgroupHost, tmp_path: Path, handled: None) -> None:
    """The engine makes the container even when a signal arrives during the create call (the
    campaign found one left "Created"): the kit holds the signal until it has the container's
    handle, then removes it with its parent group. A fake engine: a real one cannot be made to take
    a signal at that instant on demand."""
    removed: list[str] = []

    class Container:
        id = "0123456789abcdef"

        def remove(self, force: bool = False) -> None:
            removed.append(self.id)

    class Containers:
        def create(self, *args: object, **kwargs: object) -> Container:
            os.kill(os.getpid(), signal.SIGINT)   # the signal lands while the engine answers
            return Container()

    class Client:
        containers = Containers()

    runtime = DockerRuntime("kit-worker:test", host=host)
    runtime._client = Client()
    (tmp_path / "o").mkdir()
    with pytest.raises(KeyboardInterrupt):
        runtime.start(_spec(tmp_path))
    assert removed == ["0123456789abcdef"]
    assert _group_dirs(host) == []


def test_a_group_that_cannot_be_made_whole_is_not_left_half_made(host: CgroupHost) -> None:
    (host.root / "pids" / "kit").mkdir()
    (host.root / "pids" / "kit" / "half").write_text("")   # a file where the pids directory should go
    with pytest.raises(Exception, match="cannot create a cgroup"):
        host.create("half", memory_bytes=None, cpus=None, pids_max=None)
    assert not [d for d in _group_dirs(host) if d.name == "half"]
    assert owners.read_marker("half") is None


# --- defect 5: doctor --clean from another memory cgroup ------------------------------------------

def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_a_killed_runs_group_is_found_and_removed_from_another_memory_cgroup(host: CgroupHost,
                                                                              tmp_path: Path) -> None:
    """The run was made from login B's memory cgroup; doctor runs in login A's: the capped memory
    directory is found through the marker, removed with the rest, and the marker goes last."""
    name = "20261206-060000-dead-python-threads-x2-r0"
    dirs = [host.root / "memory" / "login-b" / "kit" / name,
            *(host.root / c / "kit" / name for c in ("cpu", "cpuacct", "pids"))]
    for directory in dirs:
        directory.mkdir(parents=True)
    owners.claim(name, dirs)
    marker = owners.marker_path(name)
    marker.write_text(marker.read_text().replace(f'"pid": {os.getpid()}', f'"pid": {_dead_pid()}'))
    [leftover] = owners.find(host)
    assert dirs[0] in leftover.directories
    owners.remove(host, leftover)
    assert not any(directory.exists() for directory in dirs)
    assert owners.read_marker(name) is None


def test_a_marker_stays_while_a_directory_it_names_is_there(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIT_STATE_DIR", str(tmp_path / "state"))
    kept, gone = tmp_path / "memory" / "kit" / "g", tmp_path / "cpu" / "kit" / "g"
    kept.mkdir(parents=True)
    owners.claim("g", [kept, gone])
    owners.release("g")
    assert owners.read_marker("g") is not None, "the memory directory is still there"
    kept.rmdir()
    owners.release("g")
    assert owners.read_marker("g") is None


# --- defect 10: the `kit/` parent in the cgroup2 `unified` mount of a hybrid host -----------------

def test_the_empty_kit_parent_in_the_unified_mount_goes_too(host: CgroupHost) -> None:
    unified = host.root / "unified" / "login-a" / "kit"   # runc makes the container's parent path there
    unified.mkdir(parents=True)
    owners.remove_empty_parents(host)
    assert not unified.exists()


@pytest.mark.parametrize("runtime", ["cgroup", "docker"])
def test_a_runtime_on_cgroups_removes_the_empty_kit_parents_when_its_run_ends(host: CgroupHost,
                                                                              runtime: str) -> None:
    """The run's end calls the runtime's cleanup() and nothing else: the runtimes that make groups
    remove their empty `kit/` parents there (no engine is asked: cleanup is not a call to Docker)."""
    from kit.runtimes.cgroup import CgroupRuntime
    from kit.runtimes.docker import DockerRuntime

    parents = [host.root / "memory" / "login-a" / "kit", host.root / "unified" / "login-a" / "kit"]
    for parent in parents:
        parent.mkdir(parents=True, exist_ok=True)
    made = CgroupRuntime(host) if runtime == "cgroup" else DockerRuntime("kit-worker:test", host=host)
    assert made.cleanup() == []
    assert not any(parent.exists() for parent in parents)


# --- defect 6: a full disk while the report is written names the path -----------------------------

def test_a_full_disk_names_the_file_being_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("kit.core.files.os.fsync", full)
    with pytest.raises(OSError) as raised:
        atomic_write(tmp_path / "report.html", "<html></html>")
    assert raised.value.filename == str(tmp_path / "report.html")
    assert [p.name for p in tmp_path.iterdir()] == []   # no temporary file stays


def test_kit_report_on_a_full_disk_is_one_line_naming_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    source = Path(__file__).resolve().parent.parent / "data" / "results"
    sample = next(iter(sorted(source.glob("*.json"))))
    (tmp_path / "results.json").write_text(sample.read_text())

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("kit.core.files.os.fsync", full)
    with pytest.raises(SystemExit) as done:
        main(["report", str(tmp_path)])
    assert done.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot write {tmp_path / 'report.html'}: No space left" in err


# --- defects 7 and 8: refused before any work -------------------------------------------------------

@pytest.mark.parametrize(("args", "message"), [
    (["--repeat", "1000000000"], "--repeat 1000000000: at most 1,000"),
    (["--warmup", "5000"], "--warmup 5000: at most 1,000"),
    (["--resolution", "30000x30000"], "above --max-pixels 100,000,000"),
    (["--resolution", "10500x10000"], "above --max-pixels"),
    (["--resolution", "2000x2000", "--max-pixels", "1000000"], "above --max-pixels 1,000,000"),
    (["--out", "/proc"], "/proc is not a writable directory"),
    (["--out", "/proc/kit-reports"], "/proc is not a writable directory"),
    (["--out", "/sys/kernel"], "not a writable directory"),
])
def test_what_cannot_work_is_refused_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str], args: list[str],
                                                     message: str) -> None:
    if os.geteuid() != 0 and message.endswith("not a writable directory"):
        # root passes the permission check and is stopped by the filesystem's; anyone else by the first
        message = message.replace("not a writable directory", "not writable by this user")
    monkeypatch.setenv("KIT_CACHE_DIR", str(tmp_path / "cache"))
    out = ["--out", str(tmp_path / "out")] if "--out" not in args else []
    raced: list[object] = []
    monkeypatch.setattr("kit.run.race.race", lambda *args: raced.append(args))  # the race is all the work
    with pytest.raises(SystemExit) as done:
        main(["run", "-s", "python-sequential", "--metrics-port", "0", *out, *args])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert raced == [], "refused only after the race began"
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


def test_a_read_only_filesystem_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kit.core.errors import ConfigError
    from kit.plan import parsing as config

    class ReadOnly:
        f_flag = os.ST_RDONLY

    monkeypatch.setattr(config.os, "statvfs", lambda path: ReadOnly())
    with pytest.raises(ConfigError, match="read-only filesystem"):
        config.check_directory("--out", tmp_path / "reports")


def test_a_full_disk_at_validation_is_left_to_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Running out of space stays exit 1, said (with the path) when it happens."""
    import tempfile

    from kit.plan import parsing as config

    def full(**kwargs: object) -> str:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "mkdtemp", full)
    config.check_directory("--out", tmp_path / "reports")


# --- defect 9: a closed stdout costs the run nothing ------------------------------------------------

def test_a_closed_stdout_is_silenced_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    class Closed(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    monkeypatch.setattr(pipe, "_state", {"closed": False})
    monkeypatch.setattr(sys, "stdout", Closed())
    stream = pipe.stdout()
    assert stream.write("kit run: ...\n") == len("kit run: ...\n")
    assert pipe.stdout_closed()
    stream.write("more\n")   # silently dropped from now on
    stream.flush()


# --- defect 11: --skip-current never trusts an output that fails verification ---------------------

def test_an_output_that_fails_verification_is_not_current(tmp_path: Path) -> None:
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    outputs.mkdir()
    import cv2
    import numpy as np

    jpeg = cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))[1].tobytes()
    entries = []
    for name in ("a.jpg", "b.jpg"):
        (inputs / name).write_bytes(jpeg)
        entries.append(ManifestEntry(name=name, input=name, output=name))
    then = time.time() - 60
    for name in ("a.jpg", "b.jpg"):
        os.utime(inputs / name, (then, then))
        (outputs / name).write_bytes(jpeg)   # newer than its source, a complete JPEG by its markers
    todo, skipped = split_current(entries, inputs, outputs, lambda entry, output: entry.name == "a.jpg")
    assert [e.name for e in skipped] == ["a.jpg"] and [e.name for e in todo] == ["b.jpg"]


def test_results_of_a_run_stopped_in_setup_say_so(tmp_path: Path) -> None:
    """Defect 4: zero records, `stopped`, a warning; and the report renders from it."""
    from kit.plan.config import build
    from kit.report import write_report
    from kit.run.runner import Runner
    from kit.runtimes.process import ProcessRuntime

    runner = Runner(build(out=tmp_path, check_paths=False), ProcessRuntime(), observer=None,  # type: ignore[arg-type]
                    argv=["kit", "run"])
    assert runner.save_unfinished("interrupted (SIGINT)") is False   # no run directory: nothing to say
    runner.run_dir.mkdir()
    assert runner.save_unfinished("terminated (SIGTERM)") is True
    data = json.loads((runner.run_dir / "results.json").read_text())
    assert data["results"] == [] and data["stopped"] == "terminated (SIGTERM)"
    assert any("terminated (SIGTERM)" in warning for warning in data["warnings"])
    assert "terminated (SIGTERM)" in write_report(runner.run_dir).read_text()
    assert runner.save_unfinished("again") is False   # never overwrites saved results


def test_the_console_under_riches_live_display_writes_to_the_proxied_stdout(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal the progress display proxies sys.stdout to the console: the console's file
    must reach the proxied stream, not the proxy (which would write back to the console forever)."""
    from rich.console import Console
    from rich.file_proxy import FileProxy

    monkeypatch.setattr(pipe, "_state", {"closed": False})
    real = io.StringIO()
    console = Console(file=pipe.stdout(), force_terminal=False)
    monkeypatch.setattr(sys, "stdout", FileProxy(console, real))
    printing = threading.Thread(target=console.print, args=("results: here",), daemon=True)
    printing.start()
    printing.join(10)   # the loop would never end
    assert not printing.is_alive() and real.getvalue() == "results: here\n"
