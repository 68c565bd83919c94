"""A whole run on real cgroups: inputs judged once by the controller, a file that changes after
that check fails as one item while the batch goes on, and every Python images record carries the
GIL probe's figure (measured in its own untimed pass, outside every sandbox)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.plan import config
from kit.plan.cells import Cell
from kit.results.observer import RunObserver
from kit.run.runner import Runner
from kit.runtimes.cgroup import CgroupRuntime
from tests.unit.jpeg_samples import encode, header_only, picture

pytestmark = [pytest.mark.cgroup, pytest.mark.usefixtures("cgroups")]


class SwapBeforeTheSandbox(RunObserver):
    """Replaces one input with garbage after the controller judged it, right before the first
    sandbox starts: the moment the issue names, made deterministic by the runner's own hook."""

    def __init__(self, victim: Path) -> None:
        self.victim, self.phases, self.swapped = victim, list[str](), False

    def phase(self, text: str) -> None:
        self.phases.append(text)

    def cell_started(self, cell: Cell, items_total: int) -> None:
        if not self.swapped:
            self.victim.write_bytes(b"\xff\xd8 garbage written after the controller's check " * 64)
            self.swapped = True


def test_a_file_changed_after_the_check_fails_alone_and_python_records_carry_the_gil_probe(
        tmp_path: Path, cache_dir: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for index in range(4):
        (source / f"{index}.jpg").write_bytes(encode(picture(1600 + 16 * index, 900)))
    (source / "9-bomb.jpg").write_bytes(header_only(encode(picture(64, 64)), 60000, 60000))
    plan = config.build(strategies=["python-sequential"], source=source, out=tmp_path / "out",
                        cache_dir=cache_dir, metrics_port=0, runtime="cgroup")
    observer = SwapBeforeTheSandbox(source / "2.jpg")
    results = Runner(plan, CgroupRuntime(), observer).run()
    record = results.records[0]
    assert record.status == "ok" and record.exit_code == 0
    assert (record.items_ok, record.items_failed) == (3, 2)
    reasons = {item.name: item.reason for item in record.failed_items}
    assert reasons["2.jpg"] in ("undecodable JPEG",) or reasons["2.jpg"].startswith("OpenCV error")
    assert reasons["9-bomb.jpg"].startswith("too large")
    assert record.verified is False          # the changed input's output is missing: verification says so
    assert any("GIL-free" in text for text in observer.phases)
    probe = results.concurrency["gil_probe"]
    assert 0.0 <= probe["fraction"] <= 1.0 and probe["items"] >= 4
    assert record.gil_free_fraction == probe["fraction"]
