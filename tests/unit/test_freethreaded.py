"""The free-threaded CPython behind python-threads-ft (issue 16), piece by piece: its cache key, the
`.complete` marker, apt's private source list, the configure line, why it is unavailable, the
registry's filtering and the worker's command and GIL refusal. A full build takes ~20 minutes of
both cores, so it is not run here: `.ci/run` runs `kit setup --free-threaded` (cached after its
first run), and the tests that need an interpreter use that build (real, never a stand-in)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from kit.build import cpython
from kit.build import freethreaded as ft
from kit.build.image import assemble_context, copy_free_threaded
from kit.plan.config import default_cache_dir
from kit.runtimes.base import SandboxPaths, worker_env
from kit.worker.programs import NO_FREE_THREADED_OPENCV, Interpreter, WorkerCommand, names, program
from tests.conftest import need

FT = "python-threads-ft"
FLAGS = ["--disable-gil", "--without-ensurepip", "--disable-test-modules"]


def real_build() -> ft.Build:
    """The machine's own build (`kit setup --free-threaded`; CI's free-threaded stage makes it)."""
    found = ft.installed(default_cache_dir())
    need(None if found else f"no free-threaded CPython in {default_cache_dir()}: run `kit setup --free-threaded`")
    assert found is not None
    return found


def complete(prefix: Path, version: str = "3.13.5", flags: list[str] = FLAGS) -> Path:
    prefix.mkdir(parents=True)
    (prefix / ft.MARKER).write_text(json.dumps({"version": version, "flags": flags, "source": "test",
                                                "build_seconds": 1.0}))
    return prefix


# ---- the key and the marker ---------------------------------------------------------------------


def test_the_key_is_the_version_and_a_digest_of_the_configure_flags(tmp_path: Path) -> None:
    assert list(ft.CONFIGURE_FLAGS) == FLAGS
    assert ft.flags_digest() == hashlib.sha256(" ".join(FLAGS).encode()).hexdigest()[:12] == "528dbda85664"
    assert ft.prefix_for(tmp_path, "3.13.5") == tmp_path / "python-ft" / "3.13.5-528dbda85664"
    assert ft.prefix_for(tmp_path, "3.13.5", [*FLAGS, "--enable-optimizations"]) != ft.prefix_for(tmp_path, "3.13.5")


def test_only_a_prefix_with_its_marker_counts_as_built(tmp_path: Path) -> None:
    base = tmp_path / "python-ft"
    (base / f"3.13.5-{ft.flags_digest()}" / "bin").mkdir(parents=True)        # interrupted: no marker
    (base / ".build-x1y2" / "stage").mkdir(parents=True)                       # a build under way
    complete(base / "3.13.4-0123456789ab")                                     # other configure flags
    assert ft.installed(tmp_path) is None
    broken = base / f"3.13.6-{ft.flags_digest()}"
    broken.mkdir()
    (broken / ft.MARKER).write_text("{not json")                               # a torn marker
    assert ft.installed(tmp_path) is None
    shutil.rmtree(base / f"3.13.5-{ft.flags_digest()}")
    complete(base / f"3.13.5-{ft.flags_digest()}")
    complete(base / f"3.13.10-{ft.flags_digest()}", version="3.13.10")
    found = ft.installed(tmp_path)
    assert found is not None and found.version == "3.13.10"                   # the newest, numerically
    assert found.flags == tuple(FLAGS) and found.python == found.prefix / "bin" / "python3.13t"


def test_the_configure_line_disables_the_gil_and_nothing_slow(tmp_path: Path) -> None:
    argv = cpython.configure_argv(tmp_path / "prefix")
    assert argv == ("./configure", f"--prefix={tmp_path / 'prefix'}", *FLAGS)
    assert not [flag for flag in argv if "optimizations" in flag or "lto" in flag]   # no PGO, no LTO


# ---- apt: a private source list, the system's untouched ---------------------------------------


def test_apt_reads_only_the_private_source_list_and_keeps_its_lists_there(tmp_path: Path) -> None:
    options = cpython.apt_options(tmp_path, euid=1000)
    pairs = dict(options[i + 1].split("=", 1) for i in range(0, len(options), 2))
    assert all(options[i] == "-o" for i in range(0, len(options), 2))
    assert pairs["Dir::Etc::sourcelist"] == str(tmp_path / "sources.list")
    assert pairs["Dir::Etc::sourceparts"] == "-"
    assert pairs["Dir::State::Lists"] == str(tmp_path / "lists") and pairs["Dir::Cache"] == str(tmp_path / "cache")
    assert "APT::Sandbox::User" not in pairs and "APT::Sandbox::User=root" in cpython.apt_options(tmp_path, euid=0)
    listed = cpython.source_list("http://mirror/debian", tmp_path / "no-keyring")
    assert listed == "deb-src http://mirror/debian trixie main\n"


def test_real_apt_with_those_options_would_fetch_only_trixie_sources(tmp_path: Path) -> None:
    """apt-get itself (no download: --print-uris) says which indexes it would fetch."""
    need(None if shutil.which("apt-get") else "no apt-get on this machine")
    for directory in ("lists/partial", "cache/archives/partial"):
        (tmp_path / directory).mkdir(parents=True)
    (tmp_path / "sources.list").write_text(cpython.source_list("http://deb.example.org/debian"))
    system_lists = Path("/var/lib/apt/lists")
    before = sorted(p.name for p in system_lists.iterdir()) if system_lists.is_dir() else []
    done = subprocess.run(["apt-get", *cpython.apt_options(tmp_path), "update", "--print-uris"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    uris = [line.split("'")[1] for line in done.stdout.splitlines() if line.startswith("'")]
    assert uris and all(uri.startswith("http://deb.example.org/debian/dists/trixie/") for uri in uris), uris
    assert any("/main/source/Sources" in uri for uri in uris)
    assert (sorted(p.name for p in system_lists.iterdir()) if system_lists.is_dir() else []) == before


def test_the_mirror_is_the_one_the_machine_already_uses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cpython.MIRROR_ENV, raising=False)
    parts = tmp_path / "sources.list.d"
    parts.mkdir()
    (parts / "debian.sources").write_text("Types: deb\nURIs: http://deb.debian.org/debian-security\n\n"
                                          "Types: deb\nURIs: http://deb.debian.org/debian/\nSuites: bookworm\n")
    assert cpython.debian_mirror((tmp_path / "sources.list", parts)) == "http://deb.debian.org/debian"
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://ftp.example.org/debian bookworm main\n")
    assert cpython.debian_mirror((tmp_path / "sources.list", parts)) == "http://ftp.example.org/debian"
    assert cpython.debian_mirror((tmp_path / "nothing.list",)) is None
    monkeypatch.setenv(cpython.MIRROR_ENV, "http://local/debian/")
    assert cpython.debian_mirror((tmp_path / "nothing.list",)) == "http://local/debian"


def test_the_worker_lock_pins_the_free_threaded_wheels_with_hashes() -> None:
    assert ft.locked_pins() == ["pillow==12.2.0"]
    lock = Path(ft.__file__).resolve().parent.parent / "container" / "requirements.lock"
    block = ft.locked_requirements(lock)
    assert block.startswith("pillow==12.2.0") and block.count("--hash=sha256:") > 10
    assert "numpy" not in block and "opencv" not in block


def test_a_finished_build_is_found_again_without_building(tmp_path: Path) -> None:
    """What `kit setup --free-threaded` does when the cache holds the build: no apt, no compiler."""
    build = real_build()
    again, built_now = cpython.build(build.prefix.parent.parent, log=lambda line: None)
    assert (again.prefix, built_now) == (build.prefix, False)


# ---- availability ------------------------------------------------------------------------------


def test_without_a_build_it_is_unavailable_and_says_how_to_get_it(tmp_path: Path) -> None:
    from kit.build.availability import unavailable_reason

    reason = unavailable_reason(FT, "cgroup", tmp_path) or ""
    assert "no free-threaded CPython built yet" in reason and "`kit setup --free-threaded`" in reason
    assert unavailable_reason("python-threads", "cgroup", tmp_path) is None


def test_an_interpreter_that_is_not_free_threaded_is_refused(tmp_path: Path) -> None:
    """This test's own (GIL) interpreter placed where the build would be."""
    prefix = complete(ft.prefix_for(tmp_path, "3.13.5"))
    (prefix / "bin").mkdir()
    (prefix / "bin" / "python3.13t").symlink_to(sys.executable)
    reason = ft.unavailable_reason("cgroup", tmp_path) or ""
    assert "is not a free-threaded build (Py_GIL_DISABLED is not set)" in reason and ft.SETUP_HINT in reason


def test_the_interpreter_is_started_once_per_process_until_the_build_changes(tmp_path: Path) -> None:
    """`kit run` asks for the list, the choice and every cell; the interpreter starts behind the
    answer (~0.25 s) happen once, and again when the build (or its wheels) or PYTHON_GIL change."""
    prefix = complete(ft.prefix_for(tmp_path, "3.13.5"))
    (prefix / "bin").mkdir()
    starts, python = tmp_path / "starts", prefix / "bin" / "python3.13t"
    python.write_text(f'#!/bin/sh\necho >> {starts}\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    first = ft.unavailable_reason("cgroup", tmp_path) or ""
    assert "is not a free-threaded build" in first
    assert ft.unavailable_reason("cgroup", tmp_path) == first
    assert len(starts.read_text().splitlines()) == 1
    os.utime(python, ns=(python.stat().st_atime_ns, python.stat().st_mtime_ns + 10**9))   # rebuilt
    assert ft.unavailable_reason("cgroup", tmp_path) == first
    assert len(starts.read_text().splitlines()) == 2


def test_the_real_build_is_available_and_refused_with_the_gil_turned_back_on(monkeypatch: pytest.MonkeyPatch) -> None:
    build = real_build()
    assert ft.gil_status(build.python) == (False, "")
    assert ft.unavailable_reason("cgroup", default_cache_dir()) is None
    monkeypatch.setenv("PYTHON_GIL", "1")
    assert ft.gil_status(build.python) == (True, "")
    assert "reports the GIL enabled (PYTHON_GIL=1" in (ft.unavailable_reason("cgroup", default_cache_dir()) or "")
    assert worker_env({})["PYTHON_GIL"] == "1"     # and it reaches the sandbox, where the worker refuses too


# ---- the registry ------------------------------------------------------------------------------


def test_the_registry_knows_it_as_threads_on_the_free_threaded_interpreter() -> None:
    entry = program(FT)
    assert entry.free_threaded and entry.language == "python" and entry.entry == program("python-threads").entry
    assert not entry.process_workers and not entry.chunks and not entry.single_worker
    assert names(free_threaded=True) == (FT,)
    assert FT in names("python") and FT not in names("python", free_threaded=False)
    assert not [name for name in names() if name != FT and program(name).free_threaded]


def test_it_runs_every_workload_but_images_with_opencv() -> None:
    entry = program(FT)
    assert all(entry.workload_problem(w) is None for w in ("pi", "count", "io", "payload"))
    assert entry.workload_problem("images", "pillow") is None
    assert entry.workload_problem("images") == entry.workload_problem("images", "opencv") == NO_FREE_THREADED_OPENCV
    assert "cp313t" in NO_FREE_THREADED_OPENCV and "--library pillow" in NO_FREE_THREADED_OPENCV
    assert program("python-threads").workload_problem("images") is None


def test_its_command_is_the_worker_module_on_the_free_threaded_interpreter(tmp_path: Path) -> None:
    interpreter = Interpreter("/cache/python-ft/3.13.5-x/bin/python3.13t", "/cache/python-ft/kit-path/abc",
                              "/opt/python-ft/bin/python3.13t", "/opt/kit/src")
    command = program(FT).command("pi", 2, "fork", interpreter=interpreter)
    assert isinstance(command, WorkerCommand)
    host = command(SandboxPaths(python=sys.executable, input_root=tmp_path, output_dir=tmp_path / "o",
                                manifest=tmp_path / "m.json"))
    assert host[:6] == ["env", "PYTHONPATH=/cache/python-ft/kit-path/abc", "/cache/python-ft/3.13.5-x/bin/python3.13t",
                        "-s", "-m", "kit.worker"]
    assert host[6:10] == ["--strategy", FT, "--workload", "pi"] and "--workers" in host
    image = command(SandboxPaths(python="/opt/venv/bin/python", input_root=Path("/in"), output_dir=Path("/out"),
                                 manifest=Path("/m.json"), bin_dir=Path("/opt/kit/bin")))
    assert image[:6] == ["env", "PYTHONPATH=/opt/kit/src", "/opt/python-ft/bin/python3.13t", "-s", "-m", "kit.worker"]


def test_the_kit_path_holds_the_kit_and_nothing_else(tmp_path: Path) -> None:
    import kit

    path = ft.kit_path(tmp_path)
    assert [p.name for p in path.iterdir()] == ["kit"]
    assert (path / "kit").resolve() == Path(kit.__file__).resolve().parent
    assert ft.kit_path(tmp_path) == path          # made once, found again


# ---- the worker --------------------------------------------------------------------------------


def test_the_worker_refuses_a_free_threaded_program_with_the_gil_on() -> None:
    from kit.worker.main import gil_refusal, interpreter_info

    info = interpreter_info()            # this test's interpreter: the GIL build
    assert info["gil_enabled"] is True and info["python_build"]["gil_disabled_build"] is False  # type: ignore[index]
    assert gil_refusal("python-threads", info) is None
    assert "needs a free-threaded CPython" in (gil_refusal(FT, info) or "")
    turned_on = {"gil_enabled": True, "python_build": {"gil_disabled_build": True, "configure_args": ""}}
    assert "runs with the GIL enabled" in (gil_refusal(FT, turned_on) or "")
    assert gil_refusal(FT, {**turned_on, "gil_enabled": False}) is None


def test_the_worker_refuses_before_its_first_item(tmp_path: Path) -> None:
    from kit.worker.main import run_worker
    from kit.worker.protocol import ManifestEntry, write_manifest

    manifest = tmp_path / "manifest.json"
    write_manifest(manifest, [ManifestEntry(name="task-0", input="", output="task-0.json", task={"count_to": 10})])
    stdout = io.StringIO()
    with redirect_stdout(stdout):
        code = run_worker(FT, "count", manifest, tmp_path, tmp_path / "out", 2, "fork")
    assert code == 2 and stdout.getvalue() == ""          # no start event, no item
    assert not list((tmp_path / "out").glob("*"))


# ---- the worker image's copy ---------------------------------------------------------------------


def test_the_image_copy_leaves_out_what_the_worker_never_runs(tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    for relative in ("bin", "lib/python3.13t/test", "lib/python3.13t/idlelib", "lib/python3.13t/lib-dynload",
                     "lib/python3.13t/config-3.13t-x86_64-linux-gnu", "lib/python3.13t/site-packages/PIL"):
        (prefix / relative).mkdir(parents=True)
    (prefix / "bin" / "python3.13t").write_bytes(b"\x7fELF interpreter")
    os.link(prefix / "bin" / "python3.13t", prefix / "bin" / "python3.13")
    (prefix / "bin" / "python3").symlink_to("python3.13")
    for relative in ("lib/libpython3.13t.a", "lib/python3.13t/config-3.13t-x86_64-linux-gnu/libpython3.13t.a",
                     "lib/python3.13t/test/test_x.py", "lib/python3.13t/os.py",
                     "lib/python3.13t/site-packages/PIL/a.py"):
        (prefix / relative).write_text("x")
    copy_free_threaded(prefix, tmp_path / "copy")
    copied = sorted(str(p.relative_to(tmp_path / "copy")) for p in (tmp_path / "copy").rglob("*") if not p.is_dir())
    assert copied == ["bin/python3", "bin/python3.13", "bin/python3.13t", "lib/python3.13t/os.py",
                      "lib/python3.13t/site-packages/PIL/a.py"]
    links = [tmp_path / "copy" / "bin" / name for name in ("python3.13", "python3.13t")]
    assert sorted(link.is_symlink() for link in links) == [False, True]      # the interpreter once
    assert all(link.read_bytes() == b"\x7fELF interpreter" for link in links)


def test_the_context_has_an_empty_python_ft_without_a_build(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assemble_context(tmp_path / "empty")
    assert list((tmp_path / "empty" / "python-ft").iterdir()) == []
    prefix = complete(tmp_path / "prefix")
    (tmp_path / "with").mkdir()
    assemble_context(tmp_path / "with", free_threaded=prefix)
    assert (tmp_path / "with" / "python-ft" / ft.MARKER).is_file()


def test_setup_with_deps_adds_the_build_tools_for_the_interpreter() -> None:
    from kit.build import setup

    os_release = Path(__file__).resolve().parent.parent / "data" / "os-release" / "debian"
    plain, more = setup.package_plan(os_release), setup.package_plan(os_release, free_threaded=True)
    assert set(more.packages) - set(plain.packages) == set(ft.BUILD_DEPENDENCIES)
    assert {"libssl-dev", "zlib1g-dev", "libffi-dev"} <= set(ft.BUILD_DEPENDENCIES)
