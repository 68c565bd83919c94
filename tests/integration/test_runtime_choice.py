"""`--runtime auto` on this machine: with no Docker engine answering, the cgroup runtime, said in one
line. Its choice needs cgroups it can make (root), so it is not in the quick tier; without an engine
the docker runtime's refusal is there (tests/unit/test_build.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.run.choose import select_runtime as select

pytestmark = [pytest.mark.cgroup, pytest.mark.usefixtures("cgroups")]


def test_auto_falls_back_to_cgroup_with_one_line_when_no_engine_answers(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    runtime, note = select("auto")
    assert runtime.name == "cgroup"
    assert note is not None and "\n" not in note
    assert note.startswith("runtime: cgroup (docker: no Docker engine answers at unix://")
