"""The GIL probe's arithmetic and its choice among rounds, on fixed figures: what other processes
do to this machine cannot change them. The probe measured for real, on pipelines whose GIL use is
known by construction, is tests/integration/test_gil_probe.py (a busy machine changes what it
measures, so there the bounds hold whenever the probe did not run contended)."""

from __future__ import annotations

import pytest

from kit.measure import gil_probe
from kit.measure.gil_probe import GilProbe, gil_free_fraction, measure


@pytest.mark.parametrize(("counter", "pipeline", "expected"), [
    (1.0, 1.0, 1.0), (0.5, 0.5, 0.0), (0.75, 0.75, 2 / 3), (0.9, 1.0, 0.9), (0.2, 0.1, 0.0), (1.0, 0.0, 0.0)])
def test_the_fraction_from_both_shares(counter: float, pipeline: float, expected: float) -> None:
    """c + g * p = 1 (the counter always wants the GIL): f = 1 - g = 1 - (1 - c) / p, clamped."""
    assert gil_free_fraction(counter, pipeline) == pytest.approx(expected)


def test_the_median_round_is_reported_with_every_rounds_fraction(monkeypatch: pytest.MonkeyPatch) -> None:
    """A burst of other work spoils one round, not the figure: the round with the median fraction
    is the one reported, whole (its shares and drift with it), and every round's fraction is kept."""
    rounds = [GilProbe(fraction=0.31, counter_share=0.2, pipeline_share=0.9, items=4, pipeline_seconds=0.8),
              GilProbe(fraction=0.9, counter_share=0.9, pipeline_share=0.95, items=5, pipeline_seconds=0.8,
                       counter_drift=0.02),
              GilProbe(fraction=0.88, counter_share=0.88, pipeline_share=0.97, items=6, pipeline_seconds=0.8)]
    asked: list[tuple[int, float, float]] = []

    def one_round(process: object, count: int, min_seconds: float, solo_seconds: float) -> GilProbe:
        asked.append((count, min_seconds, solo_seconds))
        return rounds[len(asked) - 1]

    monkeypatch.setattr(gil_probe, "_round", one_round)
    probe = measure(lambda i: None, 4, min_seconds=0.9, solo_seconds=0.3, rounds=3)
    assert len(asked) == 3                                       # the time shared out over the rounds
    assert all(count == 4 and pipeline == pytest.approx(0.3) and solo == pytest.approx(0.1)
               for count, pipeline, solo in asked), asked
    assert probe.fraction == 0.88 and probe.items == 6 and probe.counter_share == 0.88
    assert probe.round_fractions == (0.31, 0.9, 0.88)
    assert probe.thread_ceiling == pytest.approx(1 / 0.12)
    assert GilProbe(fraction=1.0, counter_share=1, pipeline_share=1, items=4, pipeline_seconds=1).thread_ceiling is None
