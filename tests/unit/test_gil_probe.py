"""The GIL probe on pipelines whose GIL use is known by construction: one that never holds the
GIL while it works (sleep releases it), one that always does (pure Python), and one in between.
Bounds are wide: the probe shares this machine's cores with whatever else runs."""

from __future__ import annotations

import time

import pytest

from kit.measure.gil_probe import gil_free_fraction, measure


def _pure_python(_: int) -> None:
    n = 0
    for _ in range(200_000):
        n += 1


def test_a_pipeline_that_releases_the_gil_is_mostly_free() -> None:
    probe = measure(lambda i: time.sleep(0.02), 4, min_seconds=0.6, solo_seconds=0.2)
    assert probe.fraction > 0.6, probe
    assert probe.thread_ceiling is None or probe.thread_ceiling > 2.5


def test_a_pure_python_pipeline_holds_the_gil() -> None:
    """The counter still keeps about half its rate (the two threads take turns): that share
    alone is not the GIL-free fraction, the formula corrects it."""
    probe = measure(_pure_python, 4, min_seconds=0.6, solo_seconds=0.2)
    assert probe.fraction < 0.35, probe
    assert probe.counter_share > probe.fraction


@pytest.mark.parametrize(("counter", "pipeline", "expected"), [
    (1.0, 1.0, 1.0), (0.5, 0.5, 0.0), (0.75, 0.75, 2 / 3), (0.9, 1.0, 0.9), (0.2, 0.1, 0.0), (1.0, 0.0, 0.0)])
def test_the_fraction_from_both_shares(counter: float, pipeline: float, expected: float) -> None:
    """c + g * p = 1 (the counter always wants the GIL): f = 1 - g = 1 - (1 - c) / p, clamped."""
    assert gil_free_fraction(counter, pipeline) == pytest.approx(expected)
