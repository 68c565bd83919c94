"""The bounds every option is checked against, each with why it is where it is."""

from __future__ import annotations

from kit.core.units import MIB, Bytes, Seconds

# Docker refuses caps under 6 MB, and so do we on every runtime, so caps mean the same everywhere.
MIN_MEMORY_LIMIT: Bytes = 6 * MIB
# The largest memory cap the kernel stores (PAGE_COUNTER_MAX pages: LONG_MAX rounded down to
# 4 KiB); a larger value is silently clamped to "no cap", and Docker's API refuses it.
MAX_MEMORY_LIMIT: Bytes = (2**63 - 1) // 4096 * 4096
MAX_WORKERS = 1024
MAX_PARALLEL = 256
MAX_PIXELS_LIMIT = 65535 * 65535   # the largest frame a JPEG header can declare
MIN_SAMPLE_INTERVAL_MS = 10       # the worker's sampler: faster would cost more than it tells
MAX_RETRIES = 10                   # --retry-contended: a machine still busy after 10 re-runs is busy
# The controller keeps every item's manifest entry, digest and progress in memory, and each 4K
# output is ~0.3 MB on disk: 100,000 items is ~30 GB of outputs and hours of work per strategy.
MAX_ITEMS = 100_000
MAX_TIMEOUT_SECONDS: Seconds = 7 * 24 * 3600   # a week: longer is a typo (or inf), not a plan
# --repeat and --warmup: every sandbox of the plan is listed before the first starts, and 1,000
# repetitions of the nine strategies at the 900 s timeout are already months of work.
MAX_REPEAT = 1000
MAX_IO_DELAY_SECONDS: Seconds = 60.0
