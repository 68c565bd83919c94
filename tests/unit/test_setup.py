"""`kit setup --with-deps`: which packages, through which manager, on which distribution, and one
line that says what to do whenever it cannot. Real apt runs in CI (.ci/run calls `kit setup
--with-deps`); dnf cannot run here, so its path is tested on fixture os-release files, with a
recording stand-in for the package manager (said so: no Fedora machine is reachable)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from kit.build import setup
from kit.build.go import OPENCV_DEV_PACKAGES
from kit.core.errors import EnvironmentProblem

OS_RELEASES = Path(__file__).resolve().parent.parent / "data" / "os-release"


@pytest.mark.parametrize("name", ["debian", "ubuntu"])
def test_debian_family_uses_apt_with_the_opencv_dev_files_gocv_links_and_its_python_build(name: str) -> None:
    plan = setup.package_plan(OS_RELEASES / name)
    assert plan.manager == "apt-get" and plan.refresh == ("apt-get", "update")
    assert plan.install[:4] == ("apt-get", "install", "-y", "--no-install-recommends")
    assert set(plan.packages) == {"g++", *OPENCV_DEV_PACKAGES.split(), "python3-opencv", "python3-numpy"}
    assert "libopencv-imgcodecs-dev" in plan.packages


@pytest.mark.parametrize("name", ["fedora", "rocky"])
def test_fedora_and_rhel_family_use_dnf(name: str) -> None:
    plan = setup.package_plan(OS_RELEASES / name)
    assert plan.manager == "dnf" and plan.refresh is None
    assert plan.install == ("dnf", "install", "-y", "gcc-c++", "opencv-devel", "python3-opencv", "python3-numpy")


def test_an_unsupported_distribution_says_what_to_install_by_hand() -> None:
    with pytest.raises(EnvironmentProblem, match="not arch: install a C\\+\\+ compiler and OpenCV 4's dev files"):
        setup.package_plan(OS_RELEASES / "arch")
    with pytest.raises(EnvironmentProblem, match="not unknown"):
        setup.package_plan(OS_RELEASES / "missing")


class Recorder:
    """Stands in for apt-get/dnf (they must not change this machine in a unit test)."""

    def __init__(self, fail: str | None = None) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.fail = fail

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(tuple(argv))
        failing = self.fail is not None and argv[1] == self.fail
        return subprocess.CompletedProcess(list(argv), 100 if failing else 0, "",
                                           "E: Failed to fetch: Temporary failure resolving\n" if failing else "")


def test_install_runs_refresh_then_install_and_says_what_it_installs() -> None:
    plan, run, said = setup.package_plan(OS_RELEASES / "debian"), Recorder(), list[str]()
    setup.install_packages(plan, said.append, run=run, is_root=True)
    assert run.calls == [plan.refresh, plan.install]
    assert said == [f"installing with apt-get: {' '.join(plan.packages)}"]


def test_without_root_it_says_the_command_and_installs_nothing() -> None:
    run = Recorder()
    with pytest.raises(EnvironmentProblem, match=r"needs root: run `sudo \.venv/bin/kit setup --with-deps`"):
        setup.install_packages(setup.package_plan(OS_RELEASES / "debian"), print, run=run, is_root=False)
    assert run.calls == []


def test_offline_is_one_line_that_says_what_to_check() -> None:
    with pytest.raises(EnvironmentProblem) as caught:
        setup.install_packages(setup.package_plan(OS_RELEASES / "debian"), print, run=Recorder(fail="update"),
                               is_root=True)
    message = str(caught.value)
    assert "\n" not in message and "apt-get update" in message and "check the network" in message


def test_kit_setup_on_an_unsupported_distribution_exits_1_with_one_line(monkeypatch: pytest.MonkeyPatch,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from kit.cli import exits as cli

    monkeypatch.setattr(setup, "OS_RELEASE", OS_RELEASES / "arch")
    monkeypatch.setattr(setup.package_plan, "__defaults__", (OS_RELEASES / "arch",))
    with pytest.raises(SystemExit) as caught:
        cli.main(["setup", "--with-deps", "--no-image"])
    assert caught.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: kit setup --with-deps knows apt")
