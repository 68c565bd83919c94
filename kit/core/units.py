"""Units: byte sizes as Docker and Kubernetes write them, parsed once, here."""

from __future__ import annotations

import re
from fractions import Fraction

from kit.core.errors import ConfigError

Bytes = int
Seconds = float

MIB: Bytes = 2**20

# Docker's --memory accepts b, k, m, g (binary, case-insensitive); Kubernetes writes Ki, Mi, Gi, Ti.
_SUFFIX: dict[str, int] = {
    "": 1, "b": 1,
    "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40,
    "kb": 2**10, "mb": 2**20, "gb": 2**30, "tb": 2**40,
    "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str) -> Bytes:
    """Parse "512m", "1g", "512Mi", "1Gi" or a plain byte count into bytes."""
    match = _SIZE.match(text)
    if not match or match.group(2).lower() not in _SUFFIX:
        raise ConfigError(f"invalid size {text!r}: use a number with b, k, m, g (or Ki, Mi, Gi), e.g. 512m or 1Gi")
    value = Fraction(match.group(1)) * _SUFFIX[match.group(2).lower()]  # exact: no float rounding of big sizes
    if value.denominator != 1:
        raise ConfigError(f"invalid size {text!r}: not a whole number of bytes")
    return int(value)


def format_bytes(value: float | None) -> str:
    """Human-readable binary size: 1.0 GiB, 212 MiB."""
    if value is None:
        return "-"
    if value >= 2**30:
        return f"{value / 2**30:.2f} GiB"
    if value >= 2**20:
        return f"{value / 2**20:.0f} MiB"
    if value >= 2**10:
        return f"{value / 2**10:.0f} KiB"
    return f"{int(value)} B"
