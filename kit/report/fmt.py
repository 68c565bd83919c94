"""Number formatting shared by the verdicts, the charts and the template (plain text, escaped later)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kit.core.units import format_bytes

if TYPE_CHECKING:
    from kit.results.stats import Spread


def seconds(value: float | None) -> str:
    """A duration with the precision of `rate` and its unit."""
    return "–" if value is None else f"{rate(value)} s"


def mib(value: float | None) -> str:
    """Bytes as MiB with sensible precision (the table's unit)."""
    if value is None:
        return "–"
    m = value / 2**20
    return f"{m:,.0f} MiB" if m >= 10 else f"{m:.1f} MiB"


def cap(value: int | None) -> str:
    """A memory cap as people write it: '1 GiB', '512 MiB', else the rounded binary size."""
    if not value:
        return "no cap"
    for unit, name in ((2**30, "GiB"), (2**20, "MiB")):
        if value >= unit and value % (unit // 4) == 0:
            return f"{value / unit:g} {name}"
    return format_bytes(value)


def rate(value: float | None) -> str:
    if value is None:
        return "–"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def small(value: float | None) -> str:
    """Images/s per MiB: small numbers, three significant digits."""
    return "–" if value is None else f"{value:.3g}"


def ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def stat_text(value: Spread | None, show: Callable[[float | None], str] = rate) -> str:
    """'12.3' or '12.3 (11.9–13.0)' when repetitions differ."""
    if value is None:
        return "–"
    text = show(value.median)
    if value.spread:
        text += f" ({show(value.low)}–{show(value.high)})"
    return text
