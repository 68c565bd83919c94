"""Parsing what a user types into the plan's values: sizes, resolutions, lists, label selectors,
URLs and the directories a run writes to. Each refuses a bad value with a one-line ConfigError."""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path

from kit.core.errors import ConfigError
from kit.core.units import MIB, Bytes, parse_size
from kit.plan.limits import MAX_MEMORY_LIMIT, MAX_WORKERS, MIN_MEMORY_LIMIT

RESOLUTIONS: dict[str, tuple[int, int]] = {"4k": (3840, 2160), "1080p": (1920, 1080), "720p": (1280, 720)}
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_LABEL_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


def parse_resolution(text: str) -> tuple[int, int]:
    """4k, 1080p, 720p or WxH."""
    key = text.strip().lower()
    if key in RESOLUTIONS:
        return RESOLUTIONS[key]
    match = re.fullmatch(r"(\d+)x(\d+)", key)
    if not match or int(match.group(1)) < 16 or int(match.group(2)) < 16:
        raise ConfigError(f"invalid resolution {text!r}: use 4k, 1080p, 720p or WxH (at least 16x16)")
    width, height = int(match.group(1)), int(match.group(2))
    if width > 65500 or height > 65500:
        raise ConfigError(f"invalid resolution {text!r}: JPEG allows at most 65500 pixels a side")
    return width, height


def parse_memory_limit(text: str | None) -> Bytes | None:
    """`--mem-limit`: None, or a size no smaller than MIN_MEMORY_LIMIT."""
    if text is None or text.strip().lower() == "none":
        return None
    if not text.strip():
        raise ConfigError(f"--mem-limit {text!r}: empty size; give a size such as 512m or 1Gi, or none")
    value = parse_size(text)
    if value < MIN_MEMORY_LIMIT:
        raise ConfigError(f"--mem-limit {text}: below the smallest cap allowed ({MIN_MEMORY_LIMIT // MIB}m)")
    if value > MAX_MEMORY_LIMIT:
        raise ConfigError(f"--mem-limit {text}: beyond the largest cap the kernel stores "
                          f"({MAX_MEMORY_LIMIT} bytes, 8 EiB); omit --mem-limit for no cap")
    return value


def parse_pushgateway(text: str | None) -> str | None:
    """`--pushgateway`: http(s)://host[:port][/path], or host:port (http:// then, as prometheus_client does)."""
    if text is None or not text.strip():
        return None
    url = text.strip() if "://" in text else f"http://{text.strip()}"
    parts = urllib.parse.urlsplit(url)
    try:
        parts.port  # noqa: B018 (urllib checks the port only when asked)
    except ValueError:
        parts = parts._replace(netloc="")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"--pushgateway {text}: not a Pushgateway URL; use http://HOST:PORT "
                          "(e.g. http://127.0.0.1:9091)")
    if parts.username is not None or parts.password is not None:  # the URL is recorded in results.json
        raise ConfigError("--pushgateway: credentials in the URL are not supported (results.json records "
                          "the URL); use a gateway reachable without them")
    return url.rstrip("/")


def parse_node_selector(pairs: list[str]) -> tuple[tuple[str, str], ...]:
    """`--node-selector key=value` (repeatable): Kubernetes label keys and values."""
    selector: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        prefix, slash, name = key.rpartition("/")
        if (not sep or not _LABEL_NAME.fullmatch(name) or (slash and not _LABEL_PREFIX.fullmatch(prefix))
                or (value and not _LABEL_NAME.fullmatch(value))):
            raise ConfigError(f"--node-selector {pair!r}: give key=value with Kubernetes label syntax, "
                              "e.g. kubernetes.io/arch=amd64")
        selector[key] = value
    return tuple(selector.items())


def parse_workers_list(text: str) -> tuple[int, ...]:
    """'1,2,4,8' -> (1, 2, 4, 8): distinct, in the order given."""
    values: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or not 1 <= int(part) <= MAX_WORKERS:
            raise ConfigError(f"--workers {text!r}: give a comma-separated list of counts from 1 to "
                              f"{MAX_WORKERS}, e.g. 1,2,4,8")
        values.append(int(part))
    return tuple(dict.fromkeys(values))


def parse_caps_list(text: str | None) -> tuple[Bytes | None, ...]:
    """'256m,512m,none' -> sizes in bytes (None: no cap); no option at all means one uncapped setting."""
    if text is None:
        return (None,)
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        raise ConfigError(f"--mem-limit {text!r}: give a comma-separated list of sizes, e.g. 256m,512m,1g")
    return tuple(dict.fromkeys(parse_memory_limit(part) for part in parts))


def check_directory(option: str, path: Path) -> None:
    """A directory the run will write into: it, or its nearest existing ancestor, must be a
    writable directory (a file of that name, or a read-only place, is a usage error)."""
    probe = path
    while not probe.exists():
        if probe.is_symlink():  # a dangling link
            raise ConfigError(f"{option} {path}: {probe} is a broken symbolic link")
        probe = probe.parent
    if not probe.is_dir():
        what = "is a file, not a directory" if probe == path else f"cannot be made: {probe} is a file"
        raise ConfigError(f"{option} {path}: {what}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: {probe} is not writable by this user")
    _check_writable_filesystem(option, path, probe)


def _check_writable_filesystem(option: str, path: Path, probe: Path) -> None:
    """Root may "write" anywhere by os.access, /proc and read-only mounts included: make and remove
    an empty directory there, so that such a place is refused now, not after minutes of work.
    A full disk is not a usage error: the run says so, naming the path, when it happens."""
    import errno
    import tempfile

    try:
        if os.statvfs(probe).f_flag & os.ST_RDONLY:
            raise ConfigError(f"{option} {path}: {probe} is on a read-only filesystem")
        os.rmdir(tempfile.mkdtemp(prefix=".kit-probe-", dir=probe))
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return
        raise ConfigError(f"{option} {path}: {probe} is not a writable directory on a regular filesystem "
                          f"({exc.strerror or exc})") from None


def parse_strategies(names: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """-s NAME (repeatable): known names, in the order given, each once; none means every one available."""
    from kit.worker.programs import NAMES

    for name in names or ():
        if name not in NAMES:
            raise ConfigError(f"unknown strategy {name!r}: choose from {', '.join(NAMES)}")
    return tuple(dict.fromkeys(names or ()))


def parse_selector(pairs: list[str] | tuple[str, ...] | None) -> tuple[tuple[str, str], ...]:
    """--node-selector given or not (None: any node)."""
    return parse_node_selector(list(pairs or ()))


def parse_payload_size(text: str | None) -> Bytes:
    """--payload-size: characters, e.g. 100m; None: seed 001's 10^8."""
    from kit.worker.workloads.payload import DEFAULT_PAYLOAD_BYTES

    size = parse_size(text) if text is not None else DEFAULT_PAYLOAD_BYTES
    if size < 1:
        raise ConfigError(f"--payload-size {text}: must be at least 1 byte")
    return size


def parse_linger(seconds: float) -> float:
    """`--metrics-linger`: a finite number of seconds, 0 or more."""
    if not 0 <= seconds < float("inf"):
        raise ConfigError(f"--metrics-linger {seconds}: must be 0 or more seconds")
    return seconds


def parse_cap(text: str) -> Bytes:
    """kit floor's --low and --high: a cap, never none."""
    value = parse_memory_limit(text)
    if value is None:
        raise ConfigError(f"{text!r}: kit floor searches between two caps; give sizes such as 64m and 4g")
    return value


def align_caps(low: Bytes, high: Bytes, step: Bytes) -> tuple[Bytes, Bytes]:
    """Bounds on the step grid (low down, high up), so every probed cap is a multiple of step."""
    if step < MIB:
        raise ConfigError(f"--step {step} bytes: must be at least 1 MiB")
    if low >= high:
        raise ConfigError("--low must be below --high")
    return max(step, low // step * step), -(-high // step) * step
