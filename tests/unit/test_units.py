"""parse_size: the one place sizes are parsed (Docker's binary units and Kubernetes' suffixes)."""

from __future__ import annotations

import pytest

from kit.core.errors import ConfigError
from kit.core.units import format_bytes, parse_size


@pytest.mark.parametrize(("text", "expected"), [
    ("512m", 512 * 2**20),
    ("512M", 512 * 2**20),
    ("1g", 2**30),
    ("1G", 2**30),
    ("1gb", 2**30),
    ("512Mi", 512 * 2**20),
    ("512mi", 512 * 2**20),
    ("1Gi", 2**30),
    ("64k", 64 * 2**10),
    ("64Ki", 64 * 2**10),
    ("1t", 2**40),
    ("1048576", 2**20),          # plain bytes
    ("1048576b", 2**20),
    ("1.5g", 3 * 2**29),         # a fraction is fine when it lands on whole bytes
    ("1.5k", 1536),
    (" 256m ", 256 * 2**20),     # shells and YAML leave spaces around
    ("0", 0),                    # parses; the smallest allowed cap is config's business
])
def test_parse_size_accepts_docker_and_kubernetes_units(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", [
    "abc", "", " ", "-1g", "-5", "3x", "1.5b", "0.3", "1e9", "g", "1 g b", "1gig", "0x10", "1,5g",
    "1Mib", "512 MiB!", "nan", "inf",
])
def test_parse_size_rejects_nonsense(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_size(text)
    assert repr(text) in str(info.value)   # the message names what was given
    assert "\n" not in str(info.value)     # one line on stderr


@pytest.mark.parametrize(("value", "text"), [
    (None, "-"), (512, "512 B"), (2048, "2 KiB"), (212 * 2**20, "212 MiB"), (2**30, "1.00 GiB"),
])
def test_format_bytes(value: int | None, text: str) -> None:
    assert format_bytes(value) == text
