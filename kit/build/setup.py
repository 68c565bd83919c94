"""`kit setup --with-deps`: the system packages go-gocv needs, and the distribution's Python OpenCV
and NumPy on which the Python strategies then run the same OpenCV build (kit/build/system_opencv.py),
through the distribution's own package manager (in the spirit of `playwright install --with-deps`).

Only `kit setup` installs system packages, and only when asked; `kit run` never does. Debian and
Ubuntu use apt (what CI exercises); Fedora and the RHEL family use dnf (tested on a fixture
os-release: the plan, not a real install).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kit.build.freethreaded import BUILD_DEPENDENCIES
from kit.build.go import OPENCV_DEV_PACKAGES, SETUP_HINT
from kit.build.system_opencv import PACKAGES as PYTHON_OPENCV_PACKAGES
from kit.core.errors import EnvironmentProblem

OS_RELEASE = Path("/etc/os-release")
APT_FAMILY = ("debian", "ubuntu")
DNF_FAMILY = ("fedora", "rhel", "centos", "rocky", "almalinux")


@dataclass(frozen=True, slots=True)
class PackagePlan:
    """What `kit setup --with-deps` runs: an index refresh (if the manager needs one), the install."""

    manager: str
    packages: tuple[str, ...]
    refresh: tuple[str, ...] | None
    install: tuple[str, ...]


def distribution(os_release: Path = OS_RELEASE) -> tuple[str, tuple[str, ...]]:
    """(ID, ID and ID_LIKE words) from os-release; ("unknown", ()) when it cannot be read."""
    try:
        text = os_release.read_text(encoding="utf-8")
    except OSError:
        return "unknown", ()
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition("=")
        fields[key.strip()] = value.strip().strip('"').lower()
    name = fields.get("ID", "unknown") or "unknown"
    return name, (name, *fields.get("ID_LIKE", "").split())


def package_plan(os_release: Path = OS_RELEASE, *, free_threaded: bool = False) -> PackagePlan:
    """The packages for this distribution, or EnvironmentProblem saying what to install by hand.
    `free_threaded`: also what building CPython from source needs (apt only: the source comes
    from Debian's archive)."""
    name, family = distribution(os_release)
    if any(word in APT_FAMILY for word in family):
        extra = BUILD_DEPENDENCIES if free_threaded else ()
        packages = ("g++", *OPENCV_DEV_PACKAGES.split(), *PYTHON_OPENCV_PACKAGES, *extra)
        return PackagePlan("apt-get", packages, ("apt-get", "update"),
                           ("apt-get", "install", "-y", "--no-install-recommends", *packages))
    if any(word in DNF_FAMILY for word in family):
        packages = ("gcc-c++", "opencv-devel", *PYTHON_OPENCV_PACKAGES)
        return PackagePlan("dnf", packages, None, ("dnf", "install", "-y", *packages))
    raise EnvironmentProblem(f"kit setup --with-deps knows apt (Debian, Ubuntu) and dnf (Fedora, RHEL), not {name}: "
                             "install a C++ compiler and OpenCV 4's dev files with your package manager, then run "
                             "`kit setup`")


Runner = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(list(argv), capture_output=True, text=True, env=env, check=False)


def install_packages(plan: PackagePlan, log: Callable[[str], None], run: Runner = _run,
                     is_root: bool | None = None) -> None:
    """Install the plan's packages; every failure is one EnvironmentProblem that says what to do."""
    if not (os.geteuid() == 0 if is_root is None else is_root):
        raise EnvironmentProblem(f"installing system packages needs root: run `{SETUP_HINT}`")
    log(f"installing with {plan.manager}: {' '.join(plan.packages)}")
    for argv in (plan.refresh, plan.install):
        if argv is None:
            continue
        try:
            done = run(argv)
        except OSError as exc:
            raise EnvironmentProblem(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
        if done.returncode != 0:
            lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
            last = lines[-1] if lines else f"exit {done.returncode}"
            raise EnvironmentProblem(f"`{' '.join(argv[:2])}` failed ({last}): check the network and the "
                                     f"package sources, then run `{SETUP_HINT}` again")
